"""The proxy training loop: one short, seeded training run and its evaluation.

Every search trial is one call of `train_model`, so this loop is the search's speed and
its honesty.  It reads top to bottom in four pieces: `set_up` (seeds, data at the
resolution, optimizer, schedule), `train_epoch` (one flat loop over steps with a pure
`learning_rate(step)`), `validate` (batch-norm statistics re-estimated, then the
validation split: what `on_epoch` and a pruner see) and the checkpoint; at the end one
evaluation on the test split, which is only reported, never selected on.

Speed on a CPU comes from the data side as much as the model: the dataset is one uint8
tensor resized once per resolution (batches.resized), batches are gathered, cropped and
flipped as whole-batch tensor ops, and model and input take the memory format measured
to be faster for this network on this machine (training/fastest.py; channels_last is
1.5-2.7x over NCHW on an AVX-512 CPU, and can lose on an AVX2 one).  Validation runs once,
after the last epoch, unless a caller needs every epoch's (a pruner, `train`'s history).
On CUDA the data sits on the GPU, the step runs under bf16 autocast and is replayed as
one CUDA graph (training/step.py): at proxy sizes a GPU step is launch-bound.

Common random numbers: the order of training images, every crop offset and every flip
are drawn from one generator seeded by `budget.seed` alone, in the same amounts whatever
the network, so two networks trained with the same seed see the same batches (crops
scale with the resolution; see `batches.augment`).  A difference between two points on
one seed is then free of the noise that the data order adds.  With `budget.flips ==
"alternate"` each image's flip is a coin drawn once per seed and inverted every epoch
(`epoch_flips`): over two epochs every image is seen both ways.

What is evaluated (`budget.eval_weights`): the last weights, or a running average of
them (`WeightAverage`: an EMA, or the mean over the last epoch's steps), swapped into
the network for validation and kept in it at the end, so the network a run returns and
saves is the one its accuracy belongs to.  The learning rate ends at zero (cosine).

Inside a process group (`training.distributed`, `train --nproc N`) the same loop runs on
every rank: each draws the same global batch and takes its shard of it, DDP averages the
gradients, so batch size, steps and learning-rate schedule are those of one process.
Evaluation and the batch-norm re-estimate are sharded and summed; rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from scalesearch.training import distributed
from scalesearch.training.batches import ResizedData, augment, draw_augmentation, normalize, resized
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.checkpoint import load_checkpoint, save_checkpoint
from scalesearch.training.data import ImageData
from scalesearch.device import autocast, thread_count
from scalesearch.training.step import EagerStep, make_step
from scalesearch.training.fastest import FORMATS, MemoryFormatChoice, choose_memory_format

StepCallback = Callable[[int, int, str], None]  # (steps done, total steps, "epoch 1/3 loss ...")
FLIP_STREAM = 0x5EED_F11B  # added to the seed: alternate flips' coins, apart from the crops' stream


@dataclass
class TrainResult:
    """What one run gives back.  `status` is "ok" or "diverged" (non-finite loss); the unit
    funnel (training/unit.py) turns a training that fails its health check into
    "failed-to-train" (training/health.py), `message` saying why."""

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
    layout: str = ""  # the memory format it trained in
    layout_rates: dict[str, float] = field(default_factory=dict)  # what each measured (img/s)
    layout_measured: bool = False  # False: the choice came from the cache
    step: str = "eager"  # how each step ran: eager or cuda-graph (training/step.py)
    step_note: str = ""  # why a CUDA step ran eagerly

    @property
    def first_loss(self) -> float | None:
        """The first epoch's mean training loss (what the health check reads)."""
        return self.history[0]["train_loss"] if self.history else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "first_loss": self.first_loss}


def learning_rate(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up from peak/warmup_steps to `peak`, then cosine down to zero."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def readout(model: nn.Module) -> nn.Linear | None:
    """The classifier: a built network's `classifier`, else the model's last nn.Linear."""
    head = getattr(model, "classifier", None)
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def readout_lr_scale(model: nn.Module, fan_in: int) -> float:
    """The classifier's share of the peak lr under `ProxyBudget.readout_fan_in` (1 when off)."""
    head = readout(model)
    if not fan_in or head is None:
        return 1.0
    return min(1.0, fan_in / head.in_features)


def parameter_groups(model: nn.Module, weight_decay: float, readout_fan_in: int = 0) -> list[dict[str, Any]]:
    """Decay conv / linear weights only: decaying BN scales and biases only hurts.  Each
    group's `lr_scale` multiplies the schedule's rate (training/step.set_learning_rate):
    the classifier's is `readout_lr_scale`, everything else's 1."""
    scale = readout_lr_scale(model, readout_fan_in)
    head = {id(p) for p in readout(model).parameters()} if scale != 1.0 else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for param in model.parameters():
        if param.requires_grad:
            groups.setdefault((param.ndim > 1, id(param) in head), []).append(param)
    return [{"params": params, "weight_decay": weight_decay if decayed else 0.0,
             "lr_scale": scale if in_head else 1.0}
            for (decayed, in_head), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))]


