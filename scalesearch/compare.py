"""Single-dimension vs compound scaling at matched FLOPs: the paper's Table 3, measured.

For each target FLOP multiple s of the baseline (at the *deployment* shape: the space's
own resolution, 3 channels, 1000 classes), every method gets one scalar setting solved
so that the measured multiply-adds land within ±5% of s:

    width       w                          depth       d
    resolution  r                          compound    phi: (alpha^phi, beta^phi, gamma^phi)
    fast        s': (s'^0.1, s'^0.4, s'^0.05)   (Dollár et al., CVPR 2021)

(each a registered entry of spec/methods.py: a new method is one more entry).

Rounding (channels to multiples of 8, repeats by ceil, integer pixels) makes cost a
step function of the setting, so this is a search on measured cost, not a formula:
the fast analytic counter (`Variant.macs`) drives it and fvcore (`Variant.cost`)
confirms the result.  Every planned variant is then trained with one proxy budget at the
*proxy* shape (the data's channels and classes at a small base resolution x r), once per
seed; `runs/compare_units.py` keeps that work resumable (units.jsonl) and writes the
rows (compare.csv, compare.json).

`--preset paper-table3` trains the paper's own Table 3 settings instead (w = 2, d = 4,
r = 2, compound d = 1.4, w = 1.2, r = 1.3: spec/paper_table3.yaml) -- the methods the
paper compares for the network (MobileNetV1 has no depth row) --, reports their measured
FLOP ratios beside the paper's and the paper's accuracies beside ours (`beside_paper`).
`budget_scale` F trains every variant, the baseline included, for F x the proxy epochs.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from scalesearch.runs.compare_units import pending_units, read_units, train_units, unit_key, write_results
from scalesearch.errors import UserError
from scalesearch.runs.grid_tables import check_grid_baseline, read_grid_choice
from scalesearch.spec.coefficients import COEFFICIENTS, choose_source, manual
from scalesearch.spec.methods import METHODS, Setting, compare_method, method_setting
from scalesearch.spec.presets import paper_table3
from scalesearch.spec.scaling import PAPER_B0, Coefficients
from scalesearch.spec.spaces import SearchSpace
from scalesearch.machine import describe
from scalesearch.costs.landing import land
from scalesearch.costs.match import shortest, solve_knob
from scalesearch.costs.meter import FLOPS, Meter
from scalesearch.costs.variant import Variant
from scalesearch.search.pool import ProcessPlan, plan_processes, run_pool
from scalesearch.stats.ranking import TwoWay, versus_control
from scalesearch.requests import (BudgetChoice, DataChoice, LatencyChoice, Placement, data_source, flat, proxy_budget,
                                  uncalibrated)
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, finish_run
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget, budget_scale_problem
from scalesearch.training.data import ImageData
from scalesearch.device import available_cores, resolve_device
from scalesearch.training import health, unit
from scalesearch.training.timing import estimate_seconds

TOLERANCE = 0.05  # every solved variant's measured FLOPs within ±5% of its target


# Tan & Le, "EfficientNet", ICML 2019, Table 3 ("Scaling up MobileNets and ResNet"):
# every method's setting as (d, w, r), from spec/paper_table3.yaml with its source.
PAPER_TABLE3 = paper_table3().settings
PAPER_TABLE3_METHODS = ("width", "depth", "resolution", "compound")  # the preset's order
# Under that preset a method without a published row (fast) is solved at the multiple the
# single-dimension rows nominally reach (w = 2, r = 2, d = 4 all give 4x).
PAPER_TABLE3_FAST_TARGET = 4.0
PRESETS = ("paper", "paper-table3")


def paper_table3_methods(network: str) -> tuple[str, ...]:
    """The preset's default methods: the ones the paper compares for `network` (all four
    for a network it does not report), in PAPER_TABLE3_METHODS' order."""
    own = paper_table3().methods(network)
    return tuple(m for m in PAPER_TABLE3_METHODS if m in own)


class CompareError(UserError):
    """Bad compare input: a target, a method list, coefficients or an --out directory."""


# -- parsing -------------------------------------------------------------------------

