"""`scalesearch calibrate`: find a proxy recipe under which a baseline and its hardest variants all train.

A search's answer is only as good as its trainings: a recipe (peak learning rate, warm-up,
the classifier's learning-rate rule) that suits one network blows another up, and then
the grid ranks which networks survive the optimizer.  calibrate trains the networks most
likely to fail — the baseline and the deepest, widest and highest-resolution phi = 1
members the grid would train (with `table3`, also compare's Table 3 variants: depth x4,
width x2, resolution x2 and the compound 1.4 / 1.2 / 1.3, those of them the paper reports
for a built-in network) — under every recipe of a short
bracket, through the unit funnel (training/unit.py) and its health check:

1. seed 0 of every network under every recipe, recipe by recipe; a recipe with a unit
   that fails to train is out at once (its other units are not trained);
2. the remaining seeds for the recipes still in;
3. of the recipes under which every unit passed, the one with the lowest residual noise
   (the network + seed two-way fit, stats/twoway.TwoWay, pooled: the quantity ranking
   uses) — every network's units on the same seeds, so the noise is paired as a grid's.

It writes `proxy.yaml` — the space's `proxy:` block with the chosen recipe and a
`calibrated:` line saying how it was chosen — which `grid/compare/train --proxy FILE` take
and a YAML space can hold; `calibrate.json` (every cell measured) and a report.  Units
are appended to units.jsonl as they finish (runs/compare_units.py), so an interrupted run
resumes, and a rerun with more recipes or seeds trains only what is new.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from scipy import stats

from scalesearch.costs.variant import Variant
from scalesearch.device import available_cores, resolve_device
from scalesearch.errors import UserError
from scalesearch.files import write_atomic, write_json
from scalesearch.requests import BudgetChoice, DataChoice, Placement, data_source, flat, proxy_budget
from scalesearch.runs.compare_units import read_units, train_units, unit_key
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, default_run_dir, finish_run
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.stats.twoway import TwoWay
from scalesearch.spec.presets import paper_table3
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.training import health, unit
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.timing import estimate_seconds

NOISE_ALPHA = 0.1  # choose(): a recipe's noise counts as higher than the lowest at F-test p <= this
WARMUP_SHARES = (1 / 3,)  # besides the space's own: a third of the steps (FFCV's ResNet-50 warms up 2 of 16 epochs)


class CalibrateError(UserError):
    """A calibrate request that cannot run as asked."""


@dataclass(frozen=True)
class Recipe:
    """One cell of the bracket: the settings it changes over the space's proxy."""

    lr: float
    warmup: float  # share of the training's steps spent warming up to the peak
    readout_fan_in: int

    @property
    def key(self) -> str:
        return f"lr{self.lr:g}-warm{self.warmup:.2g}-readout{self.readout_fan_in}"

    def settings(self, epochs: int) -> dict[str, Any]:
        """The proxy settings this recipe writes (warm-up in epochs, as ProxyBudget has it)."""
        return {"lr": self.lr, "warmup_epochs": round(self.warmup * epochs, 4), "readout_fan_in": self.readout_fan_in}

    def describe(self) -> str:
        readout = f", classifier lr x min(1, {self.readout_fan_in}/fan-in)" if self.readout_fan_in else ""
        return f"peak lr {self.lr:g}, warm-up {self.warmup:.0%} of the steps{readout}"


@dataclass(frozen=True)
class Network:
    """One of the networks every recipe must train: a name and its deployment variant."""

    name: str
    variant: Variant


@dataclass(frozen=True)
class Cell:
    """A network under a recipe: the item whose seeds are units (units.jsonl keys)."""

    recipe: Recipe
    network: Network

    @property
    def key(self) -> str:
        return f"{self.recipe.key}/{self.network.name}"


@dataclass(frozen=True)
class CalibrateRequest:
    """What `scalesearch calibrate` was asked; None bracket fields take the defaults below."""

    baseline: str
    out: Path | None = None  # default runs/calibrate-<name>
    lrs: str | None = None  # "0.1,0.05": default the space's lr x 1, 1/2, 1/4
    warmups: str | None = None  # shares of the steps, "0.08,0.33": default the space's and 1/3
    readouts: str | None = None  # classifier fan-ins, "0,512": default the space's own
    seeds: int = 2
    table3: bool = False  # also compare's Table 3 variants
    dataset: DataChoice = field(default_factory=DataChoice)
    budget: BudgetChoice = field(default_factory=BudgetChoice)
    placement: Placement = field(default_factory=Placement)
    command: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or not 2 <= self.seeds <= 10:
            raise CalibrateError(f"{{seeds}} must be a whole number from 2 to 10 (the residual noise needs "
                                 f"two), got {self.seeds!r}")
        if self.budget.lr is not None:
            raise CalibrateError("{lr} is what calibrate chooses: give the bracket with {lrs} instead")

    def as_dict(self) -> dict[str, Any]:
        return flat(self)


