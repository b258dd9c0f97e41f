"""The proxy training loop: one short, seeded training run and its evaluation.

Every search trial is one call of `train_model`, so this loop is the search's speed and
its honesty.  It reads top to bottom: set up (threads, seeds, data at the resolution,
optimizer), then one flat loop over epochs and steps with a pure `learning_rate(step)`,
an evaluation on the validation split after each epoch (what `on_epoch` and a pruner
see), a checkpoint, and at the end one evaluation on the test split, which is only
reported, never selected on.

Speed on a CPU comes from the data side as much as the model: the dataset is one uint8
tensor resized once per resolution (data.resized), batches are gathered, cropped and
flipped as whole-batch tensor ops, and model and input are channels_last (oneDNN:
1.5-2.7x over NCHW on an AVX-512 CPU, 1.3x for B0 on an AVX2 one).  On CUDA the data sits
on the GPU and the step runs under bf16 autocast.

Inside a process group (`scalesearch.training.distributed`, `train --nproc N`) the same loop runs
on every rank: each draws the same global batch and takes its shard of it, DDP averages
the gradients, so batch size, steps and learning-rate schedule are those of one process.
Evaluation and the batch-norm re-estimate are sharded and summed; rank 0 alone writes.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from scalesearch.training import distributed
from scalesearch.training.data import ImageData, augment, normalize, resized
from scalesearch.errors import UserError

OPTIMIZERS = ("sgd", "rmsprop")


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

    def __post_init__(self) -> None:
        def need(ok: bool, option: str, what: str) -> None:
            if not ok:
                raise UserError(f"{option} {what}")

        for option, value in (("--epochs", self.epochs), ("--train-images", self.train_images),
                              ("--batch-size", self.batch_size)):
            need(isinstance(value, int) and not isinstance(value, bool) and value >= 1, option,
                 f"must be a whole number >= 1, got {value!r}")
        need(_finite(self.lr) and self.lr > 0, "--lr", f"must be a positive number, got {self.lr!r}")
        need(_finite(self.weight_decay) and self.weight_decay >= 0, "--weight-decay",
             f"must be >= 0, got {self.weight_decay!r}")
        need(_finite(self.label_smoothing) and 0 <= self.label_smoothing < 1, "--label-smoothing",
             f"must be in [0, 1), got {self.label_smoothing!r}")
        need(_finite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs, "--warmup-epochs",
             f"must be between 0 and --epochs ({self.epochs}), got {self.warmup_epochs!r}")
        need(self.optimizer in OPTIMIZERS, "--optimizer",
             f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(isinstance(self.val_images, int) and self.val_images >= 1, "--val-images",
             f"must be a whole number >= 1, got {self.val_images!r}")
        need(_finite(self.momentum) and 0 <= self.momentum < 1, "--momentum",
             f"must be in [0, 1), got {self.momentum!r}")
        need(_finite(self.crop_padding) and 0 <= self.crop_padding < 1, "--crop-padding",
             f"must be in [0, 1), got {self.crop_padding!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_space(cls, proxy: dict[str, Any], **given: Any) -> "ProxyBudget":
        """A search space's `proxy:` defaults, overridden by every option given (not None)."""
        values = {k: v for k, v in proxy.items() if k != "resolution"}
        values.update({k: v for k, v in given.items() if v is not None})
        kinds = {f.name: type(f.default) for f in fields(cls)}
        return cls(**{k: _as_kind(kinds.get(k), v) for k, v in values.items()})


