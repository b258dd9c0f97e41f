"""`scalesearch profile`: params, FLOPs, activations (and latency) of one scaled baseline."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from scalesearch.costs.guard import set_memory_budget
from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, emit
from scalesearch.cli.options import (MaxMemoryOption, AlphaOption, BetaOption, DepthOption, DeviceOption, GammaOption,
                                     PhiOption, WidthOption)
from scalesearch.costs.profile import profile_variant, resolve_multipliers
from scalesearch.spec.spaces import load_space


@command("profile", "scalesearch profile --baseline efficientnet-b0 --width 2.0 --depth 3.1 --resolution 600")
def profile(
    baseline: BaselineOption,
    depth: DepthOption = None,
    width: WidthOption = None,
    resolution: Annotated[Optional[int], typer.Option(help="Input resolution in pixels (default: the baseline's, x r).")] = None,
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    num_classes: Annotated[int, typer.Option(help="Classifier outputs (1000 = ImageNet shape).")] = 1000,
    in_channels: Annotated[int, typer.Option(help="Input channels (3 = ImageNet shape).")] = 3,
    latency: Annotated[bool, typer.Option(help="Also time a forward pass: median and interquartile spread (ms).")] = False,
    latency_threads: Annotated[int, typer.Option(help="Threads for latency timing (1: the paper's convention).")] = 1,
    latency_batch: Annotated[int, typer.Option(help="Batch size for latency timing.")] = 1,
    device: DeviceOption = "auto",
    max_memory: MaxMemoryOption = None,
    per_stage: Annotated[bool, typer.Option(help="Show where the multiply-adds go, stage by stage.")] = False,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Measure a baseline, optionally scaled: params, FLOPs (multiply-adds), activations."""
    set_memory_budget(max_memory)
    d, w, r, px = resolve_multipliers(depth, width, resolution, phi, alpha, beta, gamma)
    result = profile_variant(load_space(baseline), d, w, r, px, in_channels, num_classes,
                             latency=latency, device=device, per_stage=per_stage,
                             latency_threads=latency_threads, latency_batch=latency_batch)
    emit(format, result, lambda: _table(result))


def _table(result: dict) -> Table:
    table = Table(title=f"{result['baseline']} @ {result['resolution']}px "
                        f"(d={result['depth']:.3g}, w={result['width']:.3g}; "
                        f"{result['in_channels']} ch in, {result['num_classes']} classes)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("params", f"{result['params']:,}")
    table.add_row("FLOPs (multiply-adds)", f"{result['flops']:,}")
    table.add_row("FLOPs / baseline", f"{result['flops_ratio']:.3f}x")
    table.add_row("activations", f"{result['activations']:,}")
    if "latency_ms" in result:
        table.add_row(f"latency, batch {result['latency_batch']}, {result['latency_threads']} thread(s) "
                      f"({result['device']}, {result['latency_format']})",
                      f"{result['latency_ms']:.2f} ms ± {result['latency_spread']:.1%} ({result['latency_runs']} runs)")
    if "stages" in result:
        table.add_row("stages", "\n".join(result["stages"]))
    if "per_stage" in result:
        total = sum(result["per_stage"].values())
        for part, macs in result["per_stage"].items():
            table.add_row(f"  {part}", f"{macs:,}  ({macs / total:5.1%})")
    return table