def _numbers(text: str, setting: str, kind: type, low: float, high: float) -> tuple:
    try:
        values = tuple(dict.fromkeys(kind(float(v)) if kind is int else float(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise CalibrateError(f"{{{setting}}}: cannot read {text!r}; give numbers separated by commas") from None
    if not values or not all(math.isfinite(v) and low <= v <= high for v in values):
        raise CalibrateError(f"{{{setting}}}: every value must be between {low:g} and {high:g}, got {text!r}")
    return values


def bracket(request: CalibrateRequest, base: ProxyBudget) -> list[Recipe]:
    """The recipes to try: lrs x warm-up shares x readout rules (module docstring)."""
    lrs = (_numbers(request.lrs, "lrs", float, 1e-5, 10.0) if request.lrs
           else tuple(round(base.lr * f, 6) for f in (1.0, 0.5, 0.25)))
    own_share = base.warmup_epochs / base.epochs
    warmups = (_numbers(request.warmups, "warmups", float, 0.0, 1.0) if request.warmups
               else tuple(dict.fromkeys(round(s, 4) for s in (own_share, *WARMUP_SHARES))))
    readouts = (_numbers(request.readouts, "readouts", int, 0, 1 << 20) if request.readouts
                else (base.readout_fan_in,))
    return [Recipe(lr, w, r) for lr in lrs for w in warmups for r in readouts]


def networks(space: SearchSpace, table3: bool) -> list[Network]:
    """The baseline, the grid's deepest, widest and highest-resolution phi = 1 members (each
    its landed network, as the grid trains it), and with `table3` the paper's Table 3 variants."""
    out = [Network("baseline", Variant(space))]
    feasible = [c for c in build_candidates(space, GridSpec.from_space(space)) if c.feasible and c.role == "candidate"]
    # By the landed multipliers: what the grid trains, not the coefficients before landing.
    for name, attribute in (("deepest", "depth"), ("widest", "width"), ("sharpest", "resolution_mult")):
        if feasible:
            c = max(feasible, key=lambda c: (getattr(c, attribute), -c.index))
            label = f"{name} ({c.alpha:.3g}, {c.beta:.3g}, {c.gamma:.3g})"
            if label not in {n.name for n in out}:
                out.append(Network(label, c.variant(space)))
    if table3:
        table = paper_table3()
        # The variants the paper compares for this network (MobileNetV1 has no depth cell), all four for another.
        for method in table.methods(space.name):
            d, w, r = table.settings[method]
            out.append(Network(f"table3 {method} (d {d:g}, w {w:g}, r {r:g})",
                               Variant(space, depth=d, width=w, resolution_mult=r)))
    return out


@dataclass
class Plan:
    """What calibrate will train: told to the events before the first unit."""

    space: SearchSpace
    recipes: list[Recipe]
    networks: list[Network]
    seeds: int
    todo: int  # units not yet in units.jsonl (at most: failing recipes drop theirs)
    estimates: dict[str, float]  # unit key -> seconds


class CalibrateEvents:
    """What a front end hears while calibrate runs."""

    def planned(self, plan: Plan) -> None: ...

    def unit_started(self, item: Cell, seed_index: int) -> None: ...

    def unit_done(self, item: Cell, seed_index: int, record: dict) -> None: ...

    def dropped(self, recipe: Recipe, why: str) -> None:
        """A recipe left the bracket: one of its units failed to train."""


@dataclass(frozen=True)
class _Setup:
    space: SearchSpace
    base: ProxyBudget
    source: unit.DataSource
    resolution: int
    in_channels: int
    num_classes: int
    device: str
    threads: int


def train_cell(setup: _Setup, cell: Cell, seed_index: int) -> dict:
    """Train one unit of a cell through the unit funnel; the units.jsonl record."""
    budget = ProxyBudget.for_space({**setup.base.as_dict(), **cell.recipe.settings(setup.base.epochs)})
    proxy = cell.network.variant.at_proxy(setup.resolution, setup.in_channels, setup.num_classes)
    result = unit.train_unit(proxy, budget, seed_index, setup.source, device=setup.device, threads=setup.threads,
                             evaluate_test=False)
    return {"key": unit_key(cell.key, seed_index), "recipe": cell.recipe.key, "network": cell.network.name,
            "seed_index": seed_index, "proxy": proxy.describe(), **result.as_dict()}


def run_calibrate(request: CalibrateRequest, events: CalibrateEvents | None = None,
                  train_one: Callable[[_Setup, Cell, int], dict] | None = None) -> dict[str, Any]:
    """Train the bracket (module docstring), write proxy.yaml and calibrate.json, return the latter.
    `train_one(setup, cell, seed_index)` replaces `train_cell` (tests' fake trainers)."""
    events = events or CalibrateEvents()
    space = load_space(request.baseline)
    base = proxy_budget(space.proxy, request.dataset, request.budget)
    recipes = bracket(request, base)
    nets = networks(space, request.table3)
    source = data_source(request.dataset, request.placement, base)
    images = source.load(base.seed)  # a missing dataset fails now, before the folder is claimed
    device = str(resolve_device(request.placement.device))
    setup = _Setup(space, base, source, space.proxy_resolution, images.in_channels, images.num_classes, device,
                   request.placement.threads or available_cores())
    out = Path(request.out or default_run_dir("calibrate", space.name))
    info = claim_run_dir(out, RunInfo(kind="calibrate", baseline=space.name, space=space.identity,
                                      request=request.as_dict(), results="calibrate.json", command=request.command,
                                      identity={"budget": base.as_dict(), "data": request.dataset.data,
                                                "data_dir": request.placement.data_dir, "table3": request.table3}))
    cells = {r.key: [Cell(r, n) for n in nets] for r in recipes}
    done = read_units(out)
    todo = [(c, k) for k in range(request.seeds) for r in recipes for c in cells[r.key]
            if unit_key(c.key, k) not in done]
    proxies = [c.network.variant.at_proxy(setup.resolution, setup.in_channels, setup.num_classes) for c, _ in todo]
    seconds = estimate_seconds(proxies, base, len(images.train_y), len(images.val_y), 0, setup.threads) \
        if train_one is None else [0.0] * len(todo)
    estimates = {unit_key(c.key, k): s for (c, k), s in zip(todo, seconds)}
    events.planned(Plan(space, recipes, nets, request.seeds, len(todo), estimates))
    train = train_one or train_cell
    for seed in range(request.seeds):  # seed by seed: a recipe that fails on seed 0 costs no seed 1
        for recipe in recipes:
            if _failure(read_units(out), cells[recipe.key], request.seeds):
                continue
            for cell in cells[recipe.key]:
                if unit_key(cell.key, seed) in read_units(out):
                    continue
                train_units(out, [(cell, seed)], lambda item, k: train(setup, item, k), events)
                why = _failure(read_units(out), cells[recipe.key], request.seeds)
                if why:
                    events.dropped(recipe, why)
                    break
    document = summarise(space, base, recipes, cells, read_units(out), request)
    write_json(out / "calibrate.json", document)
    if document["chosen"] is not None:
        write_atomic(out / "proxy.yaml", recipe_file(space, base, document))
    finish_run(out, info)
    document["out"] = str(out)
    return document


def _failure(units: dict[str, dict], cells: list[Cell], seeds: int) -> str:
    """The first failed unit of a recipe's cells, as "network seed k: why" ("" when none)."""
    for cell in cells:
        for k in range(seeds):
            record = units.get(unit_key(cell.key, k))
            if health.failed(record):
                return f"{cell.network.name} seed {k}: {record.get('message') or 'diverged'}"
    return ""


def summarise(space: SearchSpace, base: ProxyBudget, recipes: list[Recipe], cells: dict[str, list[Cell]],
              units: dict[str, dict], request: CalibrateRequest) -> dict[str, Any]:
    """calibrate.json: every cell (each seed's accuracy and first-epoch loss), each recipe's
    verdict and residual noise, and the recipe chosen."""
    rows = []
    for recipe in recipes:
        failure = _failure(units, cells[recipe.key], request.seeds)
        obs: dict[str, dict[int, float]] = {}
        cell_rows = []
        for cell in cells[recipe.key]:
            got = [units[unit_key(cell.key, k)] for k in range(request.seeds) if unit_key(cell.key, k) in units]
            for record in got:
                if record.get("status") == "ok":
                    obs.setdefault(cell.network.name, {})[record["seed_index"]] = record["val_accuracy"]
            cell_rows.append({"network": cell.network.name, "seeds": len(got),
                              "val_accuracy": [r.get("val_accuracy") for r in got],
                              "first_loss": [r.get("first_loss") for r in got],
                              "status": [r.get("status") for r in got],
                              "failure": next((r.get("message") for r in got if health.failed(r)), None),
                              "seconds": sum(r.get("seconds") or 0.0 for r in got)})
        complete = all(c["seeds"] == request.seeds for c in cell_rows)
        fit = TwoWay(obs, prior=math.inf) if not failure and complete and len(obs) > 1 else None
        rows.append({"recipe": recipe.key, "describe": recipe.describe(), **recipe.settings(base.epochs),
                     "warmup_share": recipe.warmup, "passed": not failure and complete, "failure": failure or None,
                     "complete": complete, "noise_sd": fit.noise.sd if fit and fit.known else None,
                     "noise_df": fit.noise.df if fit else None,
                     "mean_accuracy": (sum(sum(s.values()) for s in obs.values()) /
                                       max(1, sum(len(s) for s in obs.values()))) if obs else None,
                     "cells": cell_rows})
    chosen = choose(rows)
    return {"kind": "calibrate", "baseline": space.name, "source": space.source, "seeds": request.seeds,
            "table3": request.table3, "base_budget": base.as_dict(), "data": request.dataset.data,
            "networks": [c.network.name for c in next(iter(cells.values()))] if cells else [],
            "thresholds": {"loss_multiple": health.LOSS_MULTIPLE, "chance_margin": health.CHANCE_MARGIN},
            "recipes": rows, "chosen": chosen and chosen["recipe"], "outcome": outcome(rows, chosen, space),
            "date": time.strftime("%Y-%m-%d")}


def choose(rows: list[dict]) -> dict | None:
    """Of the recipes under which every unit trained: the lowest residual noise, and among
    those whose noise is not above it beyond chance (one-sided F-test, p > `NOISE_ALPHA` on
    their df), the best-trained (highest mean accuracy).  Noise on 2-10 df is itself noisy:
    a lower learning rate can look steadier only because every network learned less."""
    passing = [r for r in rows if r["passed"] and r["noise_sd"] is not None and r["noise_df"]]
    if not passing:
        return None
    steadiest = min(passing, key=lambda r: r["noise_sd"])
    alike = [r for r in passing if r is steadiest or stats.f.sf(
        (r["noise_sd"] / max(steadiest["noise_sd"], 1e-12)) ** 2, r["noise_df"], steadiest["noise_df"]) > NOISE_ALPHA]
    return max(alike, key=lambda r: (r["mean_accuracy"], -r["noise_sd"]))


def outcome(rows: list[dict], chosen: dict | None, space: SearchSpace) -> str:
    passed = [r for r in rows if r["passed"]]
    if chosen is None:
        failing = "; ".join(f"{r['recipe']}: {r['failure']}" for r in rows if r["failure"])
        return (f"No recipe of the {len(rows)} tried trains every network of {space.name}"
                + (f" ({failing})" if failing else " (not every unit has run yet)")
                + ": widen the bracket (--lrs, --warmups, --readouts) or lengthen the proxy (--epochs, --train-images).")
    steadiest = min((r for r in passed if r["noise_sd"] is not None), key=lambda r: r["noise_sd"])
    why = ("the lowest" if chosen is steadiest else
           f"within noise of the lowest ({steadiest['noise_sd'] * 100:.2f}, F-test p > {NOISE_ALPHA:g}) and the "
           f"best trained, {chosen['mean_accuracy']:.1%} mean against {steadiest['mean_accuracy']:.1%}")
    return (f"{chosen['describe']}: every network trained under it on every seed, with residual noise "
            f"{chosen['noise_sd'] * 100:.2f} points ({chosen['noise_df']} df) — {why}, of the {len(passed)} "
            f"of {len(rows)} recipes under which none failed.")


def recipe_file(space: SearchSpace, base: ProxyBudget, document: dict[str, Any]) -> str:
    """proxy.yaml: the space's proxy block with the chosen recipe, and how it was chosen."""
    chosen = next(r for r in document["recipes"] if r["recipe"] == document["chosen"])
    block = {**{k: v for k, v in space.proxy.items() if k != "calibrated"},
             "epochs": base.epochs, "train_images": base.train_images, "batch_size": base.batch_size,
             "lr": chosen["lr"], "warmup_epochs": chosen["warmup_epochs"]}
    if chosen["readout_fan_in"]:
        block["readout_fan_in"] = chosen["readout_fan_in"]
    else:
        block.pop("readout_fan_in", None)
    if not block["warmup_epochs"]:
        block.pop("warmup_epochs")
    block["calibrated"] = (f"{document['date']} by scalesearch calibrate: {len(document['recipes'])} recipes x "
                           f"{len(document['networks'])} networks x {document['seeds']} seeds on {document['data']}; "
                           f"noise {chosen['noise_sd'] * 100:.2f} points")
    return ("# A proxy recipe chosen by `scalesearch calibrate` (its calibrate.json and report say how);\n"
            "# use it with --proxy FILE, or paste the block into a search space's YAML.\n"
            + yaml.safe_dump({"proxy": block}, sort_keys=False, width=200))
