"""Classic image codec baselines (JPEG, WebP, AVIF) through Pillow, fully offline.

These are the anchors of the evaluation (spec §5): VTM/BPG are not available offline, so the
learned codecs are compared with JPEG, WebP and, where this Pillow build has libavif, AVIF.
Each codec encodes the 8-bit RGB image in memory; the rate is the size of the complete file
Pillow writes (container and headers included, like ``compressai.utils.bench``), divided by the
pixels of the image. Distortion uses :mod:`entropykit_compression.metrics` (compressai's
"psnr-rgb" and "ms-ssim-rgb" conventions).

Encoder settings:

* ``jpeg``: libjpeg via Pillow, ``optimize=True`` (optimal Huffman tables), 4:2:0 chroma
  subsampling, quality 1..100 (Pillow advises against > 95: it disables parts of the
  quantisation and mostly adds bytes).
* ``webp``: libwebp lossy, ``method=6`` (slowest, best compression), quality 0..100.
* ``avif``: libavif via Pillow's built-in AVIF plugin (Pillow >= 11.3), 4:2:0, Pillow's default
  speed (6), quality 0..100. Available when ``PIL.features.check("avif")`` is true.
"""

from __future__ import annotations

import io
import math
import operator
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from entropykit_compression.metrics import bpp, ms_ssim, psnr

__all__ = [
    "CODECS",
    "DEFAULT_QUALITIES",
    "QUALITY_RANGE",
    "available_codecs",
    "classic_rd_curve",
    "decode_classic",
    "encode_classic",
    "match_rate",
]

#: Every codec this module knows, in the order they are listed in errors and reports.
CODECS: tuple[str, ...] = ("jpeg", "webp", "avif")

#: Inclusive integer quality range accepted by each codec (higher = better quality, more bytes).
QUALITY_RANGE: dict[str, tuple[int, int]] = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100)}
#: Quality settings of the RD curves the app and the benchmark draw for each codec.
DEFAULT_QUALITIES: dict[str, tuple[int, ...]] = {
    "jpeg": (5, 10, 20, 35, 50, 75, 90),
    "webp": (5, 10, 20, 35, 50, 75, 90),
    "avif": (10, 25, 40, 55, 70, 85),
}

# Pillow feature name and format name of each codec.
_PIL_FEATURE = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}
_PIL_FORMAT = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "jpeg": {"optimize": True, "subsampling": "4:2:0"},
    "webp": {"method": 6, "lossless": False},
    "avif": {"subsampling": "4:2:0"},
}


def available_codecs() -> tuple[str, ...]:
    """The codecs of :data:`CODECS` that the installed Pillow can both encode and decode."""
    from PIL import features

    return tuple(c for c in CODECS if features.check(_PIL_FEATURE[c]))


def _check_codec(codec: object) -> str:
    available = available_codecs()
    if not isinstance(codec, str) or codec.lower() not in CODECS:
        raise ValueError(
            f"unknown codec {codec!r}; available codecs: {', '.join(available) or 'none'}"
        )
    name = codec.lower()
    if name not in available:
        import PIL

        raise ValueError(
            f"codec {name!r} is not supported by this Pillow {PIL.__version__} build "
            f"(PIL.features.check({_PIL_FEATURE[name]!r}) is False); available codecs: "
            f"{', '.join(available) or 'none'}. Install a Pillow wheel with {name} support "
            "(the PyPI wheels of Pillow >= 11.3 include AVIF)"
        )
    return name


def _check_quality(quality: object, codec: str) -> int:
    low, high = QUALITY_RANGE[codec]
    try:
        if isinstance(quality, bool):
            raise TypeError
        q = operator.index(quality)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(
            f"quality must be an integer in [{low}, {high}] for {codec}, got {quality!r}"
        ) from None
    if not low <= q <= high:
        raise ValueError(f"quality must be an integer in [{low}, {high}] for {codec}, got {q}")
    return q


