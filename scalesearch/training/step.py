"""One training step — forward, loss, backward, update — run eagerly or replayed as a CUDA graph.

On a GPU a proxy step is launch-bound: EfficientNet-B0 at 32 px and batch 128 is about a
thousand kernels of a few microseconds each, and Python issues them more slowly than the
GPU runs them.  Captured once and replayed (`GraphedStep`), the whole step costs one
launch.  The maths is the same: the same kernels run in the same order on the same
tensors, the learning rate is read from a device tensor the schedule refills before each
replay, and dropout / stochastic depth draw from the default CUDA generator, whose offset
a replay advances as an eager step would.

The first `WARMUP_STEPS` steps run eagerly on a side stream (cuDNN picks its kernels,
the optimizer makes its momentum buffers: real steps of the training, not thrown away);
the next is captured and replayed.  A network whose step cannot be captured (an op that
reads a value back to the CPU, say) keeps running eagerly, and `why` says so.
Graphs are used on CUDA with one process and SGD only: DDP's and RMSprop's steps are
left eager.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scalesearch.device import autocast

WARMUP_STEPS = 3


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's rate for the next step, times each group's `lr_scale` (the classifier's
    readout rule, training/loop.parameter_groups): written into a device tensor where the
    optimizer holds one (so a captured step reads it), else set as a number."""
    for group in optimizer.param_groups:
        rate = lr * group.get("lr_scale", 1.0)
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(rate)
        else:
            group["lr"] = rate


class EagerStep:
    """A training step as plain PyTorch: what every CPU training and every DDP rank runs."""

    kind = "eager"

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 label_smoothing: float = 0.0, why: str = "", clip: float = 0.0):
        self.model, self.optimizer, self.device = model, optimizer, device
        self.label_smoothing, self.why, self.clip = label_smoothing, why, clip

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor, scale: float = 1.0,
                         cache: bool = True) -> torch.Tensor:
        with autocast(self.device, cache=cache):
            loss = F.cross_entropy(self.model(x), y, label_smoothing=self.label_smoothing)
        # `scale`: a rank's share of the global batch, so DDP's mean is the batch's mean.
        loss = loss * scale
        loss.backward()
        if self.clip:  # the global gradient norm, on the device: no sync, so a CUDA graph captures it
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip, foreach=True)
        self.optimizer.step()
        return loss.detach()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float, scale: float = 1.0) -> torch.Tensor:
        set_learning_rate(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        return self.forward_backward(x, y, scale)


class GraphedStep(EagerStep):
    """The same step, captured as a CUDA graph after `WARMUP_STEPS` eager ones (module docstring)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                 label_smoothing: float = 0.0, clip: float = 0.0):
        super().__init__(model, optimizer, device, label_smoothing, clip=clip)
        self.kind = "cuda-graph"
        self.steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side = torch.cuda.Stream(device)
        self.static_x = self.static_y = self.static_loss = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float, scale: float = 1.0) -> torch.Tensor:
        self.steps += 1
        if self.kind == "eager":  # capture failed earlier: stay eager
            return super().__call__(x, y, lr, scale)
        set_learning_rate(self.optimizer, lr)
        if self.graph is None and self.steps <= WARMUP_STEPS:
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.forward_backward(x, y, scale)
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            return loss
        if self.graph is None and not self._capture(x, y, scale):
            return super().__call__(x, y, lr, scale)
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()
        return self.static_loss.clone()

    def _capture(self, x: torch.Tensor, y: torch.Tensor, scale: float) -> bool:
        """Record one step into a graph (nothing runs while it records); False if it cannot be."""
        try:
            self.static_x, self.static_y = x.clone(), y.clone()
            for group in self.optimizer.param_groups:  # the rate must live on the device
                if not (isinstance(group["lr"], torch.Tensor) and group["lr"].device.type == "cuda"):
                    group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
            torch.cuda.synchronize(self.device)
            # Gradients are made inside the graph's memory pool and rewritten by each replay.
            self.optimizer.zero_grad(set_to_none=True)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                # autocast's weight-cast cache must be off: cached casts would be stale on replay
                self.static_loss = self.forward_backward(self.static_x, self.static_y, scale, cache=False)
            self.graph = graph
            return True
        except Exception as error:  # noqa: BLE001 -- any failure to capture means: run eagerly
            self.kind, self.why = "eager", f"CUDA graph capture failed ({type(error).__name__}: {error})"[:300]
            self.graph = None
            torch.cuda.synchronize(self.device)
            return False


def make_step(model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
              label_smoothing: float = 0.0, world: int = 1, graphs: bool = True, clip: float = 0.0) -> EagerStep:
    """The step this training runs: a CUDA graph where it can be (module docstring), else eager."""
    for group in optimizer.param_groups:  # a resumed optimizer may bring a saved rate tensor back
        if isinstance(group["lr"], torch.Tensor):
            group["lr"] = float(group["lr"])
    if not graphs:
        return EagerStep(model, optimizer, device, label_smoothing, why="graphs turned off", clip=clip)
    if device.type != "cuda":
        return EagerStep(model, optimizer, device, label_smoothing, clip=clip)
    if world > 1 or not isinstance(optimizer, torch.optim.SGD):
        why = "DDP ranks run eagerly" if world > 1 else f"{type(optimizer).__name__} runs eagerly"
        return EagerStep(model, optimizer, device, label_smoothing, why=why, clip=clip)
    return GraphedStep(model, optimizer, device, label_smoothing, clip=clip)

