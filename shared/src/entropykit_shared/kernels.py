"""Kernel and similarity matrices (spec P6), numpy or torch, float64 by default.

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


def cosine_kernel(x: Any, y: Any = None) -> Any:
    """Cosine similarity matrix of row-normalised samples, shape (n, m); unit diagonal.

    A sample of zero norm has no direction: it is an error that names the rows.
    """
    xt, yt, numpy_in = _pair(x, y)

    def unit(t: Any, name: str) -> Any:
        norms = t.norm(dim=1, keepdim=True)
        zero = (norms[:, 0] == 0).nonzero().flatten().tolist()
        if zero:
            raise ValueError(
                f"{name} has zero vectors at rows {zero[:10]}; cosine similarity is undefined "
                "for them: drop those rows or use the linear kernel"
            )
        return t / norms

    xu = unit(xt, "x")
    yu = xu if yt is None else unit(yt, "y")
    k = xu @ yu.T
    if yt is None:
        k.fill_diagonal_(1.0)
    return restore(k, numpy_in)


def linear_kernel(x: Any, y: Any = None) -> Any:
    """Inner products ``x_i . y_j``, shape (n, m)."""
    xt, yt, numpy_in = _pair(x, y)
    return restore(xt @ (xt if yt is None else yt).T, numpy_in)
