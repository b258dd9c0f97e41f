"""expand: fixed coefficients x a phi list -> the scaled family with its measured cost.

Step 2 of the method.  The family itself — plans, landing, measuring — is family.py;
`run_expand(request, events)` is the whole command: plan, measure, optionally time and
proxy-train, and save the run directory (runs/family_files.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from scalesearch.errors import UserError
from scalesearch.family import Family, FamilyPlan, Member, expand_family, plan_family, proxy_variant
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.models.weights import load_weights, map_by_order, read_state_dict
from scalesearch.requests import (BudgetChoice, DataChoice, LatencyChoice, Placement, data_source, flat,
                                  proxy_budget)
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, default_run_dir, finish_run
from scalesearch.spec.phis import parse_phis
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.spec.weight_sources import with_weight_source

def train_family(family: Family, dataset: DataChoice, choice: BudgetChoice, placement: Placement, *,
                 device: str = "cpu", on_member: Callable[[Member], None] | None = None,
                 weights: Path | None = None) -> dict[str, Any]:
    """Proxy-train every member with the space's budget and `choice` on top; results land
    in member.training.

    `weights`: a state_dict file each member whose shapes match starts from (mapped by
    order, the stem summed to the data's channels and the classifier kept fresh); the
    others start from the seed, their record saying why.  Refused before any training
    when no member matches.
    Returns what the report needs to say about the proxy shape (data, budget, resolution).
    """
    from scalesearch.training.unit import train_unit

    base_resolution = family.space.proxy_resolution
    budget = proxy_budget(family.space.proxy, dataset, choice)
    data = data_source(dataset, placement, budget).load(budget.seed)
    variants = [proxy_variant(m, base_resolution, data.in_channels, data.num_classes) for m in family.members]
    state = read_state_dict(weights) if weights is not None else None
    fits = _weights_fit(variants, weights, state, budget.seed) if state is not None else {}
    for member, variant in zip(family.members, variants):
        loaded = {}
        if weights is not None and fits[variant] is not None:
            loaded = {"weights": None, "weights_note": fits[variant]}

        def start_from_weights(model) -> None:
            loaded["weights"] = load_weights(model, weights, fit_shape=True, state=state).as_dict()

        # Every member is one unit with the family's seed; the test split on each (it is reported).
        result = train_unit(variant, budget, 0, data, device=device, threads=placement.threads, evaluate_test=True,
                            prepare=start_from_weights if weights is not None and fits[variant] is None else None)
        member.training = {**loaded, "proxy_resolution": variant.resolution, "val_accuracy": result.val_accuracy,
                           "test_accuracy": result.test_accuracy, "train_seconds": result.seconds,
                           "images_per_second": result.images_per_second, "train_status": result.status,
                           **({"train_note": result.message} if result.status != "ok" else {})}
        if on_member is not None:
            on_member(member)
    family.training = {"data": data.name, "proxy_base_resolution": base_resolution,
                       "in_channels": data.in_channels, "num_classes": data.num_classes,
                       "device": str(device), "budget": budget.as_dict()}
    return family.training


def _weights_fit(variants: list[Variant], weights: Path, state: Mapping[str, Any],
                 seed: int) -> dict[Variant, str | None]:
    """Per member: None when `state` (read from `weights`) maps onto it, else the one-line
    reason; refuse if none fits."""
    fits: dict[Variant, str | None] = {}
    for variant in variants:
        try:
            map_by_order(variant.build(seed), state, fit_shape=True)
            fits[variant] = None
        except UserError as error:
            fits[variant] = str(error)
    if all(reason is not None for reason in fits.values()):
        raise UserError(f"{{weights}} {weights} fits no member: {next(iter(fits.values()))}")
    return fits


# -- the whole command, edge to edge ------------------------------------------------------

@dataclass(frozen=True)
class ExpandRequest:
    """What `scalesearch expand` was asked; None budget fields fall back to the space's proxy."""

    baseline: str
    phi: str | None = None  # "0..7", "1,2,4" (None = 0..7)
    preset: str | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    from_dir: Path | None = None
    land: bool = True  # members on growth^phi x the baseline's cost (grid and given coefficients)
    pick: str = "best"  # from a grid: its leader, or its smooth fit
    force_coefficients: bool = False  # take a grid of another baseline's coefficients anyway
    exact_flops: bool = False  # move every member onto its target in `cost` (+-3%)
    cost: str = "flops"  # what --exact-cost lands on
    latency: bool = False
    timing: LatencyChoice = field(default_factory=LatencyChoice)
    train: bool = False
    dataset: DataChoice = field(default_factory=DataChoice)
    budget: BudgetChoice = field(default_factory=BudgetChoice)
    placement: Placement = field(default_factory=Placement)
    weights: Path | None = None  # with train: a state_dict the members whose shapes match start from
    weights_from: str | None = None  # torchvision | timm: the spec fields those weights need
    out: Path | None = None  # default runs/expand-BASELINE
    command: str = ""

    def as_dict(self) -> dict[str, Any]:
        return flat(self)


class ExpandEvents:
    """What a front end hears while a family is measured and trained."""

    def planned(self, plan: FamilyPlan, steps: int) -> None:
        """`steps` = members to measure, plus members to train."""

    def measured(self, member: Member) -> None: ...

    def trained(self, member: Member) -> None: ...


def default_out(space: SearchSpace) -> Path:
    return default_run_dir("expand", space.name)


def run_expand(request: ExpandRequest, events: ExpandEvents | None = None) -> dict[str, Any]:
    """Measure (and optionally train) the family; write its run directory; return family.json's dict."""
    from scalesearch.runs.family_files import save_family
    from scalesearch.device import resolve_device

    events = events or ExpandEvents()
    space = load_space(request.baseline)
    if request.weights is not None and not request.train:
        raise UserError("{weights} is for training: add {train} (the weights are the members' starting point)")
    if request.weights is not None:
        read_state_dict(request.weights)  # a missing or unreadable file is refused before anything is written
    space = with_weight_source(space, request.weights_from)
    plan = plan_family(space, parse_phis(request.phi) if request.phi is not None else None,
                       preset=request.preset, alpha=request.alpha, beta=request.beta, gamma=request.gamma,
                       from_dir=request.from_dir, land=request.land, pick=request.pick,
                       force_coefficients=request.force_coefficients)
    timing, times = request.timing, request.latency or request.cost == "latency"
    device = str(resolve_device(request.placement.device)) if (times or request.train) else None
    timer = str(resolve_device(timing.latency_device, "latency_device")) if (times and timing.latency_device) else device
    meter = Meter(request.cost, timer or "cpu", timing.latency_threads, timing.latency_batch)
    timed = replace(meter, cost="latency") if times else None
    out = Path(request.out or default_out(space))
    events.planned(plan, len(plan.members) * (2 if request.train else 1))
    family = expand_family(space, plan, exact_flops=request.exact_flops, meter=meter, latency=timed,
                           on_member=events.measured)
    # Claimed only now that every member has passed the memory guard and been measured.
    info = claim_run_dir(out, RunInfo(kind="expand", baseline=space.name, space=space.identity,
                                      request=request.as_dict(), results="family.json",
                                      command=request.command))
    if request.train:
        train_family(family, request.dataset, request.budget, request.placement, device=device,
                     on_member=events.trained, weights=request.weights)
    payload = save_family(family, out)
    finish_run(out, info)
    payload["out"] = str(out)
    return payload