def make_optimizer(model: nn.Module, budget: ProxyBudget, device: torch.device) -> torch.optim.Optimizer:
    groups = parameter_groups(model, budget.weight_decay, budget.readout_fan_in)
    if budget.optimizer == "rmsprop":
        # The EfficientNet recipe: decay 0.9, momentum 0.9, eps 1e-3 (TF puts eps inside the sqrt; close enough).
        return torch.optim.RMSprop(groups, lr=budget.lr, alpha=0.9, eps=1e-3, momentum=budget.momentum)
    # fused kernels exist on CUDA only; on CPU the foreach path is the fast one.
    return torch.optim.SGD(groups, lr=budget.lr, momentum=budget.momentum, nesterov=True,
                           fused=device.type == "cuda" or None)


class WeightAverage:
    """A running average of a network's parameters, updated after every step from `start` on.

    kind "ema": each step moves the average 1 - `decay` of the way to the weights (the
    first steps by 1/n instead, a plain mean, so the initial weights wash out at once);
    kind "mean": the plain mean of the weights after each step from `start` on.
    Buffers (batch-norm statistics) are not averaged: they are re-estimated for the
    averaged weights before any evaluation.
    """

    def __init__(self, net: nn.Module, kind: str, decay: float = 0.95, start: int = 0):
        self.params = [p for p in net.parameters()]
        self.kind, self.decay, self.start = kind, decay, start
        self.value = [p.detach().clone() for p in self.params]
        self.count = 0

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Take in the weights after step `step` (0-based)."""
        if step < self.start:
            return
        self.count += 1
        weight = 1.0 / self.count if self.kind == "mean" else max(1.0 - self.decay, 1.0 / self.count)
        torch._foreach_lerp_(self.value, [p.detach() for p in self.params], weight)

    @torch.no_grad()
    def copy_to_net(self) -> None:
        torch._foreach_copy_([p.data for p in self.params], self.value)

    @contextlib.contextmanager
    def applied(self):
        """The network holds the averaged weights inside the block, its own after it."""
        own = [p.detach().clone() for p in self.params]
        self.copy_to_net()
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in self.params], own)

    def state(self) -> dict[str, Any]:
        return {"value": [v.cpu() for v in self.value], "count": self.count}

    @torch.no_grad()
    def load(self, state: dict[str, Any]) -> None:
        torch._foreach_copy_(self.value, [v.to(self.value[0].device) for v in state["value"]])
        self.count = int(state["count"])


def weight_average(net: nn.Module, budget: ProxyBudget, total_steps: int,
                   steps_per_epoch: int) -> WeightAverage | None:
    """The average `budget.eval_weights` asks for; None for the last weights."""
    if budget.eval_weights == "ema":
        return WeightAverage(net, "ema", budget.ema_decay)
    if budget.eval_weights == "mean":
        return WeightAverage(net, "mean", start=max(0, total_steps - steps_per_epoch))
    return None


def epoch_flips(coins: torch.Tensor | None, index: torch.Tensor, epoch: int, draws):
    """The batch's draws with alternate flips: image i is flipped where coin_i xor (epoch odd)."""
    if coins is None:
        return draws
    return replace(draws, flip=coins[index] ^ bool(epoch % 2))


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                            batch_size: int, images: int = 1024,
                            memory_format: torch.memory_format = torch.channels_last) -> None:
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
    with autocast(x.device):
        for start in mine:
            model(normalize(x[start:start + batch_size], mean, std, memory_format))
    distributed.average_batch_norm_statistics(norms, len(mine))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
             std: torch.Tensor, batch_size: int = 500,
             memory_format: torch.memory_format = torch.channels_last) -> float:
    """Top-1 accuracy of `model` on uint8 images `x` with labels `y` (each rank its shard)."""
    model.eval()
    part = distributed.shard(len(y))
    x, total = x[part], len(y)
    y = y[part]
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    for start in range(0, len(y), batch_size):
        with autocast(x.device):
            logits = model(normalize(x[start:start + batch_size], mean, std, memory_format))
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum()
    return int(distributed.all_reduce_sum(correct)) / max(1, total)


# -- one training, in four pieces ----------------------------------------------------------

