"""Evaluation with real bitstreams (spec §1.3 evaluation protocol, §6 item 7).

Each image is zero-padded at the bottom/right to a multiple of 64, compressed with the model's
rANS coder, decompressed, and cropped back; bpp is the total bitstream length over the ORIGINAL
pixel count, PSNR and MS-SSIM are compressai's eval_model formulas (8-bit levels). The estimate
from the likelihoods (``est_bpp``) is reported next to the real rate, as a check of the coder.

:func:`compress_image` / :func:`decompress_file` are the user-facing codec: one image to one
container file (:mod:`entropykit_compression.container`) whose header names the model, its
config and the checkpoint hash, and back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from entropykit_compression.codecs import classic_rd_curve
from entropykit_compression.container import ContainerError, read_container, write_container
from entropykit_compression.data import crop_to, pad_to_multiple
from entropykit_compression.metrics import bpp as bits_per_pixel
from entropykit_compression.metrics import ms_ssim, psnr
from entropykit_compression.model import STRIDE
from entropykit_shared.bdrate import BD_METHODS, bd_psnr, bd_rate


def _likelihood_bits(out: dict[str, Any]) -> float:
    return float(sum((-torch.log2(lik)).sum() for lik in out["likelihoods"].values()))


@torch.no_grad()
def code_image(model: Any, image: torch.Tensor) -> dict[str, Any]:
    """Compress and decompress one (3, H, W) image in [0, 1] with a model in eval mode whose CDF
    tables are built. Returns the reconstruction and the measured row: ``bytes``, ``bpp``,
    ``est_bpp`` (likelihood estimate), ``psnr``, ``ms_ssim`` (NaN below 161 px),
    ``encode_seconds``, ``decode_seconds`` and ``skip_rate`` (MLICv2's GSC)."""
    h, w = image.shape[-2:]
    x, size = pad_to_multiple(image[None], STRIDE)
    t0 = time.perf_counter()
    enc = model.compress(x)
    t1 = time.perf_counter()
    dec = model.decompress(enc["strings"], enc["shape"])
    t2 = time.perf_counter()
    x_hat = crop_to(dec["x_hat"].clamp(0, 1), size)[0]
    num_bytes = sum(len(s) for streams in enc["strings"] for s in streams)
    est = _likelihood_bits(model(x)) / (h * w)
    return {
        "x_hat": x_hat,
        "bytes": num_bytes,
        "bpp": bits_per_pixel(num_bytes, h, w),
        "est_bpp": est,
        "psnr": float(psnr(x_hat, image)),
        "ms_ssim": float(ms_ssim(x_hat, image)),
        "encode_seconds": t1 - t0,
        "decode_seconds": t2 - t1,
        "skip_rate": float(enc.get("skip_rate", 0.0)),
    }


def evaluate_model(
    model: Any, images: Sequence[tuple[str, torch.Tensor]], *, name: str = "model"
) -> list[dict[str, Any]]:
    """:func:`code_image` on every ``(image_name, image)``; rows without the reconstruction,
    with ``codec`` and ``image`` keys."""
    rows = []
    for image_name, image in images:
        row = code_image(model, image)
        row.pop("x_hat")
        rows.append({"codec": name, "image": image_name, **row})
    return rows


def evaluate_classic(
    images: Sequence[tuple[str, torch.Tensor]], codec: str, qualities: Sequence[int]
) -> list[dict[str, Any]]:
    """JPEG/WebP/AVIF rows (one per image and quality) with the same keys as
    :func:`evaluate_model` plus ``quality``."""
    rows = []
    for image_name, image in images:
        for row in classic_rd_curve(image, codec, list(qualities)):
            rows.append({"codec": codec, "image": image_name, **row})
    return rows


def classic_curves(
    images: Sequence[tuple[str, torch.Tensor]], qualities: dict[str, Sequence[int]]
) -> tuple[dict[str, list[dict[str, float]]], list[dict[str, Any]]]:
    """For each ``{codec: qualities}``: the mean RD point per quality over the images (the
    curve) and the per-image rows of :func:`evaluate_classic`."""
    curves, rows = {}, []
    for codec, settings in qualities.items():
        codec_rows = evaluate_classic(images, codec, settings)
        rows += codec_rows
        curves[codec] = [
            {"quality": q, **mean_point([r for r in codec_rows if r["quality"] == q])}
            for q in settings
        ]
    return curves, rows


def mean_point(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Average of bpp, PSNR, MS-SSIM (ignoring NaN) and timings over images: one RD point."""
    out: dict[str, float] = {"images": float(len(rows))}
    for key in ("bpp", "est_bpp", "psnr", "ms_ssim", "encode_seconds", "decode_seconds"):
        values = [float(r[key]) for r in rows if key in r]
        if values:
            finite = [v for v in values if not np.isnan(v)]
            out[key] = float(np.mean(finite)) if finite else float("nan")
    return out


def bd_table(
    curves: dict[str, Sequence[dict[str, float]]], anchor: str, quality: str = "psnr"
) -> list[dict[str, Any]]:
    """BD-rate (percent) and BD-PSNR of every curve against ``anchor``, with both methods.

    Args:
        curves: ``{codec: [rd point, ...]}`` where a point has ``bpp`` and ``quality`` keys
            (mean points of :func:`mean_point`, one per lambda or quality setting).
        anchor: the reference codec's key in ``curves``.

    Returns:
        One row per other codec: ``codec``, ``bd_rate_<method>``, ``bd_psnr_<method>``; a cell is
        None with a ``note`` when the curves cannot be compared (too few points, no overlap).
    """
    if anchor not in curves:
        raise ValueError(f"anchor {anchor!r} is not among the curves {sorted(curves)}")
    ref = curves[anchor]
    rows = []
    for codec, points in curves.items():
        if codec == anchor:
            continue
        row: dict[str, Any] = {"codec": codec, "anchor": anchor}
        for method in BD_METHODS:
            args = (
                [p["bpp"] for p in ref],
                [p[quality] for p in ref],
                [p["bpp"] for p in points],
                [p[quality] for p in points],
            )
            try:
                row[f"bd_rate_{method}"] = bd_rate(*args, method=method)
                row[f"bd_psnr_{method}"] = bd_psnr(*args, method=method)
            except ValueError as exc:
                row[f"bd_rate_{method}"] = row[f"bd_psnr_{method}"] = None
                row["note"] = str(exc)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- the codec
@torch.no_grad()
def compress_image(
    model: Any, image: torch.Tensor, path: str | Path, meta: dict[str, Any]
) -> dict[str, Any]:
    """Compress one (3, H, W) image into a container file; ``meta`` is the checkpoint metadata
    of :func:`entropykit_compression.zoo.load_checkpoint` (name, config, hash). Returns
    ``{"bytes", "bpp", "skip_rate"}``."""
    h, w = image.shape[-2:]
    x, _ = pad_to_multiple(image[None], STRIDE)
    enc = model.compress(x)
    header = {
        "model": meta["name"],
        "config": meta["config"],
        "checkpoint_hash": meta["hash"],
        "height": int(h),
        "width": int(w),
        "latent_shape": [int(v) for v in enc["shape"]],
    }
    written = write_container(path, header, enc["strings"])
    return {"bytes": written, "bpp": bits_per_pixel(written, h, w), "skip_rate": enc["skip_rate"]}


@torch.no_grad()
def decompress_file(model: Any, path: str | Path, meta: dict[str, Any]) -> torch.Tensor:
    """Decode a container file written by :func:`compress_image` with the same checkpoint;
    returns the (3, H, W) image. A file from another checkpoint or a damaged file raises
    :class:`entropykit_compression.container.ContainerError`."""
    header, strings = read_container(path)
    if header["checkpoint_hash"] != meta["hash"]:
        raise ContainerError(
            f"{path} was written by checkpoint {header['checkpoint_hash']} "
            f"({header['model']}), not by this one ({meta['hash']}); decode it with that checkpoint"
        )
    dec = model.decompress(strings, tuple(header["latent_shape"]))
    return crop_to(dec["x_hat"].clamp(0, 1), (header["height"], header["width"]))[0]