def _as_kind(kind: type | None, value: Any) -> Any:
    """YAML writes 3 for 3.0 and 3.0 for 3: give a number its field's type back."""
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TrainResult:
    """What one run gives back.  `status` is "ok" or "diverged" (non-finite loss)."""

    val_accuracy: float  # on the validation split carved from train: what a search selects on
    test_accuracy: float  # on the source's test split: reported only
    images_per_second: float  # training throughput (steps only, evaluation excluded)
    epochs: int  # epochs finished
    seconds: float  # wall time of this call, evaluation and data preparation included
    status: str = "ok"
    history: list[dict[str, float]] = field(default_factory=list)
    resolution: int = 0
    device: str = "cpu"
    threads: int = 0
    train_images: int = 0
    val_images: int = 0
    test_images: int = 0
    steps: int = 0
    processes: int = 1  # ranks that trained it (train --nproc); `threads` is per rank
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def learning_rate(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up from peak/warmup_steps to `peak`, then cosine down to zero."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay conv / linear weights only: decaying BN scales and biases only hurts."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, budget: ProxyBudget, device: torch.device) -> torch.optim.Optimizer:
    groups = parameter_groups(model, budget.weight_decay)
    if budget.optimizer == "rmsprop":
        # The EfficientNet recipe: decay 0.9, momentum 0.9, eps 1e-3 (TF puts eps inside the sqrt; close enough).
        return torch.optim.RMSprop(groups, lr=budget.lr, alpha=0.9, eps=1e-3, momentum=budget.momentum)
    # fused kernels exist on CUDA only; on CPU the foreach path is the fast one.
    return torch.optim.SGD(groups, lr=budget.lr, momentum=budget.momentum, nesterov=True,
                           fused=device.type == "cuda" or None)


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                            batch_size: int, images: int = 1024) -> None:
    """Replace batch-norm running statistics by exact averages over `images` training images.

    A proxy run is a few dozen steps at a high learning rate: the weights move faster than
    the running averages (momentum 0.1) can follow, so evaluating with them scores a
    network that never existed and reads as chance level long after the training loss has
    dropped.  "Precise BN" (pycls) re-estimates them for the weights actually evaluated.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # None = cumulative average over the batches below
    model.train()
    starts = range(0, min(images, len(x)), batch_size)
    mine = starts[distributed.shard(len(starts))]  # each rank its share of the batches
    with _autocast(x.device):
        for start in mine:
            model(normalize(x[start:start + batch_size], mean, std))
    distributed.average_batch_norm_statistics(norms, len(mine))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
             std: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of `model` on uint8 images `x` with labels `y` (each rank its shard)."""
    model.eval()
    part = distributed.shard(len(y))
    x, total = x[part], len(y)
    y = y[part]
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    for start in range(0, len(y), batch_size):
        with _autocast(x.device):
            logits = model(normalize(x[start:start + batch_size], mean, std))
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum()
    return int(distributed.all_reduce_sum(correct)) / max(1, total)


