"""Inv-Entropy and the other measures of the dual-random-walk framework.

Notation (paper §2): n+1 inputs x_0 (the question) .. x_n (its perturbations), each answered r
times. One bootstrap draw b picks one answer y_i per input, uniformly among its r replicates.

- P_x = D_X^{-1} S_X and P_y = D_Y^{-1} S_Y: row-normalised similarities (two random walks on
  the same n+1 states).
- P(Y) = pi P_y with pi uniform; P(X | Y) = P_y P_x (rows y_j, columns x_i: walk one P_y step,
  jump to the paired input, walk one P_x step); P(X) = P(Y) P(X | Y) = pi P_y P_y P_x (the
  official code; the paper's prose "pi P_y P_x" is not Bayes-consistent); P(Y | X) by Bayes.
- Inv-Entropy of a draw: H(X | Y) = -sum_i q_i log q_i with q_i = P(x_i | y_i) (the diagonal:
  an unnormalised "pseudo-entropy" that grows with both dispersion and magnitude of q);
  the reported value is the mean over B draws, in nats.

Every draw is computed at once: the (B, n+1, n+1) stack of output similarities is gathered with
one fancy index and pushed through batched matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from entropykit_llm_uq.similarity import check_similarity
from entropykit_shared._backend import numpy_rng
from entropykit_shared.randomwalk import bayes_inversion, row_normalize

#: Names of the framework measures :func:`framework_scores` returns (all: higher = more
#: uncertain).
FRAMEWORK_MEASURES: tuple[str, ...] = (
    "inv_entropy",
    "ni_entropy",
    "nr_inv_entropy",
    "wd_px_py",
    "wd_px_py_states",
    "max_py_x",
    "max_py",
)


def bootstrap_indices(
    n_inputs: int,
    r: int,
    B: int,
    seed: int | np.random.Generator | None = 0,
    *,
    distinct: bool = False,
) -> np.ndarray:
    """Row indices of the answers used by each bootstrap draw.

    Draw b uses answer ``indices[b, i]`` for input i, an index into the ((n+1) r) answers
    grouped by input (input i owns rows ``i r .. i r + r - 1``).

    Args:
        n_inputs: n + 1, the number of inputs.
        r: replicates per input.
        B: number of draws.
        seed: int or Generator; one generator drives every draw.
        distinct: ``False`` (paper eq. 6): independent draws with replacement. ``True`` (the
            official code): no index tuple is used twice; needs ``B <= r ** n_inputs``.

    Returns:
        (B, n_inputs) int64 array.
    """
    _check_counts(n_inputs=n_inputs, r=r, B=B)
    rng = numpy_rng(seed)
    offsets = np.arange(n_inputs, dtype=np.int64) * r
    if not distinct:
        return offsets + rng.integers(0, r, size=(B, n_inputs))
    if r**n_inputs < B:
        raise ValueError(
            f"distinct=True needs B <= r^(n+1) = {r**n_inputs} distinct draws, got B={B}; "
            "lower B or use distinct=False"
        )
    picks = np.empty((0, n_inputs), dtype=np.int64)
    while len(picks) < B:
        fresh = rng.integers(0, r, size=(B - len(picks), n_inputs))
        # keep first occurrences in draw order, as a sequential rejection sampler would
        both = np.concatenate([picks, fresh])
        _, first = np.unique(both, axis=0, return_index=True)
        picks = both[np.sort(first)]
    return offsets + picks[:B]


@dataclass(frozen=True)
class DualWalk:
    """The quantities of the dual random walk for a stack of draws (leading axis B).

    Attributes:
        px: (n+1, n+1) or (B, n+1, n+1) input walk P_x.
        py: (B, n+1, n+1) output walk P_y.
        p_y: (B, n+1) marginal P(Y).
        p_x_given_y: (B, n+1, n+1) P(X | Y), rows y_j, columns x_i.
        p_x: (B, n+1) marginal P(X) = P(Y) P(X | Y).
        p_y_given_x: (B, n+1, n+1) P(Y | X) by Bayes, rows x_i, columns y_j.
    """

    px: np.ndarray
    py: np.ndarray
    p_y: np.ndarray
    p_x_given_y: np.ndarray
    p_x: np.ndarray
    p_y_given_x: np.ndarray


def dual_walk(sim_x: np.ndarray, sim_y: np.ndarray) -> DualWalk:
    """The dual random walk for one or many draws.

    Args:
        sim_x: (n+1, n+1) or (B, n+1, n+1) input similarities.
        sim_y: (B, n+1, n+1) output similarities, entry [b, i, j] between the answers drawn for
            inputs i and j (a single (n+1, n+1) matrix is treated as B = 1).
    """
    sim_y = np.asarray(sim_y, dtype=np.float64)
    if sim_y.ndim == 2:
        sim_y = sim_y[None]
    return _walk_from(row_normalize(np.asarray(sim_x, dtype=np.float64)), row_normalize(sim_y))


def _walk_from(px: np.ndarray, py: np.ndarray) -> DualWalk:
    p_y = py.mean(axis=-2)  # pi P_y with pi uniform
    p_x_given_y = py @ px
    p_y_given_x, p_x, _ = bayes_inversion(p_x_given_y, p_y)
    return DualWalk(px, py, p_y, p_x_given_y, p_x, p_y_given_x)


def _neg_xlogx_sum(q: np.ndarray) -> np.ndarray:
    # 0 log 0 = 0: a zero diagonal (possible only with a zero similarity diagonal) adds nothing
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0), axis=-1)


def _diagonal(m: np.ndarray) -> np.ndarray:
    return np.diagonal(m, axis1=-2, axis2=-1)


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _prepare(
    sim_x: np.ndarray, sim_y: np.ndarray, r: int
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    _check_counts(r=r)
    sim_y = check_similarity(sim_y, "sim_y")
    sim_x = check_similarity(sim_x, "sim_x")
    m = sim_y.shape[0]
    if m % r:
        raise ValueError(
            f"sim_y has {m} rows, not a multiple of r={r}; it must be ((n+1) r) x ((n+1) r) with "
            "the r answers of each input in consecutive rows"
        )
    n_inputs = m // r
    if n_inputs < 2:
        raise ValueError(
            "Inv-Entropy needs the question and at least one perturbation (n >= 1): sim_y covers "
            f"only {n_inputs} input"
        )
    if sim_x.shape[0] == n_inputs:
        return sim_x, sim_y, n_inputs, False
    if sim_x.shape[0] == m:  # one row per answer, as the authors' package passes it
        return sim_x, sim_y, n_inputs, True
    raise ValueError(
        f"sim_x is {sim_x.shape[0]}x{sim_x.shape[0]} but sim_y implies n+1 = {n_inputs} inputs "
        f"(r={r}); pass the ({n_inputs}x{n_inputs}) input similarities"
    )


def _bootstrap_walks(
    sim_x: np.ndarray,
    sim_y: np.ndarray,
    r: int,
    B: int,
    seed: int | np.random.Generator | None,
    distinct: bool,
    indices: np.ndarray | None,
    *,
    with_first: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(P_x, P_y) of every bootstrap draw at once, P_y stacked (B, n+1, n+1); ``with_first``
    prepends the draw that takes the first answer of every input (the no-replication measure)."""
    sim_x, sim_y, n_inputs, per_answer_x = _prepare(sim_x, sim_y, r)
    _check_counts(B=B)
    idx = _resolve_indices(indices, n_inputs, r, B, seed, distinct)
    if with_first:
        idx = np.concatenate([np.arange(n_inputs, dtype=np.int64)[None] * r, idx])
    sy = sim_y[idx[:, :, None], idx[:, None, :]]
    sx = sim_x[idx[:, :, None], idx[:, None, :]] if per_answer_x else sim_x
    return row_normalize(sx), row_normalize(sy)


