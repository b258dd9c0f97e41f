"""Published scaling settings, kept as data with their sources.

`--preset paper` is the paper's searched coefficients (`scaling.PAPER_B0`);
`--preset efficientnet-official` is the hand-picked B0..B7 table below, which is not
alpha^phi, beta^phi, gamma^phi for any one phi; `compare --preset paper-table3` reads the
paper's Table 3 (settings, FLOPs and ImageNet accuracies) from paper_table3.yaml.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class PublishedMember:
    """One row of a published family: absolute multipliers and resolution, not a phi rule."""

    name: str
    width: float
    depth: float
    resolution: int  # pixels
    dropout: float


# EfficientNet B0..B7 (width, depth, resolution, dropout) as set in the official
# TensorFlow code (tensorflow/tpu, models/official/efficientnet/efficientnet_builder.py,
# `efficientnet_params`); Tan & Le 2019 only reports their costs (Table 2).
EFFICIENTNET_OFFICIAL: tuple[PublishedMember, ...] = (
    PublishedMember("efficientnet-b0", 1.0, 1.0, 224, 0.2),
    PublishedMember("efficientnet-b1", 1.0, 1.1, 240, 0.2),
    PublishedMember("efficientnet-b2", 1.1, 1.2, 260, 0.3),
    PublishedMember("efficientnet-b3", 1.2, 1.4, 300, 0.3),
    PublishedMember("efficientnet-b4", 1.4, 1.8, 380, 0.4),
    PublishedMember("efficientnet-b5", 1.6, 2.2, 456, 0.4),
    PublishedMember("efficientnet-b6", 1.8, 2.6, 528, 0.5),
    PublishedMember("efficientnet-b7", 2.0, 3.1, 600, 0.5),
)


# Dollár, Singh and Girshick, "Fast and Accurate Model Scaling", CVPR 2021, Table 4:
# "fast compound scaling" grows a network's flops by s with depth, width and resolution
# multipliers s^e_d, s^e_w, s^e_r, where e_d = (1 - a) / 2, e_w = a / 2, e_r = (1 - a) / 4
# (so e_d + 2 e_w + 2 e_r = 1).  a = 1 is width scaling, a = 1/3 uniform compound (dwr);
# the paper recommends a = 0.8 (e_d = 0.1, e_w = 0.4, e_r = 0.05).
FAST_ALPHA = 0.8


def fast_exponents(alpha: float = FAST_ALPHA) -> dict[str, float]:
    """The FLOP exponents of depth, width and resolution for fast scaling with `alpha`."""
    return {"depth": (1 - alpha) / 2, "width": alpha / 2, "resolution": (1 - alpha) / 4}


def fast_coefficients(alpha: float = FAST_ALPHA) -> tuple[float, float, float]:
    """Fast scaling as per-phi coefficients (depth, width, resolution): with s = 2^phi,
    d = s^e_d, w = s^e_w, r = s^e_r, so each phi doubles the flops, as the paper's
    alpha * beta^2 * gamma^2 = 2 does."""
    e = fast_exponents(alpha)
    return 2 ** e["depth"], 2 ** e["width"], 2 ** e["resolution"]


def parse_fast(text: str) -> float | None:
    """`fast` -> 0.8, `fast:A` -> A (in (0, 1]); anything else -> None. ValueError for a bad A."""
    if text == "fast":
        return FAST_ALPHA
    if not text.startswith("fast:"):
        return None
    try:
        alpha = float(text.removeprefix("fast:"))
    except ValueError:
        raise ValueError(f"{text!r}: fast:A takes a number A in (0, 1]") from None
    if not 0 < alpha <= 1:
        raise ValueError(f"{text!r}: fast scaling's A must be in (0, 1] (1 is width alone)")
    return alpha


# -- Tan & Le 2019, Table 3: MobileNets and ResNet-50 scaled to ~4x (paper_table3.yaml) ----

@dataclass(frozen=True)
class PaperCell:
    """One published cell: a network scaled by one method, its FLOPs and ImageNet top-1."""

    network: str
    method: str  # "baseline" or a Table 3 method
    gflops: float  # multiply-adds, billions, as printed (0.1 B resolution)
    top1: float  # percent
    baseline_gflops: float
    baseline_top1: float

    @property
    def flops_ratio(self) -> float:
        return self.gflops / self.baseline_gflops

    @property
    def gain(self) -> float:
        """Top-1 points over the network's own baseline."""
        return self.top1 - self.baseline_top1


@dataclass(frozen=True)
class PaperTable:
    """The paper's Table 3: the settings every network was scaled by and what each reached."""

    source: str
    settings: dict[str, tuple[float, float, float]]  # method -> (d, w, r)
    networks: dict[str, dict[str, dict[str, float]]]  # network -> method -> {gflops, top1}

    def cell(self, network: str, method: str) -> PaperCell | None:
        """The published cell, or None where the paper has none (MobileNetV1 by depth, fast)."""
        rows = self.networks.get(network, {})
        if method not in rows or "baseline" not in rows:
            return None
        base = rows["baseline"]
        return PaperCell(network, method, rows[method]["gflops"], rows[method]["top1"],
                         base["gflops"], base["top1"])

    def methods(self, network: str) -> list[str]:
        """The methods the paper scaled `network` by, in the table's order; every method of
        the table for a network it does not report (a user's own, ResNet-18).  MobileNetV1
        has no depth cell: its depth x4 (52 plain depthwise-separable blocks) is not the
        paper's comparison, and at our proxy it never leaves chance."""
        own = [m for m in self.settings if m in self.networks.get(network, {})]
        return own or list(self.settings)


@functools.cache
def paper_table3() -> PaperTable:
    """Tan & Le 2019, Table 3, as kept in paper_table3.yaml (with its source)."""
    text = importlib.resources.files("scalesearch.spec").joinpath("paper_table3.yaml").read_text()
    data = yaml.safe_load(text)
    settings = {m: (float(v["d"]), float(v["w"]), float(v["r"])) for m, v in data["settings"].items()}
    return PaperTable(" ".join(data["source"].split()), settings, data["networks"])
