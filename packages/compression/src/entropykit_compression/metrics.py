"""Image-quality and rate metrics with compressai's evaluation conventions.

``psnr`` and ``ms_ssim`` reproduce ``compute_metrics`` of compressai 1.2.8
(``compressai/utils/eval_model/__main__.py``): both images are mapped to 8-bit levels with
``(x * 255).clamp(0, 255).round()`` first, PSNR is ``20 log10(255) - 10 log10(MSE)`` over all
channels and pixels ("psnr-rgb"), and MS-SSIM is ``pytorch_msssim.ms_ssim`` on those levels with
``data_range=255`` ("ms-ssim-rgb"; identical to ``data_range=1`` on ``levels / 255``).
``bpp`` divides the real bitstream size by the pixels of the ORIGINAL (unpadded) image, as the
MLIC++ evaluation protocol and compressai's ``eval_model`` do.

All metrics are evaluation quantities: they detach their inputs and are not differentiable
(8-bit rounding has zero gradient). Use ``compressai.losses.RateDistortionLoss`` for training.
"""

from __future__ import annotations

import math
import operator

import torch

__all__ = ["MS_SSIM_MIN_SIDE", "bpp", "ms_ssim", "psnr"]

#: Smallest short image side (pixels) for which MS-SSIM with its default 11-tap window and
#: 5 scales (4 downsamplings) is defined: ``pytorch_msssim`` needs ``min(H, W) > (11 - 1) * 2**4``.
MS_SSIM_MIN_SIDE = 161

_MAX_LEVEL = 255.0


def _check_pair(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, bool]:
    """Validate two images and return them stacked as (2, B, 3, H, W) plus whether the input
    was batched."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(
                f"{name} must be a torch.Tensor of shape (3, H, W) or (B, 3, H, W), got "
                f"{type(t).__name__}; convert numpy arrays with torch.from_numpy"
            )
        if t.ndim not in (3, 4) or t.shape[-3] != 3:
            raise ValueError(
                f"{name} must have shape (3, H, W) or (B, 3, H, W) (RGB, channels first), "
                f"got {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise ValueError(
                f"{name} must be a floating tensor in [0, data_range], got dtype {t.dtype}; "
                "convert 8-bit images with x.float() / 255"
            )
        if t.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if (
        isinstance(data_range, bool)
        or not isinstance(data_range, int | float)
        or not math.isfinite(data_range)
        or data_range <= 0
    ):
        raise ValueError(
            f"data_range must be a positive finite number (1.0 for [0, 1]), got {data_range!r}"
        )
    batched = x.ndim == 4
    pair = torch.stack([x.detach(), y.detach()])
    if not batched:
        pair = pair.unsqueeze(1)
    return pair, batched


def _to_levels(pair: torch.Tensor, data_range: float) -> torch.Tensor:
    """Map [0, data_range] images to 8-bit levels 0..255 exactly as compressai's eval_model
    (clamp first: reconstructions slightly outside the range are legal)."""
    scale = _MAX_LEVEL / data_range
    return (pair * scale).clamp(0, _MAX_LEVEL).round()


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float | torch.Tensor:
    """Peak signal-to-noise ratio in dB on 8-bit levels ("psnr-rgb" of compressai's eval_model).

    Matches ``compute_metrics`` in ``compressai/utils/eval_model/__main__.py`` (compressai 1.2.8):
    both images are scaled to 0..255, clamped and rounded to integer levels, then
    ``PSNR = 20 log10(255) - 10 log10(mean((a - b)^2))`` over channels and pixels. The mean is
    taken in float64 (compressai uses float32; the difference is below 1e-4 dB).

    Args:
        x: original image(s), (3, H, W) or (B, 3, H, W), floating, nominally in [0, data_range].
        y: reconstruction(s), same shape as ``x``; values outside the range are clamped.
        data_range: the value that maps to level 255 (1.0 for [0, 1] images, 255 for 0..255).

    Returns:
        A float for one image; a float64 tensor (B,) of per-image PSNR for a batch. Identical
        images (after 8-bit rounding) give ``inf``, the limit of the formula at MSE = 0.

    Raises:
        ValueError: non-tensor, wrong shape, non-floating dtype, NaN/inf, or shape mismatch.
    """
    pair, batched = _check_pair(x, y, data_range)
    levels = _to_levels(pair, data_range).to(torch.float64)
    mse = (levels[0] - levels[1]).pow(2).flatten(1).mean(dim=1)
    # log10(0) = -inf gives +inf exactly for identical images, which is the intended value.
    out = 20.0 * math.log10(_MAX_LEVEL) - 10.0 * torch.log10(mse)
    return out if batched else float(out[0])


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float | torch.Tensor:
    """Multi-scale SSIM on 8-bit levels ("ms-ssim-rgb" of compressai's eval_model).

    Rounds both images to 8-bit levels like :func:`psnr`, then calls
    ``pytorch_msssim.ms_ssim(levels_x, levels_y, data_range=255)`` with its defaults (11-tap
    Gaussian window, sigma 1.5, 5 scales, weights of Wang et al. 2003), which is what
    compressai's ``compute_metrics`` does.

    Images too small for 5 scales: MS-SSIM is undefined when ``min(H, W) < MS_SSIM_MIN_SIDE``
    (161 px; pytorch_msssim needs ``min(H, W) > 160``). Then the result is NaN (per image) instead
    of an exception, so evaluation over a folder of mixed sizes still reports PSNR and bpp;
    callers should report MS-SSIM as missing and average with ``nanmean``.

    Args:
        x: original image(s), (3, H, W) or (B, 3, H, W), floating, nominally in [0, data_range].
        y: reconstruction(s), same shape as ``x``.
        data_range: the value that maps to level 255.

    Returns:
        A float in [0, 1] for one image; a float64 tensor (B,) for a batch; NaN where the image
        is smaller than ``MS_SSIM_MIN_SIDE`` on its short side. Identical images give 1.

    Raises:
        ValueError: as :func:`psnr`.
    """
    from pytorch_msssim import ms_ssim as _ms_ssim

    pair, batched = _check_pair(x, y, data_range)
    if min(pair.shape[-2:]) < MS_SSIM_MIN_SIDE:
        out = torch.full((pair.shape[1],), float("nan"), dtype=torch.float64)
    else:
        levels = _to_levels(pair.to(torch.float32), data_range)
        out = _ms_ssim(levels[0], levels[1], data_range=_MAX_LEVEL, size_average=False)
        out = out.to(torch.float64)
    return out if batched else float(out[0])


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a bitstream: ``num_bytes * 8 / (height * width)``.

    Args:
        num_bytes: size of the complete compressed file or bitstream in bytes (>= 0).
        height: height of the ORIGINAL image in pixels, before any padding to a multiple of 64.
        width: width of the ORIGINAL image in pixels.

    Returns:
        Bits per pixel (float).

    Raises:
        ValueError: a negative or non-integer byte count, or a non-positive size.
    """
    values = []
    for name, value, low in (
        ("num_bytes", num_bytes, 0),
        ("height", height, 1),
        ("width", width, 1),
    ):
        values.append(_as_int(value, name, low))
    n, h, w = values
    return n * 8.0 / (h * w)


def _as_int(value: object, name: str, low: int) -> int:
    """``value`` as a Python int >= ``low`` (numpy integers accepted, bools and floats not)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}") from None
    if out < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return out
