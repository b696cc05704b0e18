"""Rate from likelihoods: bits, bits per pixel, and the discretized Gaussian bin
probability of hyperprior models.

Entropy models themselves belong to ``compressai`` (``EntropyBottleneck``,
``GaussianConditional``); these helpers turn their likelihoods into bits and give a stable
reference for the Gaussian bin probability used in tests. Units are bits throughout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from entropykit_shared._backend import is_tensor, restore, to_torch


def _likelihood_list(likelihoods: Any) -> tuple[list[Any], bool]:
    """The likelihood arrays of a tensor, a sequence or a mapping (CompressAI's
    ``out["likelihoods"]``), validated to lie in (0, 1]."""
    import torch

    if isinstance(likelihoods, Mapping):
        items = list(likelihoods.items())
    elif (
        isinstance(likelihoods, Sequence)
        and not isinstance(likelihoods, str)
        and (len(likelihoods) > 0 and not isinstance(likelihoods[0], int | float))
    ):
        items = list(enumerate(likelihoods))
    else:
        items = [("likelihoods", likelihoods)]
    if not items:
        raise ValueError("likelihoods is empty; pass a tensor or a dict/list of tensors")
    numpy_in = not any(is_tensor(v) for _, v in items)
    out = []
    for key, value in items:
        name = "likelihoods" if key == "likelihoods" else f"likelihoods[{key!r}]"
        t = to_torch(value, name=name)
        bad = int((~torch.isfinite(t)).sum().item())
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
        if bool((t <= 0).any()):
            raise ValueError(
                f"{name} has values <= 0 (log of 0); clamp them from below "
                "(CompressAI's likelihood bound is 1e-9)"
            )
        if bool((t > 1.0 + 1e-6).any()):
            raise ValueError(
                f"{name} has values > 1; pass probabilities of discrete symbols, not densities"
            )
        out.append(t)
    return out, numpy_in


def _total_bits(tensors: list[Any], per_sample: bool) -> Any:
    import torch

    if not per_sample:
        return torch.stack([-torch.log2(t).sum() for t in tensors]).sum()
    batch = {t.shape[0] if t.ndim else None for t in tensors}
    if len(batch) != 1 or None in batch:
        raise ValueError(
            "per_sample=True needs every likelihood array to have the same leading batch axis, "
            f"got leading sizes {sorted(str(b) for b in batch)}"
        )
    return torch.stack([-torch.log2(t).reshape(t.shape[0], -1).sum(dim=1) for t in tensors]).sum(0)


def bits_from_likelihoods(likelihoods: Any, *, per_sample: bool = False) -> Any:
    """Total rate ``R = sum -log2 p(y_hat)`` in bits.

    Args:
        likelihoods: probabilities in (0, 1]: one array, or a list/dict of arrays as CompressAI
            returns them (``out["likelihoods"] = {"y": ..., "z": ...}``); all summed.
        per_sample: return (B,) bits per item of the leading batch axis instead of the total.

    Returns:
        Bits (a float / 0-d tensor, or (B,)). Differentiable for torch inputs (a training loss).
    """
    tensors, numpy_in = _likelihood_list(likelihoods)
    return restore(_total_bits(tensors, per_sample), numpy_in)


def bits_per_pixel(likelihoods: Any, num_pixels: int, *, per_sample: bool = False) -> Any:
    """Bits per pixel ``bpp = sum -log2 p(y_hat) / num_pixels``.

    Args:
        likelihoods: as in :func:`bits_from_likelihoods`.
        num_pixels: pixels of the ORIGINAL (unpadded) image(s). With ``per_sample=False`` pass
            ``B H W`` for the batch mean (CompressAI's ``RateDistortionLoss`` convention); with
            ``per_sample=True`` pass ``H W`` to get (B,) bpp per image.
        per_sample: see ``num_pixels``.
    """
    n = int(num_pixels)
    if n != num_pixels or n < 1:
        raise ValueError(f"num_pixels must be a positive integer (H*W or B*H*W), got {num_pixels}")
    tensors, numpy_in = _likelihood_list(likelihoods)
    return restore(_total_bits(tensors, per_sample) / n, numpy_in)


def discretized_gaussian_likelihood(
    y: Any,
    mean: Any,
    scale: Any,
    scale_bound: float | None = 0.11,
    likelihood_bound: float | None = 1e-9,
) -> Any:
    """Probability of the integer-width bin around ``y`` under ``N(mean, scale^2)``:
    ``p = Phi((1/2 - v) / s) - Phi((-1/2 - v) / s)`` with ``v = |y - mean|``.

    Evaluated in the lower tail (``v >= 0``) for precision, ``Phi(x) = erfc(-x / sqrt 2) / 2``,
    with ``s = max(scale, scale_bound)`` and the result clamped to ``>= likelihood_bound``
    (CompressAI ``GaussianConditional`` defaults 0.11 and 1e-9; the clamps block gradients
    below the bounds). ``y``, ``mean`` and ``scale`` broadcast; output has their broadcast shape.
    Differentiable in all three.
    """
    import torch

    numpy_in = not any(is_tensor(v) for v in (y, mean, scale))
    ref = next((v for v in (y, mean, scale) if is_tensor(v)), None)
    dtype = None if ref is None else to_torch(ref).dtype
    yt, mt, st = (
        to_torch(v, dtype=dtype, name=n).reshape(np.shape(v) if not is_tensor(v) else v.shape)
        for v, n in ((y, "y"), (mean, "mean"), (scale, "scale"))
    )
    for t, name in ((yt, "y"), (mt, "mean"), (st, "scale")):
        bad = int((~torch.isfinite(t)).sum().item())
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    if scale_bound is not None:
        if not scale_bound > 0:
            raise ValueError(f"scale_bound must be positive or None, got {scale_bound}")
        st = st.clamp_min(scale_bound)
    if bool((st <= 0).any()):
        raise ValueError("scale must be positive; pass scale_bound (CompressAI uses 0.11)")
    v = (yt - mt).abs()
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    upper = 0.5 * torch.special.erfc(-(0.5 - v) / st * inv_sqrt2)
    lower = 0.5 * torch.special.erfc(-(-0.5 - v) / st * inv_sqrt2)
    p = upper - lower
    if likelihood_bound is not None:
        if not likelihood_bound >= 0:
            raise ValueError(f"likelihood_bound must be >= 0 or None, got {likelihood_bound}")
        p = p.clamp_min(likelihood_bound)
    return restore(p, numpy_in)
