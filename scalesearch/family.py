"""A family: coefficients x a phi list -> members planned, landed and measured.

A *plan* says, per member, which multipliers to use (phi-based from alpha, beta, gamma, or a
published table); `expand_family` turns the plan into members at the deployment shape, each
measured with fvcore next to its nominal FLOP multiple d*w^2*r^2 (= (alpha*beta^2*gamma^2)^phi
for phi-based plans).  Rounding makes the two differ, so landed plans move each member along
its coefficients, (alpha, beta, gamma)^t with t near phi, onto growth^phi x the baseline's
cost — the one landing rule the grid, transfer and compare share (costs/landing.py).
`exact_flops=True` then moves each member's resolution (then width) until measured cost lands
within +-3% of baseline x target (costs/match.py).

Used by `expand` (which saves, times and trains the family) and `transfer` (which grows a
grid's points to phi): a command never imports another.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.runs.grid_tables import check_grid_baseline, read_grid_choice
from scalesearch.spec.coefficients import COEFFICIENTS, choose_source, manual
from scalesearch.costs.cost import Cost
from scalesearch.costs.latency import Latency
from scalesearch.costs.kinds import recomputable
from scalesearch.costs.meter import FLOPS, Meter
from scalesearch.machine import describe
from scalesearch.costs.landing import LAND_TOLERANCE, land
from scalesearch.costs.match import EXACT_TOLERANCE, match_cost
from scalesearch.spec.phis import parse_phis, phi_label
from scalesearch.spec.presets import EFFICIENTNET_OFFICIAL, fast_coefficients, parse_fast
from scalesearch.spec.scaling import PAPER_B0, Coefficients, round_resolution
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.costs.variant import Variant

PRESETS = ("paper", "efficientnet-official")
GROWTH_DECIMALS = 4  # given coefficients grow their family by their product, to 4 decimals


class FamilyError(UserError):
    """A phi list, coefficient source or preset that cannot make a family."""


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
    growth: float | None = None  # cost multiple per phi each member is landed on; None = as published
    tolerance: float = LAND_TOLERANCE  # the band members are landed in (a grid's own, from --from)
    cost: str = "flops"  # the cost they are landed on (a grid's own, from --from)

    @property
    def landed(self) -> bool:
        return self.growth is not None and self.coefficients is not None


def plan_family(space: SearchSpace, phis: tuple[float, ...] | None, *, preset: str | None = None,
                alpha: float | None = None, beta: float | None = None, gamma: float | None = None,
                from_dir: str | Path | None = None, land: bool = True, pick: str = "best",
                force_coefficients: bool = False) -> FamilyPlan:
    """Exactly one coefficient source -> the plan; phis None = the default 0..7.

    Coefficients from a grid (`from_dir`) or given as numbers are landed: member phi costs
    growth^phi x the baseline (growth = the grid's target, or the numbers' own product),
    by the one landing rule (costs/landing.py) — from a grid, in the grid's own band and
    cost, so member phi = 1 is the network the grid trained for those coefficients.  A
    down-scaling grid (target T < 1) gives members at T^phi: they shrink as phi grows.
    The presets are kept as published.  `land=False` keeps every member as it rounds.
    `pick` chooses the grid's leader ("best") or its smooth fit ("fit"); a grid made for
    another baseline is refused unless `force_coefficients`.
    """
    choose_source({"{preset}": preset is not None, COEFFICIENTS: any(v is not None for v in (alpha, beta, gamma)),
                   "{from}": from_dir is not None}, required=True,
                  forms="{preset} paper, {preset} efficientnet-official, {preset} fast[:A], {alpha} A {beta} B {gamma} G, "
                        "or {from} GRID_DIR")
    if phis is None:
        phis = parse_phis("0..7")
    try:
        fast = parse_fast(preset) if preset is not None else None
    except ValueError as error:
        raise FamilyError(f"{{preset}} {error}") from None
    if preset is not None and preset not in PRESETS and fast is None:
        raise FamilyError(f"{{preset}} {preset!r}: unknown; known: {', '.join(PRESETS)}, fast, fast:A")
    if preset == "efficientnet-official":
        return _official_plan(space, phis)
    if preset == "paper":  # as published: the paper's coefficients grow 1.92x per phi
        coefficients, source, growth = PAPER_B0, "preset paper (Tan & Le 2019)", None
    elif fast is not None:  # Dollar et al.'s fast scaling, landed like given coefficients (growth 2)
        coefficients = manual(*fast_coefficients(fast))
        source, growth = f"preset fast:{fast:g} (Dollar et al. 2021: d, w, r = s^{(1 - fast) / 2:g}, " \
                         f"s^{fast / 2:g}, s^{(1 - fast) / 4:g}, s = 2^phi)", 2.0
    elif from_dir is not None:
        choice = read_grid_choice(Path(from_dir), pick)
        check_grid_baseline(choice, space, Path(from_dir), force_coefficients)
        where = str(Path(from_dir) / "best.json") + (" (smooth fit)" if pick == "fit" else
                                                      f" ({pick})" if pick != "best" else "")
        coefficients, source, growth = choice.coefficients, where, choice.target
        members = tuple(phi_member(space, coefficients, phi) for phi in phis)
        return FamilyPlan(source=source, coefficients=coefficients, members=members,
                          growth=growth if land else None, tolerance=choice.tolerance or LAND_TOLERANCE,
                          cost=landing_cost(choice.cost))
    else:
        coefficients, source = manual(alpha, beta, gamma), "alpha/beta/gamma"
        # To 4 decimals: coefficients copied from a grid's best.json (6 decimals) name its
        # target (2.0, not 2.0000005), so member phi = 1 is the network the grid trained.
        growth = round(coefficients.product, GROWTH_DECIMALS)
    members = tuple(phi_member(space, coefficients, phi) for phi in phis)
    return FamilyPlan(source=source, coefficients=coefficients, members=members,
                      growth=growth if land else None)


def landing_cost(recorded: str) -> str:
    """The cost a grid's members are landed on here: the grid's own, FLOPs where the grid's
    was timed on its machine (latency) and cannot be measured again here."""
    return recorded if recomputable(recorded) else "flops"


def phi_member(space: SearchSpace, coefficients: Coefficients, phi: float) -> MemberPlan:
    """Member phi of the coefficients' family, as planned: (alpha, beta, gamma)^phi, grown dropout."""
    d, w, r = coefficients.multipliers(phi)
    return MemberPlan(phi=phi, depth=d, width=w, resolution_mult=r,
                      dropout=space.dropout_at(phi), name=f"{space.name}-phi{phi_label(phi)}")


