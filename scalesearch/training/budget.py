"""ProxyBudget: how long and how hard one proxy training runs.

Every number of a proxy training that is not the network or the data lives here, with
the search space's `proxy:` section as defaults and the user's settings on top
(`ProxyBudget.for_space`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from scalesearch.errors import UserError

OPTIMIZERS = ("sgd", "rmsprop")
EVAL_WEIGHTS = ("last", "ema", "mean")  # what is evaluated: see ProxyBudget.eval_weights
FLIPS = ("random", "alternate")
# A budget scale above this is a typo, not a budget: 100 x a proxy of minutes is days of CPU
# per training (and 1e308 would "start" with an estimate of inf minutes).
MAX_BUDGET_SCALE = 100.0


def budget_scale_problem(scale: object, unit: str) -> str | None:
    """Why `scale` is not a budget scale (None when it is); `unit` says what 1 means."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        return f"{{budget_scale}} must be a positive number (1 = {unit}, 2 = twice as many), got {scale!r}"
    if scale > MAX_BUDGET_SCALE:
        return (f"{{budget_scale}} {scale:g} is above {MAX_BUDGET_SCALE:g} (x {unit}: days of training per "
                "network); give a smaller scale, or raise the proxy's epochs")
    return None
# Recipe settings added after studies and checkpoints were first written: left out of
# `as_dict` at these defaults, so a study or checkpoint from before them still matches.
_RECIPE_DEFAULTS = {"eval_weights": "last", "ema_decay": 0.95, "flips": "random", "readout_fan_in": 0,
                    "clip_grad": 0.0}


@dataclass(frozen=True)
class ProxyBudget:
    """How long and how hard one proxy training runs.

    The defaults were tuned on Fashion-MNIST at 32 px so that EfficientNet-B0, ResNet-18
    and MobileNetV2 all leave chance level within one epoch of 4,096 images; fewer steps
    than that and a search ranks noise (reference.md, "Proxy training").
    """

    epochs: int = 3
    train_images: int = 4096
    batch_size: int = 128
    lr: float = 0.1  # peak learning rate, reached at the end of warm-up
    weight_decay: float = 5e-5
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.25
    optimizer: str = "sgd"  # sgd = Nesterov momentum 0.9; rmsprop as in the EfficientNet paper
    seed: int = 0
    val_images: int = 2000
    momentum: float = 0.9
    crop_padding: float = 0.125  # random-crop padding as a fraction of the resolution
    # The weights evaluated: the last ones; an exponential moving average of the weights
    # over the steps (`ema_decay` per step, the first steps a plain mean); or the mean of
    # the weights over the last epoch's steps.  Batch-norm statistics are re-estimated for
    # whichever is evaluated, and the network a run keeps is the one evaluated.
    eval_weights: str = "last"
    ema_decay: float = 0.95
    # random: each image flipped with probability 1/2 in every epoch; alternate: each image
    # flipped on alternate epochs, starting from a coin drawn once by the seed.
    flips: str = "random"
    # The classifier's learning rate (training/loop.parameter_groups): 0 = the peak lr, like
    # every layer; N > 0 = lr x min(1, N / its fan-in), muP's readout rule.  One SGD step moves
    # a logit by about lr x |features|^2, which grows with the classifier's fan-in: a 2048-wide
    # ResNet-50 head at lr 0.1 averaged a first-epoch loss of 4.4 (chance 2.30), 2.6 with N = 512.
    readout_fan_in: int = 0
    # Gradient-norm clipping (the global L2 norm, before each step): 0 = off.
    clip_grad: float = 0.0

    def __post_init__(self) -> None:
        def need(ok: bool, setting: str, what: str) -> None:
            if not ok:
                raise UserError(f"{{{setting}}} {what}")

        for setting in ("epochs", "train_images", "batch_size"):
            value = getattr(self, setting)
            need(_whole(value) and value >= 1, setting, f"must be a whole number >= 1, got {value!r}")
        need(_finite(self.lr) and self.lr > 0, "lr", f"must be a positive number, got {self.lr!r}")
        need(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
             f"must be >= 0, got {self.weight_decay!r}")
        need(_finite(self.label_smoothing) and 0 <= self.label_smoothing < 1, "label_smoothing",
             f"must be in [0, 1), got {self.label_smoothing!r}")
        need(_finite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs, "warmup_epochs",
             f"must be between 0 and the epochs ({self.epochs}), got {self.warmup_epochs!r}")
        need(self.optimizer in OPTIMIZERS, "optimizer",
             f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(_whole(self.val_images) and self.val_images >= 1, "val_images",
             f"must be a whole number >= 1, got {self.val_images!r}")
        need(_whole(self.seed) and self.seed >= 0, "seed", f"must be a whole number >= 0, got {self.seed!r}")
        need(_finite(self.momentum) and 0 <= self.momentum < 1, "momentum",
             f"must be in [0, 1), got {self.momentum!r}")
        need(_finite(self.crop_padding) and 0 <= self.crop_padding < 1, "crop_padding",
             f"must be in [0, 1), got {self.crop_padding!r}")
        need(self.eval_weights in EVAL_WEIGHTS, "eval_weights",
             f"must be one of {', '.join(EVAL_WEIGHTS)}, got {self.eval_weights!r}")
        need(_finite(self.ema_decay) and 0 < self.ema_decay < 1, "ema_decay",
             f"must be in (0, 1), got {self.ema_decay!r}")
        need(self.flips in FLIPS, "flips", f"must be one of {', '.join(FLIPS)}, got {self.flips!r}")
        need(_whole(self.readout_fan_in) and self.readout_fan_in >= 0, "readout_fan_in",
             f"must be a whole number >= 0 (0 = off), got {self.readout_fan_in!r}")
        need(_finite(self.clip_grad) and self.clip_grad >= 0, "clip_grad",
             f"must be >= 0 (0 = off), got {self.clip_grad!r}")

    def as_dict(self) -> dict[str, Any]:
        """Every setting, the recipe settings only where they differ from their defaults:
        this is the budget's part of a study's fingerprint and a checkpoint's resume key."""
        values = asdict(self)
        if self.eval_weights != "ema":
            values["ema_decay"] = _RECIPE_DEFAULTS["ema_decay"]  # not read: not a difference
        return {k: v for k, v in values.items() if _RECIPE_DEFAULTS.get(k, _UNSET) != v}

    @classmethod
    def for_space(cls, proxy: dict[str, Any], **given: Any) -> "ProxyBudget":
        """A search space's `proxy:` defaults, overridden by every setting given (not None)."""
        values = {k: v for k, v in proxy.items() if k not in ("resolution", "calibrated")}
        values.update({k: v for k, v in given.items() if v is not None})
        kinds = {f.name: type(f.default) for f in fields(cls)}
        return cls(**{k: _as_kind(kinds.get(k), v) for k, v in values.items()})


_UNSET = object()


def _as_kind(kind: type | None, value: Any) -> Any:
    """YAML writes 3 for 3.0 and 3.0 for 3: give a number its field's type back."""
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
