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