def parse_targets(text: str) -> tuple[float, ...]:
    """'2x,4x' -> (2.0, 4.0); order kept, duplicates dropped."""
    targets: list[float] = []
    for item in str(text).split(","):
        item = item.strip().lower()
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*x?", item)
        value = float(match.group(1)) if match else math.nan
        if not match or not math.isfinite(value) or value <= 1:
            raise CompareError(f"{{target}}: cannot read {item!r}; give FLOP multiples above 1, e.g. 2x,4x")
        if value not in targets:
            targets.append(value)
    return tuple(targets)


def parse_methods(text: str) -> tuple[str, ...]:
    """Registered method names (spec/methods.py), as written: `fast:A` is fast scaling with
    Dollár et al.'s a = A in (0, 1] (fast = fast:0.8)."""
    methods: list[str] = []
    for item in str(text).split(","):
        item = item.strip().lower()
        try:
            compare_method(item)
        except UserError as error:
            raise CompareError(str(error)) from None
        if item not in methods:
            methods.append(item)
    return tuple(methods)


def target_label(target: float | None) -> str:
    return "1x" if target is None else f"{target:g}x"


def coefficients_from(from_dir: str | None, alpha: float | None, beta: float | None,
                      gamma: float | None, preset: str | None, space: SearchSpace | None = None,
                      force: bool = False) -> tuple[Coefficients, str]:
    """The compound coefficients and where they came from (for the report)."""
    source = choose_source({"{from}": from_dir is not None, COEFFICIENTS: any(v is not None for v in (alpha, beta, gamma)),
                            "{preset}": preset is not None}, required=False)
    if preset is not None and preset not in PRESETS:
        raise CompareError(f"{{preset}} must be one of {', '.join(PRESETS)}, got {preset!r}")
    if source == "{from}":
        choice = read_grid_choice(Path(from_dir))
        if space is not None:
            check_grid_baseline(choice, space, Path(from_dir), force)
        return choice.coefficients, f"{from_dir}/best.json"
    coefficients = manual(alpha, beta, gamma)
    if coefficients is not None:
        return coefficients, "command line"
    if preset == "paper-table3":
        d, w, r = PAPER_TABLE3["compound"]
        return Coefficients(d, w, r), "paper Table 3 (d=1.4, w=1.2, r=1.3 at phi=1)"
    return PAPER_B0, "paper (EfficientNet-B0: 1.2, 1.1, 1.15)"


# -- solving ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    """One row of the comparison: a method's variant for one target, with its measured cost."""

    target: float | None  # None for the baseline row and paper presets without a target
    label: str  # "2x", "1x" (baseline), "table3"
    method: str  # a METHODS entry or "baseline"
    knob: str
    knob_value: float
    variant: Variant
    cost_ratio: float  # in the chosen cost (the analytic count for FLOPs); `confirm` adds fvcore's
    spread: float = 0.0  # how far a timed cost may be off (latency), added to the tolerance

    @property
    def key(self) -> str:
        return f"{self.label}/{self.method}"

    @property
    def within_tolerance(self) -> bool:
        return self.target is None or abs(self.cost_ratio / self.target - 1) <= max(TOLERANCE, self.spread)


def variant_at(space: SearchSpace, multipliers: tuple[float, float, float]) -> Variant:
    d, w, r = multipliers
    return Variant(space, depth=d, width=w, resolution_mult=r)


def solve(space: SearchSpace, setting: Setting, target: float, base_cost: float,
          meter: Meter = FLOPS) -> tuple[float, float]:
    """(knob value, measured cost ratio) with the ratio as close to `target` as found (1%)."""
    def ratio(p: float) -> float:
        value = math.exp(p) if setting.in_log else p
        return meter(variant_at(space, setting.multipliers(value))) / base_cost

    p, _ = solve_knob(ratio, target, math.log(target) / setting.slope, setting.slope)
    if not setting.in_log:
        return shortest(p, ratio, target)
    return shortest(math.exp(p), lambda value: ratio(math.log(value)), target)


