"""Digits loader, image folders, random labels and tensor augmentations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from entropykit_repr_entropy.data import (
    Augmentation,
    ImageSplit,
    gaussian_noise,
    image_folder,
    load_digits_split,
    permuted_labels,
    random_erasing,
    random_shift,
    two_views,
)

from entropykit_shared.testing import assert_bad_input


@pytest.fixture(scope="module")
def native() -> ImageSplit:
    return load_digits_split(image_size=None)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_digits_shapes_range_and_sizes(native: ImageSplit) -> None:
    from sklearn.datasets import load_digits

    n_val = math.ceil(0.33 * 1797)
    assert native.x_train.shape == (1797 - n_val, 1, 8, 8)
    assert native.x_val.shape == (n_val, 1, 8, 8)
    assert native.x_train.dtype == torch.float32
    assert native.y_train.dtype == torch.int64
    assert native.classes == tuple(str(k) for k in range(10))
    assert (native.num_classes, native.in_channels, native.image_size) == (10, 1, 8)
    everything = torch.cat([native.x_train, native.x_val])
    assert float(everything.min()) == 0.0
    assert float(everything.max()) == 1.0
    # Native images are the 0..16 grey levels divided by 16, and train + val is the whole set.
    np.testing.assert_array_equal(torch.unique(everything * 16).numpy(), np.arange(17.0))
    digits = load_digits()
    assert float(everything.double().sum()) == pytest.approx(digits.images.sum() / 16, rel=1e-9)
    labels = torch.cat([native.y_train, native.y_val]).numpy()
    np.testing.assert_array_equal(np.bincount(labels), np.bincount(digits.target))


def test_digits_split_is_stratified(native: ImageSplit) -> None:
    total = np.bincount(torch.cat([native.y_train, native.y_val]).numpy())
    val = np.bincount(native.y_val.numpy(), minlength=10)
    assert np.all(np.abs(val - 0.33 * total) <= 1.0)


def test_digits_resize_keeps_range_and_brightness(native: ImageSplit) -> None:
    big = load_digits_split(image_size=16)
    assert big.x_train.shape[1:] == (1, 16, 16)
    assert float(big.x_train.min()) >= 0.0
    assert float(big.x_train.max()) <= 1.0
    assert big.y_train.equal(native.y_train)  # same seed, same split
    assert float(big.x_train.mean()) == pytest.approx(float(native.x_train.mean()), abs=0.01)


def test_digits_split_is_seeded(native: ImageSplit) -> None:
    again = load_digits_split(image_size=None)
    assert again.x_train.equal(native.x_train)
    assert again.y_val.equal(native.y_val)
    other = load_digits_split(image_size=None, seed=1)
    assert not other.y_train.equal(native.y_train)


def test_take_returns_the_first_images(native: ImageSplit) -> None:
    small = native.take(30, 20)
    assert small.x_train.equal(native.x_train[:30])
    assert small.y_val.equal(native.y_val[:20])
    assert len(native.take(30).y_val) == len(native.y_val)


def test_permuted_labels_is_a_seeded_permutation(native: ImageSplit) -> None:
    labels = native.y_train
    state = torch.random.get_rng_state()
    shuffled = permuted_labels(labels, seed=3)
    assert torch.random.get_rng_state().equal(state)
    assert shuffled.sort().values.equal(labels.sort().values)
    assert float((shuffled != labels).float().mean()) > 0.8  # ~0.9 expected for 10 classes
    assert permuted_labels(labels, seed=3).equal(shuffled)
    assert not permuted_labels(labels, seed=4).equal(shuffled)


def test_random_shift_moves_a_pixel_within_range() -> None:
    x = torch.zeros(400, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = random_shift(x, 2, _gen(0))
    assert out.shape == x.shape
    assert out.sum(dim=(1, 2, 3)).eq(1.0).all()  # the pixel never leaves the image
    where = out[:, 0].flatten(1).argmax(1)
    rows, cols = where // 9, where % 9
    offsets = set(zip((rows - 4).tolist(), (cols - 4).tolist(), strict=True))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert random_shift(x, 0, _gen(0)) is x


def test_gaussian_noise_std_and_clipping() -> None:
    x = torch.full((200, 1, 16, 16), 0.5)
    out = gaussian_noise(x, 0.05, _gen(0))
    assert float((out - x).std()) == pytest.approx(0.05, rel=0.05)
    clipped = gaussian_noise(torch.ones(10, 1, 8, 8), 0.5, _gen(0))
    assert float(clipped.max()) == 1.0
    assert float(clipped.min()) >= 0.0


def test_random_erasing_removes_one_rectangle() -> None:
    x = torch.ones(300, 2, 20, 20)
    out = random_erasing(x, 1.0, _gen(0), area=(0.05, 0.2))
    erased = out[:, 0] == 0
    assert erased.equal(out[:, 1] == 0)  # the same rectangle in every channel
    rows, cols = erased.any(2), erased.any(1)
    assert erased.equal(rows[:, :, None] & cols[:, None, :])  # a rectangle
    share = erased.float().mean(dim=(1, 2))
    assert float(share.min()) > 0.02  # area 0.05 of the image, up to rounding of its sides
    assert float(share.max()) < 0.3  # area 0.2, up to rounding
    assert random_erasing(x, 0.0, _gen(0)) is x
    half = random_erasing(x, 0.5, _gen(0))
    assert 0.35 < float((half == 0).flatten(1).any(1).float().mean()) < 0.65


def test_augmentations_are_seeded_and_leave_global_rng() -> None:
    x = load_digits_split(image_size=16).x_train[:64]
    state = torch.random.get_rng_state()
    aug = Augmentation()
    a = aug(x, _gen(5))
    assert torch.random.get_rng_state().equal(state)
    assert a.shape == x.shape
    assert a.dtype == x.dtype
    assert float(a.min()) >= 0.0
    assert float(a.max()) <= 1.0
    assert a.equal(aug(x, _gen(5)))
    assert not a.equal(aug(x, _gen(6)))
    v1, v2 = two_views(x, _gen(5))
    assert v1.shape == v2.shape == x.shape
    assert v1.equal(a)  # the first view is the first draw from the generator
    assert not v1.equal(v2)


def test_augmentation_bad_parameters() -> None:
    x = torch.zeros(2, 1, 8, 8)
    assert_bad_input(random_shift, x, -1, _gen(0), match="max_shift")
    assert_bad_input(gaussian_noise, x, -0.1, _gen(0), match="std")
    assert_bad_input(random_erasing, x, 1.5, _gen(0), match=r"\[0, 1\]")
    assert_bad_input(random_erasing, x, 0.5, _gen(0), area=(0.5, 0.1), match="area")


def _write_images(root: Path, counts: dict[str, int], size: int = 10) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_image_folder_split_and_channels(tmp_path: Path) -> None:
    _write_images(tmp_path, {"cat": 6, "dog": 9})
    split = image_folder(tmp_path, image_size=12, val_fraction=1 / 3)
    assert split.classes == ("cat", "dog")
    assert split.x_train.shape == (10, 3, 12, 12)
    assert split.x_val.shape == (5, 3, 12, 12)
    assert np.bincount(split.y_val.numpy()).tolist() == [2, 3]
    assert 0.0 <= float(split.x_train.min()) <= float(split.x_train.max()) <= 1.0
    gray = image_folder(tmp_path, image_size=8, grayscale=True)
    assert gray.x_val.shape[1:] == (1, 8, 8)


def test_image_folder_train_val_layout(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"a": 3, "b": 2})
    _write_images(tmp_path / "val", {"a": 1, "b": 2})
    split = image_folder(tmp_path, image_size=8)
    assert split.y_train.tolist() == [0, 0, 0, 1, 1]
    assert split.y_val.tolist() == [0, 1, 1]


def test_image_folder_bad_inputs(tmp_path: Path) -> None:
    assert_bad_input(image_folder, tmp_path / "missing", match="does not exist.*load_digits_split")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_bad_input(image_folder, empty, match="no images found.*sub-folder per class")
    _write_images(tmp_path / "mixed" / "train", {"a": 2})
    _write_images(tmp_path / "mixed" / "val", {"b": 2})
    assert_bad_input(image_folder, tmp_path / "mixed", match="different class folders")
    _write_images(tmp_path / "tiny", {"a": 1, "b": 3})
    assert_bad_input(image_folder, tmp_path / "tiny", match="at least 2 images")
    assert_bad_input(load_digits_split, val_fraction=1.0, match="val_fraction")


def test_image_split_validates_its_tensors() -> None:
    x = torch.zeros(4, 1, 8, 8)
    y = torch.zeros(4, dtype=torch.int64)
    assert_bad_input(ImageSplit, x, y[:3], x, y, ("a",), match="4 images but 3 labels")
    assert_bad_input(ImageSplit, x, y.float(), x, y, ("a",), match="int64")
    assert_bad_input(ImageSplit, x, y + 1, x, y, ("a",), match=r"\[0, 1\)")
    assert_bad_input(ImageSplit, x, y, torch.zeros(4, 1, 9, 9), y, ("a",), match="differ")
