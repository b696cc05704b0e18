"""Tests of entropykit_compression.data: files, bundled photos, generators, crops, padding."""

from __future__ import annotations

import importlib.resources
import inspect
import random
import socket
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from entropykit_compression import data
from entropykit_compression.data import (
    BUNDLED_PHOTOS,
    HELD_OUT,
    TRAIN_PHOTOS,
    TRAIN_SEED_START,
    CropDataset,
    bundled_images,
    crop_to,
    dead_leaves,
    eval_dead_leaves,
    image_folder,
    load_image,
    pad_to_multiple,
    procedural_image,
    save_png,
)
from PIL import Image
from scipy import stats

from entropykit_shared.testing import assert_bad_input, global_rng_fingerprint
from entropykit_shared.testing import one_thread as one_thread  # autouse: one thread per pool

KINDS = ("dead_leaves", "gradient", "strokes", "mix")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every socket creation fail, so any download attempt raises."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _rgb_array(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _png48(values: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), written chunk by chunk."""
    height, width, _ = values.shape
    rows = b"".join(b"\x00" + values[i].astype(">u2").tobytes() for i in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _rng_states() -> tuple[object, ...]:
    return global_rng_fingerprint(), torch.get_rng_state().numpy().tobytes(), random.getstate()


# ------------------------------------------------------------------------------------------
# Bundled photos
# ------------------------------------------------------------------------------------------


def test_bundled_images_offline_shapes_and_pixels(no_network: None) -> None:
    images = bundled_images()
    assert tuple(images) == BUNDLED_PHOTOS
    expected = {
        "astronaut": (512, 512),
        "chelsea": (300, 451),
        "coffee": (400, 600),
        "motorcycle_left": (500, 741),
        "ihc": (512, 512),
        "color": (370, 371),
        "motorcycle_right": (500, 741),
    }
    folder = importlib.resources.files("skimage.data")
    for name, image in images.items():
        assert image.shape == (3, *expected[name])
        assert image.dtype == torch.float32
        with Image.open(str(folder.joinpath(f"{name}.png"))) as raw:
            assert raw.mode == "RGB"
            pixels = torch.from_numpy(np.array(raw)).permute(2, 0, 1).float() / 255
        assert torch.equal(image, pixels)


def test_bundled_images_subset_order_and_bad_names() -> None:
    images = bundled_images(["color", "chelsea"])
    assert list(images) == ["color", "chelsea"]
    assert_bad_input(bundled_images, ["camera"], match="unknown bundled image.*astronaut")
    assert_bad_input(bundled_images, ["rocket"], match="unknown bundled image")
    assert_bad_input(bundled_images, "astronaut", match=r"not a string; use \['astronaut'\]")


def test_bundled_missing_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(FileNotFoundError, match=r"astronaut\.png is missing.*reinstall"):
        bundled_images(["astronaut"])


def test_held_out_and_training_photos() -> None:
    assert HELD_OUT == ("astronaut", "chelsea", "coffee", "motorcycle_left", "ihc", "color")
    assert not set(HELD_OUT) & set(TRAIN_PHOTOS)
    assert TRAIN_PHOTOS
    folder = importlib.resources.files("skimage.data")
    for name in BUNDLED_PHOTOS:  # every listed photo is an RGB PNG in the installed wheel
        with Image.open(str(folder.joinpath(f"{name}.png"))) as img:
            assert (img.format, img.mode) == ("PNG", "RGB")


# ------------------------------------------------------------------------------------------
# Procedural images
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_procedural_deterministic_shapes_ranges_no_global_rng(kind: str, no_network: None) -> None:
    before = _rng_states()
    first = procedural_image(48, 80, 7, kind)
    again = procedural_image(48, 80, 7, kind)
    other = procedural_image(48, 80, 8, kind)
    assert _rng_states() == before
    assert first.shape == (3, 48, 80)
    assert first.dtype == torch.float32
    assert first.is_contiguous()
    assert float(first.min()) >= 0.0
    assert float(first.max()) <= 1.0
    assert float(first.std()) > 0.02  # not flat
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_procedural_accepts_a_generator_and_mix_uses_every_kind() -> None:
    a = procedural_image(32, 32, np.random.default_rng(3), "gradient")
    b = procedural_image(32, 32, np.random.default_rng(3), "gradient")
    assert torch.equal(a, b)
    mixes = [procedural_image(32, 32, s, "mix") for s in range(12)]
    picked = {
        kind
        for s, mix in enumerate(mixes)
        for kind in KINDS[:3]
        if torch.equal(mix, procedural_image(32, 32, _mix_generator(s), kind))
    }
    assert picked == {"dead_leaves", "gradient", "strokes"}


def _mix_generator(seed: int) -> np.random.Generator:
    """The Generator state "mix" hands to the chosen kind (after its one choice draw)."""
    rng = np.random.default_rng(seed)
    rng.choice(3, p=(0.5, 0.25, 0.25))
    return rng


def test_dead_leaves_deterministic_and_no_global_rng(no_network: None) -> None:
    before = _rng_states()
    a = dead_leaves(64, 96, 11)
    assert torch.equal(a, dead_leaves(64, 96, 11))
    assert not torch.equal(a, dead_leaves(64, 96, 12))
    assert _rng_states() == before
    assert a.shape == (3, 64, 96)
    assert a.dtype == torch.float32


def _spectrum_slope(image: torch.Tensor) -> float:
    """Log-log slope of the luminance power spectrum over 4/N ≤ f ≤ 0.1 cycles/pixel."""
    gray = image.numpy().mean(axis=0)
    power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
    f = np.hypot(np.fft.fftfreq(gray.shape[0])[:, None], np.fft.fftfreq(gray.shape[1])[None, :])
    band = (f >= 4 / min(gray.shape)) & (f <= 0.1)
    return float(np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0])


