"""Binning (histogram plug-in) estimators of entropy and mutual information.

Each dimension is cut into ``bins`` equal-width bins, each sample becomes the tuple of its bin
indices (its code), and the plug-in entropy of the distinct codes is returned:
``H = −Σ_c p̂_c log p̂_c`` with ``p̂_c`` the fraction of samples with code c.

Ranges (``range=``):

- ``None``: per-dimension min–max, i.e. the classic Shannon entropy (CSE) of DSE/DSMI: scale each
  dimension to [0, 1] and digitise with ``bins`` equal bins (2 by default there). A constant
  dimension falls into one bin (the reference divides by zero and returns NaN);
- ``(lo, hi)``: one fixed range for every dimension, e.g. ``(-1, 1)`` with 30 bins for tanh
  layers (Shwartz-Ziv & Tishby) or ``(0, x.max())`` for ReLU layers (Saxe et al.). Values outside
  the range are a ValueError.

The right edge is closed (``x == hi`` falls into the last bin); interior edges belong to the bin on
their right, as ``np.digitize`` does. In high dimension nearly every sample gets its own code and
``H -> log N``: binning estimates saturate at the log of the sample size.

Shapes: ``(..., N, D)`` (leading dimensions are a batch). Results in nats unless ``base=2``.
numpy in -> numpy out, torch in -> torch out (no gradient: counts are piecewise constant).
Cost: O(N·D log N) (``np.unique`` over the codes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import entropy as scipy_entropy

from entropykit_shared._backend import check_base, check_finite, is_tensor, to_base, to_numpy


def _check_bins(bins: Any, name: str = "bins") -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"{name} must be a positive int (bins per dimension), got {bins!r}")
    return int(bins)


def _check_range(value: Any, name: str = "range") -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be None or a (lo, hi) pair, got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with lo < hi, got {value!r}")
    return lo, hi


def _samples(x: Any, name: str) -> np.ndarray:
    arr = to_numpy(x, name=name)
    if arr.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., n_samples, n_features), got {arr.shape}; "
            f"reshape 1-D data with {name}[:, None]"
        )
    if arr.shape[-2] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {arr.shape[-2]}")
    if arr.shape[-1] < 1:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    check_finite(arr, name)
    return arr


def _digitize(x: np.ndarray, bins: int, rng: tuple[float, float] | None, name: str) -> np.ndarray:
    """Bin indices in ``[0, bins)`` of one (N, D) sample set."""
    if rng is None:
        lo, hi = x.min(axis=0), x.max(axis=0)
    else:
        lo, hi = np.float64(rng[0]), np.float64(rng[1])
        outside = int(((x < lo) | (x > hi)).sum())
        if outside:
            raise ValueError(
                f"{name} has {outside} value(s) outside range={rng}; widen the range, clip the "
                "data, or pass range=None for per-dimension min-max"
            )
    width = np.asarray(hi - lo, dtype=np.float64)
    scaled = (x - lo) / np.where(width > 0, width, 1.0)
    # interior edges only: codes 0..bins-1, and the maximum (scaled == 1) lands in the last bin
    return np.digitize(scaled, np.linspace(0.0, 1.0, bins + 1)[1:-1])


def bin_indices(x: Any, bins: int = 2, range: Any = None) -> np.ndarray:
    """Per-dimension equal-width bin indices of ``x``, integers in ``[0, bins)``, shape of ``x``.

    Args:
        x: samples, shape (..., N, D).
        bins: bins per dimension.
        range: None (per-dimension min–max over the N samples) or a fixed ``(lo, hi)``.
    """
    arr = _samples(x, "x")
    b, rng = _check_bins(bins), _check_range(range)
    flat = arr.reshape(-1, *arr.shape[-2:])
    return np.stack([_digitize(item, b, rng, "x") for item in flat]).reshape(arr.shape)


def _labels(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense label per row of an (N, D) code array, and the count of each label."""
    if codes.shape[1] == 1:  # 1-D unique also handles string and object labels
        _, inverse, counts = np.unique(codes[:, 0], return_inverse=True, return_counts=True)
    else:
        _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts


def _finish(
    est: list[float], se: list[float], batch: tuple[int, ...], base: float, tensor_like: Any
) -> tuple[Any, Any]:
    e = to_base(np.asarray(est, dtype=np.float64).reshape(batch), base)
    s = to_base(np.asarray(se, dtype=np.float64).reshape(batch), base)
    if tensor_like is None:
        return (e[()] if e.ndim == 0 else e), (s[()] if s.ndim == 0 else s)
    import torch

    dtype = tensor_like.dtype if tensor_like.is_floating_point() else torch.float64
    return (
        torch.as_tensor(e, dtype=dtype, device=tensor_like.device),
        torch.as_tensor(s, dtype=dtype, device=tensor_like.device),
    )


def _se(terms: np.ndarray) -> float:
    return float(terms.std(ddof=1) / math.sqrt(terms.size))


