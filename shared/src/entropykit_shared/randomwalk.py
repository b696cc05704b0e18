"""Markov random-walk quantities on similarity graphs: row normalisation, stationary
distributions, entropy rates and the Bayes inversion of a channel.

Conventions: a transition matrix ``p`` is row-stochastic, ``p[..., i, j] = P(next = j | now = i)``;
a distribution over states is a row vector (``pi @ p`` is one step). Every function accepts numpy
or torch (numpy in -> numpy out), is batched over leading dimensions and differentiable in torch
(except ``method="eig"`` of :func:`stationary_distribution`). Entropies are in nats unless
``base`` says otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from entropykit_shared._backend import check_finite, is_tensor, restore, to_base, to_torch

ZERO_ROW_POLICIES: tuple[str, ...] = ("raise", "uniform")
STATIONARY_METHODS: tuple[str, ...] = ("solve", "eig", "power")
_ROW_SUM_TOL = 1e-8


def _as_matrix(x: Any, name: str, *, square: bool) -> tuple[Any, bool]:
    numpy_in = not is_tensor(x)
    t = to_torch(x, name=name)
    if t.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., n, m) with at least 2 dims, got {tuple(t.shape)}"
        )
    if square and t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must be square in its last two dims, got shape {tuple(t.shape)}")
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    check_finite(t, name)
    if bool((t < 0).any()):
        raise ValueError(
            f"{name} has negative entries (min {float(t.min()):.3g}); similarities and "
            "probabilities must be >= 0: use |s| or (1 + s) / 2 for cosine similarities"
        )
    return t, numpy_in


def _check_stochastic(p: Any, name: str) -> None:
    dev = float((p.detach().sum(dim=-1) - 1.0).abs().max())
    if dev > _ROW_SUM_TOL:
        raise ValueError(
            f"the rows of {name} must sum to 1 (largest deviation {dev:.3g}); "
            "build it with row_normalize(s)"
        )


def _check_distribution(q: Any, name: str) -> None:
    if bool((q < 0).any()):
        raise ValueError(f"{name} has negative probabilities (min {float(q.min()):.3g})")
    dev = float((q.detach().sum(dim=-1) - 1.0).abs().max())
    if dev > _ROW_SUM_TOL:
        raise ValueError(f"{name} must sum to 1 along its last axis (largest deviation {dev:.3g})")


def row_normalize(s: Any, *, zero_rows: str = "raise") -> Any:
    """Row-stochastic transition matrix ``P = D^{-1} S`` of a nonnegative similarity ``s``.

    Args:
        s: (..., n, m) nonnegative similarities (n = m for a random walk; rectangular channels
            are allowed).
        zero_rows: ``"raise"`` (default) raises on rows that sum to 0, naming them;
            ``"uniform"`` gives such rows the uniform distribution 1/m (a walker on an isolated
            node jumps anywhere).

    Returns:
        (..., n, m) matrix whose rows sum to 1.
    """
    import torch

    if zero_rows not in ZERO_ROW_POLICIES:
        raise ValueError(f"zero_rows must be one of {ZERO_ROW_POLICIES}, got {zero_rows!r}")
    t, numpy_in = _as_matrix(s, "s", square=False)
    d = t.sum(dim=-1, keepdim=True)
    zero = d == 0
    if bool(zero.any()):
        if zero_rows == "raise":
            rows = zero.squeeze(-1).nonzero().tolist()[:10]
            raise ValueError(
                f"s has rows that sum to 0 (index tuples {rows}); remove those states or pass "
                "zero_rows='uniform' for a uniform fallback"
            )
        uniform = torch.full_like(t, 1.0 / t.shape[-1])
        p = torch.where(zero, uniform, t / torch.where(zero, torch.ones_like(d), d))
    else:
        p = t / d
    return restore(p, numpy_in)


def stationary_distribution(
    p: Any, *, method: str = "solve", tol: float = 1e-12, max_iter: int = 100_000
) -> Any:
    """Stationary distribution ``pi`` of a row-stochastic ``p``: ``pi P = pi``, ``sum(pi) = 1``.

    Methods:
        ``"solve"``: the linear system ``(I - P)^T pi^T = 0`` with one equation replaced by
            ``sum(pi) = 1``; exact, batched, differentiable. Needs a unique stationary
            distribution (one closed communicating class).
        ``"eig"``: the left eigenvector of the eigenvalue closest to 1 (``torch.linalg.eig`` of
            ``P^T``); raises when 1 is a repeated eigenvalue (reducible chain). No autograd.
        ``"power"``: power iteration of the lazy chain ``(I + P)/2`` (same ``pi``, aperiodic)
            from the uniform start until the L1 change is below ``tol``; for reducible chains it
            returns the limit reached from the uniform start.

    Args:
        p: (..., n, n) row-stochastic matrix.

    Returns:
        (..., n) probability vector(s).
    """
    import torch

    if method not in STATIONARY_METHODS:
        raise ValueError(f"method must be one of {STATIONARY_METHODS}, got {method!r}")
    t, numpy_in = _as_matrix(p, "p", square=True)
    _check_stochastic(t, "p")
    n = t.shape[-1]
    if method == "solve":
        eye = torch.eye(n, dtype=t.dtype, device=t.device)
        a = (eye - t).transpose(-1, -2).clone()
        a[..., -1, :] = 1.0
        b = torch.zeros(*t.shape[:-1], dtype=t.dtype, device=t.device)
        b[..., -1] = 1.0
        pi, info = torch.linalg.solve_ex(a, b)
        bad = (info != 0) | ~torch.isfinite(pi).all(dim=-1) | (pi < -1e-9).any(dim=-1)
        if bool(bad.any()):
            raise ValueError(
                "p has no unique stationary distribution (reducible chain: several closed "
                "classes); use method='power' for the limit from the uniform start"
            )
        return restore(pi, numpy_in)
    if method == "eig":
        lam, vec = torch.linalg.eig(t.detach().transpose(-1, -2))
        gap = (lam - 1.0).abs()
        if bool(((gap < 1e-8).sum(dim=-1) > 1).any()):
            raise ValueError(
                "p has the eigenvalue 1 more than once (reducible chain): the stationary "
                "distribution is not unique; use method='power' for the limit from the uniform "
                "start"
            )
        idx = gap.argmin(dim=-1)
        v = torch.gather(vec, -1, idx[..., None, None].expand(*vec.shape[:-1], 1))[..., 0].real
        v = v / v.sum(dim=-1, keepdim=True)
        return restore(v.clamp_min(0.0) / v.clamp_min(0.0).sum(dim=-1, keepdim=True), numpy_in)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    lazy = 0.5 * (t + torch.eye(n, dtype=t.dtype, device=t.device))
    pi = torch.full(t.shape[:-1], 1.0 / n, dtype=t.dtype, device=t.device)
    for _ in range(max_iter):
        nxt = (pi[..., None, :] @ lazy)[..., 0, :]
        change = float((nxt - pi).abs().sum(dim=-1).max())
        pi = nxt
        if change < tol:
            return restore(pi, numpy_in)
    raise RuntimeError(
        f"power iteration did not converge in {max_iter} steps (last L1 change {change:.3g}); "
        "raise max_iter or use method='solve'"
    )


def stationary_distribution_from_similarity(s: Any) -> Any:
    """Stationary distribution of the walk ``row_normalize(s)`` on a symmetric similarity ``s``:
    ``pi_i = d_i / sum_j d_j`` with degrees ``d = s 1`` (exact: the walk is reversible).

    Args:
        s: (..., n, n) symmetric nonnegative similarity matrix.

    Returns:
        (..., n) probability vector(s).
    """
    t, numpy_in = _as_matrix(s, "s", square=True)
    asym = float((t - t.transpose(-1, -2)).abs().max())
    if asym > 1e-10 * max(1.0, float(t.abs().max())):
        raise ValueError(
            f"s must be symmetric (max |s - s^T| = {asym:.3g}); for a general chain use "
            "stationary_distribution(row_normalize(s))"
        )
    d = t.sum(dim=-1)
    total = d.sum(dim=-1, keepdim=True)
    if bool((total == 0).any()):
        raise ValueError("s is all zeros: the walk has no stationary distribution")
    return restore(d / total, numpy_in)


def entropy_rate(p: Any, pi: Any = None, *, base: float = math.e, method: str = "solve") -> Any:
    """Entropy rate of a Markov chain, ``h = -sum_i pi_i sum_j P_ij log P_ij`` (0 log 0 = 0).

    Args:
        p: (..., n, n) row-stochastic matrix.
        pi: (..., n) state distribution; None uses the stationary distribution (``method``).
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        scalar (or (...) batch) entropy rate in units of ``base``.
    """
    import torch

    t, numpy_in = _as_matrix(p, "p", square=True)
    _check_stochastic(t, "p")
    if pi is None:
        w = to_torch(stationary_distribution(t, method=method))
    else:
        w = to_torch(pi, dtype=t.dtype, name="pi").to(t.device)
        check_finite(w, "pi")
        if tuple(w.shape) != tuple(t.shape[:-1]):
            raise ValueError(f"pi must have shape {tuple(t.shape[:-1])}, got {tuple(w.shape)}")
        _check_distribution(w, "pi")
    row_h = -torch.special.xlogy(t, t).sum(dim=-1)
    return restore(to_base((w * row_h).sum(dim=-1), base), numpy_in)


def bayes_inversion(channel: Any, prior: Any) -> tuple[Any, Any, Any]:
    """Invert a channel with Bayes' rule.

    With ``channel[..., i, j] = P(B = j | A = i)`` (row-stochastic) and
    ``prior[..., i] = P(A = i)``:
    ``joint[i, j] = prior_i channel_ij``, ``marginal[j] = sum_i joint[i, j]`` and
    ``posterior[j, i] = P(A = i | B = j) = joint[i, j] / marginal[j]`` (row-stochastic, rows
    indexed by B). Inv-Entropy's step: ``channel = P_Y P_X`` (rows y, columns x), ``prior = pi P_Y``
    gives ``posterior = P(y | x)`` with rows x and ``marginal = P(X)``.

    Args:
        channel: (..., n, m) row-stochastic matrix.
        prior: (..., n) probabilities.

    Returns:
        ``(posterior, marginal, joint)`` of shapes (..., m, n), (..., m), (..., n, m).
    """
    c, numpy_in = _as_matrix(channel, "channel", square=False)
    _check_stochastic(c, "channel")
    w = to_torch(prior, dtype=c.dtype, name="prior").to(c.device)
    check_finite(w, "prior")
    if tuple(w.shape) != tuple(c.shape[:-1]):
        raise ValueError(f"prior must have shape {tuple(c.shape[:-1])}, got {tuple(w.shape)}")
    _check_distribution(w, "prior")
    joint = w[..., :, None] * c
    marginal = joint.sum(dim=-2)
    if bool((marginal == 0).any()):
        cols = (marginal == 0).nonzero().tolist()[:10]
        raise ValueError(
            f"the marginal is 0 at (batch..., column) {cols}: P(A | B = j) is undefined there; "
            "drop those outputs or smooth the channel"
        )
    posterior = (joint / marginal[..., None, :]).transpose(-1, -2)
    return restore((posterior, marginal, joint), numpy_in)
