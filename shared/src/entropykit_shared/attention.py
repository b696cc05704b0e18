"""Attention entropy per head and query.

For attention probabilities ``A[..., i, j] = softmax_j(S[..., i, :])`` the entropy of query ``i``
is ``H_i = -sum_j A_ij log A_ij`` (nats). Three entry points:

- :func:`attention_entropy` from probabilities, exact (``entr``) or in the official
  private-attention form ``-nansum(A log(A + eps))`` with ``eps=1e-9``;
- :func:`attention_entropy_from_scores` from pre-softmax scores, optionally blockwise over keys
  with the flash-attention style online recurrence ``H = m + log l - u / l`` (never materialises
  the softmax);
- :func:`entropy_regularizer`, the private-attention entropy regulariser.

Masks are key masks broadcastable to the (..., Tq, Tk) array, True = valid key. A query row with
no valid key has entropy 0 and is left out of query means. Per-query outputs have shape
(..., Tq), e.g. (B, H, Tq); ``reduce="query_mean"`` averages over valid queries giving (..., ),
e.g. (B, H).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from entropykit_shared._backend import is_tensor, restore, to_torch
from entropykit_shared.discrete import _neg_xlogx
from entropykit_shared.logits import _as_mask, _check_scores, _normalised, _online_entropy

REDUCTIONS: tuple[str, ...] = ("none", "query_mean")
SUM_TOLERANCE = 1e-3  # rows of attention probabilities whose valid mass is off by more: warning


def _check_attention_shape(t: Any, name: str) -> None:
    if t.ndim < 2:
        raise ValueError(
            f"{name} must be at least 2-D (..., Tq, Tk), e.g. (B, H, Tq, Tk); got shape "
            f"{tuple(t.shape)}"
        )


def _reduce(h: Any, count: Any, reduce: str, query_mask: Any) -> Any:
    """Per-query entropies (..., Tq) or their mean over valid queries (rows with a valid key and,
    if given, ``query_mask`` True)."""
    import torch

    if reduce == "none":
        return h
    use = count > 0
    if query_mask is not None:
        use = use & _as_mask(query_mask, h.shape, h.device, name="query_mask")
    n = use.sum(dim=-1)
    if bool((n == 0).any()):
        raise ValueError(
            "reduce='query_mean' found a head with no valid query (every row masked out); "
            "check mask and query_mask"
        )
    return torch.where(use, h, 0.0).sum(dim=-1) / n.to(h.dtype)


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")


def attention_entropy(
    attn: Any,
    mask: Any = None,
    normalize: bool = False,
    eps: float | None = None,
    reduce: str = "none",
    query_mask: Any = None,
) -> Any:
    """Entropy ``H_i = -sum_j A_ij log A_ij`` (nats) of each query row of attention probabilities.

    Args:
        attn: (..., Tq, Tk) attention probabilities, e.g. (B, H, Tq, Tk); rows sum to 1 over the
            valid keys (a row off by more than 1e-3 gives a warning, e.g. attention after dropout).
        mask: boolean key mask broadcastable to ``attn``, True = valid key; invalid entries are
            ignored. None: every key is valid.
        normalize: divide each row by ``log n_valid(i)`` (its number of valid keys; a causal
            row ``i`` has ``i + 1``), giving values in [0, 1]; rows with one key give 0.
        eps: None for the exact ``xlogy`` form (NaN is an error). A number gives the official
            private-attention form ``-nansum_j A_ij log(A_ij + eps)`` (``eps=1e-9``): NaN entries
            count as 0 (with a warning giving their number). Each term is lower than the exact
            one by ``A log(1 + eps / A) <= eps``, so a row is biased low by at most ``Tk eps``.
        reduce: ``"none"`` -> (..., Tq); ``"query_mean"`` -> (...,) mean over valid queries.
        query_mask: boolean, broadcastable to (..., Tq), True = real (non-padding) query; only
            used by ``reduce="query_mean"``.

    Returns:
        Per-query entropies or per-head means. O(numel(attn)).
    """
    import torch

    _check_reduce(reduce)
    numpy_in = not is_tensor(attn)
    a = to_torch(attn, name="attn")
    _check_attention_shape(a, "attn")
    nan = torch.isnan(a)
    n_nan = int(nan.sum().item())
    if n_nan and eps is None:
        raise ValueError(
            f"attn contains {n_nan} NaN value(s) (fully masked rows?); pass a mask, compute from "
            "scores with attention_entropy_from_scores, or use eps=1e-9 for the nansum form"
        )
    if int(torch.isinf(a).sum().item()):
        raise ValueError("attn contains infinite values; pass probabilities (softmax outputs)")
    if int((a < 0).sum().item()):
        raise ValueError(
            "attn has negative entries; pass probabilities (softmax outputs) or the raw scores "
            "to attention_entropy_from_scores"
        )
    valid = (
        torch.ones_like(a, dtype=torch.bool) if mask is None else _as_mask(mask, a.shape, a.device)
    )
    count = valid.sum(dim=-1)
    a_valid = torch.where(valid & ~nan, a, 0.0)
    mass = a_valid.sum(dim=-1)
    checked = (count > 0) & ~(nan & valid).any(dim=-1)  # NaN rows are reported separately
    off = int((checked & ((mass - 1.0).abs() > SUM_TOLERANCE)).sum().item())
    if off:
        warnings.warn(
            f"{off} attention row(s) do not sum to 1 over the valid keys (tolerance "
            f"{SUM_TOLERANCE}); the entropy of an unnormalised row is not a Shannon entropy",
            stacklevel=2,
        )
    if eps is None:
        h = _neg_xlogx(a_valid).sum(dim=-1)
    else:
        e = float(eps)
        if not (e >= 0 and math.isfinite(e)):
            raise ValueError(f"eps must be a finite number >= 0 (official: 1e-9), got {eps}")
        if n_nan:
            warnings.warn(
                f"attn contains {n_nan} NaN value(s); the eps form counts them as 0 (nansum)",
                stacklevel=2,
            )
        terms = torch.where(valid, a * torch.log(a + e), 0.0)
        h = -torch.nansum(terms, dim=-1)
    if normalize:
        h = _normalised(h, count)
    return restore(_reduce(h, count, reduce, query_mask), numpy_in)


def attention_entropy_from_scores(
    scores: Any,
    mask: Any = None,
    block_size: int | None = None,
    *,
    causal: bool = False,
    normalize: bool = False,
    reduce: str = "none",
    query_mask: Any = None,
) -> Any:
    """Entropy (nats) of ``softmax_j(scores[..., i, :])`` per query, from pre-softmax scores.

    ``H_i = m + log l - u / l`` with ``m = max_j S_ij``, ``l = sum_j exp(S_ij - m)``,
    ``u = sum_j exp(S_ij - m) S_ij`` (computed relative to ``m``, so ``H = log l - u' / l``).
    With ``block_size`` the keys are scanned in blocks, updating ``(m, l, u)`` online as
    flash-attention does; the softmax is never materialised (extra memory O(... Tq block_size)).
    Differentiable in ``scores``.

    Args:
        scores: (..., Tq, Tk) scaled scores ``Q K^T / sqrt(d_k)`` (+ additive mask); ``-inf``
            entries are masked keys.
        mask: boolean key mask broadcastable to ``scores``, True = valid key.
        block_size: keys per block (None: one block).
        causal: key ``j`` is valid for query ``i`` only when ``j <= i + (Tk - Tq)``
            (bottom-right aligned, as for a KV cache); built per block, never as a full mask.
        normalize, reduce, query_mask: as in :func:`attention_entropy`.

    Returns:
        Per-query entropies (..., Tq) or per-head means (...,). O(numel(scores)) time.
    """
    _check_reduce(reduce)
    numpy_in = not is_tensor(scores)
    s = to_torch(scores, name="scores")
    _check_attention_shape(s, "scores")
    _check_scores(s, "scores")
    t_k = s.shape[-1]
    if block_size is None:
        block = max(t_k, 1)
    elif int(block_size) < 1:
        raise ValueError(f"block_size must be a positive integer or None, got {block_size}")
    else:
        block = int(block_size)
    valid = None if mask is None else _as_mask(mask, s.shape, s.device)
    h, count = _online_entropy(s, block, mask=valid, causal=causal)
    if normalize:
        h = _normalised(h, count)
    return restore(_reduce(h, count, reduce, query_mask), numpy_in)


def entropy_regularizer(
    attentions: Sequence[Any] | Any,
    thresholds: Any,
    *,
    gamma: float = 0.2,
    e_max: float | None = None,
    reduction: str = "query_mean",
    eps: float | None = 1e-9,
) -> Any:
    """Private-attention entropy regulariser ``L_ent`` (Jha & Reagen 2025, Alg. 1).

    Per layer ``l`` and head ``h``: ``delta = E - theta_lh E_max``, penalty
    ``delta^2 1(|delta| > gamma E_max)`` (two-sided), mean over heads, then over layers. The
    training loss is ``L_CE + lambda L_ent`` (paper: ``lambda = 1e-5`` CodeParrot, ``5e-5``
    Languini); ``lambda`` is left to the caller.

    Args:
        attentions: L attention tensors (B, H, T, T) or one (L, B, H, T, T) tensor.
        thresholds: learnable ``Theta``, shape (L, H), or (H,) shared by every layer (as the
            official code indexes it).
        gamma: tolerance factor (default 0.20: paper text and official code; its appendix
            listing uses 0.10).
        e_max: reference entropy; default ``log T`` with ``T = attentions[0].shape[-1]``
            (overstates the causal maximum, about ``log T - 1`` on average over rows).
        reduction: ``"query_mean"`` (Alg. 1): ``E`` is the mean over batch and queries of the
            per-query entropies; ``"element_sum"`` (official code): each per-query entropy is
            penalised and the penalties are summed over batch and queries before the head mean.
        eps: ``1e-9`` (default) is the official ``-nansum(A log(A + 1e-9))``; None is exact.

    Returns:
        Scalar ``L_ent`` (0-d tensor for torch input), differentiable in the attentions and the
        thresholds. O(L B H T^2).
    """
    import torch

    if reduction not in ("query_mean", "element_sum"):
        raise ValueError(f"reduction must be 'query_mean' or 'element_sum', got {reduction!r}")
    g = float(gamma)
    if not (g >= 0 and math.isfinite(g)):
        raise ValueError(f"gamma must be a finite number >= 0 (default 0.2), got {gamma}")
    layers = list(attentions) if not is_tensor(attentions) or attentions.ndim == 5 else None
    if layers is None or not layers:
        raise ValueError(
            "attentions must be a non-empty sequence of (B, H, T, T) tensors or one "
            "(L, B, H, T, T) tensor"
        )
    numpy_in = not is_tensor(layers[0]) and not is_tensor(thresholds)
    first = to_torch(layers[0], name="attentions[0]")
    shape = tuple(first.shape)
    if len(shape) != 4:
        raise ValueError(f"each attention must be (B, H, T, T), got shape {shape}")
    n_layers, n_heads, t_k = len(layers), shape[1], shape[-1]
    theta = to_torch(thresholds, name="thresholds").to(first.dtype)
    if theta.ndim == 1:
        theta = theta.expand(n_layers, -1)
    if tuple(theta.shape) != (n_layers, n_heads):
        raise ValueError(
            f"thresholds must have shape (L, H) = ({n_layers}, {n_heads}) or (H,) = "
            f"({n_heads},), got {tuple(to_torch(thresholds).shape)}"
        )
    ref = math.log(t_k) if e_max is None else float(e_max)
    if not (ref > 0 and math.isfinite(ref)):
        raise ValueError(f"e_max must be positive and finite (default log T), got {e_max}")
    tol = g * ref
    per_layer = []
    for idx, layer in enumerate(layers):
        a = to_torch(layer, name=f"attentions[{idx}]")
        if tuple(a.shape[1:]) != shape[1:]:
            raise ValueError(
                f"attentions[{idx}] has shape {tuple(a.shape)}; every layer needs (B, "
                f"{n_heads}, {shape[2]}, {t_k}) like attentions[0]"
            )
        ent = attention_entropy(a, eps=eps)  # (B, H, T)
        if reduction == "query_mean":
            delta = ent.mean(dim=(0, 2)) - theta[idx] * ref
            penalty = torch.where(delta.abs() > tol, delta, 0.0).square().mean()
        else:
            delta = ent - theta[idx][None, :, None] * ref
            penalty = torch.where(delta.abs() > tol, delta, 0.0).square().sum() / n_heads
        per_layer.append(penalty)
    return restore(torch.stack(per_layer).mean(), numpy_in)
