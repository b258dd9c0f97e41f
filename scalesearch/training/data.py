"""Image data for proxy training: sources read once into memory as uint8 N x C x H x W.

Sources (`load_data(name, data_dir)`):

- `fashion-mnist` — the default. The four IDX gzip files of Debian's
  `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist/) or of `data_dir`.
- `cifar10` — the CIFAR-10 python pickle batches (data_batch_1..5, test_batch) in `data_dir`.
- `imagefolder` — `data_dir/train/CLASS/*.jpg|png` and `data_dir/val/CLASS/...`, decoded
  once with Pillow to `image_size` px (shorter side, centre crop) and cached on disk.
- `synthetic` — a tiny generated set (class templates + noise) for tests where no real
  data is installed. Not real data; results on it say nothing about a network.

Splits: the validation split is carved from the training data by a fixed seed and is
what a search selects on; the source's own test split (`val/` for imagefolder) is only
reported.  `resized(data, px, device)` returns the splits at one resolution, resized
once and cached; `augment` (random crop with padding, horizontal flip) and `normalize`
work on whole batches, so no DataLoader or worker process is needed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from scalesearch.errors import UserError

SOURCES = ("fashion-mnist", "cifar10", "imagefolder", "synthetic")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz",
}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".JPEG", ".JPG", ".PNG"}


class DataError(UserError):
    """A data source that cannot be found or read."""


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so caches key on it cheaply
class ImageData:
    """Train / validation / test splits as uint8 N x C x H x W tensors with int64 labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    in_channels: int
    hflip: bool  # whether a mirrored image is still the same class (not for digits)
    mean: tuple[float, ...]  # per channel, in [0, 1], from the training split
    std: tuple[float, ...]
    source: str = ""  # where it came from, for reports

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def describe(self) -> dict:
        return {"data": self.name, "data_source": self.source, "train_images": len(self.train_y),
                "val_images": len(self.val_y), "test_images": len(self.test_y),
                "num_classes": self.num_classes, "in_channels": self.in_channels,
                "native_resolution": self.image_size,
                "splits": "val carved from train by seed (selected on); test only reported"}


# -- loading ---------------------------------------------------------------------------

def load_data(name: str = "fashion-mnist", data_dir: str | Path | None = None, *,
              train_images: int | None = None, val_images: int = 2000,
              test_images: int | None = None, seed: int = 0, image_size: int = 64) -> ImageData:
    """Load a source (see the module docstring), cached per process.

    `val_images` are held out of the training data by `seed`; `train_images` (default:
    all the rest) is a seeded subset of what remains, so the validation split does not
    move when the training subset changes size.  `image_size` applies to imagefolder only.
    """
    data_dir = None if data_dir is None else str(Path(data_dir).expanduser().resolve())
    return _load_cached(name, data_dir, train_images, val_images, test_images, seed, image_size)


@lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: str | None, train_images: int | None, val_images: int,
                 test_images: int | None, seed: int, image_size: int) -> ImageData:
    for option, value in (("--train-images", train_images), ("--val-images", val_images),
                          ("--test-images", test_images)):
        if value is not None and (isinstance(value, bool) or value < 0):
            raise DataError(f"{option} must be a positive number of images, got {value}")
    if train_images == 0:
        raise DataError("--train-images must be >= 1")
    train_x, train_y, test_x, test_y, num_classes, hflip, source = _read_source(name, data_dir, image_size)
    if val_images >= len(train_y):
        raise DataError(f"--val-images {val_images} leaves no training images in {name} "
                        f"(the training split has {len(train_y)})")
    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(seed))
    val_idx, rest = order[:val_images], order[val_images:]
    if train_images is not None:
        if train_images > len(rest):
            raise DataError(f"--train-images {train_images}: {name} has only {len(rest)} "
                            f"training images after holding out {val_images} for validation")
        rest = rest[:train_images]
    if test_images is not None and test_images < len(test_y):
        test_x, test_y = test_x[:test_images], test_y[:test_images]
    tx = train_x[rest]
    scaled = tx.float().div_(255)
    mean = tuple(scaled.mean((0, 2, 3)).tolist())
    std = tuple(scaled.std((0, 2, 3)).clamp_min(1e-3).tolist())
    return ImageData(name=name, train_x=tx.contiguous(), train_y=train_y[rest].contiguous(),
                     val_x=train_x[val_idx].contiguous(), val_y=train_y[val_idx].contiguous(),
                     test_x=test_x, test_y=test_y, num_classes=num_classes,
                     in_channels=int(tx.shape[1]), hflip=hflip, mean=mean, std=std, source=source)