def plan_compare(space: SearchSpace, targets: tuple[float, ...], methods: tuple[str, ...],
                 coefficients: Coefficients, preset: str | None = None, meter: Meter = FLOPS) -> list[Planned]:
    """The baseline row, every (target, method) variant solved on `meter`, then (paper-table3)
    every method at the paper's own Table 3 setting, labelled "table3"."""
    base = Variant(space)
    base_cost, base_spread = meter(base), meter.spread(base)

    def planned(target, label, method, knob, value, variant) -> Planned:
        return Planned(target, label, method, knob, value, variant, meter(variant) / base_cost,
                       meter.spread(variant) + base_spread)

    def solved(target, label, method) -> Planned:
        setting = method_setting(method, coefficients)
        if compare_method(method).lands:  # the family's own member: the one landing rule, as expand's
            landing = land(base, coefficients, math.log(target) / math.log(coefficients.product), target,
                           meter=meter, base=base_cost)
            return planned(target, label, method, setting.knob, landing.t, landing.variant)
        value, _ = solve(space, setting, target, base_cost, meter)
        return planned(target, label, method, setting.knob, value, variant_at(space, setting.multipliers(value)))

    def published(method) -> Planned:
        if method not in PAPER_TABLE3:  # no published row (fast): solved at the multiple the others reach
            return solved(PAPER_TABLE3_FAST_TARGET, "table3", method)
        multipliers = PAPER_TABLE3[method]
        return planned(None, "table3", method, method_setting(method, coefficients).knob,
                       compare_method(method).published_knob(multipliers), variant_at(space, multipliers))

    plan = [planned(None, "1x", "baseline", "-", 1.0, base)]
    plan += [solved(target, target_label(target), method) for target in targets for method in methods]
    if preset == "paper-table3":
        plan += [published(method) for method in methods]
    return plan


def confirm(plan: list[Planned], latency: Meter | None = None) -> list[dict]:
    """fvcore's params, FLOPs and activations for every planned variant (the truth), and
    its latency when `latency` says how to time it."""
    base = plan[0].variant.cost()
    base_ms = latency.latency(plan[0].variant).ms if latency else None
    rows = []
    for item in plan:
        cost = item.variant.cost()
        row = {"key": item.key, **cost.as_dict(), "flops_ratio": cost.flops / base.flops,
               "params_ratio": cost.params / base.params, "activations_ratio": cost.activations / base.activations,
               "cost_ratio": item.cost_ratio}
        if latency:
            measured = latency.latency(item.variant)
            row.update(latency_ms=measured.ms, latency_spread=measured.spread, latency_ratio=measured.ms / base_ms,
                       latency_format=measured.memory_format)
        rows.append(row)
    return rows


# -- training ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ProxySetup:
    """Everything every unit shares: the data, the budget and the proxy base resolution."""

    data: ImageData
    budget: ProxyBudget  # its seed is the base seed
    resolution: int
    device: str = "cpu"

    request: "CompareRequest | None" = None
    threads: int | None = None

    def request_space(self) -> SearchSpace:
        return load_space(self.request.baseline)

    def proxy(self, item: Planned) -> Variant:
        return item.variant.at_proxy(self.resolution, self.data.in_channels, self.data.num_classes)

    @property
    def source_of_data(self) -> unit.DataSource:
        """Where every unit's images come from (seed s's split: `load(budget.seed + s)`)."""
        return data_source(self.request.dataset, self.request.placement, self.budget)


def train_unit(setup: ProxySetup, item: Planned, seed_index: int) -> dict:
    """Train one variant once at the proxy shape; the record that goes to units.jsonl.

    Seed k is the base seed + k for everything: the weights, the validation split and the
    training subset, the order, the crops — shared by every method (common random numbers)."""
    proxy = setup.proxy(item)
    # compare reports test accuracy per seed: every unit evaluates the test split
    result = unit.train_unit(proxy, setup.budget, seed_index, setup.source_of_data, device=setup.device, threads=setup.threads,
                             evaluate_test=True)
    return {"key": unit_key(item.key, seed_index), "label": item.label, "method": item.method,
            "seed_index": seed_index, "seed": unit.unit_seed(setup.budget, seed_index), "proxy": proxy.describe(),
            "proxy_flops": proxy.macs(), **result.as_dict()}


