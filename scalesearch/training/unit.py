"""One unit of proxy training — a network trained once, with seed s — as every command trains it.

grid, compare, transfer, `expand --train` and `train` all train through `train_unit`, so a
unit means the same everywhere:

- **Seed s** of a run is the base seed + s for everything: the weights, the validation
  split and the training subset (`DataSource.load`), the order, the crops and flips.  Seed
  s of every network shares them (common random numbers), so two networks compared on the
  same seed differ by their own noise only.
- **What is evaluated**: the validation split once, after the last epoch (every epoch only
  where something reads it: a pruner, or `train`'s progress); the test split on seed 0 only
  — it is reported, never ranked on.
- `prepare(model)` runs between building and training (loading starting weights).
- **Whether it trained**: every unit passes the health check (training/health.py); one
  that blew up, diverged or stayed at chance comes back with status "failed-to-train" and
  its reason in `message`, its accuracy kept for the record and never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from torch import nn

from scalesearch.costs.variant import Variant
from scalesearch.training import health
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.data import ImageData, load_data
from scalesearch.training.loop import TrainResult, train_model


@dataclass(frozen=True)
class DataSource:
    """Where a run's images come from; `load(seed)` gives seed's split (cached per process)."""

    name: str = "fashion-mnist"
    data_dir: str | Path | None = None
    train_images: int | None = None
    val_images: int = 2000
    test_images: int | None = None

    def load(self, seed: int) -> ImageData:
        return load_data(self.name, self.data_dir, train_images=self.train_images, val_images=self.val_images,
                         test_images=self.test_images, seed=seed)


def unit_seed(budget: ProxyBudget, seed_index: int) -> int:
    """The seed unit `seed_index` uses for everything: the base seed + its index."""
    return budget.seed + seed_index


def train_unit(variant: Variant, budget: ProxyBudget, seed_index: int, data: DataSource | ImageData, *,
               device: Any = "cpu", threads: int | None = None, evaluate_test: bool | None = None,
               validate_each_epoch: bool = False, on_epoch: Callable[[int, float], None] | None = None,
               prepare: Callable[[nn.Module], None] | None = None, **loop: Any) -> TrainResult:
    """Train `variant` (at its proxy shape) once with seed `seed_index` (module docstring).

    `data` is a DataSource, or seed's images already loaded.  `evaluate_test` defaults to
    seed 0 only; `loop` passes the rest to `train_model` (checkpoint, resume, on_step, ...).
    """
    seed = unit_seed(budget, seed_index)
    images = data.load(seed) if isinstance(data, DataSource) else data
    model = variant.build(seed)
    if prepare is not None:
        prepare(model)
    result = train_model(model, images, variant.resolution, replace(budget, seed=seed), device=device,
                         threads=threads, evaluate_test=seed_index == 0 if evaluate_test is None else evaluate_test,
                         validate_each_epoch=validate_each_epoch, on_epoch=on_epoch, **loop)
    return checked(result, images.num_classes)


def checked(result: TrainResult, num_classes: int) -> TrainResult:
    """`result`, marked failed-to-train with its reason where it fails the health check (a
    diverged one keeps its status "diverged", which counts as failed too)."""
    if result.status != "ok" or not health.enabled():
        return result
    why = health.failure(result.status, result.message, result.first_loss, result.val_accuracy, num_classes)
    if why:
        result.status, result.message = health.FAILED, why
    return result
