"""The file formats `export` writes a network in: one registered entry each.

A format is its name, the file's suffix, a phrase for help texts, how it writes the eager
model to a file, how it runs the written file again (reloaded as another tool would load
it) on the check's input, the tolerance of that check, what the host must have installed,
and whether the member's NetSpec YAML goes beside the file (when the file alone cannot
rebuild the model).  `export` validates `--format`, writes, checks and lists its help from
here; a new format is one `register_format(ExportFormat(...))`:

    register_format(ExportFormat("pickle", ".pkl", "the whole module, pickled",
                                 lambda model, example, path: torch.save(model, path),
                                 lambda path, example: (torch.load(path, weights_only=False)(example), "torch.load"),
                                 tolerance=0.0))

(tests/test_extending.py registers that one and exports a family with it through the CLI.)

Tolerances are relative to the largest output magnitude: a freshly initialised B0's logits
are ~1e-14 (zero-initialised residual branches, small classifier), so a fixed atol such as
1e-4 would pass any file.  The check is max |reloaded - eager| <= tolerance x max |eager|.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from scalesearch.errors import UserError
from scalesearch.models.build import build_model
from scalesearch.registry import Registry
from scalesearch.spec.netspec import load_spec_yaml

PT2_TOLERANCE = 1e-5
ONNX_TOLERANCE = 1e-4  # fp32 kernels of another runtime sum in another order
EXACT = 0.0


def ready() -> None:
    """Nothing to install: torch writes and reads the format."""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # the written file's ending, dot included
    help: str  # what the file holds, for help texts
    write: Callable[[nn.Module, torch.Tensor, str], None]  # (eager model, example input, path): the file at path
    run: Callable[[Path, torch.Tensor], tuple[torch.Tensor, str]]  # (written file, input) -> (outputs, what ran it)
    tolerance: float  # of the check, relative to the largest eager output
    needs: Callable[[], None] = ready  # raises a UserError naming what this host lacks for the format
    spec_beside: bool = False  # the member's NetSpec YAML is written beside the file; `run` rebuilds from it


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")


def register_format(fmt: ExportFormat) -> ExportFormat:
    if not fmt.suffix.startswith(".") or fmt.suffix == ".yaml":
        raise ValueError(f"export format {fmt.name!r}: a suffix with its dot, not .yaml (the NetSpec's)")
    return EXPORT_FORMATS.add(fmt)


def export_format(name: str) -> ExportFormat:
    """The registered format `name`; a user error that lists the known ones otherwise."""
    return EXPORT_FORMATS.lookup(name, "{{format}} {name}: unknown; known: {known}")


def format_help() -> str:
    """Each known format with what its file holds, for a `--format` option's help."""
    return EXPORT_FORMATS.described(lambda fmt: f"{fmt.name} ({fmt.help})")


# -- the built-in formats -----------------------------------------------------------------

def _pt2_write(model: nn.Module, example: torch.Tensor, path: str) -> None:
    torch.export.save(torch.export.export(model, (example,)), path)


def _pt2_run(path: Path, example: torch.Tensor) -> tuple[torch.Tensor, str]:
    with torch.no_grad():
        return torch.export.load(path).module()(example), "torch.export.load"


def _onnx_needs() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{{format}} onnx needs the export extra (missing: {', '.join(missing)}); "
                        "pip install 'scalesearch[export]'")


def _onnx_write(model: nn.Module, example: torch.Tensor, path: str) -> None:
    import logging
    import warnings

    logger = logging.getLogger("torch.onnx")  # notes about torchvision ops it skips: not ours
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False)
    finally:
        logger.setLevel(level)
    program.save(path)


def _onnx_run(path: Path, example: torch.Tensor) -> tuple[torch.Tensor, str]:
    """onnxruntime where installed, else onnx's reference evaluator."""
    feed = example.numpy()
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return torch.from_numpy(session.run(None, {name: feed})[0]), "onnxruntime"
    import onnx.reference

    evaluator = onnx.reference.ReferenceEvaluator(str(path))
    name = evaluator.input_names[0]
    return torch.from_numpy(evaluator.run(None, {name: feed})[0]), "onnx.reference"


def _state_dict_write(model: nn.Module, example: torch.Tensor, path: str) -> None:
    torch.save(model.state_dict(), path)


def _state_dict_run(path: Path, example: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The model rebuilt from the NetSpec YAML beside the weights, then loaded: must match exactly."""
    rebuilt = build_model(load_spec_yaml(path.with_suffix(".yaml"))).eval()
    rebuilt.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    with torch.no_grad():
        return rebuilt(example), "build_model(spec YAML) + load_state_dict"


register_format(ExportFormat("pt2", ".pt2", "a torch.export program", _pt2_write, _pt2_run, PT2_TOLERANCE))
register_format(ExportFormat("onnx", ".onnx", "ONNX, run back with onnxruntime or onnx's reference evaluator; "
                             "needs onnx and onnxscript, the export extra", _onnx_write, _onnx_run, ONNX_TOLERANCE, needs=_onnx_needs))
register_format(ExportFormat("state-dict", ".pt", "the weights, with the member's NetSpec YAML beside them",
                             _state_dict_write, _state_dict_run, EXACT, spec_beside=True))
