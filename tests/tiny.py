"""What several test files share: the data source to train on and a way to write a space.

Tests train on a few hundred real Fashion-MNIST images when Debian's package is installed
(CI installs it) and on the generated `synthetic` source where it is not.
"""

from pathlib import Path

from scalesearch.training.data import FASHION_MNIST_DIR

DATA = "fashion-mnist" if (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file() else "synthetic"


def write_space(directory: Path, text: str, name: str = "tiny.yaml") -> Path:
    """Write a search space's YAML into `directory` and return its path."""
    path = Path(directory) / name
    path.write_text(text)
    return path


# A two-stage MBConv space: members build in milliseconds at 64 px (tests of the API and export).
TINY_SPACE = """
network:
  name: tiny
  resolution: 64
  activation: silu
  bn_eps: 0.001
  stem: {channels: 8, kernel: 3, stride: 2}
  stages: [mb_r1_k3_s1_e2_c8_se0.25, mb_r1_k3_s2_e2_c16_se0.25]
  head: {channels: 32}
proxy: {resolution: 16, epochs: 1, train_images: 256, batch_size: 64, lr: 0.2}
"""


# A three-stage depthwise-separable network (compare's, calibrate's and the search's tests);
# each test file gives it the proxy budget it needs.
DS_NETWORK = """
network:
  name: tiny
  resolution: 64
  activation: relu
  stem: {channels: 8, kernel: 3, stride: 2}
  stages: [ds_r1_k3_s1_c16, ds_r2_k3_s2_c24, ds_r2_k3_s2_c32]
"""


def ds_space(proxy: str, extra: str = "") -> str:
    """DS_NETWORK's YAML with `proxy` (a flow mapping) as its budget and `extra` lines after it."""
    return DS_NETWORK + f"proxy: {proxy}\n" + extra


def tiny_family(cli, directory: Path, phis: str = "0,1") -> Path:
    """`scalesearch expand` of TINY_SPACE over `phis` (alpha 1.2, beta 1.1, gamma 1.15); its out dir."""
    out = Path(directory) / "family"
    result = cli("expand", "-b", write_space(directory, TINY_SPACE), "--phi", phis, "--alpha", "1.2",
                 "--beta", "1.1", "--gamma", "1.15", "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    return out