@dataclass
class Session:
    """Everything one training holds while it runs; `set_up` makes it."""

    net: nn.Module  # the network itself: evaluated and saved
    model: nn.Module  # what trains: `net`, or DDP around it with more than one rank
    optimizer: torch.optim.Optimizer
    split: ResizedData
    batches: torch.Generator  # order, crops and flips: the seed's common random numbers
    budget: ProxyBudget
    device: torch.device
    batch_size: int  # global: each rank trains on its shard
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    pad: int  # random-crop padding in pixels
    world: int
    memory_format: torch.memory_format = torch.channels_last
    step: EagerStep | None = None  # one training step: eager or a CUDA graph (training/step.py)
    average: WeightAverage | None = None  # budget.eval_weights: what is evaluated (None: last)
    extra_averages: list[WeightAverage] = field(default_factory=list)  # tracked for a caller only
    flip_coins: torch.Tensor | None = None  # budget.flips alternate: each image's first-epoch flip


def set_up(model: nn.Module, data: ImageData, resolution: int, budget: ProxyBudget,
           device: torch.device, memory_format: torch.memory_format = torch.channels_last) -> Session:
    """Seeds, the data at `resolution` on `device`, the optimizer and the schedule."""
    _check_size(model, data, resolution, budget)
    # dropout / stochastic depth draw from the global RNG: a stream per rank
    torch.manual_seed(budget.seed + distributed.rank())
    batches = torch.Generator().manual_seed(budget.seed)
    split = resized(data, resolution, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every step has the same shape: tune once
    net = model.to(device, memory_format=memory_format)
    optimizer = make_optimizer(net, budget, device)
    n_train = len(split.train_y)
    batch_size = min(budget.batch_size, n_train)
    # Drop the ragged last batch: every step has the same shape (oneDNN / cuDNN reuse
    # their kernels) and a tiny last batch would upset batch-norm statistics.
    steps_per_epoch = n_train // batch_size
    total_steps = steps_per_epoch * budget.epochs
    return Session(net=net, model=net, optimizer=optimizer, split=split, batches=batches,
                   budget=budget, device=device, batch_size=batch_size,
                   steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                   warmup_steps=round(budget.warmup_epochs * steps_per_epoch),
                   pad=round(budget.crop_padding * resolution), world=distributed.world_size(),
                   memory_format=memory_format,
                   average=weight_average(net, budget, total_steps, steps_per_epoch),
                   flip_coins=_flip_coins(budget, n_train, split.hflip))


def _flip_coins(budget: ProxyBudget, n_train: int, hflip: bool) -> torch.Tensor | None:
    """alternate flips: one coin per image, from its own stream (the crops' stream is untouched)."""
    if budget.flips != "alternate" or not hflip:
        return None
    return torch.rand(n_train, generator=torch.Generator().manual_seed(budget.seed + FLIP_STREAM)) < 0.5


@dataclass
class EpochStats:
    train_loss: float
    lr: float
    seconds: float
    images: int
    diverged: str = ""  # why, when the loss became non-finite


def batch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's order of the training images: the seed's, the same for every network."""
    return torch.randperm(n, generator=generator)


def train_epoch(s: Session, epoch: int, on_step: StepCallback | None = None) -> EpochStats:
    """One pass over the training images in the seed's order; stops early on divergence."""
    s.model.train()
    n_train = len(s.split.train_y)
    order_cpu = batch_order(n_train, s.batches)
    order = order_cpu.to(s.device)
    loss_sum, started = torch.zeros((), device=s.device), time.perf_counter()
    lr, done = s.budget.lr, 0
    for i in range(s.steps_per_epoch):
        step = epoch * s.steps_per_epoch + i
        lr = learning_rate(step, s.total_steps, s.warmup_steps, s.budget.lr)
        index = order[i * s.batch_size:(i + 1) * s.batch_size]
        # Every rank draws the whole batch's crops and flips (one RNG stream, as in one
        # process) and trains on its shard of it.
        draws = epoch_flips(s.flip_coins, order_cpu[i * s.batch_size:(i + 1) * s.batch_size], epoch,
                            draw_augmentation(s.batch_size, s.batches, s.split.hflip))
        x = augment(s.split.train_x[index], draws, s.pad)
        part = distributed.shard(s.batch_size)
        x = normalize(x[part], s.split.mean, s.split.std, s.memory_format)
        # Weighted by the shard's share, so DDP's mean over ranks is the global batch's
        # mean even when shards differ by one image (1.0 alone).
        loss = s.step(x, s.split.train_y[index[part]], lr, scale=len(x) * s.world / s.batch_size)
        loss_sum += loss.float()
        for average in ([s.average] if s.average else []) + s.extra_averages:
            average.update(step)
        done = i + 1
        # Reading the loss forces a device sync; on a GPU do it every 16 steps only.
        # Every rank checks at the same steps on the summed loss, so all stop together.
        if s.device.type == "cpu" or i % 16 == 15 or i == s.steps_per_epoch - 1:
            mean_loss = float(distributed.all_reduce_sum(loss_sum)) / s.world / done
            if not math.isfinite(mean_loss):
                return EpochStats(math.nan, lr, time.perf_counter() - started, done * s.batch_size,
                                  diverged=f"loss became non-finite at epoch {epoch + 1}, step {done} "
                                           f"(lr {lr:.3g}); try a smaller {{lr}}")
            if on_step is not None:
                rate = done / max(1e-9, time.perf_counter() - started) * s.batch_size
                on_step(step + 1, s.total_steps,
                        f"epoch {epoch + 1}/{s.budget.epochs} loss {mean_loss:.3f} {rate:.0f} img/s")
    if s.device.type == "cuda":
        torch.cuda.synchronize(s.device)
    train_loss = float(distributed.all_reduce_sum(loss_sum)) / s.world / max(1, s.steps_per_epoch)
    return EpochStats(train_loss, lr, time.perf_counter() - started, done * s.batch_size)


def validate(s: Session, average: WeightAverage | None = None) -> float:
    """Validation accuracy of the weights as they are (or of `average`, swapped in for the
    call), with batch-norm statistics re-estimated for them."""
    with average.applied() if average is not None else contextlib.nullcontext():
        recompute_bn_statistics(s.net, s.split.train_x, s.split.mean, s.split.std, s.batch_size,
                                memory_format=s.memory_format)
        return evaluate(s.net, s.split.val_x, s.split.val_y, s.split.mean, s.split.std,
                        memory_format=s.memory_format)


def keep_evaluated_weights(s: Session) -> None:
    """After the last step: the network takes the weights `budget.eval_weights` evaluates."""
    if s.average is not None:
        s.average.copy_to_net()
        s.average = None


def checkpoint_epoch(s: Session, path: Path, epoch: int, history: list, extra: dict | None) -> None:
    torch_states = distributed.rng_states()  # a collective: every rank takes part
    if distributed.is_main():
        save_checkpoint(path, s.net, s.optimizer, s.batches, epoch, history, s.budget, extra, torch_states,
                        average=s.average.state() if s.average is not None else None)


def train_model(model: nn.Module, data: ImageData, resolution: int, budget: ProxyBudget, *,
                device: str | torch.device = "cpu",
                on_epoch: Callable[[int, float], None] | None = None,
                on_step: StepCallback | None = None, threads: int | None = None,
                checkpoint: Path | None = None, resume: bool = False,
                checkpoint_extra: dict | None = None, evaluate_test: bool = True,
                validate_each_epoch: bool = True, layout: str = "auto", graphs: bool = True,
                on_session: Callable[[Session], None] | None = None,
                on_trained: Callable[[Session], None] | None = None) -> TrainResult:
    """Train `model` on `data` at `resolution` px for `budget`; evaluate; return a TrainResult.

    `on_epoch(epoch, val_accuracy)` runs after every epoch (1-based); whatever it raises
    (e.g. optuna.TrialPruned) propagates.  `on_step(done, total, info)` reports progress.
    A non-finite loss ends the run with status "diverged" and NaN accuracies instead of
    an exception.  With `checkpoint`, model, optimizer, epoch, history, RNG states and
    `checkpoint_extra` (e.g. the NetSpec) are saved after each epoch; `resume=True`
    continues from the last finished one.  `evaluate_test=False` skips the test split
    (test_accuracy NaN): it is only reported, so a search scores it once per point.
    `validate_each_epoch=False` validates after the last epoch only (`on_epoch` is then
    called once).  `layout` is a memory format ("channels_last", "contiguous") or "auto":
    measured on this machine for this network (training/fastest.py).  `graphs=False` keeps a
    CUDA training eager instead of replaying its step as a CUDA graph (training/step.py).
    `on_session(session)` runs once the session is set up (a benchmark adds
    `extra_averages` there); `on_trained(session)` after the last epoch's validation,
    before the test split (a benchmark evaluates other ways there, on the same training).

    The loop trains on all of `data.train_x`: `budget.train_images` and `val_images` are
    what `load_data` was asked for, kept in the budget so a checkpoint records them.
    Results depend on the thread count as well as the seed (reduction order differs).
    In a process group (training.distributed) `model` is trained with DDP, each rank on
    its shard of every batch; call it on every rank with the same arguments.
    """
    started = time.perf_counter()
    device = torch.device(device)
    with thread_count(threads if device.type == "cpu" else None) as n_threads:
        chosen = _memory_format(layout, model, data, resolution, budget, device, n_threads)
        s = set_up(model, data, resolution, budget, device, FORMATS[chosen.memory_format])
        start_epoch, history = 0, []
        if checkpoint is not None and resume and Path(checkpoint).is_file():
            start_epoch, history = load_checkpoint(Path(checkpoint), s.net, s.optimizer, s.batches,
                                                   budget, checkpoint_extra, average=s.average)
        s.model = distributed.wrap_model(s.net, device)
        s.step = make_step(s.model, s.optimizer, device, budget.label_smoothing, s.world, graphs,
                           clip=budget.clip_grad)
        if on_session is not None:
            on_session(s)
        last = history[-1]["val_accuracy"] if history else None
        result = TrainResult(val_accuracy=math.nan if last is None else last,
                             test_accuracy=math.nan, images_per_second=0.0, epochs=start_epoch,
                             seconds=0.0, history=history, resolution=resolution, device=str(device),
                             threads=n_threads, train_images=len(s.split.train_y),
                             val_images=len(s.split.val_y), test_images=len(s.split.test_y),
                             steps=start_epoch * s.steps_per_epoch, processes=s.world,
                             layout=chosen.memory_format, layout_rates=chosen.rates,
                             layout_measured=chosen.measured)
        train_seconds, images_seen = 0.0, 0
        for epoch in range(start_epoch, budget.epochs):
            stats = train_epoch(s, epoch, on_step if distributed.is_main() else None)
            train_seconds, images_seen = train_seconds + stats.seconds, images_seen + stats.images
            if stats.diverged:
                result.status, result.message = "diverged", stats.diverged
                break
            result.steps += s.steps_per_epoch
            if epoch + 1 == budget.epochs:
                keep_evaluated_weights(s)
            if not validate_each_epoch and epoch + 1 < budget.epochs:
                history.append({"epoch": epoch + 1, "train_loss": stats.train_loss, "val_accuracy": None,
                                "lr": stats.lr})
                result.epochs = epoch + 1
                if checkpoint is not None:
                    checkpoint_epoch(s, Path(checkpoint), epoch + 1, history, checkpoint_extra)
                continue
            val = validate(s, s.average)
            history.append({"epoch": epoch + 1, "train_loss": stats.train_loss, "val_accuracy": val,
                            "lr": stats.lr})
            result.epochs, result.val_accuracy = epoch + 1, val
            if checkpoint is not None:
                checkpoint_epoch(s, Path(checkpoint), epoch + 1, history, checkpoint_extra)
            if on_epoch is not None:
                on_epoch(epoch + 1, val)
        if result.status != "ok":
            result.val_accuracy = math.nan
        elif on_trained is not None:
            on_trained(s)
        elif evaluate_test and len(s.split.test_y):  # no test images: no test accuracy, not 0%
            result.test_accuracy = evaluate(s.net, s.split.test_x, s.split.test_y, s.split.mean, s.split.std,
                                            memory_format=s.memory_format)
        result.step, result.step_note = s.step.kind, s.step.why
        result.images_per_second = images_seen / train_seconds if train_seconds > 0 else 0.0
        result.seconds = time.perf_counter() - started
        return result


def _check_size(model: nn.Module, data: ImageData, resolution: int, budget: ProxyBudget) -> None:
    """A built-in network is refused before training when its batch would not fit (costs/guard.py)."""
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(spec, "with_shape"):
        return
    from scalesearch.costs.guard import check_spec

    check_spec(f"training {spec.name} at {resolution} px",
               spec.with_shape(resolution=resolution, in_channels=data.in_channels, num_classes=data.num_classes),
               budget.batch_size, training=True)


def _memory_format(layout: str, model: nn.Module, data: ImageData, resolution: int, budget: ProxyBudget,
                   device: torch.device, threads: int) -> MemoryFormatChoice:
    if layout != "auto":
        if layout not in FORMATS:
            raise ValueError(f"layout must be auto or one of {', '.join(FORMATS)}, got {layout!r}")
        return MemoryFormatChoice(layout, {}, False)
    shape = (data.in_channels, resolution, resolution)
    chosen = (choose_memory_format(model, shape, data.num_classes, budget.batch_size, device, threads)
              if distributed.is_main() or distributed.world_size() == 1 else None)
    return distributed.from_main(chosen)  # every rank trains in rank 0's choice
