"""Bjøntegaard delta metrics: BD-rate and BD-PSNR between two rate-distortion curves.

A curve is a set of ``n >= 4`` operating points ``(rate, quality)`` of one codec, e.g. the mean
bits per pixel and the mean PSNR in dB of one λ. Each curve is interpolated as a function on a
log-rate axis and the two interpolants are integrated over the interval where both curves have
data; the average vertical gap between them is the Bjøntegaard delta.

- **BD-rate** (percent): ``x = quality``, ``y = log10(rate)``. Over ``[x_lo, x_hi] =
  [max(min x_ref, min x_test), min(max x_ref, max x_test)]``::

      ΔBD-rate = (10 ** ((∫ y_test dx − ∫ y_ref dx) / (x_hi − x_lo)) − 1) · 100

  Negative means the test codec needs fewer bits than the reference for the same quality
  (−20 = 20 % fewer bits). The rate unit cancels (bpp, bits, kbit/s all give the same value).
- **BD-PSNR** (quality units, dB for PSNR): axes swapped, ``x = log10(rate)``, ``y = quality``,
  ``Δ = (∫ y_test dx − ∫ y_ref dx) / (x_hi − x_lo)``. Positive means the test codec is better.

Methods (``method=``):

- ``"pchip"`` (default): :class:`scipy.interpolate.PchipInterpolator` through the points sorted
  by ``x`` and integrated exactly with its ``integrate``; the piecewise cubic Hermite interpolant
  used by the JVET common test conditions and by the ``bjontegaard`` package's ``"pchip"``.
  Monotone data give a monotone interpolant, so it never oscillates between points.
- ``"cubic"``: the original VCEG-M33 method: a least-squares cubic polynomial ``y(x)`` per
  curve (:meth:`numpy.polynomial.Polynomial.fit`), integrated exactly. With 4 points it
  interpolates them; with more it smooths.

Quality can be any score that grows with quality (PSNR, MS-SSIM in dB, VMAF); for a distortion
that falls with quality (MSE, LPIPS) pass its negative or a dB transform. Inputs are 1-D
array-likes that :func:`numpy.asarray` accepts (lists, tuples, numpy arrays; a CPU torch tensor
converts too, a CUDA tensor needs ``.cpu()`` first); everything is computed in float64 and the
result is a Python ``float``. Points may come in any order.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.polynomial import Polynomial
from scipy.interpolate import PchipInterpolator

__all__ = ["BD_METHODS", "bd_psnr", "bd_rate"]

#: The interpolation methods :func:`bd_rate` and :func:`bd_psnr` accept.
BD_METHODS: tuple[str, ...] = ("pchip", "cubic")

#: Fewest points per curve: a cubic has 4 coefficients, and VCEG-M33 and the JVET CTC both use
#: (at least) 4 rate points, so pchip follows the same rule to keep the two methods comparable.
MIN_POINTS = 4


def _curve(rate: Any, quality: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one RD curve; return ``(log10(rate), quality)`` sorted by increasing rate."""
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.ndim != 1 or q.ndim != 1:
        raise ValueError(
            f"rate_{name} and psnr_{name} must be 1-D sequences (one value per operating point), "
            f"got shapes {r.shape} and {q.shape}"
        )
    if r.shape != q.shape:
        raise ValueError(
            f"rate_{name} has {r.size} points but psnr_{name} has {q.size}; pass one quality value "
            "per rate"
        )
    if r.size < MIN_POINTS:
        raise ValueError(
            f"the {name} curve has {r.size} points; BD metrics need at least {MIN_POINTS} "
            "rate-quality points per curve (a cubic has 4 coefficients, and VCEG-M33 and the JVET "
            "CTC use 4 rate points); encode more operating points (λ or QP values)"
        )
    for label, v in ((f"rate_{name}", r), (f"psnr_{name}", q)):
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise ValueError(
                f"{label} has NaN or infinite values at indices {bad.tolist()}; drop those points"
            )
    nonpositive = np.flatnonzero(r <= 0)
    if nonpositive.size:
        raise ValueError(
            f"rate_{name} must be > 0 (BD metrics use log10(rate)), got "
            f"{r[nonpositive].tolist()} at indices {nonpositive.tolist()}"
        )
    for label, v in ((f"rate_{name}", r), (f"psnr_{name}", q)):
        values, counts = np.unique(v, return_counts=True)
        repeated = values[counts > 1]
        if repeated.size:
            where = {float(x): np.flatnonzero(v == x).tolist() for x in repeated}
            raise ValueError(
                f"{label} has repeated values {where} (value: indices); every point of a curve "
                "needs a distinct rate and quality: drop or average the duplicates"
            )
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    drops = np.flatnonzero(np.diff(q) <= 0)
    if drops.size:
        pairs = [(float(r[i]), float(r[i + 1])) for i in drops]
        raise ValueError(
            f"the {name} curve is not monotone: after sorting by rate, quality does not increase "
            f"between the rates {pairs}; BD metrics need quality strictly increasing with rate "
            "(drop the dominated points)"
        )
    return np.log10(r), q