@lru_cache(maxsize=4)
def _read_source(name: str, data_dir: str | None, image_size: int):
    """(train_x, train_y, test_x, test_y, num_classes, hflip, source): the parsed files."""
    if name == "fashion-mnist":
        return _read_fashion_mnist(Path(data_dir) if data_dir else FASHION_MNIST_DIR)
    if name == "cifar10":
        return _read_cifar10(_need_dir(name, data_dir))
    if name == "imagefolder":
        return _read_imagefolder(_need_dir(name, data_dir), image_size)
    if name == "synthetic":
        return _make_synthetic()
    raise DataError(f"unknown data source {name!r}; known: {', '.join(SOURCES)}")


def _need_dir(name: str, data_dir: str | None) -> Path:
    if data_dir is None:
        raise DataError(f"--data {name} needs --data-dir DIR")
    path = Path(data_dir)
    if not path.is_dir():
        raise DataError(f"--data-dir {data_dir}: no such directory")
    return path


def _read_fashion_mnist(folder: Path):
    missing = [f for f in _FASHION_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataError(f"fashion-mnist not found in {folder} (missing {missing[0]}): run "
                        "`apt-get install dataset-fashion-mnist`, or pass --data-dir DIR holding the four IDX .gz files")
    arrays = {key: _read_idx(folder / file) for key, file in _FASHION_FILES.items()}
    # Fashion-MNIST is clothing: a mirrored shirt is still a shirt, so flipping is allowed.
    return (arrays["train_x"].unsqueeze(1), arrays["train_y"].long(), arrays["test_x"].unsqueeze(1),
            arrays["test_y"].long(), 10, True, f"fashion-mnist IDX files in {folder}")


def _read_idx(path: Path) -> torch.Tensor:
    try:
        raw = gzip.decompress(path.read_bytes())
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
        return data.reshape(shape)
    except (OSError, ValueError, RuntimeError, struct.error) as error:
        raise DataError(f"{path}: cannot read as a gzipped IDX file ({error})") from None


def _read_cifar10(folder: Path):
    if (folder / "cifar-10-batches-py").is_dir():  # accept the archive's top folder too
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"cifar10: {folder} lacks {missing[0]}; --data-dir must hold the CIFAR-10 "
                        "python batches (data_batch_1..5, test_batch)")
    batches = []
    for n in names:
        try:
            with open(folder / n, "rb") as handle:
                batch = pickle.load(handle, encoding="bytes")
            x = torch.tensor(bytearray(batch[b"data"]), dtype=torch.uint8).reshape(-1, 3, 32, 32)
            batches.append((x, torch.tensor(batch[b"labels"], dtype=torch.long)))
        except Exception as error:  # a corrupt or foreign file is the user's input
            raise DataError(f"cifar10: cannot read {folder / n}: {type(error).__name__}: {error}") from None
    train_x = torch.cat([b[0] for b in batches[:5]])
    train_y = torch.cat([b[1] for b in batches[:5]])
    return train_x, train_y, batches[5][0], batches[5][1], 10, True, f"cifar10 batches in {folder}"


def _read_imagefolder(folder: Path, size: int):
    splits = {}
    for split in ("train", "val"):
        if not (folder / split).is_dir():
            raise DataError(f"imagefolder: {folder} needs {split}/CLASS/*.jpg|png subfolders")
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"imagefolder: {folder / 'train'} has no class subfolders")
    files = {split: [(f, c) for c, name in enumerate(classes)
                     for f in sorted((folder / split / name).glob("*")) if f.suffix in _IMAGE_SUFFIXES]
             for split in ("train", "val")}
    if not files["train"] or not files["val"]:
        raise DataError(f"imagefolder: no .jpg/.png images under {folder}/train or {folder}/val")
    cache = _imagefolder_cache_path(folder, size, files)
    if cache.is_file():
        stored = torch.load(cache, weights_only=True)
        splits = {k: (stored[f"{k}_x"], stored[f"{k}_y"]) for k in ("train", "val")}
    else:
        splits = {split: _decode_images(items, size) for split, items in files.items()}
        _save_quietly(cache, {f"{k}_{part}": t for k, (x, y) in splits.items()
                              for part, t in (("x", x), ("y", y))})
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["val"]
    return train_x, train_y, test_x, test_y, len(classes), True, f"imagefolder {folder} at {size}px"