def test_dead_leaves_has_natural_image_statistics() -> None:
    # Natural images have a power spectrum ~ 1/f^2 (slope -2); white noise is flat (slope 0).
    slopes = [_spectrum_slope(dead_leaves(256, 256, s)) for s in range(3)]
    assert all(-3.0 < s < -1.5 for s in slopes), slopes
    noise = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert _spectrum_slope(noise) > -0.5
    # Many occluding regions of distinct flat colour (no blur/noise: each leaf is one colour).
    sharp = dead_leaves(256, 256, 0, blur_sigma=0.0, noise_std=0.0)
    colours = np.unique(sharp.reshape(3, -1).numpy(), axis=1).shape[1]
    assert colours > 300
    # Flat regions: most neighbouring pixels are equal (occlusion), unlike per-pixel noise.
    assert float((sharp[:, :, 1:] == sharp[:, :, :-1]).all(0).float().mean()) > 0.7


def test_power_law_radii_follow_the_r_minus_alpha_density() -> None:
    r_min, r_max, alpha = 2.0, 100.0, 3.0
    radii = data._power_law_radii(np.random.default_rng(0), 20000, r_min, r_max, alpha)
    assert radii.min() >= r_min
    assert radii.max() <= r_max

    def cdf(r: np.ndarray) -> np.ndarray:
        return (r_min ** (1 - alpha) - r ** (1 - alpha)) / (
            r_min ** (1 - alpha) - r_max ** (1 - alpha)
        )

    assert stats.kstest(radii, cdf).pvalue > 0.01
    assert data._mean_square_radius(r_min, r_max, alpha) == pytest.approx(
        np.mean(radii**2), rel=0.05
    )


