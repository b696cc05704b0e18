"""Metrics (PSNR, MS-SSIM, bpp with compressai's eval conventions) and the Pillow codec
baselines (JPEG, WebP, AVIF)."""

from __future__ import annotations

import importlib
import io
import math
import warnings

import numpy as np
import pytest
import torch
from entropykit_compression import codecs
from entropykit_compression.codecs import (
    QUALITY_RANGE,
    available_codecs,
    classic_rd_curve,
    decode_classic,
    encode_classic,
    match_rate,
)
from entropykit_compression.metrics import MS_SSIM_MIN_SIDE, bpp, ms_ssim, psnr
from PIL import Image, features
from scipy.ndimage import gaussian_filter

from entropykit_shared.testing import assert_bad_input

H, W = 96, 128


def smooth_image(height: int = H, width: int = W, seed: int = 0) -> torch.Tensor:
    """A smooth random RGB image (3, H, W) in [0, 1]: blurred noise plus a little texture."""
    rng = np.random.default_rng(seed)
    noise = rng.random((3, height, width))
    smooth = np.stack([gaussian_filter(c, sigma=5.0) for c in noise])
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    texture = gaussian_filter(rng.random((3, height, width)), sigma=(0, 1.0, 1.0))
    img = np.clip(0.85 * smooth + 0.15 * texture, 0.0, 1.0)
    return torch.from_numpy(img).to(torch.float32)


def levels_image(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Random 8-bit levels and the [0, 1] float32 tensor that holds them exactly."""
    levels = np.random.default_rng(seed).integers(0, 256, size=shape)
    return levels, torch.from_numpy(levels.astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def eval_model():
    """compressai's eval_model module (the reference formulas), imported without changing the
    process's torch thread count (the module sets it to 1 at import)."""
    threads = torch.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = importlib.import_module("compressai.utils.eval_model.__main__")
    torch.set_num_threads(threads)
    return module


# ------------------------------------------------------------------------------------ metrics


def test_psnr_identical_images_is_inf():
    x = smooth_image()
    assert psnr(x, x.clone()) == math.inf
    # Differences that vanish in the 8-bit rounding count as identical, as in compressai.
    _, exact = levels_image((3, 8, 8), seed=0)
    assert psnr(exact, exact + 0.3 / 255) == math.inf
    batch = torch.stack([x, x])
    out = psnr(batch, batch)
    assert out.shape == (2,)
    assert torch.isinf(out).all()


def test_psnr_closed_form_on_8bit_levels():
    a, x = levels_image((3, 20, 30), seed=1)
    b, y = levels_image((3, 20, 30), seed=2)
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    expected = 20 * math.log10(255) - 10 * math.log10(mse)
    assert psnr(x, y) == pytest.approx(expected, abs=1e-9)
    # A constant offset of 5 levels: MSE = 25.
    shifted = torch.from_numpy(np.clip(a, 0, 250).astype(np.float32) / 255.0)
    plus5 = torch.from_numpy((np.clip(a, 0, 250) + 5).astype(np.float32) / 255.0)
    assert psnr(shifted, plus5) == pytest.approx(20 * math.log10(255) - 10 * math.log10(25.0))
    # data_range: the same levels expressed in 0..255.
    assert psnr(x * 255, y * 255, data_range=255) == pytest.approx(expected, abs=1e-9)


def test_psnr_batched_is_per_image_and_clamps_out_of_range():
    x = torch.stack([smooth_image(seed=s) for s in range(3)])
    y = (x + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    out = psnr(x, y)
    assert out.shape == (3,)
    assert out.dtype == torch.float64
    for i in range(3):
        assert out[i].item() == pytest.approx(psnr(x[i], y[i]))
    # Reconstructions outside [0, 1] are clamped before rounding (compressai does the same).
    over = y.clone()
    over[over > 0.99] = 1.3
    assert psnr(x, over).shape == (3,)
    assert psnr(x[0], y[0] - 5.0) == pytest.approx(psnr(x[0], torch.zeros_like(y[0])))


def test_metrics_match_compressai_eval_model(eval_model):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 176, 192, generator=g)
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-0.05, 1.05)
    ref = eval_model.compute_metrics(x, x_hat, 255)
    assert psnr(x[0], x_hat[0]) == pytest.approx(ref["psnr-rgb"], abs=1e-4)
    assert ms_ssim(x[0], x_hat[0]) == pytest.approx(ref["ms-ssim-rgb"], abs=1e-6)


