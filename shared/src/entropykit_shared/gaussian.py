"""Gaussian closed forms, the correlated-pairs generator with exact MI, and the pairwise-distance
MI bounds of a noisy layer.

Every log-determinant comes from a Cholesky factor (``log det S = 2 sum log diag L``), which is
both the stable route and the positive-definiteness test. Results are in nats unless ``base=2``.
Matrix functions accept numpy (numpy out) or torch (torch out, differentiable) and are batched
over leading dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from entropykit_shared._backend import (
    check_finite,
    is_tensor,
    restore,
    to_base,
    to_torch,
)
from entropykit_shared.kernels import squared_distances

# relative tolerance of the symmetry check |S - S^T| <= tol * max|S|
_SYM_RTOL = 1e-8


def _square(mat: Any, name: str) -> tuple[Any, bool]:
    """A torch copy of a (..., d, d) symmetric matrix (symmetrised), and whether numpy came in."""
    numpy_in = not is_tensor(mat)
    t = to_torch(mat, name=name)
    check_finite(t, name)
    if t.ndim < 2 or t.shape[-1] != t.shape[-2] or t.shape[-1] == 0:
        raise ValueError(
            f"{name} must be a non-empty (..., d, d) square matrix, got shape {tuple(t.shape)}; "
            "pass a variance v as [[v]]"
        )
    asym = float((t - t.mT).abs().amax().detach())
    scale = float(t.abs().amax().detach())
    if asym > _SYM_RTOL * max(scale, 1e-300):
        raise ValueError(
            f"{name} is not symmetric (max |S - S^T| = {asym:.3g}); a covariance must be "
            "symmetric: symmetrise it with (S + S^T) / 2"
        )
    return 0.5 * (t + t.mT), numpy_in


def _cholesky(mat: Any, name: str) -> Any:
    """Lower Cholesky factor of a batch of symmetric matrices; ValueError when one is not PD."""
    import torch

    chol, info = torch.linalg.cholesky_ex(mat)
    bad = (info.reshape(-1) != 0).nonzero().flatten().tolist()
    if bad:
        where = "" if info.ndim == 0 else f" at (flattened) batch element(s) {bad[:10]}"
        raise ValueError(
            f"{name} is not positive definite{where}; drop collinear dimensions or add a small "
            "ridge, e.g. S + 1e-9 * trace(S) / d * I"
        )
    return chol


def _logdet(chol: Any) -> Any:
    return 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def gaussian_entropy(cov: Any, base: float = math.e) -> Any:
    """Differential entropy of N(mu, cov): ``H = 1/2 log det(2 pi e cov)``.

    Args:
        cov: (..., d, d) symmetric positive-definite covariance (numpy or torch).
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        (...) entropies; differentiable for torch input. O(d^3) per matrix (Cholesky).
    """
    c, numpy_in = _square(cov, "cov")
    d = c.shape[-1]
    h = 0.5 * d * math.log(2.0 * math.pi * math.e) + 0.5 * _logdet(_cholesky(c, "cov"))
    return restore(to_base(h, base), numpy_in)


def _split(d: int, dims_x: int | Sequence[int]) -> tuple[list[int], list[int]]:
    if isinstance(dims_x, (int, np.integer)):
        if not 0 < int(dims_x) < d:
            raise ValueError(
                f"dims_x as an int is the size of the X block and must lie in [1, {d - 1}], "
                f"got {dims_x}"
            )
        idx_x = list(range(int(dims_x)))
    else:
        idx_x = [int(i) for i in dims_x]
        if len(set(idx_x)) != len(idx_x) or any(not 0 <= i < d for i in idx_x):
            raise ValueError(
                f"dims_x must list distinct indices in [0, {d - 1}], got {list(dims_x)}"
            )
        if not 0 < len(idx_x) < d:
            raise ValueError(
                f"dims_x must select at least one and at most {d - 1} of the {d} dimensions, "
                f"got {len(idx_x)}"
            )
    chosen = set(idx_x)
    return idx_x, [i for i in range(d) if i not in chosen]


def gaussian_mutual_information(cov: Any, dims_x: int | Sequence[int], base: float = math.e) -> Any:
    """MI between the X and Y blocks of a jointly Gaussian vector:
    ``I = 1/2 log(det S_X det S_Y / det S)``.

    Args:
        cov: (..., d, d) joint covariance, symmetric positive definite.
        dims_x: the number of leading dimensions forming X, or a sequence of their indices;
            Y is the complement.
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        (...) mutual informations (>= 0 up to rounding); differentiable for torch input.
    """
    import torch

    c, numpy_in = _square(cov, "cov")
    idx_x, idx_y = _split(c.shape[-1], dims_x)

    def block(idx: list[int]) -> Any:
        ix = torch.tensor(idx, device=c.device)
        return c.index_select(-2, ix).index_select(-1, ix)

    mi = 0.5 * (
        _logdet(_cholesky(block(idx_x), "cov[X, X]"))
        + _logdet(_cholesky(block(idx_y), "cov[Y, Y]"))
        - _logdet(_cholesky(c, "cov"))
    )
    return restore(to_base(mi, base), numpy_in)


def gaussian_kl(mean0: Any, cov0: Any, mean1: Any, cov1: Any, base: float = math.e) -> Any:
    """KL(N(mean0, cov0) || N(mean1, cov1)) =
    ``1/2 [tr(S1^-1 S0) + (m1 - m0)^T S1^-1 (m1 - m0) - d + log det S1 - log det S0]``.

    Args:
        mean0, mean1: (..., d) means; cov0, cov1: (..., d, d) SPD covariances (leading
            dimensions broadcast).
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        (...) divergences; differentiable for torch input. Triangular solves on the Cholesky
        factors, O(d^3).
    """
    import torch

    numpy_in = not is_tensor(mean0)
    c0, _ = _square(cov0, "cov0")
    c1, _ = _square(cov1, "cov1")
    m0 = to_torch(mean0, dtype=c0.dtype, name="mean0").to(c0.device)
    m1 = to_torch(mean1, dtype=c0.dtype, name="mean1").to(c0.device)
    c1 = c1.to(dtype=c0.dtype, device=c0.device)
    check_finite(m0, "mean0")
    check_finite(m1, "mean1")
    d = c0.shape[-1]
    for name, t in (("cov1", c1), ("mean0", m0), ("mean1", m1)):
        if t.ndim == 0 or t.shape[-1] != d:
            raise ValueError(
                f"{name} must have {d} dimensions like cov0, got shape {tuple(t.shape)}"
            )
    l0 = _cholesky(c0, "cov0")
    l1 = _cholesky(c1, "cov1")
    # numpy's broadcast_shapes: torch's imports sympy on first use (seconds)
    try:
        lead = np.broadcast_shapes(
            tuple(c0.shape[:-2]), tuple(c1.shape[:-2]), tuple(m0.shape[:-1]), tuple(m1.shape[:-1])
        )
    except ValueError as exc:
        raise ValueError(
            "the leading (batch) dimensions of mean0, cov0, mean1 and cov1 do not broadcast: "
            f"{tuple(m0.shape)}, {tuple(c0.shape)}, {tuple(m1.shape)}, {tuple(c1.shape)}"
        ) from exc
    l1 = l1.expand(*lead, d, d)
    diff = (m1 - m0).unsqueeze(-1).expand(*lead, d, 1)
    trace = torch.linalg.solve_triangular(l1, l0.expand(*lead, d, d), upper=False)
    maha = torch.linalg.solve_triangular(l1, diff, upper=False)
    trace, maha = trace.square().sum((-2, -1)), maha.square().sum((-2, -1))
    kl = 0.5 * (trace + maha - d + _logdet(l1) - _logdet(l0))
    return restore(to_base(kl, base), numpy_in)


def correlated_gaussian_pairs(
    n: int,
    dim: int | tuple[int, int],
    mutual_information: float,
    seed: int | np.random.Generator | None = None,
    rotate: bool = False,
    return_cov: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples (x, y) of a jointly Gaussian pair with unit marginals and exact MI (nats).

    The target MI is split evenly over the m = min(d_x, d_y) coordinate pairs (x_i, y_i), each with
    correlation ``rho = sqrt(1 - exp(-2 I / m))`` (so each pair carries -1/2 log(1 - rho^2) = I/m);
    the remaining coordinates are independent N(0, 1). ``rotate=True`` applies independent
    Haar-random orthogonal matrices (``scipy.stats.ortho_group``) to the X and the Y blocks, which
    mixes the coordinates but leaves I(X; Y) unchanged. The noise term uses
    ``sqrt(1 - rho^2) = exp(-I/m)`` exactly; for I/m above about 18 nats rho itself rounds to 1 in
    float64, so the returned covariance is singular there.

    Args:
        n: number of samples; dim: d for d_x = d_y = d, or (d_x, d_y).
        mutual_information: target I(X; Y) in nats, finite and >= 0.
        seed: int, ``numpy.random.Generator`` or None (global RNG state is never touched).
        rotate: apply the random block rotations.
        return_cov: also return the exact (d_x + d_y, d_x + d_y) joint covariance.

    Returns:
        x (n, d_x) and y (n, d_y) float64 arrays [and the joint covariance].
    """
    dx, dy = (dim, dim) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if int(dx) < 1 or int(dy) < 1:
        raise ValueError(f"dim must be positive (d or (d_x, d_y)), got {dim}")
    if int(n) < 1:
        raise ValueError(f"n must be a positive number of samples, got {n}")
    mi = float(mutual_information)
    if not (math.isfinite(mi) and mi >= 0):
        raise ValueError(
            f"mutual_information must be finite and >= 0 nats, got {mutual_information}"
        )
    dx, dy, n = int(dx), int(dy), int(n)
    m = min(dx, dy)
    rho = math.sqrt(-math.expm1(-2.0 * mi / m))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    y = rng.standard_normal((n, dy))
    # sqrt(1 - rho^2) = exp(-I/m) exactly (no cancellation for large I)
    y[:, :m] = rho * x[:, :m] + math.exp(-mi / m) * y[:, :m]
    cov = np.eye(dx + dy)
    cov[np.arange(m), dx + np.arange(m)] = rho
    cov[dx + np.arange(m), np.arange(m)] = rho
    if rotate:
        from scipy.stats import ortho_group  # imported on demand: scipy.stats is slow to import

        qx = ortho_group.rvs(dx, random_state=rng) if dx > 1 else np.ones((1, 1))
        qy = ortho_group.rvs(dy, random_state=rng) if dy > 1 else np.ones((1, 1))
        x, y = x @ qx.T, y @ qy.T
        q = np.zeros((dx + dy, dx + dy))
        q[:dx, :dx], q[dx:, dx:] = qx, qy
        cov = q @ cov @ q.T
        cov = 0.5 * (cov + cov.T)
    return (x, y, cov) if return_cov else (x, y)