def train_model(model: nn.Module, data: ImageData, resolution: int, budget: ProxyBudget, *,
                device: str | torch.device = "cpu",
                on_epoch: Callable[[int, float], None] | None = None,
                progress: bool = False, threads: int | None = None,
                checkpoint: Path | None = None, resume: bool = False,
                checkpoint_extra: dict | None = None) -> TrainResult:
    """Train `model` on `data` at `resolution` px for `budget`; evaluate; return a TrainResult.

    `on_epoch(epoch, val_accuracy)` runs after every epoch (1-based); whatever it raises
    (e.g. optuna.TrialPruned) propagates.  A non-finite loss ends the run with status
    "diverged" and NaN accuracies instead of an exception.  With `checkpoint`, model,
    optimizer, epoch, history, RNG states and `checkpoint_extra` (e.g. the NetSpec) are
    saved after each epoch; `resume=True` continues from the last finished one.

    The loop trains on all of `data.train_x`: `budget.train_images` and `val_images` are
    what `load_data` was asked for, kept in the budget so a checkpoint records them.
    Results depend on the thread count as well as the seed (reduction order differs).
    In a process group (scalesearch.training.distributed) `model` is trained with DDP, each rank
    on its shard of every batch; call it on every rank with the same arguments.
    """
    started = time.perf_counter()
    device = torch.device(device)
    world, main = distributed.world_size(), distributed.is_main()
    with _threads(threads if device.type == "cpu" else None) as n_threads:
        # dropout / stochastic depth draw from the global RNG: a stream per rank
        torch.manual_seed(budget.seed + distributed.rank())
        batches = torch.Generator().manual_seed(budget.seed)  # order, crops, flips
        split = resized(data, resolution, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every step has the same shape: tune once
        net = model.to(device, memory_format=torch.channels_last)  # evaluated and saved
        optimizer = make_optimizer(net, budget, device)
        n_train = len(split.train_y)
        batch_size = min(budget.batch_size, n_train)  # global: each rank trains on its shard
        # Drop the ragged last batch: every step has the same shape (oneDNN / cuDNN reuse
        # their kernels) and a tiny last batch would upset batch-norm statistics.
        steps_per_epoch = n_train // batch_size
        total_steps = steps_per_epoch * budget.epochs
        warmup_steps = round(budget.warmup_epochs * steps_per_epoch)
        pad = round(budget.crop_padding * resolution)

        start_epoch, history = 0, []
        if checkpoint is not None and resume and Path(checkpoint).is_file():
            start_epoch, history = _load_checkpoint(Path(checkpoint), net, optimizer, batches, budget)
        model = distributed.wrap_model(net, device)  # what trains: DDP with more than one rank

        result = TrainResult(val_accuracy=math.nan, test_accuracy=math.nan, images_per_second=0.0,
                             epochs=start_epoch, seconds=0.0, history=history, resolution=resolution,
                             device=str(device), threads=n_threads, train_images=n_train,
                             val_images=len(split.val_y), test_images=len(split.test_y),
                             steps=start_epoch * steps_per_epoch, processes=world)
        if history:
            result.val_accuracy = history[-1]["val_accuracy"]
        train_seconds, images_seen = 0.0, 0
        bar = _progress_bar(progress and main, total_steps, start_epoch * steps_per_epoch)
        with bar or nullcontext():
            task = bar.add_task("train", total=total_steps, completed=start_epoch * steps_per_epoch,
                                info="") if bar else None
            for epoch in range(start_epoch, budget.epochs):
                model.train()
                order = torch.randperm(n_train, generator=batches).to(device)
                loss_sum, epoch_start = torch.zeros((), device=device), time.perf_counter()
                for i in range(steps_per_epoch):
                    step = epoch * steps_per_epoch + i
                    lr = learning_rate(step, total_steps, warmup_steps, budget.lr)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    index = order[i * batch_size:(i + 1) * batch_size]
                    # Every rank draws the whole batch's crops and flips (one RNG stream,
                    # as in one process) and trains on its shard of it.
                    x = augment(split.train_x[index], batches, split.hflip, pad)
                    part = distributed.shard(batch_size)
                    x = normalize(x[part], split.mean, split.std)
                    with _autocast(device):
                        loss = F.cross_entropy(model(x), split.train_y[index[part]],
                                               label_smoothing=budget.label_smoothing)
                    # Weighted by the shard's share, so DDP's mean over ranks is the
                    # global batch's mean even when shards differ by one image (1.0 alone).
                    loss = loss * (len(x) * world / batch_size)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.detach().float()
                    # Reading the loss forces a device sync; on a GPU do it every 16 steps only.
                    # Every rank checks at the same steps on the summed loss, so all stop together.
                    if device.type == "cpu" or i % 16 == 15 or i == steps_per_epoch - 1:
                        seen = (i + 1) / max(1e-9, time.perf_counter() - epoch_start) * batch_size
                        mean_loss = float(distributed.all_reduce_sum(loss_sum)) / world / (i + 1)
                        if not math.isfinite(mean_loss):
                            result.status = "diverged"
                            result.message = (f"loss became non-finite at epoch {epoch + 1}, step {i + 1} "
                                              f"(lr {lr:.3g}); try a smaller --lr")
                            break
                        if bar:
                            bar.update(task, completed=step + 1,
                                       info=f"epoch {epoch + 1}/{budget.epochs} loss {mean_loss:.3f} {seen:.0f} img/s")
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                train_seconds += time.perf_counter() - epoch_start
                images_seen += (i + 1) * batch_size
                if result.status == "diverged":
                    break
                result.steps += steps_per_epoch
                recompute_bn_statistics(net, split.train_x, split.mean, split.std, batch_size)
                val = evaluate(net, split.val_x, split.val_y, split.mean, split.std)
                train_loss = float(distributed.all_reduce_sum(loss_sum)) / world / steps_per_epoch
                history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_accuracy": val, "lr": lr})
                result.epochs, result.val_accuracy = epoch + 1, val
                if checkpoint is not None:
                    torch_states = distributed.rng_states()  # a collective: every rank takes part
                    if main:
                        _save_checkpoint(Path(checkpoint), net, optimizer, batches, epoch + 1, history,
                                         budget, checkpoint_extra, torch_states)
                if on_epoch is not None:
                    on_epoch(epoch + 1, val)

        if result.status == "ok":
            result.test_accuracy = evaluate(net, split.test_x, split.test_y, split.mean, split.std)
        else:
            result.val_accuracy = math.nan
        result.images_per_second = images_seen / train_seconds if train_seconds > 0 else 0.0
        result.seconds = time.perf_counter() - started
        return result


def seconds_per_image(model: nn.Module, in_channels: int, resolution: int, num_classes: int,
                      batch_size: int, threads: int | None = None, warmup: int = 2,
                      steps: int = 3) -> float:
    """Median seconds of one training image through `model` (CPU, channels_last, fp32).

    What run-time estimates are made of: time a few steps on a random batch (the first
    `warmup` steps pay oneDNN's one-off set-up and are not timed) and take the median, so
    one step stalled by another process does not scale the whole estimate.  Callers scale
    it by multiply-adds to other variants: small nets are partly memory-bound, so this is
    a rough guide that a progress bar's ETA corrects as work finishes.
    """
    import statistics

    model = model.train().to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, in_channels, resolution, resolution).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    with _threads(threads):
        for i in range(warmup + steps):
            start = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) / batch_size


