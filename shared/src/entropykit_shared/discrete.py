"""Discrete entropies and divergences: Shannon, Rényi, Tsallis, Hill numbers,
Miller-Madow, KL and Jensen-Shannon.

Every function takes probabilities or counts (normalised along ``axis``), numpy or torch
(numpy in -> numpy out; torch in -> torch out with autograd), and is batched over all other axes.
Entropies are in nats unless ``base`` says otherwise (``base=2``: bits). ``0 log 0 = 0`` is exact:
terms use ``entr`` / ``xlogy``, never ``p * log(p + eps)``.

Gradients: ``d(-p log p)/dp = -(log p + 1)`` is infinite at ``p = 0``. When the input requires a
gradient the log takes ``max(p, c)`` (``c = 1e-12`` in float64, ``1e-7`` in float32) so that
gradients stay finite; the value then differs from the exact one by at most ``c / e`` per entry
below ``c``. Without autograd the values are exact.
"""

from __future__ import annotations

import math
from typing import Any

from entropykit_shared._backend import check_base, is_tensor, restore, to_base, to_torch

SHANNON_TOL = 1e-6  # |alpha - 1| below this uses the Shannon formula (Rényi, Tsallis limits)


def _log_floor(t: Any) -> float:
    """The clamp used inside logs on the autograd path."""
    import torch

    return 1e-12 if t.dtype == torch.float64 else 1e-7


def _neg_xlogx(q: Any) -> Any:
    """Elementwise ``-q log q`` with ``0 log 0 = 0``; finite gradients on the autograd path."""
    import torch

    if q.requires_grad:
        return -torch.special.xlogy(q, q.clamp_min(_log_floor(q)))
    return torch.special.entr(q)


def _prepare(p: Any, axis: int, name: str) -> tuple[Any, bool]:
    """``p`` as a torch tensor with ``axis`` moved last, validated (finite, >= 0, >= 1-D)."""
    import torch

    numpy_in = not is_tensor(p)
    t = to_torch(p, name=name)
    if t.ndim == 0:
        raise ValueError(f"{name} must have at least one axis of outcomes, got a scalar")
    if not -t.ndim <= axis < t.ndim:
        raise ValueError(f"axis={axis} is out of range for {name} with shape {tuple(t.shape)}")
    if t.shape[axis] == 0:
        raise ValueError(f"{name} has no outcomes along axis {axis} (size 0)")
    bad = int((~torch.isfinite(t)).sum().item())
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them")
    neg = int((t < 0).sum().item())
    if neg:
        raise ValueError(
            f"{name} has {neg} negative entries; probabilities and counts must be >= 0"
        )
    return torch.movedim(t, axis, -1), numpy_in


def _normalise(t: Any, name: str) -> Any:
    """Divide by the sum along the last axis; every distribution needs positive mass."""
    total = t.sum(dim=-1, keepdim=True)
    empty = int((total <= 0).sum().item())
    if empty:
        raise ValueError(
            f"{name} has {empty} distribution(s) with zero total mass along the outcome axis; "
            "each needs at least one positive entry"
        )
    return t / total


def _probabilities(p: Any, axis: int, name: str = "p") -> tuple[Any, bool]:
    t, numpy_in = _prepare(p, axis, name)
    return _normalise(t, name), numpy_in


def _shannon(q: Any) -> Any:
    """Shannon entropy in nats of normalised ``q`` along the last axis."""
    return _neg_xlogx(q).sum(dim=-1)


def _check_order(value: float, name: str, *, allow_inf: bool) -> float:
    a = float(value)
    if math.isnan(a) or a < 0 or (math.isinf(a) and not allow_inf):
        upper = "math.inf" if allow_inf else "a finite number"
        raise ValueError(f"{name} must lie in [0, {upper}], got {value}")
    return a