def estimates(setup: ProxySetup, todo: list[tuple[Planned, int]]) -> dict[str, float]:
    """Seconds each pending unit should take (training.timing)."""
    seconds = estimate_seconds([setup.proxy(item) for item, _ in todo], setup.budget,
                               len(setup.data.train_y), len(setup.data.val_y), len(setup.data.test_y), setup.threads)
    return {unit_key(item.key, k): t for (item, k), t in zip(todo, seconds)}


# -- the table ---------------------------------------------------------------------------

def summarise(plan: list[Planned], costs: list[dict], units: dict[str, dict], seeds: int,
              proxy: Callable[[Planned], Variant], confidence: float = 0.9) -> list[dict]:
    """One row per planned variant: settings, deployment cost, accuracy mean and std, and
    its test-accuracy difference to compound at the same target with its interval.

    Costs are at the deployment shape; accuracies at the proxy shape.  A variant with a unit
    that failed to train (training/health.py) is compared with nothing: its units are
    counted in `failed`, the first reason in `failed_reason`, and no accuracy is averaged
    (its healthy seeds alone would be the seeds the optimizer spared).
    """
    rows = []
    for item, cost in zip(plan, costs):
        done = [units[unit_key(item.key, k)] for k in range(seeds) if unit_key(item.key, k) in units]
        failed = [u for u in done if health.failed(u)]
        ok = [] if failed else [u for u in done if u.get("status") == "ok"]
        small = proxy(item)
        rows.append({
            "test_by_seed": {u["seed_index"]: u["test_accuracy"] for u in ok},
            "target": item.label, "target_ratio": item.target, "method": item.method,
            "knob": item.knob, "setting": item.knob_value,
            "depth": item.variant.depth, "width": item.variant.width,
            "resolution_mult": item.variant.resolution_mult, "resolution": item.variant.resolution,
            "params": cost["params"], "flops": cost["flops"], "flops_ratio": cost["flops_ratio"],
            "activations": cost["activations"], "params_ratio": cost["params_ratio"],
            "activations_ratio": cost["activations_ratio"], "cost_ratio": cost["cost_ratio"],
            "target_error": None if item.target is None else cost["cost_ratio"] / item.target - 1,
            **{k: cost.get(k) for k in ("latency_ms", "latency_spread", "latency_ratio", "latency_format")},
            "proxy_resolution": small.resolution, "proxy_flops": small.macs(),
            "seeds": len(ok), "failed": len(failed), "trained": len(done),
            "failed_reason": (failed[0].get("message") or "diverged") if failed else None,
            **_mean_std("val", [u["val_accuracy"] for u in ok]),
            **_mean_std("test", [u["test_accuracy"] for u in ok]),
            "images_per_second": _mean([u["images_per_second"] for u in ok]),
            "train_seconds": _mean([u["seconds"] for u in done]),
        })
    base = next((r for r in rows if r["method"] == "baseline"), None)
    for row in rows:
        row.update(gain=None, gain_low=None, gain_high=None)
    for target in dict.fromkeys(r["target"] for r in rows):
        _against_compound([r for r in rows if r["target"] == target], confidence)
        _over_baseline([r for r in rows if r["target"] == target and r is not base], base, confidence)
    for row in rows:
        del row["test_by_seed"]
    return rows


def _against_compound(rows: list[dict], confidence: float) -> None:
    """Compound's test accuracy minus each method's at one target: least squares over
    methods x seeds (seed effects removed, each method's noise moderated; ranking.py),
    compound the control of Dunnett's many-to-one intervals, so every verdict at the
    target holds at once at `confidence` (a false "beats" anywhere in the family at most
    1 - confidence of the time)."""
    compound = next((r for r in rows if r["method"] == "compound"), None)
    for row in rows:
        row.update(vs_compound=None, vs_compound_low=None, vs_compound_high=None, verdict=None,
                   noise="none")
    observed = {r["method"]: r["test_by_seed"] for r in rows if r["test_by_seed"]}
    if compound is None or "compound" not in observed or len(observed) < 2:
        return
    against = versus_control(TwoWay(observed), "compound", confidence)
    for row in rows:
        if row["method"] == "compound" or row["method"] not in observed:
            continue
        d = against[row["method"]]
        row.update(vs_compound=d.mean, vs_compound_low=d.low, vs_compound_high=d.high, noise=d.noise,
                   verdict=f"compound {d.verdict} {row['method']}" if d.verdict != "undecided" else
                   f"undecided against {row['method']} (one seed: no noise estimate)")


