"""The health check every unit passes before its accuracy may be ranked.

A proxy training that blew up or never left chance says something about the optimizer,
not about the network: ranked as a low accuracy, it makes the grid call a point
"separated" for the wrong reason.  `train_unit` (training/unit.py) checks every unit it
trains and records a failed one as "failed-to-train" with its reason; ranking, compare and
transfer leave such units out and say so.  A unit fails when

- its loss became non-finite (the loop stops it: "diverged");
- its first epoch's mean training loss exceeds `LOSS_MULTIPLE` x ln C, C the classes.
  A uniform guess scores ln C (label smoothing does not change that); a network that
  averages half as much again over its first epoch has spent it confidently wrong — its
  logits blew up.  Measured on Fashion-MNIST at the default proxies (2026-12-07, seed 0):
  trainings that went on to learn averaged 1.67-2.65 (0.73-1.15 x ln 10), ResNet-50's
  blown-up ones 4.4-10 (1.9-4.4 x);
- its validation accuracy ends below chance + `CHANCE_MARGIN` of the way from chance to
  perfect (19 % for ten classes): it did not learn.  MobileNetV1 at depth x4 ended at
  9-17 %, every network that learned above 40 %; at 2,000 validation images chance
  itself scatters by 0.7 points, so the margin is not validation noise.
"""

from __future__ import annotations

import math
import os
from typing import Any

FAILED = "failed-to-train"
LOSS_MULTIPLE = 1.5
CHANCE_MARGIN = 0.1


def chance(num_classes: int) -> float:
    return 1.0 / max(1, num_classes)


def failure(status: str, message: str, first_loss: float | None, val_accuracy: float,
            num_classes: int) -> str:
    """Why a finished training failed to train ("" when it passed); see the module docstring."""
    if status == "diverged":
        return message or "its loss became non-finite"
    ceiling = LOSS_MULTIPLE * math.log(max(2, num_classes))
    if first_loss is not None and math.isfinite(first_loss) and first_loss > ceiling:
        return (f"blew up: first-epoch mean loss {first_loss:.2f} > {LOSS_MULTIPLE:g} x ln {num_classes} "
                f"= {ceiling:.2f}")
    floor = chance(num_classes) + CHANCE_MARGIN * (1 - chance(num_classes))
    if math.isfinite(val_accuracy) and val_accuracy < floor:
        return f"stayed at chance: validation {val_accuracy:.1%} < {floor:.1%}"
    return ""


def failed(record: dict[str, Any] | None) -> bool:
    """Whether a recorded unit (a trial's attributes, a units.jsonl line) failed to train:
    recorded so by the check, or diverged (older records)."""
    return record is not None and record.get("status") in (FAILED, "diverged")


# SCALESEARCH_HEALTH_CHECK=off trusts every training, as before the check: for smoke runs of
# the plumbing (workers, storage, resume) at budgets of a few steps, which train nothing. A
# ranking made so says nothing about the networks.
HEALTH_ENV = "SCALESEARCH_HEALTH_CHECK"


def enabled() -> bool:
    """Whether finished trainings are checked (every run, unless HEALTH_ENV says off)."""
    return os.environ.get(HEALTH_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