def _renyi_nats(q: Any, alpha: float) -> Any:
    """Rényi entropy in nats of normalised ``q`` along the last axis (log-space)."""
    import torch

    support = q > 0
    if abs(alpha - 1.0) < SHANNON_TOL:
        return _shannon(q)
    if alpha == 0.0:
        return torch.log(support.sum(dim=-1).to(q.dtype))
    if math.isinf(alpha):
        return -torch.log(q.amax(dim=-1))
    log_q = torch.log(torch.where(support, q, torch.ones_like(q)))
    scaled = torch.where(support, alpha * log_q, torch.full_like(q, -math.inf))
    return torch.logsumexp(scaled, dim=-1) / (1.0 - alpha)


def entropy(p: Any, base: float = math.e, axis: int = -1) -> Any:
    """Shannon entropy ``H(p) = -sum_i p_i log p_i`` of probabilities or counts along ``axis``.

    Args:
        p: non-negative array, normalised along ``axis`` (counts are fine); shape (..., K, ...).
        base: ``math.e`` (nats) or 2 (bits).
        axis: the outcome axis.

    Returns:
        The entropies, shape of ``p`` without ``axis`` (a float for 1-D input). O(K) per row.
    """
    check_base(base)
    q, numpy_in = _probabilities(p, axis)
    return restore(to_base(_shannon(q), base), numpy_in)


def renyi_entropy(p: Any, alpha: float, base: float = math.e, axis: int = -1) -> Any:
    """Rényi entropy ``H_alpha = log(sum_i p_i^alpha) / (1 - alpha)`` along ``axis``.

    ``alpha`` lies in ``[0, math.inf]``: 0 gives log of the support size, 1 (within 1e-6) the
    Shannon entropy, ``math.inf`` the min-entropy ``-log max_i p_i``. Computed in log space as
    ``logsumexp(alpha log p) / (1 - alpha)`` over the support. Units follow ``base``; shape as
    :func:`entropy`.
    """
    check_base(base)
    a = _check_order(alpha, "alpha", allow_inf=True)
    q, numpy_in = _probabilities(p, axis)
    return restore(to_base(_renyi_nats(q, a), base), numpy_in)


def hill_number(p: Any, q: float, axis: int = -1) -> Any:
    """Hill number (effective number of outcomes) ``D_q = exp(H_q)`` with ``H_q`` the Rényi
    entropy of order ``q`` in nats; ``q`` in ``[0, math.inf]``. Unitless, in ``[1, K]``."""
    import torch

    order = _check_order(q, "q", allow_inf=True)
    probs, numpy_in = _probabilities(p, axis)
    return restore(torch.exp(_renyi_nats(probs, order)), numpy_in)


def tsallis_entropy(p: Any, q: float, axis: int = -1) -> Any:
    """Tsallis entropy ``S_q = (1 - sum_i p_i^q) / (q - 1)`` along ``axis``; ``q >= 0`` finite.

    Computed as ``-sum_i p_i expm1((q - 1) log p_i) / (q - 1)`` over the support (no
    cancellation near ``q = 1``); ``|q - 1| < 1e-6`` gives the Shannon entropy in nats. ``q = 0``
    gives the support size minus one. Tsallis entropy is not logarithmic, so it has no ``base``.
    """
    import torch

    order = _check_order(q, "q", allow_inf=False)
    probs, numpy_in = _probabilities(p, axis)
    if abs(order - 1.0) < SHANNON_TOL:
        return restore(_shannon(probs), numpy_in)
    support = probs > 0
    log_p = torch.log(torch.where(support, probs, torch.ones_like(probs)))
    terms = torch.where(support, probs * torch.expm1((order - 1.0) * log_p), 0.0)
    return restore(-terms.sum(dim=-1) / (order - 1.0), numpy_in)


