"""Similarity matrices for the dual random walk.

Inv-Entropy only needs a nonnegative, symmetric similarity with unit diagonal. Two cosine
transforms are shipped because the paper and its code disagree:

- ``cos01`` = (1 + cos) / 2, the paper's choice: anti-correlated texts are dissimilar (0).
- ``abscos`` = |cos|, the official code's choice: anti-correlated texts count as similar.

``nli`` is the paper's DeBERTa option: the entailment probability averaged over both directions,
with the diagonal set to 1 (it needs an NLI model; see :mod:`entropykit_llm_uq.embed`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from entropykit_shared.kernels import cosine_kernel

_SYM_TOL = 1e-8


def cos01(embeddings: np.ndarray) -> np.ndarray:
    """(1 + cos) / 2 of every pair of rows of ``embeddings`` (m, d); (m, m) in [0, 1], unit
    diagonal."""
    return np.clip((1.0 + _cosine(embeddings)) / 2.0, 0.0, 1.0)


def abscos(embeddings: np.ndarray) -> np.ndarray:
    """|cos| of every pair of rows of ``embeddings`` (m, d); (m, m) in [0, 1], unit diagonal."""
    return np.clip(np.abs(_cosine(embeddings)), 0.0, 1.0)


def nli_average(nli: np.ndarray) -> np.ndarray:
    """Entailment probability averaged over both directions, ``(P(i => j) + P(j => i)) / 2``,
    with unit diagonal.

    Args:
        nli: (m, m, 3) probabilities in the order (contradiction, neutral, entailment), premise
            on the first axis.
    """
    nli = np.asarray(nli, dtype=np.float64)
    if nli.ndim != 3 or nli.shape[0] != nli.shape[1] or nli.shape[2] != 3:
        raise ValueError(
            f"nli must have shape (m, m, 3) (premise, hypothesis, label), got {nli.shape}"
        )
    if not np.isfinite(nli).all():
        raise ValueError("nli holds NaN or inf probabilities; check the NLI model's outputs")
    ent = nli[..., 2]
    s = (ent + ent.T) / 2.0
    np.fill_diagonal(s, 1.0)
    return s


def _cosine(embeddings: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] == 0:
        raise ValueError(f"embeddings must have shape (m, d) with m >= 1, got {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError("embeddings hold NaN or inf; check the embedder's inputs")
    return cosine_kernel(e)


#: Embedding-based similarities by name (``nli`` is separate: it needs NLI probabilities).
SIMILARITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"cos01": cos01, "abscos": abscos}


def get_similarity(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The embedding similarity called ``name`` (``cos01`` or ``abscos``)."""
    try:
        return SIMILARITIES[name]
    except KeyError:
        raise ValueError(
            f"unknown similarity {name!r}; choose one of {sorted(SIMILARITIES)} (or 'nli' with an "
            "NLI model)"
        ) from None


def check_similarity(s: np.ndarray, name: str = "similarity") -> np.ndarray:
    """Validate a similarity matrix for the random walk and return it as float64.

    It must be square, finite, nonnegative, symmetric (to 1e-8), have unit diagonal (to 1e-8),
    and every row must have a positive sum.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(
            f"{name} holds {int((~np.isfinite(s)).sum())} NaN or inf entries; similarities must "
            "be finite (check the embeddings)"
        )
    if (s < 0).any():
        raise ValueError(
            f"{name} has negative entries (min {s.min():.3g}); map cosines into [0, 1] with "
            "'cos01' or 'abscos'"
        )
    asym = float(np.abs(s - s.T).max())
    if asym > _SYM_TOL:
        raise ValueError(f"{name} must be symmetric (max |S - S^T| = {asym:.3g}); use (S + S^T)/2")
    diag = float(np.abs(np.diag(s) - 1.0).max())
    if diag > _SYM_TOL:
        raise ValueError(
            f"{name} must have a unit diagonal (largest deviation {diag:.3g}); every text is "
            "fully similar to itself"
        )
    return s