def _resolve_indices(
    indices: np.ndarray | None,
    n_inputs: int,
    r: int,
    B: int,
    seed: int | np.random.Generator | None,
    distinct: bool,
) -> np.ndarray:
    if indices is None:
        return bootstrap_indices(n_inputs, r, B, seed, distinct=distinct)
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != n_inputs or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"indices must be an integer array of shape (B, {n_inputs}), got {idx.shape} "
            f"{idx.dtype}"
        )
    block = idx // r
    if (idx < 0).any() or (block != np.arange(n_inputs)).any():
        raise ValueError(
            "indices[b, i] must pick one of input i's answers, i.e. lie in [i r, (i+1) r)"
        )
    return idx.astype(np.int64)


def inv_entropy(
    sim_x: np.ndarray,
    sim_y: np.ndarray,
    r: int,
    B: int = 30,
    seed: int | np.random.Generator | None = 0,
    *,
    distinct: bool = False,
    indices: np.ndarray | None = None,
    return_draws: bool = False,
) -> float | np.ndarray:
    """Inv-Entropy, the bootstrap mean of H(X_n | Y_n) (paper eqs. 5-6), in nats.

    Args:
        sim_x: (n+1, n+1) similarities of the question and its n perturbations (row 0 = the
            question). An ((n+1) r) square matrix with one row per answer is accepted too.
        sim_y: ((n+1) r, (n+1) r) similarities of all answers, grouped by input (rows
            ``i r .. i r + r - 1`` answer input i).
        r: replicates per input.
        B: bootstrap draws (paper: 30; the authors' package: 10).
        seed: int or Generator driving the draws.
        distinct: draw distinct index tuples as the official code does (see
            :func:`bootstrap_indices`).
        indices: explicit (B, n+1) draws (overrides ``B``, ``seed`` and ``distinct``) to
            reproduce a given run exactly.
        return_draws: return the (B,) per-draw values instead of their mean.

    Both similarity matrices must be symmetric, nonnegative, finite and have a unit diagonal.
    """
    px, py = _bootstrap_walks(sim_x, sim_y, r, B, seed, distinct, indices, with_first=False)
    # only the diagonal of P_y P_x is needed: q_bi = sum_k P_y[b, i, k] P_x[(b,) k, i]
    q = np.einsum("bik,bki->bi", py, np.broadcast_to(px, py.shape))
    h = _neg_xlogx_sum(q)
    return h if return_draws else float(h.mean())


