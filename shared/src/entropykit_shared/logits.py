"""Entropy of categorical and binary logits, ensembles (BALD) and long vocabularies.

All entropies are computed from logits, never from a log of a probability:
``H = logsumexp(z) - sum_i softmax(z)_i z_i``, evaluated after shifting by the row maximum as
``H = log l - u / l`` with ``l = sum_i exp(z_i - m)``, ``u = sum_i exp(z_i - m) (z_i - m)``; both
terms are >= 0, so there is no cancellation and ``H >= 0`` exactly. The same recurrence over
blocks of the class axis (flash-attention's online softmax) gives :func:`token_entropies` and
:func:`entropykit_shared.attention.attention_entropy_from_scores`.

``-inf`` logits mark excluded classes (they contribute 0, as in ``Categorical.entropy``); NaN and
``+inf`` are errors. Half-precision inputs are upcast to float32. numpy in -> numpy out; torch in
-> torch out with autograd.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from entropykit_shared._backend import check_base, is_tensor, restore, to_base, to_torch


class BaldDecomposition(NamedTuple):
    """Ensemble entropy decomposition, each of shape (...,) in the requested unit.

    ``total = H[mean_m p_m]``, ``aleatoric = mean_m H[p_m]``,
    ``epistemic = mean_m KL(p_m || mean p) = total - aleatoric`` (the BALD mutual information).
    """

    total: Any
    aleatoric: Any
    epistemic: Any


def _check_scores(t: Any, name: str) -> None:
    """NaN and +inf are errors; -inf means "excluded entry"."""
    import torch

    nan = int(torch.isnan(t).sum().item())
    pos_inf = int(torch.isposinf(t).sum().item())
    if nan or pos_inf:
        raise ValueError(
            f"{name} contains {nan} NaN and {pos_inf} +inf value(s); logits must be finite "
            "(use -inf or a mask for excluded classes)"
        )


def _as_mask(mask: Any, shape: Any, device: Any, name: str = "mask") -> Any:
    """A boolean torch mask broadcast (as a view) to ``shape``; True = valid entry."""
    import torch

    m = mask if is_tensor(mask) else torch.from_numpy(np.array(mask))  # a writable copy
    if m.dtype != torch.bool:
        raise ValueError(f"{name} must be boolean (True = valid entry), got dtype {m.dtype}")
    try:
        return torch.broadcast_to(m.to(device), shape)
    except RuntimeError as exc:
        raise ValueError(
            f"{name} with shape {tuple(m.shape)} does not broadcast to {tuple(shape)}"
        ) from exc


def _online_entropy(
    scores: Any,
    block_size: int,
    *,
    mask: Any = None,
    causal: bool = False,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """Softmax entropy in nats over the last axis of ``scores``, scanning blocks of that axis.

    Keeps per row the running max ``m``, ``l = sum exp(s - m)`` and ``u = sum exp(s - m)(s - m)``
    and returns ``(H, n_valid)`` with ``H = log l - u / l`` (0 for rows without a valid entry).
    Entries are valid when finite and (if given) ``mask`` is True; with ``causal`` key ``j`` is
    valid for query ``i`` only when ``j <= i + (Tk - Tq)``. Each block is cast to ``dtype``.
    The running max is detached: ``H`` does not depend on the reference point.
    """
    import torch

    dtype = scores.dtype if dtype is None else dtype
    n = scores.shape[-1]
    rows = scores.shape[:-1]
    dev = scores.device
    m = torch.full(rows, -math.inf, dtype=dtype, device=dev)
    l_sum = torch.zeros(rows, dtype=dtype, device=dev)
    u_sum = torch.zeros(rows, dtype=dtype, device=dev)
    count = torch.zeros(rows, dtype=torch.int64, device=dev)
    if causal:
        t_q = scores.shape[-2]
        query_pos = torch.arange(t_q, device=dev)[:, None] + (n - t_q)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        s = scores[..., start:stop].to(dtype)
        valid = torch.isfinite(s)
        if mask is not None:
            valid = valid & mask[..., start:stop]
        if causal:
            valid = valid & (torch.arange(start, stop, device=dev)[None, :] <= query_pos)
        block_max = torch.where(valid, s, -math.inf).amax(dim=-1).detach()
        m_new = torch.maximum(m, block_max)
        m_ref = torch.where(torch.isfinite(m_new), m_new, 0.0)
        seen = torch.isfinite(m)
        shift = torch.where(seen, m - m_ref, 0.0)
        scale = torch.where(seen, torch.exp(shift), 0.0)
        d = torch.where(valid, s - m_ref[..., None], 0.0)
        e = torch.where(valid, torch.exp(d), 0.0)
        u_sum = scale * (u_sum + l_sum * shift) + (e * d).sum(dim=-1)
        l_sum = scale * l_sum + e.sum(dim=-1)
        m = m_new
        count = count + valid.sum(dim=-1)
    has = l_sum > 0
    l_safe = torch.where(has, l_sum, 1.0)
    return torch.where(has, torch.log(l_safe) - u_sum / l_safe, 0.0), count


def _normalised(h: Any, count: Any) -> Any:
    """``H / log(n_valid)``; rows with at most one valid entry give 0."""
    import torch

    denom = torch.log(count.clamp_min(2).to(h.dtype))
    return torch.where(count > 1, h / denom, 0.0)


def entropy_from_logits(
    logits: Any,
    dim: int = -1,
    mask: Any = None,
    temperature: float = 1.0,
    normalize: bool = False,
    base: float = math.e,
) -> Any:
    """Entropy of ``softmax(logits / temperature)`` along ``dim``:
    ``H = logsumexp(z) - sum_i softmax(z)_i z_i``.

    Args:
        logits: (..., K, ...) real logits; ``-inf`` entries are excluded classes.
        dim: the class axis.
        mask: boolean, broadcastable to ``logits``; True = valid class (False entries are
            excluded like ``-inf`` logits; the softmax is renormalised over the valid ones).
        temperature: ``T > 0``; the logits are divided by it.
        normalize: divide by ``log K_valid`` (the number of valid classes of the row), giving a
            unitless value in [0, 1] (rows with one valid class give 0); ``base`` is then ignored.
        base: ``math.e`` (nats) or 2 (bits).

    Returns:
        Entropies of shape ``logits.shape`` without ``dim``. O(K) per row, exact gradient.
    """
    import torch

    check_base(base)
    t_val = float(temperature)
    if not (t_val > 0 and math.isfinite(t_val)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    numpy_in = not is_tensor(logits)
    z = to_torch(logits, name="logits")
    if z.ndim == 0:
        raise ValueError("logits must have a class axis, got a scalar")
    _check_scores(z, "logits")
    if not -z.ndim <= dim < z.ndim:
        raise ValueError(f"dim={dim} is out of range for logits with shape {tuple(z.shape)}")
    m = None if mask is None else torch.movedim(_as_mask(mask, z.shape, z.device), dim, -1)
    z = torch.movedim(z, dim, -1) / t_val
    h, count = _online_entropy(z, max(z.shape[-1], 1), mask=m)
    empty = int((count == 0).sum().item())
    if empty:
        raise ValueError(
            f"{empty} row(s) of logits have no valid class (all -inf or masked out); "
            "each row needs at least one valid entry"
        )
    out = _normalised(h, count) if normalize else to_base(h, base)
    return restore(out, numpy_in)


def token_entropies(
    logits: Any,
    chunk_size: int = 8192,
    temperature: float = 1.0,
    base: float = math.e,
) -> Any:
    """Per-token entropy over a large vocabulary (last axis), scanning it in chunks.

    Same value as :func:`entropy_from_logits` (``dim=-1``), computed with the online recurrence
    ``H = log l - u / l`` over vocabulary chunks of ``chunk_size``: only one (..., chunk_size)
    block is upcast (bf16/fp16 -> float32) and exponentiated at a time, so peak extra memory is
    O(B T chunk_size) instead of several (B, T, V) float32 temporaries. Run it under
    ``torch.no_grad()`` for the memory saving (autograd works but keeps each chunk).

    Args:
        logits: (..., V) logits, e.g. (B, T, V) language-model outputs; ``-inf`` = excluded.
        chunk_size: vocabulary entries per chunk (>= 1).
        temperature: ``T > 0``; the logits are divided by it.
        base: ``math.e`` (nats) or 2 (bits).

    Returns:
        (...,) entropies. O(V) per token.
    """
    import torch

    check_base(base)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    t_val = float(temperature)
    if not (t_val > 0 and math.isfinite(t_val)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    numpy_in = not is_tensor(logits)
    z = logits if not numpy_in else to_torch(logits, name="logits")
    if not z.is_floating_point():
        z = z.to(torch.float64)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty vocabulary axis, got {tuple(z.shape)}")
    _check_scores(z, "logits")
    dtype = torch.float32 if z.dtype in (torch.float16, torch.bfloat16) else z.dtype
    h, count = _online_entropy(z / t_val if t_val != 1.0 else z, int(chunk_size), dtype=dtype)
    if bool((count == 0).any()):
        raise ValueError("some tokens have all logits -inf; each row needs one finite logit")
    return restore(to_base(h, base), numpy_in)


def bald(
    logits_members: Any, member_dim: int = 0, dim: int = -1, base: float = math.e
) -> BaldDecomposition:
    """Total, aleatoric and epistemic (BALD mutual information) entropy of an ensemble.

    With member probabilities ``p_m = softmax(z_m)`` and ``pbar = mean_m p_m`` (computed as
    ``logsumexp_m log p_m - log M``): ``total = H[pbar]``, ``aleatoric = mean_m H[p_m]``,
    ``epistemic = mean_m KL(p_m || pbar)``, which equals ``total - aleatoric`` and is computed as
    a mean of KL terms (no cancellation of two large entropies), clamped at 0 against rounding.

    Args:
        logits_members: logits with a member axis (M members or MC samples) and a class axis,
            e.g. (M, B, K); ``-inf`` entries are excluded classes.
        member_dim: the member axis; dim: the class axis (indices in ``logits_members``).
        base: ``math.e`` (nats) or 2 (bits).

    Returns:
        :class:`BaldDecomposition` of arrays with both axes removed. O(M K) per row.
    """
    import torch

    check_base(base)
    numpy_in = not is_tensor(logits_members)
    z = to_torch(logits_members, name="logits_members")
    if z.ndim < 2:
        raise ValueError(
            f"logits_members needs a member axis and a class axis, got shape {tuple(z.shape)}"
        )
    md, cd = member_dim % z.ndim, dim % z.ndim
    if md == cd:
        raise ValueError(f"member_dim and dim must be different axes, both are {member_dim}")
    _check_scores(z, "logits_members")
    z = torch.movedim(z, (md, cd), (0, -1))
    n_members = z.shape[0]
    h_members, count = _online_entropy(z, max(z.shape[-1], 1))
    if bool((count == 0).any()):
        raise ValueError("some member rows have all logits -inf; each needs one finite logit")
    log_p = torch.log_softmax(z, dim=-1)
    finite = torch.isfinite(log_p)
    log_p_safe = torch.where(finite, log_p, 0.0)
    log_bar = torch.logsumexp(log_p, dim=0) - math.log(n_members)
    bar_finite = torch.isfinite(log_bar)
    log_bar_safe = torch.where(bar_finite, log_bar, 0.0)
    total = -torch.where(bar_finite, torch.exp(log_bar_safe) * log_bar_safe, 0.0).sum(dim=-1)
    kl = torch.where(finite, torch.exp(log_p_safe) * (log_p_safe - log_bar_safe), 0.0)
    epistemic = kl.sum(dim=-1).mean(dim=0).clamp_min(0.0)
    aleatoric = h_members.mean(dim=0)
    result = tuple(to_base(x, base) for x in (total, aleatoric, epistemic))
    return BaldDecomposition(*restore(result, numpy_in))


def binary_entropy_from_logits(
    z: Any,
    mask: Any = None,
    reduce: str | None = None,
    dim: int | tuple[int, ...] | None = None,
    base: float = math.e,
) -> Any:
    """Entropy of Bernoulli(sigmoid(z)) per element: ``H = p softplus(-z) + (1 - p) softplus(z)``.

    No log of ``p`` is taken, so it is exact for ``|z| >> 1`` (``1 - p`` is ``sigmoid(-z)``).

    Args:
        z: real logits of any shape (e.g. (B, H, W) per-pixel mask logits); must be finite.
        mask: boolean, broadcastable to ``z``; True = valid element. Invalid elements are 0 in the
            elementwise output and left out of reductions.
        reduce: None (elementwise), ``"mean"`` over valid elements, or ``"sum"``.
        dim: the axes ``reduce`` runs over (None = all), e.g. ``(-2, -1)`` per image.
        base: ``math.e`` (nats) or 2 (bits); the maximum is ``log 2`` nats (1 bit) at ``z = 0``.

    Returns:
        The elementwise map (shape of ``z``) or its reduction. O(numel).
    """
    import torch
    import torch.nn.functional as F

    check_base(base)
    if reduce not in (None, "mean", "sum"):
        raise ValueError(f"reduce must be None, 'mean' or 'sum', got {reduce!r}")
    numpy_in = not is_tensor(z)
    t = to_torch(z, name="z")
    bad = int((~torch.isfinite(t)).sum().item())
    if bad:
        raise ValueError(f"z contains {bad} NaN or infinite logit(s); pass finite logits")
    p = torch.sigmoid(t)
    h = p * F.softplus(-t) + torch.sigmoid(-t) * F.softplus(t)
    valid = None if mask is None else _as_mask(mask, t.shape, t.device)
    if valid is not None:
        h = torch.where(valid, h, 0.0)
    h = to_base(h, base)
    if reduce is None:
        return restore(h, numpy_in)
    dims = tuple(range(t.ndim)) if dim is None else dim
    total = h.sum(dim=dims)
    if reduce == "sum":
        return restore(total, numpy_in)
    n_valid = torch.ones_like(t).sum(dim=dims) if valid is None else valid.to(t.dtype).sum(dim=dims)
    if bool((n_valid == 0).any()):
        raise ValueError(
            "reduce='mean' found a slice without valid elements; check mask or use reduce='sum'"
        )
    return restore(total / n_valid, numpy_in)