def _official_plan(space: SearchSpace, phis: tuple[float, ...]) -> FamilyPlan:
    reference = load_space("efficientnet-b0").network
    net = space.network
    shaped = net is not None and (net.stem, net.stages, net.head, net.resolution) == (
        reference.stem, reference.stages, reference.head, reference.resolution)
    if not shaped:
        raise FamilyError(f"{{preset}} efficientnet-official is the published B0..B7 table and only fits an "
                          f"EfficientNet-B0-shaped baseline; {space.name} is not (use {{preset}} paper or {{alpha}}/{{beta}}/{{gamma}})")
    members = []
    for phi in phis:
        if not float(phi).is_integer() or not 0 <= phi < len(EFFICIENTNET_OFFICIAL):
            raise FamilyError(f"{{phi}} {phi_label(phi)}: {{preset}} efficientnet-official has B0..B7 only; use phi in 0..7")
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
    target_ratio: float  # the cost multiple it was meant to have: growth^phi, or d*w^2*r^2 as published
    t: float | None = None  # the exponent it was landed at: (d, w, r) = (alpha, beta, gamma)^t
    adjustment: dict[str, Any] = field(default_factory=dict)  # what --exact-flops (or a step) changed
    latency: Latency | None = None
    memory: int | None = None  # training memory in bytes (costs/memory.py), when the cost is memory
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
            "name": self.plan.name, "t": self.t,
            "depth": self.variant.depth, "width": self.variant.width,
            "resolution_mult": self.variant.resolution_mult, "resolution": self.variant.resolution,
            "nominal_depth": self.plan.depth, "nominal_width": self.plan.width,
            "nominal_resolution": _nominal_pixels(self.variant.space, self.plan.resolution_mult),
            "dropout": self.spec.dropout if self.spec is not None else self.plan.dropout,
            "blocks": self.spec.depth if self.spec is not None else None,
            **self.cost.as_dict(),
            "flops_ratio": self.flops_ratio, "nominal_ratio": self.nominal_ratio,
            "target_ratio": self.target_ratio,
            "ratio_error": self.flops_ratio / self.target_ratio - 1,
            "adjusted": bool(self.adjustment),
            "adjustment": self.adjustment.get("summary", ""),
        }
        if self.latency is not None:
            row.update(latency_ms=self.latency.ms, latency_spread=self.latency.spread,
                       latency_format=self.latency.memory_format)
        if self.memory is not None:
            row["training_memory_bytes"] = self.memory
        row.update(self.training)
        return row


