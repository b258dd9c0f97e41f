"""Data sources, splits, the per-resolution cache and batched augmentation."""

import gzip
import pickle
import re
import struct

import pytest
import torch

from scalesearch.training.batches import augment, draw_augmentation, normalize, resize_images, resized
from scalesearch.training.data import FASHION_MNIST_DIR, DataError, load_data

HAVE_FASHION = (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason="dataset-fashion-mnist is not installed")


@needs_fashion
def test_fashion_mnist_splits_are_disjoint_seeded_and_cached():
    data = load_data("fashion-mnist", train_images=300, val_images=200, test_images=100)
    assert data.train_x.shape == (300, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert len(data.val_y) == 200 and len(data.test_y) == 100 and data.num_classes == 10
    assert load_data("fashion-mnist", train_images=300, val_images=200, test_images=100) is data
    # The validation split does not move when the training subset grows.
    bigger = load_data("fashion-mnist", train_images=600, val_images=200, test_images=100)
    assert torch.equal(bigger.val_x, data.val_x) and torch.equal(bigger.train_x[:300], data.train_x)
    other = load_data("fashion-mnist", train_images=300, val_images=200, test_images=100, seed=1)
    assert not torch.equal(other.val_x, data.val_x)


def _write_idx(path, array: torch.Tensor) -> None:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.numpy().tobytes()))


def test_fashion_mnist_from_a_data_dir(tmp_path):
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    labels = torch.arange(50, dtype=torch.uint8) % 10
    for prefix in ("train", "t10k"):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    data = load_data("fashion-mnist", tmp_path, val_images=10)
    assert len(data.train_y) == 40 and data.in_channels == 1 and data.hflip


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist", tmp_path)


def test_cifar10_batches(tmp_path):
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": torch.randint(0, 256, (4, 3072), dtype=torch.uint8).numpy(), b"labels": [0, 1, 2, 3]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    data = load_data("cifar10", tmp_path, val_images=4)
    assert data.train_x.shape == (16, 3, 32, 32) and len(data.test_y) == 4 and data.in_channels == 3


def test_imagefolder_decodes_once_and_caches(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for label, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40 + i, 30), colour).save(folder / f"{i}.png")
    data = load_data("imagefolder", tmp_path, val_images=2, image_size=16)
    assert data.train_x.shape == (4, 3, 16, 16) and data.num_classes == 2 and len(data.test_y) == 6
    caches = list((tmp_path / ".scalesearch-cache").glob("*.pt"))
    assert len(caches) == 1
    # A second process would read the cache: prove it by making decoding impossible.
    from scalesearch.training import data as data_module
    data_module._read_source.cache_clear()
    original = data_module._decode_images
    data_module._decode_images = lambda *a: (_ for _ in ()).throw(AssertionError("decoded again"))
    try:
        again = load_data("imagefolder", tmp_path, val_images=3, image_size=16)
    finally:
        data_module._decode_images = original
    assert again.train_x.shape[1:] == (3, 16, 16)


@pytest.mark.parametrize("fault, fragment", [
    ("empty class", "class folders with no .jpg/.png images (bird)"),  # trained anyway, a class never shown
    ("broken link", "is not a readable file (a broken link?)"),  # was a FileNotFoundError traceback
])
def test_an_imagefolder_with_an_empty_class_or_a_broken_link_is_one_line(tmp_path, fault, fragment):
    from PIL import Image

    for split in ("train", "val"):
        for label in ("cat", "dog"):
            (tmp_path / split / label).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / label / "0.png")
    if fault == "empty class":
        (tmp_path / "train" / "bird").mkdir()
    else:
        (tmp_path / "train" / "cat" / "1.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(DataError, match=re.escape(fragment)):
        load_data("imagefolder", tmp_path, val_images=1, image_size=8)


@pytest.mark.parametrize("name, data_dir, fragment", [
    ("mnist", None, "unknown data source 'mnist'"),
    ("cifar10", None, "needs data_dir"),
    ("cifar10", "/no/such/dir", "no such directory"),
    ("imagefolder", "/", "train/CLASS"),
])
def test_bad_sources_are_user_errors(name, data_dir, fragment):
    with pytest.raises(DataError, match=fragment):
        load_data(name, data_dir)


def test_too_many_train_images_is_a_user_error():
    with pytest.raises(DataError, match="train_images"):
        load_data("synthetic", train_images=10**6)


def test_synthetic_is_labelled_as_not_real():
    assert "not real" in load_data("synthetic").source


def test_resized_is_cached_per_resolution_and_keeps_uint8():
    data = load_data("synthetic", val_images=100)
    small = resized(data, 20)
    assert resized(data, 20) is small and small.train_x.shape[-2:] == (20, 20)
    assert small.train_x.dtype == torch.uint8 and resized(data, 28).train_x.shape[-1] == 28
    flat = torch.full((2, 1, 8, 8), 77, dtype=torch.uint8)
    assert torch.equal(resize_images(flat, 13), torch.full((2, 1, 13, 13), 77, dtype=torch.uint8))


def draws(seed, hflip=True, n=2):
    return draw_augmentation(n, torch.Generator().manual_seed(seed), hflip)


def test_augment_crops_flips_and_is_seeded():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).reshape(2, 1, 6, 6)
    a = augment(x, draws(3), pad=2)
    b = augment(x, draws(3), pad=2)
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(augment(x, draws(0, hflip=False), pad=0), x)
    # Every output pixel is an input pixel or padding: crops move, they don't invent.
    assert set(a.unique().tolist()) <= set(x.unique().tolist()) | {0}
    flipped = [augment(x, draws(s), pad=0) for s in range(8)]
    assert any(torch.equal(f, x.flip(3)) or torch.equal(f[0], x[0].flip(2)) for f in flipped)


def test_normalize_is_channels_last_float():
    x = torch.full((2, 3, 4, 4), 128, dtype=torch.uint8)
    out = normalize(x, torch.full((1, 3, 1, 1), 128.0), torch.full((1, 3, 1, 1), 64.0))
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.count_nonzero(out) == 0


def test_the_validation_split_is_nested_and_leaves_the_training_subset_alone():
    from scalesearch.training.data import split_indices

    val_2k, train = split_indices(60000, 2000, 4096, seed=3)
    for size in (10000, 20000):
        val, same_train = split_indices(60000, size, 4096, seed=3)
        assert torch.equal(same_train, train) and torch.equal(val[:2000], val_2k) and len(val) == size
        assert len(set(val.tolist()) | set(train.tolist())) == size + 4096  # disjoint
    assert torch.equal(split_indices(60000, 20000, 4096, seed=3)[0][:10000], split_indices(60000, 10000, 4096, seed=3)[0])
    # Up to 2,000 it is the split it always was: the permutation's head, then the training subset.
    val, rest = split_indices(1000, 100, None, seed=0)
    order = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(val, order[:100]) and torch.equal(rest, order[100:])
    assert not torch.equal(split_indices(60000, 2000, 4096, seed=4)[0], val_2k)


def test_a_validation_split_that_eats_the_training_images_is_one_line():
    with pytest.raises(DataError, match="train_images.*after holding out 2500") as error:
        load_data("synthetic", train_images=600, val_images=2500)
    assert "\n" not in str(error.value)
