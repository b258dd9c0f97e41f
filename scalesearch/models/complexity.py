"""Analytic complexity of a NetSpec, part by part, without building a model.

The fast twin of fvcore (costs/cost.py) for solvers and guards that look at many
candidates: microseconds per spec instead of a trace.  Each block kind counts its own
layers beside its module (scalesearch/blocks/); this adds the stem, the head and the
classifier and counts, per part (stem, each stage, head, classifier), multiply-adds,
params and activations (blocks/count.py says which layers each covers).

Tests check all three equal fvcore's and PyTorch's counts on every baseline at several
scales, so a change to a block that is not mirrored in its count fails loudly.
"""

from __future__ import annotations

from scalesearch.blocks import BLOCKS
from scalesearch.blocks.count import Complexity, out_side
from scalesearch.spec.netspec import NetSpec


def complexity_by_part(spec: NetSpec) -> dict[str, Complexity]:
    """Complexity of the stem, each stage, the head and the classifier."""
    side = out_side(spec.resolution, spec.stem.stride)
    parts = {"stem": Complexity()}
    parts["stem"].conv(side, spec.in_channels, spec.stem.channels, spec.stem.kernel)
    if spec.stem.pool:
        side = out_side(side, 2)
    cin = spec.stem.channels
    for number, stage in enumerate(spec.stages, start=1):
        part = parts[f"stage {number}"] = Complexity()
        count = BLOCKS[stage.block].count
        side = count(stage, cin, side, stage.stride, part)
        cin = stage.channels
        if stage.repeats > 1:
            # Blocks after the first are identical (stride 1, cin = cout): count one and
            # multiply, so a spec with 10^8 repeats is counted (and refused) in microseconds.
            rest = Complexity()
            side = count(stage, cin, side, 1, rest)
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