def _over_baseline(rows: list[dict], base: dict | None, confidence: float) -> None:
    """Each method's test accuracy minus the baseline's at one target (its gain), paired by
    seed, the baseline the control of Dunnett's intervals: every gain at the target holds at
    once at `confidence`.  NaN bounds with one seed (no noise estimate)."""
    observed = {r["method"]: r["test_by_seed"] for r in rows if r["test_by_seed"]}
    if not observed or base is None or not base["test_by_seed"]:
        return
    below = versus_control(TwoWay({"baseline": base["test_by_seed"], **observed}), "baseline", confidence)
    for row in rows:
        if row["method"] in observed:
            d = below[row["method"]]  # baseline - method
            row.update(gain=-d.mean, gain_low=-d.high, gain_high=-d.low)


def beside_paper(rows: list[dict], network: str) -> list[dict]:
    """The paper's Table 3 cell beside each of our "table3" rows and the baseline: its
    FLOPs, FLOP ratio, top-1 and gain over the baseline (points); None where the paper
    has no cell (MobileNetV1 by depth, fast, a network it did not scale)."""
    table = paper_table3()
    out = []
    for row in rows:
        cell = table.cell(network, row["method"]) if row["target"] in ("1x", "table3") else None
        out.append({**row, "paper_gflops": cell and cell.gflops, "paper_flops_ratio": cell and cell.flops_ratio,
                    "paper_top1": cell and cell.top1, "paper_gain": cell and cell.gain})
    return out


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _mean_std(name: str, values: list[float]) -> dict:
    accuracy = f"{name}_accuracy"
    if not values:
        return {accuracy: None, f"{name}_std": None}
    return {accuracy: statistics.fmean(values),
            f"{name}_std": statistics.stdev(values) if len(values) > 1 else None}


# -- the whole command, edge to edge ------------------------------------------------------

@dataclass(frozen=True)
class CompareRequest:
    """What `scalesearch compare` was asked; None budget fields fall back to the space's proxy."""

    baseline: str
    out: Path
    targets: str | None = None  # "2x,4x" (default 2x; none under paper-table3, whose rows are its own)
    methods: str | None = None  # default: every registered method (spec/methods.py); the paper's for the network under paper-table3
    from_dir: str | None = None
    force_coefficients: bool = False
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    preset: str | None = None
    dataset: DataChoice = field(default_factory=DataChoice)
    budget: BudgetChoice = field(default_factory=BudgetChoice)
    proxy_resolution: int | None = None
    seeds: int = 3
    budget_scale: float = 1.0  # every variant, the baseline included, trains epochs x budget_scale
    confidence: float = 0.9
    workers: int | None = None  # None: measured (search/pool.plan_processes)
    cost: str = "flops"  # what every method is solved to match
    latency: bool = False  # time every variant (always, when the cost is latency)
    timing: LatencyChoice = field(default_factory=LatencyChoice)
    placement: Placement = field(default_factory=Placement)  # its threads: per worker
    command: str = ""

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise CompareError(f"{{seeds}} must be >= 1, got {self.seeds}")
        if not 0.5 <= self.confidence < 1:
            raise CompareError(f"{{confidence}} must be in [0.5, 1), got {self.confidence}")
        if self.proxy_resolution is not None and self.proxy_resolution < 8:
            raise CompareError(f"{{resolution}} must be >= 8 px, got {self.proxy_resolution}")
        problem = budget_scale_problem(self.budget_scale, "the space's proxy epochs")
        if problem:
            raise CompareError(problem)

    def as_dict(self) -> dict:
        return flat(self)


