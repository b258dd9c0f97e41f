"""Static plots as PNG bytes (matplotlib, Agg backend: no display, safe in CI and workers)."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: reports are written on headless machines

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

WIDTH, HEIGHT, DPI = 6.4, 3.8, 110


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": every figure keeps the same pixel size, so plots line up.
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)  # figures otherwise pile up in pyplot's registry
    return buffer.getvalue()


def lines(x: Sequence[float], series: dict[str, Sequence[float]], *, title: str, xlabel: str,
          ylabel: str, log_y: bool = False, styles: dict[str, str] | None = None) -> bytes:
    """Several y-series over one x, one labelled line each (e.g. nominal vs measured)."""
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), layout="constrained")
    for label, values in series.items():
        ax.plot(x, values, (styles or {}).get(label, "o-"), label=label)
    _finish(ax, title, xlabel, ylabel, log_y)
    ax.set_xticks(list(x))
    return to_png(fig)


def scatter_labelled(x: Sequence[float], y: Sequence[float], labels: Sequence[str], *, title: str,
                     xlabel: str, ylabel: str, log_x: bool = True, series: str = "") -> bytes:
    """Points joined in order and labelled (the paper's accuracy-vs-FLOPs shape)."""
    fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), layout="constrained")
    ax.plot(x, y, "o-", label=series or None)
    for xi, yi, text in zip(x, y, labels):
        ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if log_x:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    _finish(ax, title, xlabel, ylabel, False)
    return to_png(fig)


def panels(series: dict[str, Sequence[tuple[float, float, float, str]]], *, title: str, xlabel: str,
           ylabel: str, colours: dict[str, str] | None = None, reference: str | None = None) -> bytes:
    """One panel per series, side by side with a shared y axis: (x, y, y error, label) points
    joined in order on a log x axis, each labelled (the paper's Figure 3 shape).  The
    `reference` series is drawn dashed in every other panel, to read each against it."""
    names = list(series)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(WIDTH * 1.6, HEIGHT), sharey=True,
                             layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names):
        colour = (colours or {}).get(name)
        if reference in series and name != reference:
            ref = series[reference]
            ax.plot([p[0] for p in ref], [p[1] for p in ref], "--", color="grey", alpha=0.6, label=reference)
        x, y, err = [p[0] for p in series[name]], [p[1] for p in series[name]], [p[2] for p in series[name]]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colour, label=name)
        for xi, yi, (*_, text) in zip(x, y, series[name]):
            ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(3, -10), fontsize=6)
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    return to_png(fig)


def _plain_log(axis) -> None:
    """Log ticks at 1, 2, 5 x 10^k written as plain numbers (0.5, 2, 20), not 2x10^1."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finish(ax, title: str, xlabel: str, ylabel: str, log_y: bool) -> None:
    if log_y:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()