def _imagefolder_cache_path(folder: Path, size: int, files: dict) -> Path:
    """A cache file named by a hash of the file list, sizes and times: stale caches miss."""
    digest = hashlib.sha256(str(size).encode())
    for split, items in files.items():
        for path, label in items:
            stat = path.stat()
            digest.update(f"{split}/{label}/{path.name}/{stat.st_size}/{stat.st_mtime_ns}".encode())
    name = f"imagefolder-{size}px-{digest.hexdigest()[:16]}.pt"
    if os.access(folder, os.W_OK):
        return folder / ".scalesearch-cache" / name
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scalesearch" / name


def _save_quietly(path: Path, tensors: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(tensors, tmp)
        tmp.replace(path)  # atomic: a second process never reads half a file
    except OSError:
        pass  # no cache is slower, not wrong


def _decode_images(items: list, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image, ImageOps

    x = torch.empty(len(items), 3, size, size, dtype=torch.uint8)
    for i, (path, _) in enumerate(items):
        try:
            with Image.open(path) as image:
                image = ImageOps.fit(image.convert("RGB"), (size, size), Image.BILINEAR)
                x[i] = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)
        except OSError as error:
            raise DataError(f"imagefolder: cannot decode {path}: {error}") from None
    return x, torch.tensor([label for _, label in items], dtype=torch.long)


def _make_synthetic(train: int = 3000, test: int = 400, classes: int = 10, size: int = 28):
    """Generated, NOT real data: each class is a fixed smooth template plus noise."""
    g = torch.Generator().manual_seed(1234)
    templates = F.interpolate(torch.rand(classes, 1, 7, 7, generator=g), size=size, mode="bilinear")

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % classes
        x = templates[y] * 0.7 + torch.rand(n, 1, size, size, generator=g) * 0.3
        return (x * 255).round().to(torch.uint8), y

    train_x, train_y = draw(train)
    test_x, test_y = draw(test)
    return train_x, train_y, test_x, test_y, classes, False, "synthetic (generated, not real data)"


# -- batches at any resolution ---------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ResizedData:
    """The splits at one resolution on one device (uint8), plus normalisation constants."""

    resolution: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # 1 x C x 1 x 1, in 0..255 units so uint8 need not be scaled first
    std: torch.Tensor
    hflip: bool


def resized(data: ImageData, resolution: int, device: str | torch.device = "cpu") -> ResizedData:
    """`data` at `resolution` px on `device`, resized once per (data, px, device) and cached."""
    if resolution < 1:
        raise DataError(f"--resolution must be a positive number of pixels, got {resolution}")
    return _resized_cached(data, int(resolution), str(torch.device(device)))


@lru_cache(maxsize=6)
def _resized_cached(data: ImageData, resolution: int, device: str) -> ResizedData:
    def move(x: torch.Tensor) -> torch.Tensor:
        x = resize_images(x, resolution)
        # Pinned memory makes the one host -> GPU copy fast; the data then stays there.
        return (x.pin_memory() if device.startswith("cuda") else x).to(device)

    mean = torch.tensor(data.mean).view(1, -1, 1, 1) * 255
    std = torch.tensor(data.std).view(1, -1, 1, 1) * 255
    return ResizedData(resolution, move(data.train_x), data.train_y.to(device), move(data.val_x),
                       data.val_y.to(device), move(data.test_x), data.test_y.to(device),
                       mean.to(device), std.to(device), data.hflip)


def resize_images(x: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 N x C x H x W -> uint8 N x C x R x R, bilinear with antialiasing, in chunks."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x.contiguous()
    out = torch.empty(x.shape[0], x.shape[1], resolution, resolution, dtype=torch.uint8)
    for start in range(0, x.shape[0], chunk):  # chunks bound the float copy's memory
        part = x[start:start + chunk].float()
        part = F.interpolate(part, size=(resolution, resolution), mode="bilinear",
                             align_corners=False, antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def augment(x: torch.Tensor, generator: torch.Generator, hflip: bool, pad: int) -> torch.Tensor:
    """Random crop after zero-padding by `pad` px, and a random mirror when `hflip`.

    Whole-batch tensor ops on uint8: one gather per batch instead of a Python call per
    image.  `generator` lives on the CPU so runs are reproducible on any device.
    """
    n, _, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    if hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(flip, x.flip(3), x)
    return x


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32, standardised per channel, channels_last (what the convs want)."""
    x = x.contiguous(memory_format=torch.channels_last).float()
    return x.sub_(mean).div_(std)