@dataclass(frozen=True)
class Comparison:
    """A request resolved: the baseline, targets, methods and coefficients it means."""

    request: CompareRequest
    space: SearchSpace
    targets: tuple[float, ...]
    methods: tuple[str, ...]
    coefficients: Coefficients
    coefficients_source: str

    @classmethod
    def resolve(cls, request: CompareRequest) -> "Comparison":
        space = load_space(request.baseline)
        coefficients, source = coefficients_from(request.from_dir, request.alpha, request.beta,
                                                 request.gamma, request.preset, space,
                                                 request.force_coefficients)
        table3 = request.preset == "paper-table3"
        targets = request.targets if request.targets is not None else (None if table3 else "2x")
        methods = request.methods or ",".join(paper_table3_methods(space.name) if table3 else METHODS)
        return cls(request, space, parse_targets(targets) if targets is not None else (),
                   parse_methods(methods), coefficients, source)

    @property
    def meter(self) -> Meter:
        r, timing = self.request, self.request.timing
        device = (resolve_device(timing.latency_device, "latency_device") if timing.latency_device
                  else resolve_device(r.placement.device))
        return Meter(r.cost, str(device), timing.latency_threads, timing.latency_batch)

    @property
    def latency_meter(self) -> Meter | None:
        r = self.request
        return replace(self.meter, cost="latency") if (r.latency or r.cost == "latency") else None

    def proxy_budget(self) -> ProxyBudget:
        """The space's proxy budget with the user's settings: what `budget_scale` multiplies."""
        return proxy_budget(self.space.proxy, self.request.dataset, self.request.budget)

    def budget(self) -> ProxyBudget:
        """What every unit trains with: the proxy budget's epochs x budget_scale."""
        return scaled_budget(self.proxy_budget(), self.request.budget_scale)

    @property
    def resolution(self) -> int:
        return self.request.proxy_resolution or self.space.proxy_resolution

    def config(self) -> dict:
        """Everything that changes what a unit means; not the device, the folder or how many
        seeds (more seeds extend a run)."""
        r, network = self.request, self.space.network
        return {"baseline": self.space.name, "baseline_source": self.space.source,
                "spec_hash": network.spec_hash() if network is not None else None,
                "targets": [target_label(t) for t in self.targets] + (["table3"] if r.preset == "paper-table3" else []),
                "methods": list(self.methods), "preset": r.preset,
                "coefficients": self.coefficients.as_dict(), "coefficients_source": self.coefficients_source,
                "data": r.dataset.data, "data_dir": r.placement.data_dir, "test_images": r.dataset.test_images,
                "proxy_resolution": self.resolution, "cost": r.cost,
                "latency_threads": r.timing.latency_threads, "latency_batch": r.timing.latency_batch,
                "budget_scale": r.budget_scale, "proxy_epochs": self.proxy_budget().epochs, **self.budget().as_dict()}


def scaled_budget(budget: ProxyBudget, scale: float) -> ProxyBudget:
    """`budget` with epochs x scale, rounded to whole epochs (at least one), as transfer's
    budget_scale does: the same schedule, stretched, so a longer training reads the same way."""
    return replace(budget, epochs=max(1, round(budget.epochs * scale)))


class CompareEvents:
    """What a front end hears while a compare runs (the CLI draws progress from these)."""

    def planned(self, plan: list[Planned], costs: list[dict], todo: list[tuple[Planned, int]],
                finished: int, estimates: dict[str, float], workers: int = 1) -> None:
        """`estimates`: seconds each unit should take in its worker; `workers` train at once."""

    def unit_started(self, item: Planned, seed_index: int) -> None: ...

    def unit_done(self, item: Planned, seed_index: int, record: dict) -> None: ...

    def note(self, text: str) -> None:
        """Something worth a line that is not an error (an uncalibrated recipe)."""