def miller_madow_entropy(
    counts: Any, base: float = math.e, axis: int = -1, *, return_se: bool = False
) -> Any:
    """Miller-Madow bias-corrected entropy from counts: ``H_plugin + (m - 1) / (2 N)``.

    ``m`` is the number of occupied bins and ``N`` the total count along ``axis``. The plug-in
    estimate is biased low by about ``(m - 1) / (2 N)`` nats; this removes the first-order term.

    Args:
        counts: non-negative integer-valued counts, shape (..., K, ...).
        base: ``math.e`` (nats) or 2 (bits).
        axis: the bin axis.
        return_se: also return the delta-method standard error
            ``sqrt((sum_i p_i log^2 p_i - H^2) / N)`` of the plug-in entropy.

    Returns:
        The estimates (shape of ``counts`` without ``axis``), or ``(estimate, se)``.
    """
    import torch

    check_base(base)
    c, numpy_in = _prepare(counts, axis, "counts")
    if not bool((c == torch.round(c)).all()):
        raise ValueError(
            "counts must be integer-valued for the Miller-Madow correction; "
            "pass probabilities to entropy() instead"
        )
    probs = _normalise(c, "counts")
    n_total = c.sum(dim=-1)
    occupied = (c > 0).sum(dim=-1).to(c.dtype)
    plugin = _shannon(probs)
    estimate = to_base(plugin + (occupied - 1.0) / (2.0 * n_total), base)
    if not return_se:
        return restore(estimate, numpy_in)
    support = probs > 0
    log_p = torch.log(torch.where(support, probs, torch.ones_like(probs)))
    second = (probs * log_p * log_p).sum(dim=-1)
    se = to_base(torch.sqrt((second - plugin * plugin).clamp_min(0.0) / n_total), base)
    return restore((estimate, se), numpy_in)


def _kl_terms(p: Any, q: Any) -> Any:
    """Elementwise ``p log(p / q)`` (0 where p = 0; +inf where p > 0 and q = 0)."""
    import torch

    log_arg = p.clamp_min(_log_floor(p)) if p.requires_grad else p
    # keep q where it is positive or where p needs it; elsewhere log(1) avoids 0/0 gradients
    q_safe = torch.where((p > 0) | (q > 0), q, torch.ones_like(q))
    return torch.special.xlogy(p, log_arg) - torch.special.xlogy(p, q_safe)


def _pair(p: Any, q: Any, axis: int) -> tuple[Any, Any, bool]:
    import torch

    pt, numpy_in = _probabilities(p, axis, "p")
    qt, _ = _probabilities(q, axis, "q")
    qt = qt.to(dtype=pt.dtype, device=pt.device)
    try:
        pt, qt = torch.broadcast_tensors(pt, qt)
    except RuntimeError as exc:
        raise ValueError(
            "p and q must have broadcastable shapes with the same number of outcomes; with the "
            f"outcome axis moved last they are {tuple(pt.shape)} and {tuple(qt.shape)}"
        ) from exc
    return pt, qt, numpy_in and not is_tensor(q)


def kl_divergence(p: Any, q: Any, base: float = math.e, axis: int = -1) -> Any:
    """Kullback-Leibler divergence ``KL(p || q) = sum_i p_i log(p_i / q_i)`` along ``axis``.

    Both inputs are normalised along ``axis`` and broadcast against each other. The result is
    ``inf`` where ``p_i > 0 = q_i``. Units follow ``base``; shape of the broadcast inputs without
    ``axis``.
    """
    check_base(base)
    pt, qt, numpy_in = _pair(p, q, axis)
    return restore(to_base(_kl_terms(pt, qt).sum(dim=-1), base), numpy_in)


def js_divergence(p: Any, q: Any, base: float = math.e, axis: int = -1) -> Any:
    """Jensen-Shannon divergence ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``.

    Always finite, in ``[0, log 2]`` (``[0, 1]`` bits). This is the divergence itself;
    ``scipy.spatial.distance.jensenshannon`` returns its square root (a metric).
    """
    check_base(base)
    pt, qt, numpy_in = _pair(p, q, axis)
    m = 0.5 * (pt + qt)
    js = 0.5 * (_kl_terms(pt, m).sum(dim=-1) + _kl_terms(qt, m).sum(dim=-1))
    return restore(to_base(js, base), numpy_in)
