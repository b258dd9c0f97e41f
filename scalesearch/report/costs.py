"""What a report says about costs: whether FLOPs and activations predict measured latency."""

from __future__ import annotations


def cost_correlations(rows: list[dict]) -> str | None:
    """One sentence: how well FLOPs and activations rank the rows' measured latency."""
    from scalesearch.stats.ranking import spearman

    timed = [r for r in rows if r.get("latency_ms") is not None]
    if len(timed) < 3:
        return None
    latency = [r["latency_ms"] for r in timed]
    flops = spearman([r["flops"] for r in timed], latency)
    acts = spearman([r["activations"] for r in timed], latency)
    return (f"Over these {len(timed)} networks, Spearman's rank correlation with measured latency is "
            f"{flops:.2f} for FLOPs and {acts:.2f} for activations: the closer to 1, the better that cost "
            "predicts run time here.")
