"""train: one proxy training of one scaled baseline, with its metrics.

Two shapes, kept apart: the network trains at the *proxy* shape (the data's channels and
classes at the proxy resolution, by default the space's proxy resolution x r); `params`
and `flops` in the result are the *deployment* shape's (the space's native resolution x
r, 3 channels, 1000 classes), with the proxy shape's cost beside them as `proxy_params`
and `proxy_flops`.

`run_train(request, events)` trains here, or with `request.nproc > 1` in that many
processes (training.distributed), each running `train_rank`; rank 0 alone writes
`out`.  A run killed at any point continues with `resume` (with any nproc).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scalesearch.errors import UserError
from scalesearch.costs.variant import Variant
from scalesearch.models.weights import load_weights, map_by_order, read_state_dict
from scalesearch.spec.weight_sources import with_weight_source
from scalesearch.files import write_json
from scalesearch.requests import BudgetChoice, DataChoice, Placement, data_source, flat, proxy_budget
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, finish_run
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.training import distributed
from scalesearch.training.budget import ProxyBudget
from scalesearch.device import available_cores, check_threads, resolve_device
from scalesearch.training import unit
from scalesearch.training.loop import StepCallback

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass(frozen=True)
class TrainRequest:
    """What `scalesearch train` was asked; None budget fields fall back to the space's proxy."""

    baseline: str
    depth: float = 1.0
    width: float = 1.0
    resolution_mult: float = 1.0
    pixels: int | None = None  # proxy resolution in px (default: the space's proxy px x r)
    dataset: DataChoice = field(default_factory=DataChoice)
    budget: BudgetChoice = field(default_factory=BudgetChoice)
    optimizer: str = "sgd"
    placement: Placement = field(default_factory=Placement)  # its threads: per process
    nproc: int = 1
    out: Path | None = None
    resume: bool = False
    command: str = ""
    weights: Path | None = None  # a state_dict to start from (mapped by order; see models/weights.py)
    weights_from: str | None = None  # torchvision | timm: the spec fields those weights need

    def space(self) -> SearchSpace:
        """The baseline, with `weights_from`'s BN eps / momentum / activation when given."""
        return with_weight_source(load_space(self.baseline), self.weights_from)

    def proxy_budget(self, space: SearchSpace) -> ProxyBudget:
        return proxy_budget(space.proxy, self.dataset, self.budget, optimizer=self.optimizer)

    def as_dict(self) -> dict[str, Any]:
        return flat(self)


class TrainEvents:
    """What a front end hears while a training runs."""

    def step(self, done: int, total: int, info: str) -> None: ...

    def note(self, text: str) -> None:
        """Something worth a line that is not an error (e.g. a resume with nothing to resume)."""