def test_ms_ssim_identical_is_one_and_degrades_with_noise():
    x = smooth_image(176, 192)
    assert ms_ssim(x, x.clone()) == pytest.approx(1.0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    mild = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    strong = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert 1.0 > ms_ssim(x, mild) > ms_ssim(x, strong) > 0.0
    batched = ms_ssim(torch.stack([x, x]), torch.stack([x, mild]))
    assert batched.shape == (2,)
    assert batched[0].item() == pytest.approx(1.0, abs=1e-6)
    assert batched[1].item() == pytest.approx(ms_ssim(x, mild), abs=1e-6)


def test_ms_ssim_small_images_give_nan():
    assert MS_SSIM_MIN_SIDE == 161
    small = smooth_image(MS_SSIM_MIN_SIDE - 1, 300)
    assert math.isnan(ms_ssim(small, small))
    out = ms_ssim(torch.stack([small, small]), torch.stack([small, small]))
    assert out.shape == (2,)
    assert torch.isnan(out).all()
    # The smallest defined size works (pytorch_msssim needs a short side > 160).
    edge = smooth_image(MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE)
    assert ms_ssim(edge, edge) == pytest.approx(1.0, abs=1e-6)


def test_bpp_closed_form():
    assert bpp(1000, 100, 80) == pytest.approx(1.0)
    assert bpp(0, 10, 10) == 0.0
    assert bpp(np.int64(3), np.int32(4), 6) == pytest.approx(1.0)
    assert bpp(12345, 512, 768) == pytest.approx(12345 * 8 / (512 * 768))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, 10, 10), "num_bytes"),
        ((10.5, 10, 10), "num_bytes"),
        ((10, 0, 10), "height"),
        ((10, 10, True), "width"),
    ],
)
def test_bpp_bad_input(args, match):
    assert_bad_input(bpp, *args, match=match)


@pytest.mark.parametrize("fn", [psnr, ms_ssim])
def test_metrics_bad_input(fn):
    x = smooth_image(8, 8)
    assert_bad_input(fn, x.numpy(), x, match="torch.Tensor")
    assert_bad_input(fn, x[:1], x[:1], match=r"\(3, H, W\)")
    assert_bad_input(fn, x, x[:, :4], match="same shape")
    assert_bad_input(fn, (x * 255).to(torch.uint8), x, match="floating")
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    assert_bad_input(fn, x, bad, match="NaN")
    assert_bad_input(fn, x, x, data_range=0, match="data_range")


# ------------------------------------------------------------------------------------- codecs


SIGNATURES = {
    "jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "avif": lambda b: b[4:12] == b"ftypavif",
}


def test_available_codecs_follow_pillow_features():
    expected = tuple(
        c for c, f in (("jpeg", "jpg"), ("webp", "webp"), ("avif", "avif")) if features.check(f)
    )
    assert available_codecs() == expected
    assert {"jpeg", "webp"} <= set(available_codecs())


@pytest.mark.parametrize("codec", available_codecs())
def test_codec_round_trip(codec):
    img = smooth_image()
    data = encode_classic(img, codec, 90)
    assert isinstance(data, bytes)
    assert SIGNATURES[codec](data)
    rec = decode_classic(data)
    assert rec.shape == (3, H, W)
    assert rec.dtype == torch.float32
    assert rec.min() >= 0.0
    assert rec.max() <= 1.0
    assert psnr(img, rec) > 30.0
    assert encode_classic(img, codec.upper(), 90) == data  # case-insensitive, deterministic


@pytest.mark.parametrize("codec", available_codecs())
def test_rd_curve_is_monotone(codec):
    img = smooth_image()
    qualities = [10, 30, 50, 70, 90]
    rows = classic_rd_curve(img, codec, qualities)
    assert [r["quality"] for r in rows] == qualities
    for row in rows:
        assert set(row) == {
            "quality",
            "bytes",
            "bpp",
            "psnr",
            "ms_ssim",
            "encode_seconds",
            "decode_seconds",
        }
        assert row["bpp"] == pytest.approx(row["bytes"] * 8 / (H * W))
        assert math.isnan(row["ms_ssim"])  # 96 px < 161 px: MS-SSIM undefined
        assert row["encode_seconds"] >= 0
        assert row["decode_seconds"] >= 0
    rates = [r["bpp"] for r in rows]
    quality = [r["psnr"] for r in rows]
    assert rates == sorted(rates)
    assert len(set(rates)) == len(rates)
    assert quality == sorted(quality)
    assert len(set(quality)) == len(quality)


