"""Kernel and similarity matrices, numpy or torch, float64 by default.

Bandwidth conventions differ between papers, so the RBF kernel names each rule explicitly:

- a number: fixed sigma, ``k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`` (DSE's default is 10);
- ``"median"``: sigma = sqrt(median(D^2) / 2) over the off-diagonal pairs (DSE's median heuristic);
- ``"median_distance"``: sigma = median(D) (the common ML convention);
- ``"sqrt_dim"``: sigma = sqrt(d) (DSE's toy experiments);
- ``"knn"``: adaptive Zelnik-Manor-Perona bandwidths,
  ``k(x_i, x_j) = exp(-D_ij^2 / (sigma_i sigma_j))`` with sigma_i the distance from x_i to its
  ``knn``-th neighbour (symmetric, scale-free).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from entropykit_shared._backend import check_2d, check_finite, is_tensor, restore, to_torch

BANDWIDTH_RULES: tuple[str, ...] = ("median", "median_distance", "sqrt_dim", "knn")


def _pair(x: Any, y: Any, name_x: str = "x", name_y: str = "y") -> tuple[Any, Any, bool]:
    numpy_in = not is_tensor(x)
    xt = to_torch(x, name=name_x)
    check_2d(xt, name_x, min_rows=1)
    check_finite(xt, name_x)
    if y is None:
        return xt, None, numpy_in
    yt = to_torch(y, dtype=xt.dtype, name=name_y).to(xt.device)
    check_2d(yt, name_y, min_rows=1)
    check_finite(yt, name_y)
    if yt.shape[1] != xt.shape[1]:
        raise ValueError(
            f"{name_x} and {name_y} need the same number of features, got {xt.shape[1]} and "
            f"{yt.shape[1]}"
        )
    return xt, yt, numpy_in


def squared_distances(x: Any, y: Any = None, *, block_size: int = 4096) -> Any:
    """Pairwise squared Euclidean distances, shape (n, m) (``y=None``: x with itself).

    Computed as ``|x|^2 + |y|^2 - 2 x.y`` in row blocks of ``block_size`` (bounded memory), clamped
    at 0 against cancellation, with an exactly zero diagonal when ``y`` is None.
    """
    import torch

    xt, yt, numpy_in = _pair(x, y)
    same = yt is None
    yt = xt if same else yt
    y_sq = (yt * yt).sum(dim=1)
    out = torch.empty(xt.shape[0], yt.shape[0], dtype=xt.dtype, device=xt.device)
    for start in range(0, xt.shape[0], block_size):
        xb = xt[start : start + block_size]
        block = (xb * xb).sum(dim=1, keepdim=True) + y_sq[None, :] - 2.0 * (xb @ yt.T)
        out[start : start + block_size] = block.clamp_min_(0.0)
    if same:
        out.fill_diagonal_(0.0)
    return restore(out, numpy_in)


def bandwidth(x: Any, rule: float | str = "median", *, knn: int = 7) -> Any:
    """The RBF bandwidth sigma that ``rule`` gives for the samples ``x`` (see module docstring).

    Returns a float for global rules and an (n,) array of per-sample sigmas for ``"knn"``.
    """
    import torch

    if not isinstance(rule, str):
        sigma = float(rule)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {rule}")
        return sigma
    if rule not in BANDWIDTH_RULES:
        raise ValueError(
            f"unknown bandwidth rule {rule!r}; use a number or one of {BANDWIDTH_RULES}"
        )
    xt, _, numpy_in = _pair(x, None)
    n, d = xt.shape
    if rule == "sqrt_dim":
        return float(d) ** 0.5
    if n < 2:
        raise ValueError(f"the {rule!r} bandwidth needs at least 2 samples, got {n}")
    d2 = to_torch(squared_distances(xt))
    if rule == "knn":
        if not 1 <= knn < n:
            raise ValueError(f"knn must lie in [1, n_samples - 1] = [1, {n - 1}], got {knn}")
        # the (knn+1)-th smallest distance of each row skips the zero self-distance
        sig = d2.kthvalue(knn + 1, dim=1).values.sqrt()
        if bool((sig <= 0).any()):
            raise ValueError(
                "duplicate samples give a zero knn bandwidth; remove duplicates or raise knn"
            )
        return restore(sig, numpy_in)
    # numpy's median averages the two middle values (torch's returns the lower one)
    off = d2[~torch.eye(n, dtype=torch.bool, device=d2.device)].detach().cpu().numpy()
    sigma = float(np.sqrt(np.median(off) / 2.0) if rule == "median" else np.median(np.sqrt(off)))
    if sigma <= 0:
        raise ValueError(f"the {rule!r} bandwidth is 0 (most samples coincide); pass a number")
    return sigma


def rbf_kernel(x: Any, y: Any = None, *, sigma: float | str = "median", knn: int = 7) -> Any:
    """Gaussian kernel matrix ``exp(-||x_i - y_j||^2 / (2 sigma^2))``, shape (n, m).

    Args:
        x: (n, d) samples; y: (m, d) samples or None for x with itself.
        sigma: a positive number or a bandwidth rule (``"median"``, ``"median_distance"``,
            ``"sqrt_dim"``, ``"knn"``), computed on ``x``. ``"knn"`` needs ``y=None``.
        knn: the neighbour index of the ``"knn"`` rule.
    """
    import torch

    xt, yt, numpy_in = _pair(x, y)
    d2 = to_torch(squared_distances(xt, yt))
    if sigma == "knn":
        if yt is not None:
            raise ValueError("the 'knn' bandwidth is defined for x with itself; pass y=None")
        s = to_torch(bandwidth(xt, "knn", knn=knn))
        return restore(torch.exp(-d2 / (s[:, None] * s[None, :])), numpy_in)
    s = bandwidth(xt, sigma, knn=knn)
    return restore(torch.exp(-d2 / (2.0 * s * s)), numpy_in)


def unit_rows(t: Any, name: str = "x") -> Any:
    """Rows of the (n, d) tensor ``t`` scaled to unit Euclidean norm; a zero row has no direction,
    which is an error that names the rows."""
    norms = t.norm(dim=1, keepdim=True)
    zero = (norms[:, 0] == 0).nonzero().flatten().tolist()
    if zero:
        raise ValueError(
            f"{name} has zero vectors at rows {zero[:10]}; cosine similarity is undefined "
            "for them: drop those rows or use the linear kernel"
        )
    return t / norms


def cosine_kernel(x: Any, y: Any = None) -> Any:
    """Cosine similarity matrix of row-normalised samples, shape (n, m); unit diagonal.

    A sample of zero norm has no direction: it is an error that names the rows.
    """
    xt, yt, numpy_in = _pair(x, y)
    xu = unit_rows(xt, "x")
    yu = xu if yt is None else unit_rows(yt, "y")
    k = xu @ yu.T
    if yt is None:
        k.fill_diagonal_(1.0)
    return restore(k, numpy_in)


def linear_kernel(x: Any, y: Any = None) -> Any:
    """Inner products ``x_i . y_j``, shape (n, m)."""
    xt, yt, numpy_in = _pair(x, y)
    return restore(xt @ (xt if yt is None else yt).T, numpy_in)


def tanimoto_kernel(bits: Any, other: Any = None) -> Any:
    """Tanimoto (Jaccard) similarity of binary vectors, ``|a & b| / (|a| + |b| - |a & b|)``.

    Args:
        bits: (n, d) array of 0/1 (or bool) fingerprints; other: (m, d) or None.

    Computed for all pairs at once from one 0/1 matrix product (PSD; the usual fingerprint kernel
    for molecules). Two all-zero vectors have similarity 1 by convention (identical, empty sets).
    """
    xt, yt, numpy_in = _pair(bits, other, "bits", "other")
    for t, name in ((xt, "bits"), (yt, "other")):
        if t is not None and not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must hold only 0/1 values; binarise it first (x > 0)")
    yt = xt if yt is None else yt
    inter = xt @ yt.T
    union = xt.sum(dim=1, keepdim=True) + yt.sum(dim=1)[None, :] - inter
    k = inter / union.clamp_min(1.0)
    k = k.masked_fill(union == 0, 1.0)
    return restore(k, numpy_in)


def probability_product_kernel(probs: Any, other: Any = None) -> Any:
    """Bhattacharyya (probability product) kernel ``sum_y sqrt(p(y|a) p(y|b))`` of class posteriors.

    Args:
        probs: (n, C) rows of class probabilities (each row sums to 1); other: (m, C) or None.

    Unit diagonal and PSD; the kernel the Vendi paper uses to score GAN mode coverage.
    """
    xt, yt, numpy_in = _pair(probs, other, "probs", "other")
    for t, name in ((xt, "probs"), (yt, "other")):
        if t is None:
            continue
        if bool((t < 0).any()):
            raise ValueError(f"{name} has negative entries; pass probabilities (softmax outputs)")
        sums = t.sum(dim=1)
        if not bool(((sums - 1.0).abs() < 1e-6).all()):
            raise ValueError(f"{name} rows must sum to 1; normalise them (p / p.sum(1))")
    root = xt.sqrt()
    return restore(root @ (root if yt is None else yt.sqrt()).T, numpy_in)


def ngram_kernel(
    texts: list[str],
    ns: tuple[int, ...] = (1, 2, 3, 4),
    *,
    tokenizer: Any = None,
) -> Any:
    """Mean over n in ``ns`` of the cosine similarity of bag-of-n-gram count vectors of texts.

    Args:
        texts: n strings. tokenizer: a callable str -> list of tokens; the default splits on
            words and punctuation with a regular expression (lower-cased), so no tokenizer data
            has to be downloaded.

    Returns an (n, n) numpy array with unit diagonal (an empty text has similarity 1 only with
    itself). The Vendi paper's text-diversity kernel (averaged over n = 1..4).
    """
    import re

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a list of strings")
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one string")
    if not ns or any(int(n) < 1 for n in ns):
        raise ValueError(f"ns must be positive n-gram sizes, got {ns}")
    word = re.compile(r"\w+|[^\w\s]")

    def default_tokenizer(text: str) -> list[str]:
        return word.findall(text.lower())

    tokenize = tokenizer or default_tokenizer
    total = np.zeros((len(texts), len(texts)))
    for n in ns:
        vec = CountVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=(n, n)
        )
        try:
            counts = vec.fit_transform(texts)
        except ValueError:  # no text has n tokens: every vector is empty
            counts = None
        if counts is None:
            sim = np.zeros_like(total)
        else:
            unit = normalize(counts.astype(np.float64), norm="l2")
            sim = (unit @ unit.T).toarray()
        np.fill_diagonal(sim, 1.0)
        total += sim
    return total / len(ns)