def test_dead_leaves_options() -> None:
    discs = dead_leaves(64, 64, 0, shapes=("disc",), blur_sigma=0.0, noise_std=0.0)
    rects = dead_leaves(64, 64, 0, shapes=("rectangle",), blur_sigma=0.0, noise_std=0.0)
    assert not torch.equal(discs, rects)
    # Without blur and noise every pixel is one of the leaves' colours: few distinct values.
    assert np.unique(discs.reshape(3, -1).numpy(), axis=1).shape[1] < 64 * 64 / 4
    big = dead_leaves(64, 64, 0, r_min=20.0, r_max=30.0, blur_sigma=0.0, noise_std=0.0)
    assert np.unique(big.reshape(3, -1).numpy(), axis=1).shape[1] < 40


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"height": 4}, "height must be an int >= 8"),
        ({"width": 64.0}, "width must be an int"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"seed": 1.5}, "seed must be"),
        ({"r_min": 50.0, "r_max": 10.0}, "r_min <= r_max"),
        ({"r_min": 0.1}, "0.5 <= r_min"),
        ({"alpha": -1.0}, "alpha must be positive"),
        ({"shapes": ("triangle",)}, "shapes must be a non-empty subset"),
        ({"shapes": ()}, "shapes must be a non-empty subset"),
        ({"blur_sigma": -1.0}, "blur_sigma and noise_std must be >= 0"),
        ({"max_rounds": 0}, "max_rounds must be an int >= 1"),
    ],
)
def test_dead_leaves_bad_input(kwargs: dict[str, object], match: str) -> None:
    args = {"height": 32, "width": 32, "seed": 0} | kwargs
    assert_bad_input(dead_leaves, match=match, **args)


def test_procedural_bad_kind() -> None:
    assert_bad_input(procedural_image, 32, 32, 0, "clouds", match="kind must be one of")
    assert_bad_input(procedural_image, 32, 2, 0, "gradient", match="width must be an int >= 8")


def test_eval_dead_leaves_fixed_set_and_seed_ranges() -> None:
    params = inspect.signature(eval_dead_leaves).parameters
    assert (params["n"].default, params["height"].default, params["width"].default) == (
        24,
        512,
        768,
    )
    assert params["seed"].default == 0
    assert TRAIN_SEED_START >= 24
    small = eval_dead_leaves(n=3, height=40, width=56)
    assert list(small) == ["dead_leaves_000", "dead_leaves_001", "dead_leaves_002"]
    for seed, image in enumerate(small.values()):
        assert torch.equal(image, dead_leaves(40, 56, seed))
    again = eval_dead_leaves(n=3, height=40, width=56)
    assert all(torch.equal(small[k], again[k]) for k in small)
    assert_bad_input(eval_dead_leaves, n=3, seed=TRAIN_SEED_START - 2, match="training range")
    assert_bad_input(eval_dead_leaves, n=0, match="n must be an int >= 1")


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------


def test_save_and_load_rgb_round_trip_without_warning(tmp_path: Path) -> None:
    pixels = _rgb_array(13, 21)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    path = save_png(image, tmp_path / "sub" / "x.png")
    with Image.open(path) as saved:
        assert (saved.format, saved.mode, saved.size) == ("PNG", "RGB", (21, 13))
        assert np.array_equal(np.asarray(saved), pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_image(path)
    assert torch.equal(loaded, image)


def test_save_png_clamps_and_rounds(tmp_path: Path) -> None:
    image = torch.tensor([-0.3, 1.4, 0.5, 100.4 / 255, 100.6 / 255, 0.0]).reshape(3, 1, 2)
    with Image.open(save_png(image, tmp_path / "c.png")) as saved:
        values = np.asarray(saved).transpose(2, 0, 1).reshape(-1).tolist()
    assert values == [0, 255, 128, 100, 101, 0]


def test_save_png_bad_input_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    assert_bad_input(save_png, torch.zeros(1, 3, 4, 4), target, match=r"shape \(3, H, W\)",
                     untouched=tmp_path)  # fmt: skip
    nan = torch.full((3, 4, 4), float("nan"))
    assert_bad_input(save_png, nan, target, match="NaN", untouched=tmp_path)
    ints = torch.zeros(3, 4, 4, dtype=torch.uint8)
    assert_bad_input(save_png, ints, target, match="float tensor", untouched=tmp_path)
    assert_bad_input(save_png, np.zeros((3, 4, 4)), target, match="torch.Tensor")


def _load_with_warning(path: Path, match: str) -> torch.Tensor:
    with pytest.warns(UserWarning, match=match) as record:
        image = load_image(path)
    assert any(str(path) in str(w.message) for w in record)  # the warning names the file
    assert image.shape[0] == 3
    assert image.dtype == torch.float32
    return image


def test_load_grayscale(tmp_path: Path) -> None:
    gray = _rgb_array(9, 11)[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    image = _load_with_warning(tmp_path / "g.png", r"8-bit grayscale replicated to 3 channels")
    assert image.shape == (3, 9, 11)
    assert torch.equal(image[0], image[1])
    assert torch.equal(image[1], image[2])
    assert torch.equal(image[0], torch.from_numpy(gray).float() / 255)


def test_load_rgba_drops_alpha_without_compositing(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb_array(6, 7), np.zeros((6, 7, 1), np.uint8)], axis=2)
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    image = _load_with_warning(tmp_path / "a.png", r"alpha channel dropped.*not composited")
    # Fully transparent pixels keep their stored colour (no white or black background).
    assert torch.equal(image, torch.from_numpy(rgba[:, :, :3]).permute(2, 0, 1).float() / 255)
    la = Image.fromarray(rgba[:, :, 0]).convert("LA")
    la.save(tmp_path / "la.png")
    _load_with_warning(tmp_path / "la.png", r"grayscale.*alpha channel dropped")


def test_load_palette(tmp_path: Path) -> None:
    rgb = Image.fromarray(_rgb_array(8, 8))
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "p.png")
    image = _load_with_warning(tmp_path / "p.png", "palette expanded to RGB")
    assert image.shape == (3, 8, 8)
    with_alpha = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    with_alpha.info["transparency"] = 0
    with_alpha.save(tmp_path / "pt.png", transparency=0)
    _load_with_warning(tmp_path / "pt.png", "palette expanded.*alpha channel dropped")