def test_rd_curve_reports_ms_ssim_for_large_images():
    img = smooth_image(176, 176)
    (row,) = classic_rd_curve(img, "jpeg", [75])
    assert 0.9 < row["ms_ssim"] <= 1.0
    assert row["psnr"] == pytest.approx(psnr(img, decode_classic(encode_classic(img, "jpeg", 75))))


@pytest.mark.parametrize("codec", available_codecs())
def test_match_rate_lands_near_target(codec):
    img = smooth_image()
    (reference,) = classic_rd_curve(img, codec, [60])
    target = reference["bpp"] * 1.03  # between two qualities, near quality 60
    row = match_rate(img, codec, target)
    assert row["target_bpp"] == target
    assert abs(row["bpp"] - target) / target < 0.1
    # Locally closest: neither neighbouring quality is strictly closer to the target.
    low, high = QUALITY_RANGE[codec]
    for q in (row["quality"] - 1, row["quality"] + 1):
        if low <= q <= high:
            (nb,) = classic_rd_curve(img, codec, [q])
            assert abs(row["bpp"] - target) <= abs(nb["bpp"] - target)


def test_match_rate_clips_to_the_quality_range():
    img = smooth_image()
    assert match_rate(img, "jpeg", 1e-6)["quality"] == QUALITY_RANGE["jpeg"][0]
    assert match_rate(img, "jpeg", 1e3)["quality"] == QUALITY_RANGE["jpeg"][1]


def test_match_rate_tie_prefers_the_lower_quality(monkeypatch):
    sizes = {q: 100 * q for q in range(1, 101)}  # bytes = 100 q, strictly increasing
    monkeypatch.setattr(codecs, "encode_classic", lambda img, codec, q: b"\0" * sizes[q])
    monkeypatch.setattr(codecs, "_rd_point", lambda img, codec, q: {"quality": q})
    img = smooth_image(10, 10)
    per_quality = 100 * 8 / 100  # bpp step per quality on a 10x10 image
    # Exactly half-way between qualities 40 and 41: the tie goes to 40.
    assert match_rate(img, "jpeg", 40.5 * per_quality)["quality"] == 40
    assert match_rate(img, "jpeg", 40.6 * per_quality)["quality"] == 41
    assert match_rate(img, "jpeg", 40.4 * per_quality)["quality"] == 40


def test_unknown_codec_lists_available():
    img = smooth_image(16, 16)
    err = assert_bad_input(encode_classic, img, "bpg", 50, match="unknown codec 'bpg'")
    for name in available_codecs():
        assert name in str(err)
    assert_bad_input(classic_rd_curve, img, "jxl", [50], match="available codecs: jpeg")
    assert_bad_input(match_rate, img, None, 1.0, match="unknown codec")


def test_unsupported_codec_in_this_pillow(monkeypatch):
    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real(name))
    assert "avif" not in available_codecs()
    assert_bad_input(
        encode_classic, smooth_image(16, 16), "avif", 50, match="'avif' is not supported.*jpeg"
    )


def test_codec_bad_input():
    img = smooth_image(16, 16)
    assert_bad_input(encode_classic, img, "jpeg", 0, match=r"quality .*\[1, 100\]")
    assert_bad_input(encode_classic, img, "webp", 101, match="quality")
    assert_bad_input(encode_classic, img, "webp", True, match="quality")
    assert_bad_input(encode_classic, img, "jpeg", 50.0, match="quality")
    assert_bad_input(encode_classic, img * 255, "jpeg", 50, match=r"\[0, 1\].*255")
    assert_bad_input(encode_classic, img[None], "jpeg", 50, match=r"\(3, H, W\)")
    assert_bad_input(encode_classic, img.numpy(), "jpeg", 50, match="torch.Tensor")
    assert_bad_input(encode_classic, (img * 255).to(torch.uint8), "jpeg", 50, match="floating")
    assert_bad_input(classic_rd_curve, img, "jpeg", [], match="qualities is empty")
    assert_bad_input(classic_rd_curve, img, "jpeg", 50, match="iterable")
    assert_bad_input(match_rate, img, "jpeg", 0.0, match="target_bpp")
    assert_bad_input(match_rate, img, "jpeg", float("nan"), match="target_bpp")


def test_decode_bad_input():
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    assert_bad_input(decode_classic, png.getvalue(), match="PNG image, not one of jpeg")
    assert_bad_input(decode_classic, b"", match="empty")
    assert_bad_input(decode_classic, b"not an image at all", match="cannot decode")
    assert_bad_input(decode_classic, "file.jpg", match="bytes")
    truncated = encode_classic(smooth_image(), "jpeg", 80)[:200]
    assert_bad_input(decode_classic, truncated, match="cannot decode")