# -- the edges of the loop: threads, autocast, progress, checkpoints --------------------

def available_cores() -> int:
    """Cores this process may run on (affinity, e.g. taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def _threads(threads: int | None) -> Iterator[int]:
    """Run with `threads` intra-op threads (default: the available cores), then restore.

    More threads than free cores collapses throughput 2-4x (reference.md), and torch's
    default counts the machine's cores, not this process's.
    """
    before = torch.get_num_threads()
    wanted = threads if threads is not None else available_cores()
    if wanted < 1:
        raise UserError(f"--threads must be >= 1, got {wanted}")
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(before)


def _autocast(device: torch.device):
    # bf16 autocast only on CUDA: on CPUs without AVX512_BF16/AMX it is slower than fp32.
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _progress_bar(enabled: bool, total: int, completed: int):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                    TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                    console=Console(stderr=True), transient=False)


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, epoch: int, history: list, budget: ProxyBudget,
                     extra: dict | None, torch_states: list[torch.Tensor]) -> None:
    """Write the run's state; `torch_states` holds each rank's global RNG state (one without --nproc)."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
             "history": history, "budget": budget.as_dict(), "extra": extra or {},
             "processes": len(torch_states),
             "rng": {"batches": generator.get_state(), "torch": torch_states[0],
                     "torch_by_rank": torch_states}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a run killed mid-save leaves the previous checkpoint intact


def _load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator, budget: ProxyBudget) -> tuple[int, list]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a truncated or foreign file is the user's input
        raise UserError(f"--resume: cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    if state.get("budget") != budget.as_dict():
        changed = sorted(k for k, v in budget.as_dict().items() if state.get("budget", {}).get(k) != v)
        raise UserError(f"--resume: checkpoint {path} was made with a different budget "
                        f"({', '.join(changed)} differ); resume with the same options or use a new --out")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise UserError(f"--resume: checkpoint {path} holds a different network; use a new --out") from None
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["rng"]["batches"])
    by_rank = state["rng"].get("torch_by_rank") or [state["rng"]["torch"]]
    if distributed.rank() < len(by_rank):
        torch.set_rng_state(by_rank[distributed.rank()])
    else:  # resumed with more processes than it was saved with: a fresh stream for this rank
        torch.manual_seed(budget.seed + distributed.rank() + 7919 * int(state["epoch"]))
    return int(state["epoch"]), list(state["history"])


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents (model state, epoch, history, budget, extra such as the spec)."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)