def test_load_16_bit_grayscale_scales_to_8_bits(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535], [128, 32768, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    image = _load_with_warning(tmp_path / "g16.png", "16-bit grayscale scaled to 8 bits")
    expected = np.rint(values / 257.0) / 255.0
    assert torch.allclose(image[0].double(), torch.from_numpy(expected), atol=1e-7)
    assert torch.equal(image[0], image[2])


def test_load_16_bit_rgb(tmp_path: Path) -> None:
    values = np.random.default_rng(0).integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    (tmp_path / "rgb48.png").write_bytes(_png48(values))
    image = _load_with_warning(tmp_path / "rgb48.png", "16 bits per channel reduced to 8 bits")
    assert image.shape == (3, 5, 6)
    high_byte = torch.from_numpy((values >> 8).astype(np.float32)).permute(2, 0, 1) / 255
    assert torch.equal(image, high_byte)


def test_load_float_and_cmyk(tmp_path: Path) -> None:
    values = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(values).save(tmp_path / "f.tif")
    image = _load_with_warning(tmp_path / "f.tif", r"float grayscale read as range \[0, 1\]")
    assert torch.equal(image[1], torch.from_numpy(np.rint(values * 255) / 255).float())
    Image.fromarray(values * 300).save(tmp_path / "bad.tif")
    assert_bad_input(load_image, tmp_path / "bad.tif", match=r"cannot read image.*\[0, 1\]")
    Image.new("CMYK", (5, 4), (10, 20, 30, 40)).save(tmp_path / "c.jpg")
    _load_with_warning(tmp_path / "c.jpg", "CMYK converted to RGB")


def test_load_image_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    assert_bad_input(load_image, missing, match=r"nope\.png.*does not exist")
    assert_bad_input(load_image, tmp_path, match="is not a file")
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    assert_bad_input(load_image, tmp_path / "broken.png", match=r"cannot read image.*broken\.png")
    truncated = tmp_path / "truncated.png"
    Image.fromarray(_rgb_array(32, 32)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:120])
    assert_bad_input(load_image, truncated, match=r"cannot read image.*truncated\.png")


