"""Analytic multiply-adds of a NetSpec, part by part, without building a model.

The fast twin of fvcore (measure/cost.py) for solvers that try many candidates: a few
microseconds per spec instead of a trace.  It mirrors `models/blocks.py` layer by layer,
and tests check it equals fvcore's count on every baseline at several scales, so a
change to a block that is not mirrored here fails loudly.

Every conv uses 'same' padding (k // 2), so an output side is ceil(side / stride).
"""

from __future__ import annotations

from scalesearch.spec.netspec import NetSpec, StageSpec


def _out(side: int, stride: int) -> int:
    return -(-side // stride)


def _conv(side: int, cin: int, cout: int, kernel: int = 1, groups: int = 1) -> int:
    return side * side * cout * (cin // groups) * kernel * kernel


def _block(stage: StageSpec, cin: int, side: int, stride: int) -> tuple[int, int]:
    """(multiply-adds, output side) of one block of `stage` (see models/blocks.py)."""
    cout, k = stage.channels, stage.kernel
    out = _out(side, stride)
    if stage.block in ("mb", "ir"):
        hidden = int(round(cin * stage.expansion))
        macs = _conv(side, cin, hidden) if hidden != cin else 0
        macs += _conv(out, hidden, hidden, k, groups=hidden)
        if stage.se_ratio > 0:
            squeeze = max(1, int(cin * stage.se_ratio))
            macs += 2 * hidden * squeeze  # two 1x1 convs on the pooled 1x1 map
        return macs + _conv(out, hidden, cout), out
    if stage.block == "ds":
        return _conv(out, cin, cin, k, groups=cin) + _conv(out, cin, cout), out
    shortcut = _conv(out, cin, cout) if stride != 1 or cin != cout else 0
    if stage.block == "basic":
        return _conv(out, cin, cout, k) + _conv(out, cout, cout, k) + shortcut, out
    inner = int(cout // stage.expansion)  # bottleneck
    return (_conv(side, cin, inner) + _conv(out, inner, inner, k) + _conv(out, inner, cout)
            + shortcut), out


def macs_by_part(spec: NetSpec) -> dict[str, int]:
    """Multiply-adds of conv and linear layers: stem, each stage, head, classifier."""
    side = _out(spec.resolution, spec.stem.stride)
    parts = {"stem": _conv(side, spec.in_channels, spec.stem.channels, spec.stem.kernel)}
    if spec.stem.pool:
        side = _out(side, 2)
    cin = spec.stem.channels
    for number, stage in enumerate(spec.stages, start=1):
        total = 0
        for i in range(stage.repeats):
            macs, side = _block(stage, cin, side, stage.stride if i == 0 else 1)
            total, cin = total + macs, stage.channels
        parts[f"stage {number}"] = total
    if spec.head.channels:
        parts["head"] = _conv(side, cin, spec.head.channels)
        cin = spec.head.channels
    parts["classifier"] = cin * spec.num_classes
    return parts