@dataclass
class Family:
    space: SearchSpace
    plan: FamilyPlan
    members: list[Member]
    exact_flops: bool  # members moved onto their target in `meter`'s cost (+-EXACT_TOLERANCE)
    meter: Meter = FLOPS
    latency_meter: Meter | None = None  # how latencies were timed, when they were
    training: dict[str, Any] = field(default_factory=dict)  # data + budget, when trained
    exact_tolerance: float = EXACT_TOLERANCE  # the band `exact_flops` matched within

    def as_dict(self) -> dict[str, Any]:
        base = self.members[0].base_flops if self.members else None
        return {
            "baseline": self.space.name, "baseline_source": self.space.source,
            "coefficient_source": self.plan.source,
            "coefficients": self.plan.coefficients.as_dict() if self.plan.coefficients else None,
            "product": self.plan.coefficients.product if self.plan.coefficients else None,
            "growth": self.plan.growth, "land_tolerance": self.plan.tolerance, "land_cost": self.plan.cost,
            "exact_flops": self.exact_flops, "exact_cost": self.meter.cost if self.exact_flops else None,
            "exact_tolerance": self.exact_tolerance,
            "latency": None if self.latency_meter is None else {
                "threads": self.latency_meter.threads, "batch": self.latency_meter.batch,
                "device": self.latency_meter.device, "machine": describe(self.latency_meter.device)},
            "shape": {"in_channels": 3, "num_classes": 1000, "base_resolution": self.space.resolution,
                      "note": "deployment shape (ImageNet: 3 channels, 1000 classes)"},
            "base_flops": base,
            "training": self.training or None,
            "members": [m.as_dict() for m in self.members],
        }


def _nominal_pixels(space: SearchSpace, resolution_mult: float) -> int:
    divisor = space.network.rules.resolution_divisor if space.network else 1
    return round_resolution(space.resolution * resolution_mult, divisor)


def place_member(space: SearchSpace, plan: FamilyPlan,
                 item: MemberPlan) -> tuple[Variant, float, float | None, dict[str, Any]]:
    """(network, target cost multiple, t, fallback record) of one planned member.

    Landed plans go through the one landing rule (costs/landing.py) onto growth^phi in
    the plan's cost and band; others keep their rounded multipliers (t None)."""
    variant = Variant(space, item.depth, item.width, item.resolution_mult, dropout=item.dropout)
    if not plan.landed or item.phi == 0:
        return variant, _nominal(item), None, {}
    target = plan.growth ** item.phi
    landing = land(variant, plan.coefficients, item.phi, target, meter=Meter(plan.cost), tolerance=plan.tolerance)
    return landing.variant, target, landing.t, landing.adjustment


def _nominal(item: MemberPlan) -> float:
    return item.depth * item.width**2 * item.resolution_mult**2


def expand_family(space: SearchSpace, plan: FamilyPlan, *, exact_flops: bool = False,
                  meter: Meter = FLOPS, latency: Meter | None = None, tolerance: float = EXACT_TOLERANCE,
                  on_member: Callable[[Member], None] | None = None) -> Family:
    """Measure every member of `plan` at the deployment shape (fvcore, cached by spec).

    `exact_flops` moves each member onto its target in `meter`'s cost within `tolerance`
    (--exact-cost: expand's +-3%; transfer passes the grid's own band); `latency` says how
    to time every member (None: not timed)."""
    base_flops = Variant(space).cost().flops
    base_cost = meter(Variant(space))
    members = []
    for item in plan.members:
        variant, target, t, adjustment = place_member(space, plan, item)
        if exact_flops:  # a landing's own fallback record stays unless this moves it again
            variant, exact = match_cost(variant, base_cost * target, tolerance,
                                        None if meter.cost == "flops" else meter)
            adjustment = exact or adjustment
        # The name is not part of the network, so the baseline-named spec shares fvcore's
        # cache with the baseline measurement (phi = 0 costs nothing extra).
        member = Member(plan=item, variant=variant, cost=variant.cost(), base_flops=base_flops,
                        target_ratio=target, t=t, adjustment=adjustment)
        if latency is not None:
            member.latency = latency.latency(variant)
        if meter.cost == "memory":
            member.memory = variant.training_memory()
        members.append(member)
        if on_member is not None:
            on_member(member)
    return Family(space=space, plan=plan, members=members, exact_flops=exact_flops, meter=meter,
                  latency_meter=latency, exact_tolerance=tolerance)


# -- proxy training --------------------------------------------------------------------
def proxy_variant(member: Member, base_resolution: int, in_channels: int, num_classes: int) -> Variant:
    """The member at the proxy shape: base px x the member's (possibly adjusted) r."""
    return member.variant.at_proxy(base_resolution, in_channels, num_classes)