def test_image_folder_sorted_filtered_and_recursive(tmp_path: Path) -> None:
    for i, name in enumerate(["b.png", "a.JPG", "c.webp", "d.bmp"]):
        Image.fromarray(_rgb_array(8, 10, i)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    Image.fromarray(_rgb_array(8, 10, 9)).save(tmp_path / "sub" / "e.tiff")
    flat = image_folder(tmp_path)
    assert [name for name, _ in flat] == ["a.JPG", "b.png", "c.webp", "d.bmp"]
    assert all(img.shape == (3, 8, 10) for _, img in flat)
    png = dict(flat)["b.png"]
    assert torch.equal(png, torch.from_numpy(_rgb_array(8, 10, 0)).permute(2, 0, 1) / 255)
    deep = image_folder(tmp_path, recursive=True)
    assert [name for name, _ in deep][-1] == "sub/e.tiff"


def test_image_folder_errors(tmp_path: Path) -> None:
    assert_bad_input(image_folder, tmp_path, match=r"holds no image file.*\.png.*\.webp")
    (tmp_path / "readme.txt").write_text("x")
    assert_bad_input(image_folder, tmp_path, match="holds no image file")
    assert_bad_input(image_folder, tmp_path / "missing", match=r"does not exist.*\.png")
    assert_bad_input(image_folder, tmp_path / "readme.txt", match="is not a folder")


# ------------------------------------------------------------------------------------------
# Training crops
# ------------------------------------------------------------------------------------------


def _coded_source(height: int, width: int) -> torch.Tensor:
    """An image whose pixels encode their position (R = row/255, G = col/255, B = 0.5)."""
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width) / 255
    cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width) / 255
    return torch.stack([rows, cols, torch.full((height, width), 0.5)])


def test_crop_dataset_defaults_never_use_held_out_photos() -> None:
    dataset = CropDataset(crop_size=64, length=4)
    assert dataset.source_names == TRAIN_PHOTOS
    assert not set(dataset.source_names) & set(HELD_OUT)
    assert len(dataset) == 4
    assert dataset[0].shape == (3, 64, 64)
    held = bundled_images(["chelsea"])
    assert_bad_input(CropDataset, held, match="held-out evaluation photos")
    assert_bad_input(CropDataset, [("ihc", held["chelsea"])], match=r"\['ihc'\].*held-out")


def test_crop_dataset_is_deterministic_per_seed_and_index() -> None:
    sources = {"coded": _coded_source(100, 120)}
    before = _rng_states()
    a = CropDataset(sources, crop_size=32, length=10, seed=5)
    b = CropDataset(sources, crop_size=32, length=10, seed=5)
    c = CropDataset(sources, crop_size=32, length=10, seed=6)
    items = [a[i] for i in range(10)]
    assert all(torch.equal(items[i], b[i]) for i in range(10))
    assert all(torch.equal(items[i], a[i]) for i in range(10))  # same item every epoch
    assert not all(torch.equal(items[i], c[i]) for i in range(10))
    assert len({items[i].sum().item() for i in range(10)}) == 10
    assert _rng_states() == before
    assert all(x.shape == (3, 32, 32) and x.dtype == torch.float32 for x in items)
    batch = next(iter(torch.utils.data.DataLoader(a, batch_size=4)))
    assert batch.shape == (4, 3, 32, 32)


def test_crop_dataset_crops_are_windows_of_the_sources_with_dihedral_augmentation() -> None:
    source = _coded_source(90, 110)
    dataset = CropDataset({"coded": source}, crop_size=32, length=40, procedural_fraction=0.0)
    transforms_seen = set()
    for i in range(len(dataset)):
        crop = dataset[i]
        assert torch.all(crop[2] == 0.5)  # from the source, not procedural
        # Undo the augmentation: try all 8 symmetries, one must be an exact window.
        matches = []
        for flip in (False, True):
            for k in range(4):
                x = torch.rot90(crop, -k, dims=(1, 2))
                x = x.flip(-1) if flip else x
                top, left = round(float(x[0, 0, 0]) * 255), round(float(x[1, 0, 0]) * 255)
                if torch.equal(x, source[:, top : top + 32, left : left + 32]):
                    matches.append((flip, k))
        assert matches, f"item {i} is not a (flipped/rotated) window of the source"
        transforms_seen.add(matches[0])
    assert len(transforms_seen) >= 5  # the augmentation really varies


