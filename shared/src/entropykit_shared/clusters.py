"""Cluster entropy of proposals and semantic entropy of hard clusters.

Given M proposals with logits ``z`` (``p = softmax(z / tau)``) and a fixed assignment ``c(i)`` to
C clusters, the cluster masses are ``P_c = sum_{c(i) = c} p_i`` and the cluster entropy is
``H = -sum_c P_c log P_c``. The exact form computes ``log P_c = logsumexp_{i in c}(z_i) -
logsumexp_i(z_i)`` with a per-cluster max shift (``scatter_reduce(amax)``) and ``scatter_add`` of
the exponentials, so it is differentiable in the logits and never takes the log of a rounded
mass. Assignments are constants; clusters without proposals contribute 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from entropykit_shared._backend import (
    check_base,
    check_finite,
    is_tensor,
    restore,
    to_base,
    to_torch,
)
from entropykit_shared.logits import _normalised


def _cluster_index(cluster_ids: Any, shape: Any, device: Any, num_clusters: int | None) -> tuple:
    """``cluster_ids`` as an int64 tensor broadcast to ``shape`` and the number of clusters."""
    import torch

    if is_tensor(cluster_ids):
        ids = cluster_ids
        integral = not ids.is_floating_point() or bool((ids == torch.round(ids)).all())
    else:
        arr = np.asarray(cluster_ids)
        integral = arr.dtype.kind in "iub" or (
            arr.dtype.kind == "f" and bool(np.all(arr == np.round(arr)))
        )
        ids = torch.from_numpy(arr.astype(np.int64)) if integral else None
    if not integral:
        raise ValueError("cluster_ids must be integers in [0, C); got non-integer values")
    ids = ids.to(device=device, dtype=torch.int64)
    if ids.numel() == 0 or bool((ids < 0).any()):
        raise ValueError("cluster_ids must be non-empty integers >= 0 (cluster indices 0..C-1)")
    top = int(ids.max().item()) + 1
    n_clusters = top if num_clusters is None else int(num_clusters)
    if n_clusters < top:
        raise ValueError(
            f"cluster_ids contain index {top - 1} but num_clusters={num_clusters}; "
            f"pass num_clusters >= {top} or None"
        )
    try:
        full = torch.broadcast_to(ids, shape)
    except RuntimeError as exc:
        raise ValueError(
            f"cluster_ids with shape {tuple(ids.shape)} must be (K,) or broadcastable to the "
            f"logits shape {tuple(shape)}"
        ) from exc
    return full, n_clusters


def cluster_entropy(
    logits: Any,
    cluster_ids: Any,
    tau: float = 1.0,
    normalize: bool = False,
    eps: float | None = None,
    *,
    num_clusters: int | None = None,
    base: float = math.e,
) -> Any:
    """Entropy of the cluster masses ``P_c = sum_{i in c} softmax(z / tau)_i``:
    ``H = -sum_c P_c log P_c``.

    Args:
        logits: (..., K) proposal logits or scores (finite), batched over leading axes (scenes).
        cluster_ids: integer cluster of each proposal, shape (K,) (a fixed partition of the
            vocabulary) or broadcastable to ``logits``.
        tau: softmax temperature ``> 0``.
        normalize: divide by ``log C_nonempty`` (clusters with at least one proposal), giving a
            unitless value in [0, 1]; one non-empty cluster gives 0. ``base`` is then ignored.
        eps: None for the exact log-sum-exp form; a number gives the driving_tta compatible form
            ``-sum_c P_c log(P_c + eps)`` with ``P_c`` from ``scatter_add`` of the softmax.
        num_clusters: C (default ``max(cluster_ids) + 1``); extra clusters are empty.
        base: ``math.e`` (nats) or 2 (bits).

    Returns:
        Entropies of shape (...,). O(K) per row; differentiable in ``logits``.
    """
    import torch

    check_base(base)
    t_val = float(tau)
    if not (t_val > 0 and math.isfinite(t_val)):
        raise ValueError(f"tau must be positive and finite, got {tau}")
    numpy_in = not is_tensor(logits)
    z = to_torch(logits, name="logits")
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must be (..., K) with K >= 1 proposals, got {tuple(z.shape)}")
    check_finite(z, "logits")
    ids, n_clusters = _cluster_index(cluster_ids, z.shape, z.device, num_clusters)
    z = z / t_val
    lead = z.shape[:-1]
    counts = torch.zeros(*lead, n_clusters, dtype=z.dtype, device=z.device)
    counts = counts.scatter_add(-1, ids, torch.ones_like(z))
    present = counts > 0
    if eps is None:
        # per-cluster max shift (a constant: detached), then log-sum-exp per cluster
        start = torch.full((*lead, n_clusters), -math.inf, dtype=z.dtype, device=z.device)
        c_max = start.scatter_reduce(-1, ids, z.detach(), reduce="amax", include_self=True)
        c_max = torch.where(present, c_max, 0.0)
        exps = torch.exp(z - torch.gather(c_max, -1, ids))
        sums = torch.zeros_like(counts).scatter_add(-1, ids, exps)
        log_mass = torch.where(
            present, c_max + torch.log(torch.where(present, sums, 1.0)), -math.inf
        )
        log_p = log_mass - torch.logsumexp(log_mass, dim=-1, keepdim=True)
        log_p = torch.where(present, log_p, 0.0)
        h = -torch.where(present, torch.exp(log_p) * log_p, 0.0).sum(dim=-1)
    else:
        e = float(eps)
        if not (e >= 0 and math.isfinite(e)):
            raise ValueError(f"eps must be a finite number >= 0, got {eps}")
        probs = torch.softmax(z, dim=-1)
        mass = torch.zeros_like(counts).scatter_add(-1, ids, probs)
        h = -(mass * torch.log(mass + e)).sum(dim=-1)
    out = _normalised(h, present.sum(dim=-1)) if normalize else to_base(h, base)
    return restore(out, numpy_in)


def semantic_entropy(cluster_labels: Any, base: float = math.e) -> Any:
    """Discrete semantic entropy ``H = -sum_c p_c log p_c`` of hard cluster labels, with
    ``p_c`` the fraction of the sampled answers in cluster ``c`` (e.g. bidirectional entailment).

    Args:
        cluster_labels: (n,) labels of the n sampled answers (integers or strings; torch tensors
            give a 0-d tensor back).
        base: ``math.e`` (nats) or 2 (bits).

    Returns:
        The entropy, in ``[0, log n_clusters]``. O(n log n) (sorting for the counts).
    """
    import torch

    from entropykit_shared.discrete import entropy

    check_base(base)
    if is_tensor(cluster_labels):
        if cluster_labels.ndim != 1 or cluster_labels.numel() == 0:
            raise ValueError(
                "cluster_labels must be a non-empty 1-D sequence, got shape "
                f"{tuple(cluster_labels.shape)}"
            )
        counts = torch.unique(cluster_labels, return_counts=True)[1]
        return entropy(counts.to(torch.float64), base=base)
    labels = np.asarray(cluster_labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"cluster_labels must be a non-empty 1-D sequence, got {labels.shape}")
    counts = np.unique(labels, return_counts=True)[1]
    return entropy(counts.astype(np.float64), base=base)