def run_train(request: TrainRequest, events: TrainEvents | None = None) -> dict[str, Any]:
    """Train one variant at the proxy shape; return (and with `out`, write) its metrics."""
    events = events or TrainEvents()
    space = request.space()
    if request.weights is not None:  # refused before the folder is made: shapes other than stem and classifier
        deployment = Variant(space, request.depth, request.width, request.resolution_mult)
        map_by_order(deployment.build(0), read_state_dict(request.weights), fit_shape=True)
    budget = request.proxy_budget(space)  # validates before any process starts or folder is made
    # The data too (cached per process, so a one-process run reads it once): a missing or
    # corrupt dataset is refused before the run folder is claimed.
    data_source(request.dataset, request.placement, budget).load(budget.seed)
    check_threads(request.placement.threads)
    device = resolve_device(request.placement.device)
    if request.nproc != 1:
        cores = available_cores()
        distributed.check_nproc(request.nproc, device.type, cores)
        if request.placement.threads is None and device.type == "cpu":
            request = replace(request, placement=replace(request.placement, threads=max(1, cores // request.nproc)))
    info = _claim_out(request, space)
    if request.resume and not (Path(request.out) / CHECKPOINT).exists():
        events.note(f"no {CHECKPOINT} in {request.out} yet; starting from epoch 1")
    if request.nproc == 1:
        metrics = train_rank(request, events.step)
    else:
        metrics = distributed.launch("scalesearch.train:train_rank", {"request": request}, request.nproc,
                                     device.type, on_progress=lambda p: events.step(*p))
    if info is not None and metrics["status"] != "diverged":  # a finished training, if one that failed to train
        finish_run(request.out, info)
    return metrics


def train_rank(request: TrainRequest, on_step: StepCallback | None = None) -> dict[str, Any]:
    """One training (in a process group, every rank calls it; the run folder is claimed)."""
    space = request.space()
    budget = request.proxy_budget(space)
    out = request.out
    checkpoint = None if out is None else Path(out) / CHECKPOINT
    if on_step is None and distributed.is_main():
        on_step = distributed.relay_progress
    images = data_source(request.dataset, request.placement, budget).load(budget.seed)
    deployment = Variant(space, request.depth, request.width, request.resolution_mult)
    proxy = deployment.at_proxy(space.proxy_resolution, images.in_channels, images.num_classes)
    if request.pixels is not None:
        if request.pixels < 8:
            raise UserError(f"{{resolution}} must be >= 8 px, got {request.pixels}")
        proxy = replace(proxy, resolution=request.pixels)
    if proxy.spec is not None:
        proxy.spec.validate()  # names the field when the resolution is too small for the strides
    loaded = []

    def start_from_weights(model) -> None:  # a resumed checkpoint then replaces them
        loaded.append(load_weights(model, request.weights, fit_shape=True))

    extra = {"spec": proxy.spec.to_dict() if proxy.spec else None, "variant": proxy.describe(),
             "data": images.describe()}
    # One unit, seed index 0 of the base seed; validated every epoch for the progress line.
    result = unit.train_unit(proxy, budget, 0, images, device=resolve_device(request.placement.device),
                             threads=request.placement.threads,
                             evaluate_test=True, validate_each_epoch=True,
                             prepare=start_from_weights if request.weights is not None else None,
                             on_step=on_step, checkpoint=checkpoint, resume=request.resume, checkpoint_extra=extra)
    loaded = loaded[0] if loaded else None
    proxy_cost, deploy_cost = proxy.cost(), deployment.cost()
    metrics = {
        "baseline": space.name, "depth": request.depth, "width": request.width,
        "resolution_mult": request.resolution_mult,
        **{k: v for k, v in result.as_dict().items() if k != "resolution"},
        "proxy_resolution": proxy.resolution,
        "params": deploy_cost.params, "flops": deploy_cost.flops, "flops_shape": "deployment",
        "deployment_resolution": deployment.resolution, "deployment_shape": "3 channels, 1000 classes",
        "proxy_params": proxy_cost.params, "proxy_flops": proxy_cost.flops,
        "proxy_shape": f"{images.in_channels} channels, {images.num_classes} classes",
        **images.describe(), "budget": budget.as_dict(),
        "spec": extra["spec"],
    }
    if loaded is not None:
        metrics["weights"] = loaded.as_dict()
    metrics["train_images"] = result.train_images
    if out is not None and distributed.is_main():
        write_json(Path(out) / METRICS, metrics)  # atomic: a reader never sees half a file
    return metrics


def _claim_out(request: TrainRequest, space: SearchSpace) -> RunInfo | None:
    """Make (or reopen) the run folder; None without `out`."""
    if request.out is None:
        if request.resume:
            raise UserError("{resume} needs {out} DIR (the folder of the run to continue)")
        return None
    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{{out}} {out}: exists and is not a folder")
    if (out / CHECKPOINT).exists() and not request.resume:
        raise UserError(f"{{out}} {out} already holds a run; add {{resume}} to continue it, "
                        "or choose another {out}")
    identity = {"data": request.dataset.data, "data_dir": request.placement.data_dir, "depth": request.depth,
                "width": request.width, "resolution_mult": request.resolution_mult, "pixels": request.pixels}
    if request.weights is not None or request.weights_from is not None:  # older runs keep their identity
        identity.update(weights=str(request.weights), weights_from=request.weights_from)
    return claim_run_dir(out, RunInfo(kind="train", baseline=space.name, space=space.identity,
                                      request=request.as_dict(), results=METRICS, command=request.command,
                                      identity=identity))
