"""expand: fixed coefficients x a phi list -> the scaled family with its measured cost.

Step 2 of the method.  A *plan* says, per member, which multipliers to use (phi-based
from alpha, beta, gamma, or a published table); `expand_family` turns the plan into
members at the deployment shape, each measured with fvcore next to its nominal FLOP
multiple d*w^2*r^2 (= (alpha*beta^2*gamma^2)^phi for phi-based plans).  Rounding makes
the two differ; `exact_flops=True` moves each member's resolution (then width) until
measured FLOPs land within +-3% of baseline x nominal.  No files, no printing: progress
goes through a callback and files are written by `report.expand`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.measure.cost import Cost, measure_latency
from scalesearch.spec.presets import EFFICIENTNET_OFFICIAL
from scalesearch.spec.scaling import PAPER_B0, Coefficients, round_resolution
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.measure.variant import Variant

EXACT_TOLERANCE = 0.03  # the issue's +-3% band around baseline x nominal multiple
MAX_ABS_PHI = 10  # 2^10 x the baseline's FLOPs already means hours of fvcore tracing
PRESETS = ("paper", "efficientnet-official")

_NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"  # no "1." : "1...3" must not read as 1. .. 3


class FamilyError(UserError):
    """A phi list, coefficient source or preset that cannot make a family."""


# -- phi lists ------------------------------------------------------------------------
def parse_phis(text: str) -> tuple[float, ...]:
    """`1..7`, `-2..3` (step 1, both ends included) or `1,2,4`, `0.5,1.5` (ascending)."""
    raw = str(text).strip()
    hint = "write a range like 0..7 or -2..3, or an ascending list like 1,2,4 or 0.5,1.5"
    range_match = re.fullmatch(rf"({_NUMBER})\s*\.\.\s*({_NUMBER})", raw)
    if range_match:
        low, high = float(range_match.group(1)), float(range_match.group(2))
        if high < low:
            raise FamilyError(f"--phi {raw}: the range is descending; {hint}")
        phis = tuple(low + i for i in range(int(math.floor(high - low + 1e-9)) + 1))
    elif re.fullmatch(rf"{_NUMBER}(?:\s*,\s*{_NUMBER})*", raw):
        phis = tuple(float(part) for part in raw.split(","))
        if any(b <= a for a, b in zip(phis, phis[1:])):
            raise FamilyError(f"--phi {raw}: values must be strictly ascending; {hint}")
    else:
        raise FamilyError(f"--phi {raw!r}: cannot read it; {hint}")
    if any(abs(phi) > MAX_ABS_PHI for phi in phis):
        raise FamilyError(f"--phi {raw}: |phi| must be <= {MAX_ABS_PHI} "
                          f"(phi = 10 is already ~1000x the baseline's FLOPs)")
    return phis


def phi_label(phi: float) -> str:
    """1.0 -> '1', -2.0 -> '-2', 0.5 -> '0.5': for file names and tables."""
    return str(int(phi)) if float(phi).is_integer() else f"{phi:g}"


# -- where the multipliers come from --------------------------------------------------
@dataclass(frozen=True)
class MemberPlan:
    """The nominal multipliers of one member, before rounding and measuring."""

    phi: float
    depth: float
    width: float
    resolution_mult: float
    dropout: float | None  # None = the baseline's own
    name: str


@dataclass(frozen=True)
class FamilyPlan:
    """What to build: the members' nominal multipliers and where they came from."""

    source: str  # e.g. "preset paper", "alpha/beta/gamma", "runs/grid-x/best.json"
    coefficients: Coefficients | None  # None for a published table
    members: tuple[MemberPlan, ...]


