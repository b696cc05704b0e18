"""Nearest-neighbour entropy surrogates for use as differentiable losses.

Two forms, computed from each sample's squared Euclidean distance r_i^2 to its k-th nearest
neighbour (among the other samples of the batch, or in a memory bank):

- :func:`nn_log_mean_distance`: MaEM-GAN's "RB-MaEM" term, the log of the MEAN nearest-neighbour
  squared distance per coordinate, ``log((1/N) sum_i r_i^2 / d)``;
- :func:`kl_entropy_surrogate`: the data term of the Kozachenko-Leonenko estimator, the MEAN of
  the logs, ``(d/N) sum_i log r_i``.

Neither is an entropy estimate: there are no digamma terms and no unit-ball volume, and both
depend on the scale of x (x -> c x adds 2 log|c| to the first and d log|c| to the second).
For N i.i.d. samples of a density p in R^d (neighbours among the other samples),
``H(p) ~ kl_entropy_surrogate + psi(N) - psi(k) + log V_d`` with
``V_d = pi^{d/2} / Gamma(1 + d/2)``; with neighbours in an independent memory of M samples, use
psi(M) in place of psi(N). Only differences of the surrogates at fixed N, k and d are meaningful.
Zero distances (duplicates) are clamped at ``eps`` before the log.

numpy in gives numpy out; torch in gives torch out with autograd (the memory bank is not detached:
pass ``memory.detach()`` for a replay buffer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from entropykit_shared._backend import check_finite, is_tensor, restore, to_torch
from entropykit_shared.kernels import squared_distances


def _knn_squared_distances(
    x: Any, memory: Any, k: int, same_position: bool, eps: float
) -> tuple[Any, bool, int]:
    """The (..., B) squared distances of each sample to its k-th nearest neighbour (clamped),
    whether numpy came in, and the dimension d."""
    import torch

    numpy_in = not is_tensor(x)
    xt = to_torch(x, name="x")
    check_finite(xt, "x")
    if xt.ndim < 2 or xt.shape[-1] < 1:
        raise ValueError(
            f"x must be (..., B, d) samples, got shape {tuple(xt.shape)}; reshape 1-D data with "
            "x[:, None]"
        )
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    if not eps > 0:
        raise ValueError(f"eps must be positive (it replaces zero distances), got {eps}")
    b, d = xt.shape[-2], xt.shape[-1]
    lead = tuple(xt.shape[:-2])
    if memory is None:
        if not k < b:
            raise ValueError(
                f"k must be < the batch size {b} (neighbours among the other samples), got "
                f"k = {k}; lower k or pass a larger batch"
            )
        flat = xt.reshape(-1, b, d)
        self_mask = torch.eye(b, dtype=torch.bool, device=xt.device)
        d2 = torch.stack([squared_distances(row) for row in flat]).masked_fill(
            self_mask, float("inf")
        )
        kth = d2.topk(k, dim=-1, largest=False).values[..., -1].reshape(*lead, b)
        return kth.clamp_min(eps), numpy_in, d
    mem = to_torch(memory, dtype=xt.dtype, name="memory").to(xt.device)
    check_finite(mem, "memory")
    if same_position:
        if mem.ndim < 3 or tuple(mem.shape[-2:]) != (b, d):
            raise ValueError(
                f"with same_position=True memory must be (..., M, B, d) = (..., M, {b}, {d}), "
                f"got shape {tuple(mem.shape)}"
            )
        n_mem = mem.shape[-3]
        if not k <= n_mem:
            raise ValueError(f"k must be <= the memory size {n_mem}, got k = {k}")
        # dist[m, b] = ||memory[m, b] - x[b]||^2: each sample only meets its own batch slot
        d2 = (mem - xt.unsqueeze(-3)).square().sum(-1)
        return d2.topk(k, dim=-2, largest=False).values[..., -1, :].clamp_min(eps), numpy_in, d
    if mem.ndim < 2 or mem.shape[-1] != d:
        raise ValueError(
            f"memory must be (..., M, d) with d = {d} like x, got shape {tuple(mem.shape)}"
        )
    n_mem = mem.shape[-2]
    if not k <= n_mem:
        raise ValueError(f"k must be <= the memory size {n_mem}, got k = {k}")
    try:  # numpy's broadcast_shapes: torch's imports sympy on first use (seconds)
        lead = np.broadcast_shapes(lead, tuple(mem.shape[:-2]))
    except ValueError as exc:
        raise ValueError(
            f"the leading dimensions of x {tuple(xt.shape)} and memory {tuple(mem.shape)} do "
            "not broadcast"
        ) from exc
    xf = xt.expand(*lead, b, d).reshape(-1, b, d)
    mf = mem.expand(*lead, n_mem, d).reshape(-1, n_mem, d)
    d2 = torch.stack([squared_distances(xr, mr) for xr, mr in zip(xf, mf, strict=True)])
    kth = d2.topk(k, dim=-1, largest=False).values[..., -1].reshape(*lead, b)
    return kth.clamp_min(eps), numpy_in, d


def nn_log_mean_distance(
    x: Any, memory: Any = None, *, same_position: bool = False, eps: float = 1e-12
) -> Any:
    """RB-MaEM surrogate ``log((1/B) sum_b min_m ||x_b - m||^2 / d)``: log of the mean squared
    nearest-neighbour distance per coordinate (maximise it to spread samples).

    Not an entropy estimate and scale-dependent (module docstring): x -> c x (memory too) adds
    ``2 log|c|``.

    Args:
        x: (..., B, d) batch (numpy or torch).
        memory: None (neighbours among the other samples of the batch), a (..., M, d) memory bank
            (every sample meets all M entries), or with ``same_position=True`` a (..., M, B, d)
            replay buffer of past batches where sample b only meets the entries in slot b (the
            official MaEM-GAN comparison).
        same_position: see ``memory``.
        eps: lower clamp of the squared distances (duplicates would give log 0).

    Returns:
        (...) values; differentiable for torch input. O(B^2 d) or O(B M d).
    """
    d2, numpy_in, d = _knn_squared_distances(x, memory, 1, same_position, eps)
    return restore((d2 / d).mean(-1).log(), numpy_in)


def kl_entropy_surrogate(
    x: Any,
    memory: Any = None,
    k: int = 1,
    *,
    same_position: bool = False,
    eps: float = 1e-12,
) -> Any:
    """Kozachenko-Leonenko data term ``(d/N) sum_i log r_i``, r_i the Euclidean distance of x_i
    to its k-th nearest neighbour (computed as ``(d/2N) sum_i log r_i^2``).

    Not an entropy estimate: add ``psi(N) - psi(k) + log V_d`` (module docstring) to estimate H
    in nats. Scale-dependent: x -> c x (memory too) adds ``d log|c|``.

    Args:
        x: (..., N, d) batch (numpy or torch).
        memory: None (neighbours among the other samples), a (..., M, d) memory bank, or with
            ``same_position=True`` a (..., M, N, d) replay buffer compared slot by slot.
        k: neighbour order, 1 <= k < N (or <= M with a memory).
        same_position: see ``memory``.
        eps: lower clamp of the squared distances (duplicates would give log 0).

    Returns:
        (...) values in nats; differentiable for torch input. O(N^2 d) or O(N M d).
    """
    d2, numpy_in, d = _knn_squared_distances(x, memory, k, same_position, eps)
    return restore(0.5 * d * d2.log().mean(-1), numpy_in)