def _overlap(x_ref: np.ndarray, x_test: np.ndarray, axis: str) -> tuple[float, float]:
    lo = max(float(x_ref.min()), float(x_test.min()))
    hi = min(float(x_ref.max()), float(x_test.max()))
    if not lo < hi:
        raise ValueError(
            f"the curves do not overlap in {axis}: reference spans "
            f"[{x_ref.min():.6g}, {x_ref.max():.6g}], test [{x_test.min():.6g}, "
            f"{x_test.max():.6g}]; BD metrics average over the common interval and extrapolation "
            "is invalid: add operating points so that the ranges overlap"
        )
    return lo, hi


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over ``[lo, hi]`` of the interpolant of ``y(x)``."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi))
    # Polynomial.fit works on x mapped to [-1, 1] (better conditioned than np.polyfit on PSNRs
    # around 30-40 dB); integ() carries the mapping, so the antiderivative is in the original x.
    antiderivative = Polynomial.fit(x, y, deg=3).integ()
    return float(antiderivative(hi) - antiderivative(lo))


def _check_method(method: str) -> None:
    if method not in BD_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(BD_METHODS)}")


def bd_rate(
    rate_ref: Any,
    psnr_ref: Any,
    rate_test: Any,
    psnr_test: Any,
    method: Literal["pchip", "cubic"] = "pchip",
) -> float:
    """Bjøntegaard delta rate: average bitrate difference of the test curve, in percent.

    ``x = quality``, ``y = log10(rate)``; both curves are interpolated (``method``) and integrated
    over the common quality interval ``[x_lo, x_hi]``, and
    ``(10 ** ((∫y_test − ∫y_ref) / (x_hi − x_lo)) − 1) · 100`` is returned.

    Args:
        rate_ref: (n,) rates of the reference codec, > 0, any unit (bpp, bits, kbit/s), the same
            unit as ``rate_test``.
        psnr_ref: (n,) quality of the reference at those rates: PSNR in dB or any score that
            grows with quality, strictly increasing with rate.
        rate_test: (m,) rates of the tested codec (``m`` may differ from ``n``).
        psnr_test: (m,) quality of the tested codec, same unit as ``psnr_ref``.
        method: ``"pchip"`` (JVET CTC, default) or ``"cubic"`` (VCEG-M33 polynomial).

    Returns:
        The BD-rate in percent; negative means the test codec needs fewer bits for the same
        quality (−20.0 = 20 % fewer).

    Raises:
        ValueError: fewer than 4 points in a curve, mismatched lengths, NaN/inf, a rate <= 0,
            repeated rates or qualities, quality not increasing with rate, curves whose quality
            ranges do not overlap, or an unknown ``method``.
    """
    _check_method(method)
    y_ref, x_ref = _curve(rate_ref, psnr_ref, "ref")
    y_test, x_test = _curve(rate_test, psnr_test, "test")
    lo, hi = _overlap(x_ref, x_test, "quality (psnr)")
    delta = (
        _integral(x_test, y_test, lo, hi, method) - _integral(x_ref, y_ref, lo, hi, method)
    ) / (hi - lo)
    return float((10.0**delta - 1.0) * 100.0)


def bd_psnr(
    rate_ref: Any,
    psnr_ref: Any,
    rate_test: Any,
    psnr_test: Any,
    method: Literal["pchip", "cubic"] = "pchip",
) -> float:
    """Bjøntegaard delta PSNR: average quality difference of the test curve at equal rate.

    ``x = log10(rate)``, ``y = quality``; both curves are interpolated (``method``) and
    integrated over the common log-rate interval, and the mean gap
    ``(∫y_test − ∫y_ref) / (x_hi − x_lo)`` is returned.

    Args:
        rate_ref: (n,) rates of the reference codec, > 0, the same unit as ``rate_test``.
        psnr_ref: (n,) quality of the reference (PSNR in dB or any score that grows with quality).
        rate_test: (m,) rates of the tested codec.
        psnr_test: (m,) quality of the tested codec.
        method: ``"pchip"`` (default) or ``"cubic"``.

    Returns:
        The BD-PSNR in the unit of the quality (dB for PSNR); positive means the test codec gives
        higher quality at the same rate.

    Raises:
        ValueError: as :func:`bd_rate`, with the overlap taken on the rate axis.
    """
    _check_method(method)
    x_ref, y_ref = _curve(rate_ref, psnr_ref, "ref")
    x_test, y_test = _curve(rate_test, psnr_test, "test")
    lo, hi = _overlap(x_ref, x_test, "log10(rate)")
    return float(
        (_integral(x_test, y_test, lo, hi, method) - _integral(x_ref, y_ref, lo, hi, method))
        / (hi - lo)
    )
