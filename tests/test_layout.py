"""The tree reads as the pipeline: the core never reaches the edges, and nothing imports in a cycle.

Checked statically from every module's import statements (module level and inside
functions alike), so a lazy import cannot hide a back-edge.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scalesearch"
EDGES = ("scalesearch.cli", "scalesearch.report")
DISPLAY_LIBRARIES = ("typer", "rich")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def is_edge(name: str) -> bool:
    return name == "scalesearch.__main__" or name.startswith(EDGES)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not is_edge(n)))
def test_core_modules_import_no_cli_report_or_display_library(name):
    found = imports(MODULES[name])
    assert not [m for m in found if m.startswith(EDGES)], f"{name} imports an edge module"
    assert not [m for m in found if m.split(".")[0] in DISPLAY_LIBRARIES], f"{name} imports typer or rich"


def test_no_import_cycles():
    # Packages import their own modules (re-exports), so edges into a package's own
    # __init__ from its children are not back-edges.
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_every_module_says_what_it_owns():
    missing = [name for name, path in MODULES.items()
               if path.read_text().strip() and ast.get_docstring(ast.parse(path.read_text())) is None]
    assert not missing, f"modules without a docstring: {missing}"


# The full order, bottom first: each unit (a top-level module or subpackage of scalesearch)
# imports only units of lower layers, and its own modules.  Commands share a layer, so no
# command imports another; what two commands share lives below them.
LAYERS = [
    {"errors"},
    {"compat", "files", "registry"},  # optional libraries; atomic files and records; what users extend, by name
    {"machine", "device", "processes"},  # this host: identity, devices and threads, child processes
    {"blocks"},  # the block kinds: module, analytic count, block-string keys, width rule
    {"spec"},  # what a network is
    {"stats"},  # the decision statistics, pure: rankings, simultaneous intervals, fits, the tie-break
    {"models"},  # what it is built of
    {"costs"},  # what it costs, and landing on a cost
    {"training"},  # proxy training
    {"search"},  # the study, its units, its workers and storage
    {"runs"},  # what lands in a run directory
    {"family"},  # a family planned, landed and measured (from a grid's run directory too)
    {"requests"},  # the parts every command's request shares
    {"grid", "expand", "compare", "transfer", "train", "export", "dashboard", "calibrate"},  # the commands
    {"join"},  # a worker joining a grid's study by URL
    {"launch"},  # workers on Slurm / Kubernetes
    {"api"},  # the public Python API
    {"report"},
    {"cli"},
    {"__main__"},  # python -m scalesearch
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_unit_has_a_layer():
    assert not {unit(n) for n in MODULES} - set(LAYER) - {"scalesearch"}, "place the new unit in LAYERS"


def test_each_unit_imports_only_units_below_it():
    upward = sorted(f"{name} -> {dep}" for name, deps in GRAPH.items() for dep in deps
                    if "scalesearch" not in (unit(name), unit(dep))  # the root: lazy API facade, __version__
                    and unit(dep) != unit(name)
                    and LAYER[unit(dep)] >= LAYER[unit(name)])
    assert not upward, "imports that run upward or across a layer:\n" + "\n".join(upward)


def test_the_package_root_is_imported_for_its_version_only():
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "scalesearch" and name != "scalesearch":
                assert [a.name for a in node.names] == ["__version__"], name


def test_every_package_is_packaged():
    # An editable install finds a subpackage the list forgets; a wheel does not ship it.
    import tomllib

    root = Path(__file__).parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"]) - set(setuptools["package-dir"])  # data packages mapped from elsewhere
    packages = {".".join(init.parent.relative_to(root).parts) for init in (root / "scalesearch").rglob("__init__.py")}
    assert packages == listed, (packages - listed, listed - packages)
