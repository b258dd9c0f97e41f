"""Image data for proxy training: sources read once into memory as uint8 N x C x H x W.

Sources (`load_data(name, data_dir)`):

- `fashion-mnist` — the default. The four IDX gzip files of Debian's
  `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist/) or of `data_dir`.
- `cifar10` — the CIFAR-10 python pickle batches (data_batch_1..5, test_batch) in `data_dir`,
  read by an unpickler that builds only arrays, lists, dicts and strings (`_CifarUnpickler`):
  a planted batch file cannot run code.
- `imagefolder` — `data_dir/train/CLASS/*.jpg|png` and `data_dir/val/CLASS/...`, decoded
  once with Pillow to `image_size` px (shorter side, centre crop) and cached on disk.
- `synthetic` — a tiny generated set (class templates + noise) for tests where no real
  data is installed. Not real data; results on it say nothing about a network.

Splits: the validation split is carved from the training data by a fixed seed and is
what a search selects on; the source's own test split (`val/` for imagefolder) is only
reported.  `batches.py` turns these into batches at any resolution.

The split is nested (`split_indices`): the seed's permutation gives the first
CORE_VAL_IMAGES images to validation and the training subset follows them; a larger
validation split adds images from the permutation's far end, the pool a proxy training
never touches.  So growing `val_images` leaves the training subset as it was, and every
validation split is a prefix of every larger one (an evaluation recipe can be compared
on one trained network).
"""

from __future__ import annotations

import gzip
import functools
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
from scalesearch.files import temporary_sibling

SOURCES = ("fashion-mnist", "cifar10", "imagefolder", "synthetic")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz",
}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".JPEG", ".JPG", ".PNG"}
CORE_VAL_IMAGES = 2000  # validation images taken before the training subset (today's default)


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

    @functools.cached_property
    def digest(self) -> str:
        """What a unit trained and was selected on, in 16 hex digits: sha256 over the training
        and validation images and labels (shapes included).  Two workers of one study must
        see the same (search/worker.check_data); a few milliseconds for Fashion-MNIST."""
        h = hashlib.sha256()
        for t in (self.train_x, self.train_y, self.val_x, self.val_y):
            h.update(repr(tuple(t.shape)).encode())
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

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
    for option, value in (("train_images", train_images), ("val_images", val_images),
                          ("test_images", test_images)):
        if value is not None and (isinstance(value, bool) or value < 0):
            raise DataError(f"{{{option}}} must be a positive number of images, got {value}")
    if train_images == 0:
        raise DataError("{train_images} must be >= 1")
    train_x, train_y, test_x, test_y, num_classes, hflip, source = _read_source(name, data_dir, image_size)
    if val_images >= len(train_y):
        raise DataError(f"{{val_images}} {val_images} leaves no training images in {name} "
                        f"(the training split has {len(train_y)})")
    val_idx, rest = split_indices(len(train_y), val_images, train_images, seed, name)
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


def split_indices(total: int, val_images: int, train_images: int | None, seed: int,
                  name: str = "the data") -> tuple[torch.Tensor, torch.Tensor]:
    """(validation, training) indices into a training split of `total` images (module docstring).

    Up to CORE_VAL_IMAGES validation images are the permutation's head; more come from
    its tail, read backwards, so a validation split is a prefix of any larger one."""
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    head = min(val_images, CORE_VAL_IMAGES)
    tail = order.flip(0)[:val_images - head]
    rest = order[head:total - len(tail)]
    if train_images is not None:
        if train_images > len(rest):
            raise DataError(f"{{train_images}} {train_images}: {name} has only {len(rest)} "
                            f"training images after holding out {val_images} for validation")
        rest = rest[:train_images]
    return torch.cat([order[:head], tail]), rest


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
        raise DataError(f"{{data}} {name} needs {{data_dir}} DIR")
    path = Path(data_dir)
    if not path.is_dir():
        raise DataError(f"{{data_dir}} {data_dir}: no such directory")
    return path


