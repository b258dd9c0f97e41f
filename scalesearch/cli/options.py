"""The command-line options several commands share, declared once, and the table of
flags that the core's error messages are written in.

Each option is an `Annotated` type: a command takes `epochs: EpochsOption = None` and
gets the same flag name, type and help as every other command that trains.  Defaults
stay with the command, where they are read.

`shared_parts` maps these options onto the parts a request embeds (scalesearch/requests.py):
the one place where a command's data, budget, device and latency options become a request's.

The core names a setting as a placeholder ("{epochs} must be >= 1"); `flag` says how the
CLI writes it ("--epochs"): `--` plus the name with dashes, or the entry in `FLAGS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Mapping, Optional

import typer

from scalesearch.requests import parts_from
from scalesearch.spec.spaces import read_recipe
from scalesearch.training.data import SOURCES

# -- which network ------------------------------------------------------------------------
DepthOption = Annotated[Optional[float], typer.Option(
    help="Depth multiplier d (repeats x d, rounded up per stage).")]
WidthOption = Annotated[Optional[float], typer.Option(
    help="Width multiplier w (channels x w, to multiples of 8).")]
PhiOption = Annotated[Optional[float], typer.Option(
    help="Compound coefficient: d, w, r = alpha^phi, beta^phi, gamma^phi.")]
AlphaOption = Annotated[Optional[float], typer.Option(help="Depth coefficient alpha: d = alpha^phi.")]
BetaOption = Annotated[Optional[float], typer.Option(help="Width coefficient beta: w = beta^phi.")]
GammaOption = Annotated[Optional[float], typer.Option(help="Resolution coefficient gamma: r = gamma^phi.")]

# -- the data and the proxy budget ---------------------------------------------------------
DataOption = Annotated[str, typer.Option(
    help=f"Data source: {', '.join(SOURCES)} (fashion-mnist: Debian's package; synthetic: generated, for tests).")]
DataDirOption = Annotated[Optional[str], typer.Option(
    help="Folder holding the data source's files (fashion-mnist default: /usr/share/datasets/fashion-mnist).")]
EpochsOption = Annotated[Optional[int], typer.Option(help="Proxy epochs (default: the space's proxy budget).")]
TrainImagesOption = Annotated[Optional[int], typer.Option(
    help="Training images, a seeded subset (default: the space's proxy budget).")]
ValImagesOption = Annotated[int, typer.Option(
    help="Validation images held out of the training split (what a search selects on).")]
TestImagesOption = Annotated[Optional[int], typer.Option(
    help="Test images to report on, never selected on (default: the whole test split).")]
BatchSizeOption = Annotated[Optional[int], typer.Option(help="Batch size (default: the space's proxy budget).")]
LrOption = Annotated[Optional[float], typer.Option(help="Peak learning rate (default: the space's proxy budget).")]
ProxyOption = Annotated[Optional[Path], typer.Option(
    help="A recipe file: a YAML proxy: block (what `scalesearch calibrate` writes as proxy.yaml) over the space's own; "
         "--epochs, --lr ... still go on top.")]
DeviceOption = Annotated[str, typer.Option(help="cpu, cuda or auto.")]
LatencyDeviceOption = Annotated[Optional[str], typer.Option(
    help="Where latency is timed: cpu, cuda or auto (default: --device). A family for a GPU server "
         "is landed on the GPU's latency at a serving --latency-batch, not the CPU's.")]
MaxMemoryOption = Annotated[Optional[float], typer.Option(
    help="GB one network may need (estimated before it is built; default: half this machine's RAM).")]

WeightsOption = Annotated[Optional[Path], typer.Option(
    help="A torchvision-, timm- or scalesearch-saved state_dict to start from, mapped by order (shapes must match; "
         "the stem is summed to the data's channels and the classifier kept fresh).")]
WeightsFromOption = Annotated[Optional[str], typer.Option(
    help="torchvision or timm: set BN eps / momentum / activation to that source's, so its weights give its outputs.")]


# -- how the core's settings are written on this command line -------------------------------
# The rule: `--` + the setting's name with dashes.  The exceptions:
FLAGS = {"grid_shape": "--grid", "proxy_resolution": "--resolution", "base_resolution": "--resolution"}


def flag(setting: str) -> str:
    """The flag that sets `setting` (the name in a core error message's placeholder)."""
    return FLAGS.get(setting) or "--" + setting.replace("_", "-")


# -- the options onto a request's shared parts ----------------------------------------------

def shared_parts(request: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """The shared parts `request` embeds, from a command's parameters (its `locals()`):
    each part's fields from the options of the same name, the rest at the part's defaults.

    >>> from scalesearch.grid import GridRequest
    >>> shared_parts(GridRequest, {"epochs": 2, "device": "cpu", "out": None})["budget"]
    BudgetChoice(epochs=2, batch_size=None, lr=None, seed=0, proxy=None)
    """
    values = dict(given)
    if values.get("proxy") is not None:  # --proxy FILE: the request holds the file's block, as values
        values["proxy"] = read_recipe(values["proxy"])
    return parts_from(request, values)
