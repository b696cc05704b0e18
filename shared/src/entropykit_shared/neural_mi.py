"""Variational (neural) lower bounds on mutual information from critic scores.

A critic T(x, y) is any network; these functions turn its outputs into the bound and stay
differentiable, so the negated bound is the training loss. Scores on joint pairs (x_i, y_i) come
from the data; scores on the product of marginals come from pairs with y shuffled inside the batch
(:func:`shuffle_pairs`) or from the off-diagonal of a (B, B) score matrix.

All log-mean-exps are ``logsumexp - log n``. Results are in nats unless ``base=2``. numpy in gives
numpy out; torch in gives torch out with autograd. Clip the critic's outputs (e.g. ``tanh`` times
a scale) when training with NWJ or DV: e^T explodes otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from entropykit_shared._backend import check_finite, is_tensor, restore, to_base, to_torch


def _scores(x: Any, name: str, ndim: int) -> Any:
    t = to_torch(x, name=name)
    check_finite(t, name)
    if t.ndim < ndim:
        raise ValueError(
            f"{name} must have at least {ndim} dimension(s), got shape {tuple(t.shape)}"
        )
    if t.shape[-1] < 1:
        raise ValueError(f"{name} is empty along its last axis (shape {tuple(t.shape)})")
    return t


def _log_mean_exp(t: Any) -> Any:
    import torch

    return torch.logsumexp(t, dim=-1) - math.log(t.shape[-1])


def infonce_bound(scores: Any, base: float = math.e) -> Any:
    """InfoNCE (CPC) lower bound ``I >= log B - L_NCE``, with
    ``L_NCE = -(1/B) sum_i [s_ii - logsumexp_j s_ij]``.

    The bound never exceeds log B (each s_ii <= logsumexp_j s_ij), so it saturates for
    I(X; Y) > log B: use large batches for large MI.

    Args:
        scores: (..., B, B) critic matrix, ``scores[..., i, j] = T(x_i, y_j)``; the positive
            (joint) pairs are on the diagonal.
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        (...) bound values; differentiable for torch input. O(B^2).
    """
    numpy_in = not is_tensor(scores)
    s = _scores(scores, "scores", 2)
    b = s.shape[-1]
    if s.shape[-2] != b or b < 2:
        raise ValueError(
            f"scores must be a (..., B, B) matrix with B >= 2 (positives on the diagonal), got "
            f"shape {tuple(s.shape)}"
        )
    pos = s.diagonal(dim1=-2, dim2=-1)
    bound = (pos - _log_mean_exp(s)).mean(-1)
    return restore(to_base(bound, base), numpy_in)


def _joint_marginal(joint_scores: Any, marginal_scores: Any) -> tuple[Any, Any, bool]:
    numpy_in = not is_tensor(joint_scores)
    tp = _scores(joint_scores, "joint_scores", 1)
    tq = _scores(marginal_scores, "marginal_scores", 1).to(dtype=tp.dtype, device=tp.device)
    try:
        np.broadcast_shapes(tuple(tp.shape[:-1]), tuple(tq.shape[:-1]))
    except ValueError as exc:
        raise ValueError(
            "joint_scores (..., N) and marginal_scores (..., M) need broadcastable leading "
            f"dimensions, got {tuple(tp.shape)} and {tuple(tq.shape)}"
        ) from exc
    return tp, tq, numpy_in


def nwj_bound(
    joint_scores: Any, marginal_scores: Any, base: float = math.e, return_se: bool = False
) -> Any:
    """NWJ (f-divergence) lower bound ``I >= E_P[T] - e^{-1} E_Q[e^T]``.

    ``e^{-1} E_Q[e^T]`` is computed as ``exp(logmeanexp(T_Q) - 1)``. Unbiased in the mini-batch
    (both terms are plain means), at the price of higher variance than DV. The optimal critic is
    ``T* = 1 + log p(x, y) / (p(x) p(y))``, where the bound equals I.

    Args:
        joint_scores: (..., N) critic values on joint pairs (x_i, y_i).
        marginal_scores: (..., M) critic values on product-of-marginals pairs.
        base: logarithm base (``math.e``: nats, 2: bits).
        return_se: also return the standard error
            ``sqrt(var(T_P)/N + var(e^{T_Q - 1})/M)`` (needs N, M >= 2).

    Returns:
        (...) bound values (and their standard errors); differentiable for torch input.
    """
    import torch

    tp, tq, numpy_in = _joint_marginal(joint_scores, marginal_scores)
    bound = tp.mean(-1) - torch.exp(_log_mean_exp(tq) - 1.0)
    if not return_se:
        return restore(to_base(bound, base), numpy_in)
    if tp.shape[-1] < 2 or tq.shape[-1] < 2:
        raise ValueError("return_se needs at least 2 joint and 2 marginal scores")
    var = tp.var(-1) / tp.shape[-1] + torch.exp(tq - 1.0).var(-1) / tq.shape[-1]
    return restore((to_base(bound, base), to_base(var.sqrt(), base)), numpy_in)


def mine_bound(
    joint_scores: Any,
    marginal_scores: Any,
    ema: Any = None,
    ema_rate: float = 0.01,
    base: float = math.e,
) -> tuple[Any, Any]:
    """Donsker-Varadhan (MINE) lower bound ``I >= E_P[T] - log E_Q[e^T]``, with MINE's
    moving-average correction of the gradient.

    Bias correction: the mini-batch gradient of ``log mean_Q e^T`` is
    ``mean_Q(e^T grad T) / mean_Q(e^T)``, a ratio of two estimates from the same batch and hence
    biased. MINE replaces the denominator by an exponential moving average of past batch means,
    ``ema <- (1 - ema_rate) ema + ema_rate mean_Q(e^T)`` (updated with the current batch, then
    used; kept in log space internally). The returned ``bound`` has the value of the DV bound on
    this batch, but its gradient is ``mean_P(grad T) - mean_Q(e^T grad T) / ema`` (the value of
    the surrogate ``mean_P T - mean_Q e^T / ema`` is swapped out, its gradient kept). With
    ``ema=None`` the average starts at the current batch mean (so there is no zero-initialisation
    bias to undo), and the first gradient is the plain DV gradient. The DV value itself stays a
    biased (upward, by Jensen on the log) mini-batch estimate of the bound.

    Args:
        joint_scores: (..., N) critic values on joint pairs.
        marginal_scores: (..., M) critic values on product-of-marginals pairs.
        ema: the running average of ``E_Q[e^T]`` returned by the previous call (> 0), or None.
        ema_rate: the moving-average rate in (0, 1] (MINE: 0.01).
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        ``(bound, ema)``: the (...) bound values and the updated running average (detached).
    """
    import torch

    rate = float(ema_rate)
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"ema_rate must lie in (0, 1], got {ema_rate}")
    tp, tq, numpy_in = _joint_marginal(joint_scores, marginal_scores)
    lme = _log_mean_exp(tq)
    if ema is None:
        log_ema = lme.detach()
    else:
        prev = to_torch(ema, dtype=tp.dtype, name="ema").to(tp.device).detach()
        check_finite(prev, "ema")
        if bool((prev <= 0).any()):
            raise ValueError(
                "ema must be the positive running average of E_Q[e^T] returned by the previous "
                "call; pass None to start a new one"
            )
        log_ema = torch.logaddexp(
            math.log1p(-rate) + prev.log() if rate < 1.0 else torch.full_like(prev, -math.inf),
            math.log(rate) + lme.detach(),
        )
    mean_p = tp.mean(-1)
    dv = mean_p - lme
    surrogate = mean_p - torch.exp(lme - log_ema)
    bound = dv.detach() + (surrogate - surrogate.detach())
    return restore((to_base(bound, base), log_ema.exp()), numpy_in)


def shuffle_pairs(y: Any, seed: int | np.random.Generator | Any | None = None) -> Any:
    """``y`` with its rows permuted by a random derangement (no row stays in place), so that
    (x_i, y_shuffled_i) are samples of the product of marginals p(x) p(y).

    Args:
        y: (B, ...) array or tensor, B >= 2.
        seed: int, ``numpy.random.Generator``, ``torch.Generator`` or None (global RNG state is
            never touched).

    Returns:
        The permuted rows, same kind, shape and device as ``y``. Rejection sampling of uniform
        permutations, about e tries on average, O(B) each.
    """
    n = len(y)
    if n < 2:
        raise ValueError(f"y needs at least 2 rows to shuffle into distinct pairs, got {n}")
    is_torch_gen = type(seed).__module__.startswith("torch")
    if is_torch_gen:
        import torch

        def draw() -> np.ndarray:
            return torch.randperm(n, generator=seed).numpy()
    else:
        rng = np.random.default_rng(seed)

        def draw() -> np.ndarray:
            return rng.permutation(n)

    ar = np.arange(n)
    perm = draw()
    while (perm == ar).any():
        perm = draw()
    if is_tensor(y):
        import torch

        return y[torch.as_tensor(perm, device=y.device)]
    return np.asarray(y)[perm]
