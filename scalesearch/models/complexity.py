"""Analytic complexity of a NetSpec, part by part, without building a model.

The fast twin of fvcore (costs/cost.py) for solvers and guards that look at many
candidates: microseconds per spec instead of a trace.  It mirrors `models/blocks.py`
layer by layer and counts, per part (stem, each stage, head, classifier):

- `macs`: multiply-adds of conv and linear layers (the paper's FLOPs);
- `params`: parameters (conv weights, the SE convs' biases, batch-norm scale and shift,
  the classifier's weight and bias);
- `activations`: output elements of conv and linear layers (fvcore's activation count).

Tests check all three equal fvcore's and PyTorch's counts on every baseline at several
scales, so a change to a block that is not mirrored here fails loudly.

Every conv uses 'same' padding (k // 2), so an output side is ceil(side / stride).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalesearch.spec.netspec import NetSpec, StageSpec


@dataclass
class Complexity:
    macs: int = 0
    params: int = 0
    activations: int = 0

    def conv(self, side: int, cin: int, cout: int, kernel: int = 1, groups: int = 1, *,
             bn: bool = True, bias: bool = False) -> None:
        """A conv producing a side x side map (+ its batch norm, unless `bn` is False)."""
        self.macs += side * side * cout * (cin // groups) * kernel * kernel
        self.params += cout * (cin // groups) * kernel * kernel + (cout if bias else 0) + (2 * cout if bn else 0)
        self.activations += side * side * cout

    def __iadd__(self, other: "Complexity") -> "Complexity":
        self.macs += other.macs
        self.params += other.params
        self.activations += other.activations
        return self


def _out(side: int, stride: int) -> int:
    return -(-side // stride)


def _block(stage: StageSpec, cin: int, side: int, stride: int, into: Complexity) -> int:
    """Add one block of `stage` to `into`; return its output side (see models/blocks.py)."""
    cout, k = stage.channels, stage.kernel
    out = _out(side, stride)
    if stage.block in ("mb", "ir"):
        hidden = int(round(cin * stage.expansion))
        if hidden != cin:
            into.conv(side, cin, hidden)
        into.conv(out, hidden, hidden, k, groups=hidden)
        if stage.se_ratio > 0:
            squeeze = max(1, int(cin * stage.se_ratio))
            into.conv(1, hidden, squeeze, bn=False, bias=True)  # on the pooled 1x1 map
            into.conv(1, squeeze, hidden, bn=False, bias=True)
        into.conv(out, hidden, cout)
        return out
    if stage.block == "ds":
        into.conv(out, cin, cin, k, groups=cin)
        into.conv(out, cin, cout)
        return out
    if stride != 1 or cin != cout:
        into.conv(out, cin, cout)  # projection shortcut
    if stage.block == "basic":
        into.conv(out, cin, cout, k)
        into.conv(out, cout, cout, k)
        return out
    inner = int(cout // stage.expansion)  # bottleneck
    into.conv(side, cin, inner)
    into.conv(out, inner, inner, k)
    into.conv(out, inner, cout)
    return out


def complexity_by_part(spec: NetSpec) -> dict[str, Complexity]:
    """Complexity of the stem, each stage, the head and the classifier."""
    side = _out(spec.resolution, spec.stem.stride)
    parts = {"stem": Complexity()}
    parts["stem"].conv(side, spec.in_channels, spec.stem.channels, spec.stem.kernel)
    if spec.stem.pool:
        side = _out(side, 2)
    cin = spec.stem.channels
    for number, stage in enumerate(spec.stages, start=1):
        part = parts[f"stage {number}"] = Complexity()
        side = _block(stage, cin, side, stage.stride, part)
        cin = stage.channels
        if stage.repeats > 1:
            # Blocks after the first are identical (stride 1, cin = cout): count one and
            # multiply, so a spec with 10^8 repeats is counted (and refused) in microseconds.
            rest = Complexity()
            side = _block(stage, cin, side, 1, rest)
            part.macs += (stage.repeats - 1) * rest.macs
            part.params += (stage.repeats - 1) * rest.params
            part.activations += (stage.repeats - 1) * rest.activations
    if spec.head.channels:
        parts["head"] = Complexity()
        parts["head"].conv(side, cin, spec.head.channels)
        cin = spec.head.channels
    parts["classifier"] = Complexity(cin * spec.num_classes, cin * spec.num_classes + spec.num_classes,
                                     spec.num_classes)
    return parts


def complexity(spec: NetSpec) -> Complexity:
    total = Complexity()
    for part in complexity_by_part(spec).values():
        total += part
    return total


def macs_by_part(spec: NetSpec) -> dict[str, int]:
    """Multiply-adds of conv and linear layers: stem, each stage, head, classifier."""
    return {name: part.macs for name, part in complexity_by_part(spec).items()}