def binned_entropy(
    x: Any,
    bins: int = 2,
    range: Any = None,
    *,
    base: float = math.e,
    miller_madow: bool = False,
    return_se: bool = False,
) -> Any:
    """Plug-in entropy of the equal-width bin codes of ``x`` (nats; bits with ``base=2``).

    ``H = −Σ_c p̂_c log p̂_c`` over the distinct D-dimensional codes; with ``miller_madow=True``
    plus ``(m − 1)/(2N)`` nats, m = number of occupied codes. ``bins=2, range=None, base=2`` is
    DSE's classic Shannon entropy (CSE). Bounded by ``log min(N, bins^D)``.

    Args:
        x: samples, shape (..., N, D).
        bins: bins per dimension.
        range: None (per-dimension min–max) or a fixed ``(lo, hi)`` for every dimension.
        base: ``math.e`` (nats) or 2 (bits).
        miller_madow: add the Miller–Madow bias correction.
        return_se: also return the delta-method standard error ``std_i(−log p̂_{c_i})/√N``.

    Returns:
        The estimate with the batch shape (``(estimate, se)`` with ``return_se``).
    """
    check_base(base)
    arr = _samples(x, "x")
    b, rng = _check_bins(bins), _check_range(range)
    batch = arr.shape[:-2]
    est, se = [], []
    for item in arr.reshape(-1, *arr.shape[-2:]):
        label, counts = _labels(_digitize(item, b, rng, "x"))
        n = item.shape[0]
        h = float(scipy_entropy(counts))
        if miller_madow:
            h += (counts.size - 1) / (2.0 * n)
        est.append(h)
        se.append(_se(-np.log(counts[label] / n)))
    e, s = _finish(est, se, batch, base, x if is_tensor(x) else None)
    return (e, s) if return_se else e


def binned_mutual_information(
    x: Any,
    y: Any,
    bins: int = 2,
    range: Any = None,
    *,
    y_discrete: bool | None = None,
    y_bins: int | None = None,
    y_range: Any = None,
    base: float = math.e,
    miller_madow: bool = False,
    return_se: bool = False,
) -> Any:
    """Plug-in mutual information of binned ``x`` and labelled or binned ``y`` (nats).

    ``I = H(C_x) + H(C_y) − H(C_x, C_y)`` over the bin codes ``C`` (equal to
    ``sklearn.metrics.mutual_info_score`` of the code labels); with ``miller_madow=True`` each
    entropy gets its ``(m − 1)/(2N)`` correction, i.e. ``I += (m_x + m_y − m_xy − 1)/(2N)``.

    Args:
        x: samples, shape (..., N, D).
        y: labels of shape (..., N) or (..., N, D_y) (each distinct row a symbol), or continuous
            samples of shape (..., N, D_y) binned like ``x``.
        bins, range: binning of ``x`` (see :func:`binned_entropy`).
        y_discrete: True: ``y`` holds labels; False: bin ``y``; None: True for integer, bool
            and string dtypes, and a ValueError for floating ``y`` (say which one is meant).
        y_bins, y_range: binning of a continuous ``y`` (default: ``bins`` and per-dimension
            min–max).
        base, miller_madow: as in :func:`binned_entropy`.
        return_se: also return ``std_i(log p̂(x_i, y_i)/(p̂(x_i) p̂(y_i)))/√N``.

    Returns:
        The estimate with the batch shape (``(estimate, se)`` with ``return_se``).
    """
    check_base(base)
    arr = _samples(x, "x")
    b, rng = _check_bins(bins), _check_range(range)
    batch, n = arr.shape[:-2], arr.shape[-2]
    yarr = to_numpy(y, dtype=None, name="y")
    if yarr.shape[: len(batch) + 1] != (*batch, n) or yarr.ndim not in (arr.ndim - 1, arr.ndim):
        raise ValueError(
            f"y must have shape {(*batch, n)} (labels) or {(*batch, n)} + (D_y,), got "
            f"{yarr.shape}; pass samples paired with x"
        )
    if y_discrete is None:
        if yarr.dtype.kind in "fc":
            raise ValueError(
                "y is floating point: pass y_discrete=True to treat its values as labels or "
                "y_discrete=False to bin it"
            )
        y_discrete = True
    if yarr.ndim == arr.ndim - 1:
        yarr = yarr[..., None]
    if y_discrete:
        if yarr.dtype.kind in "fc":
            check_finite(yarr, "y")
    else:
        yarr = _samples(yarr, "y")
    yb = b if y_bins is None else _check_bins(y_bins, "y_bins")
    yrng = _check_range(y_range, "y_range")
    est, se = [], []
    items = zip(arr.reshape(-1, *arr.shape[-2:]), yarr.reshape(-1, *yarr.shape[-2:]), strict=True)
    for xi, yi in items:
        lx, cx = _labels(_digitize(xi, b, rng, "x"))
        ly, cy = _labels(yi if y_discrete else _digitize(yi, yb, yrng, "y"))
        lxy, cxy = _labels(np.stack([lx, ly], axis=1))
        mi = float(scipy_entropy(cx) + scipy_entropy(cy) - scipy_entropy(cxy))
        if miller_madow:
            mi += (cx.size + cy.size - cxy.size - 1) / (2.0 * n)
        est.append(mi)
        se.append(_se(np.log(cxy[lxy] * n / (cx[lx] * cy[ly].astype(np.float64)))))
    e, s = _finish(est, se, batch, base, x if is_tensor(x) else None)
    return (e, s) if return_se else e