def _check_image(img: object) -> torch.Tensor:
    if not isinstance(img, torch.Tensor):
        raise ValueError(
            f"img must be a torch.Tensor of shape (3, H, W) in [0, 1], got {type(img).__name__}"
        )
    if img.ndim != 3 or img.shape[0] != 3 or img.shape[1] < 1 or img.shape[2] < 1:
        raise ValueError(
            f"img must have shape (3, H, W) (one RGB image, channels first), got {tuple(img.shape)}"
        )
    if not img.is_floating_point():
        raise ValueError(
            f"img must be a floating tensor in [0, 1], got dtype {img.dtype}; "
            "convert 8-bit images with img.float() / 255"
        )
    if not bool(torch.isfinite(img).all()):
        raise ValueError("img contains NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"img values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]; "
            "divide 0..255 images by 255"
        )
    return img.detach()


def _to_pil(img: torch.Tensor) -> Any:
    from PIL import Image

    # Same 8-bit rounding as the metrics (compressai's eval_model), so the codec sees exactly
    # the levels the distortion is measured against.
    levels = (img.to(torch.float32) * 255.0).clamp(0, 255).round().to(torch.uint8)
    return Image.fromarray(levels.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def encode_classic(img: torch.Tensor, codec: str, quality: int) -> bytes:
    """Encode one image with a classic codec.

    Args:
        img: (3, H, W) floating RGB image in [0, 1]; it is rounded to 8-bit levels first.
        codec: ``"jpeg"``, ``"webp"`` or ``"avif"`` (case-insensitive); see
            :func:`available_codecs`.
        quality: integer quality in ``QUALITY_RANGE[codec]``; higher = better and larger.

    Returns:
        The complete encoded file (JPEG/WebP/AVIF bytes, headers included).

    Raises:
        ValueError: unknown or unsupported codec (the message lists the available ones),
            quality out of range, malformed image, or an encoder failure (e.g. an image larger
            than the format allows).
    """
    name = _check_codec(codec)
    q = _check_quality(quality, name)
    pil = _to_pil(_check_image(img))
    buffer = io.BytesIO()
    try:
        pil.save(buffer, format=_PIL_FORMAT[name], quality=q, **_SAVE_OPTIONS[name])
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{name} encoder failed for a {pil.height}x{pil.width} image at quality {q}: {err}"
        ) from err
    return buffer.getvalue()