def pairwise_distance_mi_bounds(h: Any, noise_std: float, base: float = math.e) -> tuple[Any, Any]:
    """Kolchinsky-Tracey bounds on I(X; h(X) + N(0, sigma^2 I)) for X uniform over N samples.

    With D_ij = ||h_i - h_j||^2 (Saxe et al.'s noisy-layer estimate):

    ``upper = -(1/N) sum_i log (1/N) sum_j exp(-D_ij / (2 sigma^2))`` (KL pairwise distance),
    ``lower = -(1/N) sum_i log (1/N) sum_j exp(-D_ij / (8 sigma^2))`` (Bhattacharyya distance).

    Both lie in [0, log N]: they tend to log N (distinct rows) as sigma -> 0 and to 0 as
    sigma -> infinity; lower <= upper always. Computed with logsumexp, O(N^2 d).

    Args:
        h: (..., N, d) layer outputs (numpy or torch; torch stays differentiable).
        noise_std: sigma > 0, the standard deviation of the additive noise.
        base: logarithm base (``math.e``: nats, 2: bits).

    Returns:
        ``(lower, upper)``, each of shape (...).
    """
    import torch

    sigma = float(noise_std)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"noise_std must be a positive finite standard deviation, got {noise_std}")
    numpy_in = not is_tensor(h)
    t = to_torch(h, name="h")
    check_finite(t, "h")
    if t.ndim < 2:
        raise ValueError(
            f"h must be (..., N, d), got shape {tuple(t.shape)}; reshape 1-D data with h[:, None]"
        )
    if t.shape[-2] < 2 or t.shape[-1] < 1 or t.numel() == 0:
        raise ValueError(
            f"h needs at least 2 samples of at least 1 feature (..., N, d), got shape "
            f"{tuple(t.shape)}"
        )
    flat = t.reshape(-1, *t.shape[-2:])
    d2 = torch.stack([squared_distances(row) for row in flat]).reshape(
        *t.shape[:-2], t.shape[-2], t.shape[-2]
    )
    log_n = math.log(t.shape[-2])

    def bound(scale: float) -> Any:
        lme = torch.logsumexp(-d2 / scale, dim=-1) - log_n
        return to_base(-lme.mean(-1), base)

    return restore((bound(8.0 * sigma * sigma), bound(2.0 * sigma * sigma)), numpy_in)
