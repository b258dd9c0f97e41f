"""`scalesearch baselines`: the built-in baselines with their measured cost."""

from __future__ import annotations

from rich.table import Table

from scalesearch.cli.app import FormatOption, OutputFormat, command, emit
from scalesearch.spec.spaces import builtin_names, load_space
from scalesearch.costs.variant import Variant


def list_baselines() -> list[dict]:
    rows = []
    for name in builtin_names():
        space = load_space(name)
        cost = Variant(space).cost()
        rows.append({"name": name, "description": space.description,
                     "resolution": space.resolution, "stages": len(space.network.stages),
                     "blocks": space.network.depth, **cost.as_dict()})
    return rows


@command("baselines", "scalesearch baselines --format json")
def baselines(format: FormatOption = OutputFormat.table) -> None:
    """List the built-in baselines: params and FLOPs at their own (ImageNet) shape."""
    rows = list_baselines()

    def table() -> Table:
        table = Table(title="built-in baselines (3 x R x R input, 1000 classes)")
        for column in ("name", "resolution", "blocks", "params", "FLOPs (mult-adds)"):
            table.add_column(column, justify="left" if column == "name" else "right", no_wrap=True)
        for row in rows:
            table.add_row(row["name"], str(row["resolution"]), str(row["blocks"]), f"{row['params']:,}",
                          f"{row['flops']:,}")
        return table

    emit(format, rows, table)
