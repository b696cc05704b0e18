"""Linear-algebra fast paths for spectral entropies, numpy or torch, float64.

- :func:`dual_gram_eigenvalues`: the non-zero spectrum of ``X Xᵀ`` from the smaller Gram ``Xᵀ X``,
  O(n d² + d³) instead of O(n² d + n³).
- :func:`slq_trace`: stochastic Lanczos quadrature for ``tr f(A)`` of a symmetric PSD operator
  given as a matrix or as a block mat-vec, with a standard error over the probes.
- :func:`topk_spectral_entropy`: von Neumann entropy of ``A / tr A`` from its top-k eigenvalues
  (ARPACK) with guaranteed lower/upper bounds for the unknown tail.
- :func:`random_fourier_features` and :func:`nystrom_features`: explicit features ``F`` with
  ``F Fᵀ ≈ K``, after which every spectral quantity goes through the dual form.

Stochastic functions take ``seed`` (an int, None or a ``numpy.random.Generator``) and draw from
their own generator; global RNG state is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from entropykit_shared._backend import (
    check_2d,
    check_finite,
    is_tensor,
    numpy_rng,
    restore,
    to_base,
    to_numpy,
    to_torch,
)
from entropykit_shared.kernels import bandwidth, cosine_kernel, linear_kernel, rbf_kernel

#: Rows used to evaluate a bandwidth rule for the feature maps (the rules need all pairwise
#: distances, which is O(n²) memory; a seeded subsample of this many rows keeps it bounded).
BANDWIDTH_MAX_ROWS = 2000

KERNEL_NAMES: tuple[str, ...] = ("rbf", "cosine", "linear")


def _features_input(x: Any) -> tuple[Any, bool]:
    import torch

    numpy_in = not is_tensor(x)
    xt = to_torch(x, name="x")
    check_2d(xt, "x", min_rows=1)
    check_finite(xt, "x")
    return xt.to(torch.float64), numpy_in


def _global_sigma(xt: Any, sigma: float | str, rng: np.random.Generator) -> float:
    """A single RBF bandwidth: a number as is, a rule evaluated on at most
    :data:`BANDWIDTH_MAX_ROWS` rows (a seeded subsample when ``x`` has more)."""
    if sigma == "knn":
        raise ValueError(
            "the 'knn' bandwidth gives a per-sample (non-stationary) kernel that random Fourier "
            "features and Nystrom landmarks cannot represent; pass a number or 'median'"
        )
    if not isinstance(sigma, str):
        return float(bandwidth(None, sigma))
    n = xt.shape[0]
    if n > BANDWIDTH_MAX_ROWS:
        rows = np.sort(rng.choice(n, BANDWIDTH_MAX_ROWS, replace=False))
        xt = xt[rows]
    return float(bandwidth(xt, sigma))


def _autograd_or_device(t: Any) -> bool:
    """True when ``t`` must stay in torch: on an accelerator, or tracked by autograd."""
    import torch

    return t.device.type != "cpu" or (t.requires_grad and torch.is_grad_enabled())


def symmetric_eigvalsh(t: Any) -> Any:
    """Ascending eigenvalues of symmetric (..., n, n) float64 tensors.

    CPU tensors outside autograd go through ``scipy.linalg.eigvalsh`` (LAPACK ``?syevr``),
    measured 1.3-1.5x faster than ``torch.linalg.eigvalsh`` (``?syevd``) on this project's CPUs for
    n = 400-1000; GPU tensors and autograd use torch.
    """
    import torch

    if _autograd_or_device(t):
        return torch.linalg.eigvalsh(t)
    from scipy.linalg import eigvalsh

    return torch.from_numpy(eigvalsh(t.detach().numpy(), check_finite=False))


def gram(f: Any, *, transpose: bool) -> Any:
    """``fᵀ f`` (``transpose=True``) or ``f fᵀ`` of a (..., n, r) float64 tensor.

    CPU tensors outside autograd use numpy, whose matmul recognises ``Aᵀ A`` and calls BLAS
    ``?syrk`` (half the flops of the general product torch uses).
    """
    import torch

    if _autograd_or_device(f):
        return f.mT @ f if transpose else f @ f.mT
    a = f.detach().numpy()
    at = np.swapaxes(a, -1, -2)
    return torch.from_numpy(at @ a if transpose else a @ at)


def dual_gram_eigenvalues(x: Any, scale: float = 1.0) -> Any:
    """Eigenvalues of the smaller Gram matrix of ``x``: ``eig(Xᵀ X · scale)`` when d <= n, else
    ``eig(X Xᵀ · scale)``; ascending, shape (..., min(n, d)).

    ``X Xᵀ`` (n×n) and ``Xᵀ X`` (d×d) share their non-zero eigenvalues, so these are all the
    non-zero eigenvalues of ``X Xᵀ · scale``; the other ``n - min(n, d)`` eigenvalues are 0.
    Cost O(n d² + d³) (d <= n). Batched over leading dimensions; differentiable in torch.

    Args:
        x: (..., n, d) samples (numpy or torch; computed in float64).
        scale: a positive factor, e.g. ``1/n`` for the Vendi density ``X Xᵀ / n``.
    """
    import torch

    numpy_in = not is_tensor(x)
    t = to_torch(x, name="x")
    if t.ndim < 2:
        raise ValueError(f"x must be (..., n, d), got shape {tuple(t.shape)}; use x[:, None]")
    check_finite(t, "x")
    if not float(scale) > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    t = t.to(torch.float64)
    n, d = t.shape[-2], t.shape[-1]
    g = gram(t, transpose=d <= n)
    g = (g + g.mT) / 2.0
    return restore(symmetric_eigvalsh(g * float(scale)), numpy_in)


def random_fourier_features(
    x: Any,
    sigma: float | str = "median",
    num_features: int = 1024,
    seed: int | np.random.Generator | None = None,
) -> Any:
    """Random Fourier features ``z(x) = sqrt(2/r) cos(W x + b)`` of the Gaussian kernel, (n, r).

    ``W ~ N(0, σ⁻² I)`` (d×r), ``b ~ U[0, 2π]``; then ``E[z(x)·z(y)] = exp(-|x-y|²/(2σ²))`` and
    ``Z Zᵀ ≈ K`` with entry-wise error O(1/√r) (Rahimi & Recht). Cost O(n d r).

    Args:
        x: (n, d) samples. sigma: a positive number or a global bandwidth rule of
            :func:`entropykit_shared.kernels.bandwidth` (``"median"``, ``"median_distance"``,
            ``"sqrt_dim"``), evaluated on at most :data:`BANDWIDTH_MAX_ROWS` rows.
        num_features: r, the number of features (needs r ≫ the kernel's effective rank).
        seed: int, None or numpy Generator for W, b and the bandwidth subsample.
    """
    import torch

    xt, numpy_in = _features_input(x)
    if num_features < 1:
        raise ValueError(f"num_features must be >= 1, got {num_features}")
    rng = numpy_rng(seed)
    s = _global_sigma(xt, sigma, rng)
    d = xt.shape[1]
    w = torch.from_numpy(rng.standard_normal((d, num_features)) / s).to(xt.device)
    b = torch.from_numpy(rng.uniform(0.0, 2.0 * math.pi, num_features)).to(xt.device)
    z = math.sqrt(2.0 / num_features) * torch.cos(xt @ w + b)
    return restore(z, numpy_in)


def kernel_function(
    kernel: str | Callable[[Any, Any], Any], sigma: float | str, numpy_in: bool
) -> Callable[[Any, Any], Any]:
    """A torch ``(a, b) -> K(a, b)`` function for a kernel name or a user callable.

    A callable is called with arrays of the caller's kind (numpy when the caller passed numpy) and
    must return the (len(a), len(b)) kernel matrix; ``sigma`` must already be a number for "rbf".
    """
    import torch

    if callable(kernel):

        def call(a: Any, b: Any) -> Any:
            if numpy_in:
                out = kernel(a.detach().cpu().numpy(), b.detach().cpu().numpy())
            else:
                out = kernel(a, b)
            out = to_torch(out, name="kernel(x, y)").to(a.device, torch.float64)
            if tuple(out.shape) != (a.shape[0], b.shape[0]):
                raise ValueError(
                    f"the kernel callable must return a ({a.shape[0]}, {b.shape[0]}) matrix for "
                    f"inputs of {a.shape[0]} and {b.shape[0]} rows, got shape {tuple(out.shape)}"
                )
            check_finite(out, "kernel(x, y)")
            return out

        return call
    if kernel == "rbf":
        return lambda a, b: rbf_kernel(a, b, sigma=sigma)
    if kernel == "cosine":
        return cosine_kernel
    if kernel == "linear":
        return linear_kernel
    raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNEL_NAMES} or a callable k(x, y)")


def nystrom_features(
    x: Any,
    kernel: str | Callable[[Any, Any], Any] = "rbf",
    num_landmarks: int = 500,
    seed: int | np.random.Generator | None = None,
    *,
    sigma: float | str = "median",
) -> Any:
    """Nyström features ``F = C U Λ^{-1/2}`` with ``F Fᵀ = C W⁺ Cᵀ ≈ K``, shape (n, m').

    ``m = min(num_landmarks, n)`` landmark rows are drawn uniformly without replacement;
    ``C = K(x, landmarks)`` (n×m), ``W = C[landmarks] = U Λ Uᵀ``; eigenvalues of W at or below
    ``m · eps · λ_max`` are dropped (pseudo-inverse), so m' <= m. Exact on the landmark rows and
    columns, and ``F Fᵀ = K`` when m = n. For a PSD kernel ``K - F Fᵀ`` is PSD (the diagonal is
    underestimated). Cost O(n m d + m³).

    sklearn's ``Nystroem`` does the same in numpy only (no torch/GPU, no bandwidth rules, and it
    clamps small singular values at 1e-12 instead of dropping them), hence this version.

    Args:
        x: (n, d) samples. kernel: "rbf", "cosine", "linear" or a callable ``k(a, b)`` returning
            the (len(a), len(b)) matrix (called with the caller's array kind).
        num_landmarks: m. seed: int, None or numpy Generator for the landmarks (and the bandwidth
            subsample). sigma: RBF bandwidth, a number or a global rule (see
            :func:`random_fourier_features`).
    """
    import torch

    xt, numpy_in = _features_input(x)
    if num_landmarks < 1:
        raise ValueError(f"num_landmarks must be >= 1, got {num_landmarks}")
    rng = numpy_rng(seed)
    n = xt.shape[0]
    m = min(num_landmarks, n)
    idx = torch.from_numpy(np.sort(rng.choice(n, m, replace=False))).to(xt.device)
    s = _global_sigma(xt, sigma, rng) if kernel == "rbf" else sigma
    kern = kernel_function(kernel, s, numpy_in)
    c = to_torch(kern(xt, xt[idx]))
    w = c[idx]
    w = (w + w.mT) / 2.0
    evals, evecs = torch.linalg.eigh(w)
    top = evals.max()
    if not top > 0:
        raise ValueError("the kernel matrix of the landmarks is zero; the Nystrom map is empty")
    keep = evals > top * m * torch.finfo(torch.float64).eps
    f = c @ (evecs[:, keep] / evals[keep].sqrt())
    return restore(f, numpy_in)


def _rademacher(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    return rng.integers(0, 2, size=(n, b)).astype(np.float64) * 2.0 - 1.0


def slq_trace(
    operator: Any,
    f: Callable[[np.ndarray], np.ndarray],
    n: int | None = None,
    *,
    num_probes: int = 30,
    num_steps: int = 30,
    seed: int | np.random.Generator | None = None,
    reorthogonalize: bool = True,
) -> tuple[Any, Any]:
    """Stochastic Lanczos quadrature: ``tr f(A) ≈ (n/N_v) Σ_v e₁ᵀ f(T_v) e₁``; returns
    ``(estimate, standard_error)``.

    Each Rademacher probe v (N_v = ``num_probes``) starts a Lanczos run of ``num_steps`` steps
    (all probes at once as an (n, N_v) block) giving a tridiagonal T_v; its eigenpairs (θ_k, u_k)
    give the Gauss quadrature ``vᵀ f(A) v ≈ n Σ_k u_k[0]² f(θ_k)``. The standard error is the std
    of the per-probe values / √N_v (Hutchinson variance; the quadrature error is not included).
    Ritz values are clamped at 0 (A is assumed PSD), so ``f`` may take logs with a small floor.
    Exact for polynomials of degree < 2·num_steps (per probe). Cost: num_steps block mat-vecs
    plus O(n · num_steps² · N_v) for full re-orthogonalisation (``reorthogonalize=False`` drops
    it; Lanczos quadrature then still converges, with ghost Ritz values that shift weights).

    Args:
        operator: a symmetric PSD (n, n) matrix (numpy or torch), or a callable taking an (n, b)
            float64 torch tensor and returning ``A @ V`` (array-like, (n, b)); then ``n`` is
            required.
        f: the spectral function, applied element-wise to a numpy array of Ritz values >= 0.
        n: the operator size (needed for a callable).
        num_probes: N_v (≈ 30-100). num_steps: Lanczos steps (≈ 30-50; capped at n).
        seed: int, None or numpy Generator for the probes.

    Returns:
        ``(estimate, se)``: numpy floats, or 0-d float64 tensors when ``operator`` is a tensor.
    """
    import torch
    from scipy.linalg import eigh_tridiagonal

    numpy_in = not is_tensor(operator)
    if callable(operator) and not is_tensor(operator):
        if n is None or n < 1:
            raise ValueError("n (the operator size) is required when operator is a callable")
        device = torch.device("cpu")

        def matvec(v: Any) -> Any:
            return to_torch(operator(v), name="operator(V)").to(v.device, torch.float64)

    else:
        a = to_torch(operator, name="operator")
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"operator must be a square (n, n) matrix, got {tuple(a.shape)}")
        check_finite(a, "operator")
        a = a.to(torch.float64)
        a = (a + a.mT) / 2.0
        if n is not None and n != a.shape[0]:
            raise ValueError(f"n={n} does not match the operator size {a.shape[0]}")
        n = a.shape[0]
        device = a.device

        def matvec(v: Any) -> Any:
            return a @ v

    if num_probes < 2:
        raise ValueError(f"num_probes must be >= 2 for a standard error, got {num_probes}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    steps = min(num_steps, n)
    rng = numpy_rng(seed)
    b = num_probes
    with torch.no_grad():
        q = torch.from_numpy(_rademacher(rng, n, b) / math.sqrt(n)).to(device)
        q_prev = torch.zeros_like(q)
        beta_prev = torch.zeros(b, dtype=torch.float64, device=device)
        # Lanczos basis, probe-major (b, n, steps) so that re-orthogonalisation is a batched matmul
        basis = torch.zeros(b, n, steps, dtype=torch.float64, device=device)
        alphas, betas = [], []
        done = torch.zeros(b, dtype=torch.bool, device=device)
        length = torch.full((b,), steps, dtype=torch.long, device=device)
        scale = torch.zeros(b, dtype=torch.float64, device=device)
        for j in range(steps):
            basis[:, :, j] = q.T
            w = matvec(q)
            if tuple(w.shape) != (n, b):
                raise ValueError(f"operator(V) must return shape ({n}, {b}), got {tuple(w.shape)}")
            alpha = (q * w).sum(0)
            w = w - alpha * q - beta_prev * q_prev
            if reorthogonalize:
                qs = basis[:, :, : j + 1]
                wb = w.T.unsqueeze(-1)  # (b, n, 1)
                for _ in range(2):  # classical Gram-Schmidt twice is enough
                    wb = wb - qs @ (qs.mT @ wb)
                w = wb.squeeze(-1).T
            beta = w.norm(dim=0)
            alphas.append(torch.where(done, 0.0, alpha))
            scale = torch.maximum(scale, alpha.abs() + beta)
            broke = ~done & (beta <= 1e-12 * scale)
            length = torch.where(broke, j + 1, length)
            done = done | broke
            betas.append(torch.where(done, 0.0, beta))
            q_prev, q = q, torch.where(done, 0.0, w / torch.where(done, 1.0, beta))
            beta_prev = betas[-1]
        alpha_mat = torch.stack(alphas).cpu().numpy()  # (steps, b)
        beta_mat = torch.stack(betas).cpu().numpy()
        lengths = length.cpu().numpy()
    values = np.empty(b)
    for v in range(b):
        m = int(lengths[v])
        theta, u = eigh_tridiagonal(alpha_mat[:m, v], beta_mat[: m - 1, v])
        weights = u[0] ** 2
        fx = np.asarray(f(np.clip(theta, 0.0, None)), dtype=np.float64)
        values[v] = n * float(weights @ fx)
    est = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(b))
    if numpy_in:
        return np.float64(est), np.float64(se)
    return (
        torch.tensor(est, dtype=torch.float64, device=device),
        torch.tensor(se, dtype=torch.float64, device=device),
    )


def _neg_xlogx(v: float) -> float:
    return -v * math.log(v) if v > 0 else 0.0


def topk_spectral_entropy(
    matrix: Any,
    k: int,
    *,
    n: int | None = None,
    trace: float | None = None,
    base: float = math.e,
    seed: int | np.random.Generator | None = None,
) -> tuple[Any, Any, Any]:
    """von Neumann entropy of ``ρ = A / tr A`` from the top-k eigenvalues, with tail bounds;
    returns ``(estimate, lower, upper)`` in ``base`` units (nats by default).

    The k largest eigenvalues λ_1 >= ... >= λ_k of ρ come from ARPACK
    (``scipy.sparse.linalg.eigsh``, ``which="LA"``, seeded start vector). The tail mass
    ``m = 1 - Σ_{i<=k} λ_i`` is exact (the trace is known) and each of the ``n - k`` tail
    eigenvalues lies in [0, λ_k], so the tail's entropy ``-Σ μ log μ`` lies between
    ``-j λ_k log λ_k - s log s`` (mass packed into j = ⌊m/λ_k⌋ eigenvalues equal to λ_k plus a
    remainder s: the minimum) and ``-m log(m / (n - k))`` (mass spread evenly: the maximum).
    ``estimate`` is the midpoint, off by at most half the width. k >= n - 1 uses a dense
    ``eigvalsh`` (exact; the bounds coincide). Cost: ARPACK's O(k) to O(n) mat-vecs plus O(n k²).

    Args:
        matrix: a symmetric PSD (n, n) matrix (numpy or torch; computed in float64 on the CPU), or
            a callable ``v -> A v`` on numpy (n,) vectors, then ``n`` and ``trace`` are required.
        k: number of top eigenvalues, 1 <= k <= n.
        trace: tr A (taken from the diagonal for a matrix).
        seed: int, None or numpy Generator for ARPACK's start vector.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    numpy_in = not is_tensor(matrix)
    if callable(matrix) and not is_tensor(matrix):
        if n is None or trace is None:
            raise ValueError("n and trace are required when matrix is a callable mat-vec")
        op: Any = LinearOperator((n, n), matvec=matrix, dtype=np.float64)
        dense = None
        tr = float(trace)
    else:
        a = to_numpy(matrix, name="matrix")
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"matrix must be a square (n, n) matrix, got shape {a.shape}")
        check_finite(a, "matrix")
        a = (a + a.T) / 2.0
        n = a.shape[0]
        tr = float(np.trace(a)) if trace is None else float(trace)
        op = dense = a
    if not tr > 0:
        raise ValueError(f"the trace must be positive, got {tr}; A / tr A is undefined")
    if not 1 <= k <= n:
        raise ValueError(f"k must lie in [1, n] = [1, {n}], got {k}")
    if k >= n - 1:
        if dense is None:
            raise ValueError(f"k={k} >= n - 1 needs the dense matrix; pass the matrix or k < n-1")
        lam = np.clip(np.linalg.eigvalsh(dense), 0.0, None)
        total = float(sum(_neg_xlogx(v) for v in lam / lam.sum()))
        out = (total, total, total)
    else:
        v0 = numpy_rng(seed).standard_normal(n)
        vals = eigsh(op, k=k, which="LA", v0=v0, return_eigenvectors=False)
        lam = np.clip(np.sort(vals)[::-1] / tr, 0.0, None)
        head = float(sum(_neg_xlogx(v) for v in lam))
        r = n - k
        mass = max(0.0, 1.0 - float(lam.sum()))
        if mass <= 1e-15:
            lower_tail = upper_tail = 0.0
        else:
            # round-off can put the mean tail eigenvalue above λ_k; then both bounds meet
            lk = max(float(lam[-1]), mass / r)
            j = min(r, math.floor(mass / lk))
            rest = max(0.0, mass - j * lk)
            lower_tail = j * _neg_xlogx(lk) + _neg_xlogx(rest)
            upper_tail = -mass * math.log(mass / r)
        lo, hi = head + lower_tail, head + max(upper_tail, lower_tail)
        out = ((lo + hi) / 2.0, lo, hi)
    res = tuple(to_base(v, base) for v in out)
    if numpy_in:
        return tuple(np.float64(v) for v in res)  # type: ignore[return-value]
    import torch

    return tuple(torch.tensor(v, dtype=torch.float64) for v in res)  # type: ignore[return-value]