def wasserstein_code(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``scipy.stats.wasserstein_distance(p, q)`` with the probability vectors read as samples
    of values (the official code's semantics), batched over leading axes: for equal sample sizes
    it is the mean absolute difference of the sorted values."""
    return np.abs(np.sort(p, axis=-1) - np.sort(q, axis=-1)).mean(axis=-1)


def wasserstein_states(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance between two distributions over the same n+1 states with the
    discrete ground metric (distance 1 between different states), i.e. total variation
    ``0.5 * sum |p - q|``; batched over leading axes. Our reading of the paper's "distance
    between P(X) and P(Y)": states carry no geometry beyond being paired or not."""
    return 0.5 * np.abs(p - q).sum(axis=-1)


def framework_scores(
    sim_x: np.ndarray,
    sim_y: np.ndarray,
    r: int,
    B: int = 30,
    seed: int | np.random.Generator | None = 0,
    *,
    distinct: bool = False,
    indices: np.ndarray | None = None,
) -> dict[str, float]:
    """Every measure of the framework from the same draws (bootstrap means, all "higher = more
    uncertain"):

    - ``inv_entropy``: -sum_i q_i log q_i, q_i = P(x_i | y_i) (nats).
    - ``ni_entropy``: -sum_i p_i log p_i, p_i = P(y_i | x_i) (nats).
    - ``nr_inv_entropy``: Inv-Entropy without replication: the first answer of every input
      (r = 1, B = 1).
    - ``wd_px_py``: Wasserstein distance between P(X) and P(Y) with the official code's sample
      semantics (:func:`wasserstein_code`); ``wd_px_py_states``: over the states
      (:func:`wasserstein_states`).
    - ``max_py_x``: the paper's max_i P(y_i | x_i); ``max_py``: the official code's
      max_j P(Y = y_j).

    Arguments as in :func:`inv_entropy`.
    """
    px, py = _bootstrap_walks(sim_x, sim_y, r, B, seed, distinct, indices, with_first=True)
    walk = _walk_from(px, py)
    q = _diagonal(walk.p_x_given_y)
    p = _diagonal(walk.p_y_given_x)
    h_inv = _neg_xlogx_sum(q)
    draws = slice(1, None)
    return {
        "inv_entropy": float(h_inv[draws].mean()),
        "ni_entropy": float(_neg_xlogx_sum(p)[draws].mean()),
        "nr_inv_entropy": float(h_inv[0]),
        "wd_px_py": float(wasserstein_code(walk.p_x, walk.p_y)[draws].mean()),
        "wd_px_py_states": float(wasserstein_states(walk.p_x, walk.p_y)[draws].mean()),
        "max_py_x": float(p[draws].max(axis=-1).mean()),
        "max_py": float(walk.p_y[draws].max(axis=-1).mean()),
    }


def epsilon_model_q(n: int, eps_x: float, eps_y: float) -> float:
    """Closed form of P(x_i | y_i) when both similarities are 1 on the diagonal and 1 - eps off
    it (paper §2.5): (1 + n - n eps_x - n eps_y + n eps_x eps_y) / ((n+1-n eps_x)(n+1-n eps_y))."""
    num = 1 + n - n * eps_x - n * eps_y + n * eps_x * eps_y
    return num / ((n + 1 - n * eps_x) * (n + 1 - n * eps_y))