def test_crop_dataset_mixes_procedural_images() -> None:
    dataset = CropDataset({"coded": _coded_source(64, 64)}, crop_size=32, length=64, seed=1)
    from_source = sum(bool(torch.all(dataset[i][2] == 0.5)) for i in range(len(dataset)))
    assert 16 <= from_source <= 48  # ~50 % (binomial, n = 64)
    only = CropDataset({}, crop_size=32, length=3, procedural_fraction=1.0)
    assert only.source_names == ()
    assert only[2].shape == (3, 32, 32)


def test_crop_dataset_pads_small_sources_and_refuses_tiny_ones() -> None:
    small = _coded_source(20, 40)  # 20 rows < crop 32: reflect-padded at the bottom
    dataset = CropDataset({"small": small}, crop_size=32, length=8, procedural_fraction=0.0,
                          augment=False)  # fmt: skip
    for i in range(len(dataset)):
        crop = dataset[i]
        assert crop.shape == (3, 32, 32)
        assert torch.equal(crop[:, 20:], crop[:, 7:19].flip(1))  # reflected about row 19
    assert_bad_input(CropDataset, {"tiny": _coded_source(16, 40)}, crop_size=32,
                     match=r"'tiny' is 16x40 px, too small.*>= 17")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {"crop_size": 8}, "crop_size must be an int >= 16"),
        ((), {"length": 0}, "length .* must be an int >= 1"),
        ((), {"procedural_fraction": 1.5}, r"procedural_fraction must be in \[0, 1\]"),
        ((), {"procedural_kind": "noise"}, "procedural_kind must be one of"),
        ((), {"seed": -3}, "seed must be a non-negative int"),
        (({},), {}, "no source images"),
        (({"x": torch.zeros(1, 64, 64)},), {}, r"'x' must be a \(3, H, W\) tensor"),
        (([torch.zeros(3, 64, 64)],), {}, r"\[\(name, image\)\].*type Tensor"),
        (({"x": torch.full((3, 64, 64), 2.0)},), {}, r"outside \[0, 1\]"),
        (({"x": torch.zeros(3, 64, 64, dtype=torch.uint8)},), {}, "finite float tensor"),
    ],
)
def test_crop_dataset_bad_input(args: tuple, kwargs: dict[str, object], match: str) -> None:
    assert_bad_input(CropDataset, *args, match=match, **({"crop_size": 32} | kwargs))


def test_crop_dataset_index_errors() -> None:
    dataset = CropDataset({}, crop_size=16, length=2, procedural_fraction=1.0)
    with pytest.raises(IndexError, match="out of range"):
        dataset[2]
    with pytest.raises(IndexError):
        dataset[-1]


# ------------------------------------------------------------------------------------------
# Padding
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "padded"), [(130, 190, (192, 192)), (50, 40, (64, 64))]
)
def test_pad_to_multiple_round_trip(height: int, width: int, padded: tuple[int, int]) -> None:
    x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0)) + 0.1
    y, size = pad_to_multiple(x)
    assert size == (height, width)
    assert y.shape == (2, 3, *padded)
    assert torch.equal(y[..., :height, :width], x)  # content stays at the top-left
    assert torch.count_nonzero(y[..., height:, :]) == 0  # zeros at the bottom ...
    assert torch.count_nonzero(y[..., :, width:]) == 0  # ... and at the right
    assert torch.equal(crop_to(y, size), x)


def test_pad_to_multiple_other_cases() -> None:
    x = torch.rand(3, 128, 64)
    y, size = pad_to_multiple(x)
    assert y is x  # already a multiple: unchanged
    assert size == (128, 64)
    z, _ = pad_to_multiple(torch.rand(1, 3, 17, 9), multiple=8)
    assert z.shape == (1, 3, 24, 16)
    assert_bad_input(pad_to_multiple, torch.rand(3, 3), match=r"\(B, C, H, W\)")
    assert_bad_input(pad_to_multiple, x, multiple=0, match="multiple must be an int >= 1")
    assert_bad_input(crop_to, x, (129, 64), match="larger size")
    assert_bad_input(crop_to, x, (0, 64), match="positive ints")
    assert_bad_input(crop_to, x, (10,), match=r"size must be \(H, W\)")