def _read_fashion_mnist(folder: Path):
    missing = [f for f in _FASHION_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataError(f"fashion-mnist not found in {folder} (missing {missing[0]}): run "
                        "`apt-get install dataset-fashion-mnist`, or pass {data_dir} DIR holding the four IDX .gz files")
    arrays = {key: _read_idx(folder / file) for key, file in _FASHION_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"fashion-mnist in {folder}: the {split} split has {len(images)} images but "
                            f"{len(labels)} labels; a file is truncated or from another set")
        if len(labels) and int(labels.max()) >= 10:
            raise DataError(f"fashion-mnist in {folder}: {split} labels go up to {int(labels.max())}, not 0..9")
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
        body = raw[4 + 4 * ndim:]
        expected = 1
        for side in shape:
            expected *= side
        if len(body) != expected:
            raise ValueError(f"its header says {expected:,} bytes of data, it holds {len(body):,}")
        data = torch.frombuffer(bytearray(body), dtype=torch.uint8)
        return data.reshape(shape)
    except (OSError, EOFError, ValueError, RuntimeError, struct.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read as a gzipped IDX file ({error or type(error).__name__}); "
                        "is it truncated?") from None


def _read_cifar10(folder: Path):
    if (folder / "cifar-10-batches-py").is_dir():  # accept the archive's top folder too
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"cifar10: {folder} lacks {missing[0]}; {{data_dir}} must hold the CIFAR-10 "
                        "python batches (data_batch_1..5, test_batch)")
    batches = []
    for n in names:
        try:
            with open(folder / n, "rb") as handle:
                batch = _CifarUnpickler(handle, encoding="bytes").load()
            x = torch.tensor(bytearray(batch[b"data"]), dtype=torch.uint8).reshape(-1, 3, 32, 32)
            batches.append((x, torch.tensor(batch[b"labels"], dtype=torch.long)))
        except Exception as error:  # a corrupt or foreign file is the user's input
            raise DataError(f"cifar10: cannot read {folder / n}: {type(error).__name__}: {error}") from None
    train_x = torch.cat([b[0] for b in batches[:5]])
    train_y = torch.cat([b[1] for b in batches[:5]])
    return train_x, train_y, batches[5][0], batches[5][1], 10, True, f"cifar10 batches in {folder}"


class _CifarUnpickler(pickle.Unpickler):
    """Builds the batches' numpy arrays and plain containers, nothing else: any other
    global a pickle names (os.system, a class with side effects) is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch does not hold "
                                         "(refused, nothing in it was run)")
        return super().find_class(module, name)


def _read_imagefolder(folder: Path, size: int):
    splits = {}
    for split in ("train", "val"):
        if not (folder / split).is_dir():
            raise DataError(f"imagefolder: {folder} needs {split}/CLASS/*.jpg|png subfolders")
    classes = sorted(p.name for p in (folder / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"imagefolder: {folder / 'train'} has no class subfolders")
    unknown = sorted(p.name for p in (folder / "val").iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise DataError(f"imagefolder: {folder / 'val'} has classes that {folder / 'train'} lacks "
                        f"({', '.join(unknown[:3])}); their images would be dropped from the test split")
    files = {split: [(f, c) for c, name in enumerate(classes)
                     for f in sorted((folder / split / name).glob("*")) if f.suffix in _IMAGE_SUFFIXES]
             for split in ("train", "val")}
    if not files["train"] or not files["val"]:
        raise DataError(f"imagefolder: no .jpg/.png images under {folder}/train or {folder}/val")
    broken = [f for split in files.values() for f, _ in split if not f.is_file()]
    if broken:  # a dangling link: its stat() below was a traceback
        raise DataError(f"imagefolder: {broken[0]} is not a readable file (a broken link?)"
                        + (f", and {len(broken) - 1} more" if len(broken) > 1 else ""))
    empty = [name for c, name in enumerate(classes) if not any(label == c for _, label in files["train"])]
    if empty:  # a class no training image shows: the network could never predict it
        raise DataError(f"imagefolder: {folder / 'train'} has class folders with no .jpg/.png images "
                        f"({', '.join(empty[:3])}{', ...' if len(empty) > 3 else ''}); fill or remove them")
    cache = _imagefolder_cache_path(folder, size, files)
    stored = _read_cache(cache)
    if stored is not None:
        splits = {k: (stored[f"{k}_x"], stored[f"{k}_y"]) for k in ("train", "val")}
    else:
        splits = {split: _decode_images(items, size) for split, items in files.items()}
        _save_quietly(cache, {f"{k}_{part}": t for k, (x, y) in splits.items()
                              for part, t in (("x", x), ("y", y))})
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["val"]
    return train_x, train_y, test_x, test_y, len(classes), True, f"imagefolder {folder} at {size}px"


def _read_cache(path: Path) -> dict | None:
    """The decoded splits, or None when there is no cache or it is unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, weights_only=True)
        if all(isinstance(stored.get(f"{k}_{p}"), torch.Tensor) for k in ("train", "val") for p in ("x", "y")):
            return stored
    except Exception:  # a torn or foreign file: decode again and overwrite it
        pass
    return None


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
        with temporary_sibling(path) as tmp:  # a second process never reads half a file
            torch.save(tensors, tmp)
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