def coefficients_from_run(run_dir: str | Path) -> Coefficients:
    """alpha, beta, gamma of a grid run directory's best.json."""
    path = Path(run_dir) / "best.json"
    if not path.is_file():
        raise FamilyError(f"--from {run_dir}: no best.json there (point --from at a `scalesearch grid` output directory)")
    try:
        best = json.loads(path.read_text())
        return Coefficients(float(best["alpha"]), float(best["beta"]), float(best["gamma"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise FamilyError(f"{path}: expected a JSON object with numeric alpha, beta, gamma ({error})") from None


def plan_family(space: SearchSpace, phis: tuple[float, ...] | None, *, preset: str | None = None,
                alpha: float | None = None, beta: float | None = None, gamma: float | None = None,
                from_dir: str | Path | None = None) -> FamilyPlan:
    """Exactly one coefficient source -> the plan; phis None = the default 0..7."""
    manual = (alpha, beta, gamma)
    given = [name for name, on in (("--from", from_dir is not None), ("--preset", preset is not None),
                                   ("--alpha/--beta/--gamma", any(v is not None for v in manual))) if on]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise FamilyError(f"give exactly one coefficient source (got {what}): --preset paper, "
                          "--preset efficientnet-official, --alpha A --beta B --gamma G, or --from GRID_DIR")
    if phis is None:
        phis = parse_phis("0..7")
    if preset == "efficientnet-official":
        return _official_plan(space, phis)
    if preset is not None and preset != "paper":
        raise FamilyError(f"--preset {preset!r}: unknown; known: {', '.join(PRESETS)}")
    if preset == "paper":
        coefficients, source = PAPER_B0, "preset paper (Tan & Le 2019)"
    elif from_dir is not None:
        coefficients, source = coefficients_from_run(from_dir), str(Path(from_dir) / "best.json")
    else:
        if any(v is None for v in manual):
            raise FamilyError("--alpha, --beta and --gamma go together (e.g. --alpha 1.2 --beta 1.1 --gamma 1.15)")
        coefficients, source = Coefficients(alpha, beta, gamma), "--alpha/--beta/--gamma"
    members = tuple(_phi_member(space, coefficients, phi) for phi in phis)
    return FamilyPlan(source=source, coefficients=coefficients, members=members)


def _phi_member(space: SearchSpace, coefficients: Coefficients, phi: float) -> MemberPlan:
    d, w, r = coefficients.multipliers(phi)
    return MemberPlan(phi=phi, depth=d, width=w, resolution_mult=r,
                      dropout=grown_dropout(space, phi), name=f"{space.name}-phi{phi_label(phi)}")


def grown_dropout(space: SearchSpace, phi: float) -> float | None:
    """base + per_phi x phi, capped at the space's max (None when the space sets no growth)."""
    growth = space.dropout_growth
    if not growth or space.network is None:
        return None
    base = space.network.dropout
    value = base + float(growth.get("per_phi", 0.0)) * phi
    value = min(value, float(growth.get("max", 0.95)))
    # Rounded so 0.2 + 0.05 * 3 prints and saves as 0.35, not 0.35000000000000003.
    return round(max(0.0, value), 6)


def _official_plan(space: SearchSpace, phis: tuple[float, ...]) -> FamilyPlan:
    reference = load_space("efficientnet-b0").network
    net = space.network
    shaped = net is not None and (net.stem, net.stages, net.head, net.resolution) == (
        reference.stem, reference.stages, reference.head, reference.resolution)
    if not shaped:
        raise FamilyError(f"--preset efficientnet-official is the published B0..B7 table and only fits an "
                          f"EfficientNet-B0-shaped baseline; {space.name} is not (use --preset paper or --alpha/--beta/--gamma)")
    members = []
    for phi in phis:
        if not float(phi).is_integer() or not 0 <= phi < len(EFFICIENTNET_OFFICIAL):
            raise FamilyError(f"--phi {phi_label(phi)}: --preset efficientnet-official has B0..B7 only; use phi in 0..7")
        row = EFFICIENTNET_OFFICIAL[int(phi)]
        members.append(MemberPlan(phi=phi, depth=row.depth, width=row.width,
                                  resolution_mult=row.resolution / reference.resolution,
                                  dropout=row.dropout, name=row.name))
    return FamilyPlan(source="preset efficientnet-official (B0..B7 table, official TF code)",
                      coefficients=None, members=tuple(members))


# -- members --------------------------------------------------------------------------
@dataclass
class Member:
    """One measured member at the deployment shape (plus training results, if any)."""

    plan: MemberPlan
    variant: Variant
    cost: Cost
    base_flops: int
    adjustment: dict[str, Any] = field(default_factory=dict)  # what --exact-flops changed
    latency_ms: float | None = None
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self):
        spec = self.variant.spec
        return None if spec is None else replace(spec, name=self.plan.name)

    @property
    def nominal_ratio(self) -> float:
        return self.plan.depth * self.plan.width**2 * self.plan.resolution_mult**2

    @property
    def flops_ratio(self) -> float:
        return self.cost.flops / self.base_flops

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "phi": int(self.plan.phi) if float(self.plan.phi).is_integer() else self.plan.phi,
            "name": self.plan.name,
            "depth": self.plan.depth, "width": self.variant.width,
            "resolution_mult": self.plan.resolution_mult, "resolution": self.variant.resolution,
            "nominal_width": self.plan.width,
            "nominal_resolution": _nominal_pixels(self.variant.space, self.plan.resolution_mult),
            "dropout": self.spec.dropout if self.spec is not None else self.plan.dropout,
            "blocks": self.spec.depth if self.spec is not None else None,
            **self.cost.as_dict(),
            "flops_ratio": self.flops_ratio, "nominal_ratio": self.nominal_ratio,
            "ratio_error": self.flops_ratio / self.nominal_ratio - 1,
            "adjusted": bool(self.adjustment),
            "adjustment": self.adjustment.get("summary", ""),
        }
        if self.latency_ms is not None:
            row["latency_ms"] = self.latency_ms
        row.update(self.training)
        return row


@dataclass
class Family:
    space: SearchSpace
    plan: FamilyPlan
    members: list[Member]
    exact_flops: bool
    training: dict[str, Any] = field(default_factory=dict)  # data + budget, when trained

    def as_dict(self) -> dict[str, Any]:
        base = self.members[0].base_flops if self.members else None
        return {
            "baseline": self.space.name, "baseline_source": self.space.source,
            "coefficient_source": self.plan.source,
            "coefficients": self.plan.coefficients.as_dict() if self.plan.coefficients else None,
            "product": self.plan.coefficients.product if self.plan.coefficients else None,
            "exact_flops": self.exact_flops, "exact_tolerance": EXACT_TOLERANCE,
            "shape": {"in_channels": 3, "num_classes": 1000, "base_resolution": self.space.resolution,
                      "note": "deployment shape (ImageNet: 3 channels, 1000 classes)"},
            "base_flops": base,
            "training": self.training or None,
            "members": [m.as_dict() for m in self.members],
        }


def _nominal_pixels(space: SearchSpace, resolution_mult: float) -> int:
    divisor = space.network.rules.resolution_divisor if space.network else 1
    return round_resolution(space.resolution * resolution_mult, divisor)


def expand_family(space: SearchSpace, plan: FamilyPlan, *, exact_flops: bool = False,
                  latency_device: str | None = None,
                  on_member: Callable[[Member], None] | None = None) -> Family:
    """Measure every member of `plan` at the deployment shape (fvcore, cached by spec)."""
    base_flops = Variant(space).cost().flops
    members = []
    for item in plan.members:
        variant = Variant(space, item.depth, item.width, item.resolution_mult, dropout=item.dropout)
        adjustment: dict[str, Any] = {}
        if exact_flops:
            variant, adjustment = match_flops(variant, base_flops * _nominal(item))
        # The name is not part of the network, so the baseline-named spec shares fvcore's
        # cache with the baseline measurement (phi = 0 costs nothing extra).
        member = Member(plan=item, variant=variant, cost=variant.cost(),
                        base_flops=base_flops, adjustment=adjustment)
        if latency_device is not None:
            member.latency_ms = measure_latency(variant.build(), 3, variant.resolution, latency_device)
        members.append(member)
        if on_member is not None:
            on_member(member)
    return Family(space=space, plan=plan, members=members, exact_flops=exact_flops)


def _nominal(item: MemberPlan) -> float:
    return item.depth * item.width**2 * item.resolution_mult**2


# -- exact FLOPs ----------------------------------------------------------------------
def match_flops(variant: Variant, target: float,
                tolerance: float = EXACT_TOLERANCE) -> tuple[Variant, dict[str, Any]]:
    """Move resolution (then width) so the fast MAC count lands within tolerance of target.

    Resolution first because it is the finest knob; but feature maps are ceil(px / 2^k),
    so FLOPs step up every 32 px (ResNet: ~4-6% at once) and some targets fall in a gap
    that only a small width change (8 channels per stage) can fill.  Depth moves in
    whole blocks and is left alone.  Returns the variant unchanged with an empty
    adjustment when it already lands inside.
    """
    before = variant.macs()
    if _off(before, target) <= tolerance:
        return variant, {}
    best = _match_resolution(variant, target, tolerance)
    if _off(best.macs(), target) > tolerance:
        # The target sits in a resolution step: fill it with width, from the nearest
        # resolution first and from a few pixels either side only if that fails too.
        tries = [best, _match_width(best, target, tolerance)]
        for shift in (-4, 4):
            if _off(tries[-1].macs(), target) <= tolerance:
                break
            tries.append(_match_width(_pixel_variant(best, best.resolution + shift), target, tolerance))
        best = min(tries, key=lambda v: _off(v.macs(), target))
    error = best.macs() / target - 1
    changes = []
    if best.resolution != variant.resolution:
        changes.append(f"resolution {variant.resolution} → {best.resolution} px")
    if best.width != variant.width:
        changes.append(f"width {variant.width:.4g} → {best.width:.4g}")
    summary = ", ".join(changes) or "no change"
    if abs(error) > tolerance:
        summary += f" (closest reachable: {error:+.1%} off target)"
    return best, {"summary": summary, "from_resolution": variant.resolution,
                  "from_width": variant.width, "flops_before": before,
                  "target_flops": int(round(target)), "error": error}


def _off(value: float, target: float) -> float:
    return abs(value / target - 1)


def _power_search(make: Callable[[float], Variant], start: float, exponent: float, target: float,
                  tolerance: float, steps: int = 6) -> Variant:
    """Secant-like steps assuming FLOPs ~ knob^exponent; keeps the closest point seen.

    count_macs costs about a second per new spec on two busy cores, so a model-guided
    step (usually 1-3 evaluations) beats bisecting a wide bracket (7-10).
    """
    knob, seen = start, {}
    best = make(knob)
    for _ in range(steps):
        candidate = make(knob)
        value = candidate.macs()
        if _off(value, target) < _off(best.macs(), target):
            best = candidate
        if _off(value, target) <= tolerance or candidate in seen:
            break
        seen[candidate] = value
        knob *= (target / value) ** (1 / exponent)
    return best


def _pixel_variant(variant: Variant, pixels: float) -> Variant:
    minimum = variant.spec.total_stride if variant.spec is not None else 8
    return replace(variant, resolution=max(int(round(pixels)), minimum))


def _match_resolution(variant: Variant, target: float, tolerance: float) -> Variant:
    # Aim at half the band: a pixel step is cheap, and members then sit well inside it.
    return _power_search(lambda px: _pixel_variant(variant, px), variant.resolution, 2.0,
                         target, tolerance / 2)


def _match_width(variant: Variant, target: float, tolerance: float) -> Variant:
    return _power_search(lambda w: replace(variant, width=w), variant.width, 2.0, target, tolerance / 2)


# -- proxy training --------------------------------------------------------------------
def proxy_variant(member: Member, base_resolution: int, in_channels: int, num_classes: int) -> Variant:
    """The member at the proxy shape: base px x the member's (possibly adjusted) r."""
    variant = member.variant
    r = variant.resolution / variant.space.resolution  # includes any --exact-flops change
    return replace(variant, resolution_mult=r).at_proxy(base_resolution, in_channels, num_classes)


def train_family(family: Family, *, data_name: str, data_dir: str | None = None,
                 budget_overrides: dict[str, Any] | None = None, device: str = "cpu",
                 progress: bool = False, on_member: Callable[[Member], None] | None = None) -> dict[str, Any]:
    """Proxy-train every member with the space's budget; results land in member.training.

    Returns what the report needs to say about the proxy shape (data, budget, resolution).
    """
    from scalesearch.training.data import load_data
    from scalesearch.training.loop import ProxyBudget, train_model

    base_resolution = family.space.proxy_resolution
    budget = ProxyBudget.for_space(family.space.proxy, **(budget_overrides or {}))
    data = load_data(data_name, data_dir, train_images=budget.train_images,
                     val_images=budget.val_images, seed=budget.seed)
    for member in family.members:
        variant = proxy_variant(member, base_resolution, data.in_channels, data.num_classes)
        result = train_model(variant.build(budget.seed), data, variant.resolution, budget, device=device,
                             on_epoch=None, progress=progress)
        member.training = {"proxy_resolution": variant.resolution, "val_accuracy": result.val_accuracy,
                           "test_accuracy": result.test_accuracy, "train_seconds": result.seconds,
                           "images_per_second": result.images_per_second, "train_status": result.status}
        if on_member is not None:
            on_member(member)
    family.training = {"data": data.name, "proxy_base_resolution": base_resolution,
                       "in_channels": data.in_channels, "num_classes": data.num_classes,
                       "device": str(device), "budget": budget.as_dict()}
    return family.training
