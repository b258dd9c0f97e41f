"""The block kinds a NetSpec's stages are made of: one registered entry each.

A kind holds everything the rest of the package asks of it, side by side (as pycls keeps a
block's complexity beside its forward): the module it builds, its analytic count, the
options its block string writes, its width rule and any check of its own.  spec/ reads
the names, keys, width rule and check; models/ the module and the count.  A new kind is
one module that calls `register_block` (see mbconv.py); nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from scalesearch.registry import Registry

ALL_KEYS = ("r", "k", "s", "e", "c", "se", "a")


def scale_output(stage, width: float, round_channels: Callable[[float], int]) -> int:
    """The usual width rule: the stage's output channels times w, rounded."""
    return round_channels(stage.channels * width)


def no_check(stage) -> str:
    return ""


@dataclass(frozen=True)
class BlockKind:
    """One block kind.  `stage` arguments are spec.netspec.StageSpec; `stride` is the
    block's own (the stage's for its first block, 1 after)."""

    name: str
    build: Callable  # (stage, cin, stride, activation, bn_eps, drop_path) -> nn.Module
    count: Callable  # (stage, cin, side, stride, into: Complexity) -> output side; mirrors `build`
    keys: tuple[str, ...] = ALL_KEYS  # the options its block string writes (se and a only when set)
    width: Callable = scale_output  # (stage, w, round_channels) -> the scaled stage's channels
    check: Callable = no_check  # (stage) -> what is wrong with a stage of this kind, "" if nothing


BLOCKS: Registry[BlockKind] = Registry("block kind")


def register_block(kind: BlockKind) -> BlockKind:
    if not kind.name.isalpha() or not {"r", "c"} <= set(kind.keys) <= set(ALL_KEYS):
        raise ValueError(f"block kind {kind.name!r}: a name of letters, and keys among {ALL_KEYS} "
                         "including r and c")
    return BLOCKS.add(kind)


def block_names() -> str:
    """The registered kinds, for messages: "mb, ir, ds, basic, bottleneck"."""
    return ", ".join(BLOCKS)