def decode_classic(data: bytes) -> torch.Tensor:
    """Decode a JPEG, WebP or AVIF file produced by :func:`encode_classic`.

    Args:
        data: the encoded file (bytes-like).

    Returns:
        (3, H, W) float32 RGB image in [0, 1] (8-bit levels / 255).

    Raises:
        ValueError: empty or undecodable data, or an image of another format (PNG, ...).
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data is empty; pass the bytes returned by encode_classic")
    known = {fmt: codec for codec, fmt in _PIL_FORMAT.items()}
    try:
        with Image.open(io.BytesIO(bytes(data))) as im:
            if im.format not in known:
                raise ValueError(
                    f"data is a {im.format} image, not one of {', '.join(CODECS)}; "
                    "decode_classic only reads the codec baselines"
                )
            im.load()
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"cannot decode the image data ({len(data)} bytes): {err}") from err
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).to(torch.float32) / 255.0


def _rd_point(img: torch.Tensor, codec: str, quality: int) -> dict[str, Any]:
    start = time.perf_counter()
    data = encode_classic(img, codec, quality)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rec = decode_classic(data)
    decode_seconds = time.perf_counter() - start
    height, width = int(img.shape[1]), int(img.shape[2])
    return {
        "quality": quality,
        "bytes": len(data),
        "bpp": bpp(len(data), height, width),
        "psnr": psnr(img, rec),
        "ms_ssim": ms_ssim(img, rec),
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
    }


def classic_rd_curve(
    img: torch.Tensor, codec: str, qualities: Iterable[int]
) -> list[dict[str, Any]]:
    """Rate-distortion points of a classic codec on one image.

    Args:
        img: (3, H, W) floating RGB image in [0, 1].
        codec: a name of :func:`available_codecs`.
        qualities: integer qualities in ``QUALITY_RANGE[codec]`` (at least one), evaluated in
            the given order.

    Returns:
        One dict per quality with keys ``quality`` (int), ``bytes`` (file size), ``bpp`` (bits
        per pixel of the image), ``psnr`` (dB, "psnr-rgb"), ``ms_ssim`` ("ms-ssim-rgb"; NaN for
        images under 161 px on the short side, see :func:`~entropykit_compression.metrics.ms_ssim`),
        ``encode_seconds`` and ``decode_seconds`` (wall time of :func:`encode_classic` and
        :func:`decode_classic`, including the tensor conversions).

    Raises:
        ValueError: as :func:`encode_classic`, or an empty ``qualities``.
    """
    name = _check_codec(codec)
    image = _check_image(img)
    if isinstance(qualities, str | bytes) or not isinstance(qualities, Iterable):
        raise ValueError(f"qualities must be an iterable of integers, got {qualities!r}")
    checked = [_check_quality(q, name) for q in qualities]
    if not checked:
        raise ValueError("qualities is empty; pass at least one quality, e.g. [25, 50, 75, 90]")
    return [_rd_point(image, name, q) for q in checked]


def match_rate(img: torch.Tensor, codec: str, target_bpp: float) -> dict[str, Any]:
    """The quality of a classic codec whose rate on ``img`` is closest to ``target_bpp``.

    For "at matched rate" comparisons (e.g. a learned codec's bpp against JPEG at the same bpp).
    The file size grows with quality for JPEG, WebP and AVIF, nearly monotonically, so a binary
    search over the integer range ``QUALITY_RANGE[codec]`` finds the first quality whose bpp is
    >= the target; that quality and the one below it bracket the target and the closer of the
    two is returned. Tie rule: at equal distance the LOWER quality (fewer bytes) wins, so the
    baseline never receives more rate than the target on a tie. Where the size is not strictly
    monotone (a few qualities can give equal or slightly smaller files) the result is the
    bracketing quality the search reaches, which is within one quality step of the crossing.
    A target below the codec's lowest reachable rate returns the lowest quality, one above its
    highest returns the highest; compare ``bpp`` with ``target_bpp`` to detect that.

    About log2(101) + 2 ≈ 9 encodes per call.

    Args:
        img: (3, H, W) floating RGB image in [0, 1].
        codec: a name of :func:`available_codecs`.
        target_bpp: the rate to match in bits per pixel (> 0, finite).

    Returns:
        The :func:`classic_rd_curve` row of the chosen quality, plus ``target_bpp``.

    Raises:
        ValueError: as :func:`encode_classic`, or a non-positive / non-finite target.
    """
    name = _check_codec(codec)
    image = _check_image(img)
    if (
        isinstance(target_bpp, bool)
        or not isinstance(target_bpp, int | float)
        or not math.isfinite(target_bpp)
        or target_bpp <= 0
    ):
        raise ValueError(f"target_bpp must be a positive finite number, got {target_bpp!r}")
    height, width = int(image.shape[1]), int(image.shape[2])
    sizes: dict[int, int] = {}

    def rate(q: int) -> float:
        if q not in sizes:
            sizes[q] = len(encode_classic(image, name, q))
        return bpp(sizes[q], height, width)

    low, high = QUALITY_RANGE[name]
    # Lower bound: the smallest quality in [low, high] with rate >= target (high if none).
    lo, hi = low, high
    while lo < hi:
        mid = (lo + hi) // 2
        if rate(mid) >= target_bpp:
            hi = mid
        else:
            lo = mid + 1
    candidates = [lo - 1, lo] if lo > low else [lo]
    best = min(candidates, key=lambda q: (abs(rate(q) - target_bpp), q))
    row = _rd_point(image, name, best)
    row["target_bpp"] = float(target_bpp)
    return row