def run_compare(request: CompareRequest, events: CompareEvents | None = None,
                train_one: Callable[[ProxySetup, Planned, int], dict] | None = None) -> list[dict]:
    """Plan, confirm costs, train what is not yet in `request.out`, write the results.

    Units train in the worker processes `request.workers` asks for (default: measured,
    search/pool.py), each appending to units.jsonl.  `train_one(setup, item, seed_index)`
    replaces `train_unit` (tests' fake trainers; it runs in this process).
    """
    events = events or CompareEvents()
    c = Comparison.resolve(request)
    config = c.config()  # also validates the budget before any work
    c.meter  # and where latency is timed
    setup, plan = _set_up(c)  # data first: a missing dataset fails in a second, not after solving
    costs = confirm(plan, c.latency_meter)
    # Claimed only now that every option, the data and every variant's cost have passed.
    info = claim_run_dir(request.out, RunInfo(kind="compare", baseline=c.space.name, space=c.space.identity,
                                              request=request.as_dict(), results="compare.json",
                                              command=request.command, identity=config))
    if line := uncalibrated(c.space.proxy, request.budget, request.baseline):  # once every input has passed
        events.note(line)
    done = read_units(request.out)
    todo = pending_units(plan, request.seeds, done)
    # Timed at the asked threads: the default (every core) beside another job's process
    # oversubscribes, and `--threads 1` next to one was once estimated at 363 min for 17.5.
    timed = request.placement.threads or available_cores()
    seconds = estimates(replace(setup, threads=timed), todo)
    processes = _processes(request, setup, len(todo), in_process=train_one is not None,
                           seconds=sum(seconds.values()))
    if processes.threads != timed:
        # Then again at the threads each worker trains with: two 1-thread workers timed at
        # 2 threads were estimated at 6 min for 11.9 (MobileNetV2, Table 3 preset).
        seconds = estimates(replace(setup, threads=processes.threads), todo)
    events.planned(plan, costs, todo, len(plan) * request.seeds - len(todo), seconds, processes.workers)
    if processes.workers == 1:
        setup = replace(setup, threads=processes.threads)
        train_units(request.out, todo, lambda item, k: (train_one or train_unit)(setup, item, k), events)
    else:
        shares = [CompareShare(request, [(item.key, k) for item, k in todo[w::processes.workers]],
                               processes.threads) for w in range(processes.workers)]
        run_pool(compare_worker, shares, processes.workers,
                 on_event=lambda name, args: getattr(events, name)(*args))
    rows = summarise(plan, costs, read_units(request.out), request.seeds, setup.proxy, request.confidence)
    rows = [{**row, "epochs": setup.budget.epochs, "budget_scale": request.budget_scale} for row in rows]
    if request.preset == "paper-table3":
        rows = beside_paper(rows, c.space.name)
    write_results(request.out, {**config, "seeds": request.seeds, "confidence": request.confidence,
                                "machine": describe(c.latency_meter.device) if c.latency_meter else None}, rows)
    finish_run(request.out, info)
    return rows


def _set_up(c: Comparison) -> tuple[ProxySetup, list[Planned]]:
    r, budget = c.request, c.budget()
    # seed 0's images, as every unit loads its seed's (load_data caches them: seed 0 is not read twice)
    data = data_source(r.dataset, r.placement, budget).load(budget.seed)
    plan = plan_compare(c.space, c.targets, c.methods, c.coefficients, r.preset, c.meter)
    return ProxySetup(data, budget, c.resolution, str(resolve_device(r.placement.device)), r), plan


def _processes(request: CompareRequest, setup: ProxySetup, units: int, in_process: bool,
               seconds: float | None = None) -> ProcessPlan:
    if in_process or units < 2:
        return ProcessPlan(1, request.placement.threads or available_cores(), "in this process")
    base = Variant(setup.request_space()).at_proxy(setup.resolution, setup.data.in_channels,
                                                   setup.data.num_classes)
    plan = plan_processes(request.workers, request.placement.threads, setup.device, base.build(0),
                          (setup.data.in_channels, base.resolution, base.resolution), setup.data.num_classes,
                          setup.budget.batch_size, seconds=seconds)
    return replace(plan, workers=min(plan.workers, units))


@dataclass(frozen=True)
class CompareShare:
    """One worker's part of a compare: which units, with how many threads."""

    request: CompareRequest
    units: list[tuple[str, int]]  # (variant key, seed index)
    threads: int


def compare_worker(share: CompareShare, events: CompareEvents) -> None:
    """Train `share.units` (in a worker process of `run_compare`), appending each to units.jsonl."""
    setup, plan = _set_up(Comparison.resolve(share.request))
    setup = replace(setup, threads=share.threads)
    by_key = {item.key: item for item in plan}
    train_units(share.request.out, [(by_key[key], k) for key, k in share.units],
                lambda item, k: train_unit(setup, item, k), events)
