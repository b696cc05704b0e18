"""Entropy production rates of diffusions with additive noise.

Setting: ``dx = b(x) dt + sqrt(2 D) dW`` with a constant diffusion matrix D and stationary density
rho (k_B = 1). With the score s = grad log rho, the probability-flow velocity is ``v = b - D s``
and the entropy production rate is ``EPR = E_rho[v^T D^-1 v]`` (nats per unit time).

Degenerate D (noise on a subspace only, e.g. the hypoelliptic active-matter models with no
translational noise): D^-1 is replaced by the Moore-Penrose pseudo-inverse, i.e. only the
velocity components in the noisy subspace range(D) are dissipative; components along null(D)
are treated as reversible (time-reversal-even) and contribute nothing. This is the hypoelliptic
convention of Boffi & Vanden-Eijnden; it is not the eps -> 0 limit, which diverges.

Linear (Ornstein-Uhlenbeck) oracle: for ``dx = -A x dt + sqrt(2 D) dW`` the stationary law is
N(0, S) with ``A S + S A^T = 2 D``, ``v = (D S^-1 - A) x`` and
``EPR = tr((D S^-1 - A)^T D^-1 (D S^-1 - A) S)``. Models written ``dz = M z dt + ...`` pass A = -M.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from entropykit_shared._backend import check_finite, is_tensor, restore, to_numpy, to_torch

# eigenvalues of D at or below this fraction of the largest count as zero (no noise)
_PINV_RTOL = 1e-10


def _diffusion_pinv(diffusion: Any, d: int) -> np.ndarray:
    """The (d, d) pseudo-inverse of a scalar, diagonal (vector) or full PSD diffusion D."""
    dd = to_numpy(diffusion, name="D")
    if not np.isfinite(dd).all():
        raise ValueError("D contains NaN or infinite values; pass a finite diffusion matrix")
    if dd.ndim == 0:
        if not dd > 0:
            raise ValueError(f"a scalar D must be positive (D = D * I), got {float(dd)}")
        return np.eye(d) / float(dd)
    if dd.ndim == 1:
        if dd.shape[0] != d:
            raise ValueError(f"a vector D needs {d} entries (one per dimension), got {dd.shape[0]}")
        evals, evecs = dd, np.eye(d)
    elif dd.shape == (d, d):
        if not np.allclose(dd, dd.T, rtol=0.0, atol=1e-12 * max(np.abs(dd).max(), 1e-300)):
            raise ValueError(
                "D is not symmetric; a diffusion matrix is symmetric: use (D + D^T) / 2"
            )
        evals, evecs = np.linalg.eigh(0.5 * (dd + dd.T))
    else:
        raise ValueError(
            f"D must be a scalar, a ({d},) vector or a ({d}, {d}) matrix, got {dd.shape}"
        )
    top = float(np.abs(evals).max())
    tol = _PINV_RTOL * top
    if top == 0 or (evals < -tol).any():
        raise ValueError(
            f"D must be positive semi-definite and non-zero, got eigenvalues {np.sort(evals)[:5]}"
            "; check the sign convention dx = b dt + sqrt(2 D) dW"
        )
    inv = np.where(evals > tol, 1.0 / np.where(evals > tol, evals, 1.0), 0.0)
    return (evecs * inv) @ evecs.T


def epr_from_velocity(v: Any, D: Any, return_se: bool = False) -> Any:
    """Monte-Carlo entropy production rate ``EPR = mean_i v_i^T D^+ v_i`` (nats per unit time).

    Args:
        v: (..., N, d) probability-flow velocities ``b - D s`` at N stationary samples.
        D: diffusion, a positive scalar (D I), a (d,) vector (diagonal) or a (d, d) PSD matrix;
            degenerate D uses the pseudo-inverse on the noisy subspace (module docstring).
        return_se: also return the standard error std(q_i) / sqrt(N) of the per-sample terms.

    Returns:
        (...) EPR [and standard error]; differentiable in v for torch input. O(N d^2).
    """
    numpy_in = not is_tensor(v)
    t = to_torch(v, name="v")
    check_finite(t, "v")
    if t.ndim < 2 or t.shape[-2] < 1 or t.shape[-1] < 1:
        raise ValueError(
            f"v must be (..., N, d) velocities, got shape {tuple(t.shape)}; reshape a 1-D "
            "sample of scalars with v[:, None]"
        )
    dinv = to_torch(_diffusion_pinv(D, t.shape[-1]), dtype=t.dtype).to(t.device)
    q = ((t @ dinv) * t).sum(-1)
    epr = q.mean(-1)
    if not return_se:
        return restore(epr, numpy_in)
    n = q.shape[-1]
    if n < 2:
        raise ValueError("return_se needs at least 2 samples")
    return restore((epr, q.std(-1) / n**0.5), numpy_in)


def _drift_and_diffusion(A: Any, D: Any) -> tuple[np.ndarray, np.ndarray]:
    a = to_numpy(A, name="A")
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"A must be a square (d, d) drift matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("A contains NaN or infinite values")
    d = a.shape[0]
    dd = to_numpy(D, name="D")
    if dd.ndim == 0:
        dd = float(dd) * np.eye(d)
    elif dd.ndim == 1 and dd.shape[0] == d:
        dd = np.diag(dd)
    elif dd.shape != (d, d):
        raise ValueError(
            f"D must be a scalar, a ({d},) vector or a ({d}, {d}) matrix, got {dd.shape}"
        )
    _diffusion_pinv(dd, d)  # validates symmetry, finiteness and semi-definiteness
    eig = np.linalg.eigvals(a)
    if not (eig.real > 0).all():
        raise ValueError(
            f"A is not stable: the drift -A x needs every eigenvalue of A with positive real "
            f"part, got min Re = {eig.real.min():.3g}; no stationary law exists (a model written "
            "dz = M z dt needs A = -M)"
        )
    return a, 0.5 * (dd + dd.T)


def ou_stationary_covariance(A: Any, D: Any) -> Any:
    """Stationary covariance S of ``dx = -A x dt + sqrt(2 D) dW``: the solution of the Lyapunov
    equation ``A S + S A^T = 2 D`` (``scipy.linalg.solve_continuous_lyapunov``).

    Args:
        A: (d, d) stable drift matrix (eigenvalues with positive real part).
        D: diffusion, scalar, (d,) vector or (d, d) PSD matrix.

    Returns:
        (d, d) covariance (numpy, or a torch tensor when A is one). O(d^3).
    """
    from scipy.linalg import solve_continuous_lyapunov

    a, dd = _drift_and_diffusion(A, D)
    s = solve_continuous_lyapunov(a, 2.0 * dd)
    s = 0.5 * (s + s.T)
    return s if not is_tensor(A) else to_torch(s, dtype=A.dtype).to(A.device)


def ou_entropy_production(A: Any, D: Any) -> Any:
    """Exact EPR of the stationary OU process ``dx = -A x dt + sqrt(2 D) dW``:
    ``tr((D S^-1 - A)^T D^+ (D S^-1 - A) S)`` with S from :func:`ou_stationary_covariance`.

    Degenerate D uses the pseudo-inverse (module docstring); S must still be positive definite
    (the noise must reach every coordinate through the drift). Example: d = 2, D = I,
    A = [[1, -w], [w, 1]] gives S = I and EPR = 2 w^2.

    Args:
        A: (d, d) stable drift matrix; D: diffusion, scalar, (d,) vector or (d, d) PSD matrix.

    Returns:
        The EPR in nats per unit time (numpy float, or a 0-d tensor when A is a tensor). O(d^3).
    """
    a, dd = _drift_and_diffusion(A, D)
    s = to_numpy(ou_stationary_covariance(a, dd))
    try:
        chol = np.linalg.cholesky(s)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "the stationary covariance is singular: the noise does not reach every coordinate "
            "(the pair (A, D) is not controllable); drop the noiseless, undriven coordinates"
        ) from exc
    chol_inv = np.linalg.inv(chol)
    s_inv = chol_inv.T @ chol_inv
    omega = dd @ s_inv - a
    epr = np.float64(np.trace(omega.T @ _diffusion_pinv(dd, a.shape[0]) @ omega @ s))
    if not is_tensor(A):
        return epr
    import torch

    return torch.tensor(float(epr), dtype=A.dtype, device=A.device)


def divergence(f: Callable[[Any], Any], x: Any, create_graph: bool = False) -> Any:
    """Divergence ``(div f)(x_i) = sum_j d f_j / d x_j`` of a vector field at each sample, by
    autograd (d backward passes; exact, no trace estimator).

    Used for the learning-free identity ``EPR = -E[div_x b_x]`` of hypoelliptic active-matter
    models (only the noiseless x-block of the drift enters).

    Args:
        f: maps a (N, d) torch tensor to (N, d); row i must depend on row i only.
        x: (N, d) points (numpy or torch).
        create_graph: keep the graph so the result can be differentiated (e.g. inside a loss).

    Returns:
        (N,) divergences, numpy for numpy ``x``. O(d) vector-Jacobian products.
    """
    import torch

    numpy_in = not is_tensor(x)
    xt = to_torch(x, name="x")
    check_finite(xt, "x")
    if xt.ndim != 2:
        raise ValueError(f"x must be (N, d) points, got shape {tuple(xt.shape)}")
    if not xt.requires_grad:
        xt = xt.detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(xt)
        if not is_tensor(out) or tuple(out.shape) != tuple(xt.shape):
            shape = tuple(out.shape) if is_tensor(out) else type(out).__name__
            raise ValueError(
                f"f must map (N, d) = {tuple(xt.shape)} tensors to the same shape, got {shape}"
            )
        div = torch.zeros(xt.shape[0], dtype=out.dtype, device=xt.device)
        if out.requires_grad:  # otherwise f is constant in x and the divergence is 0
            for j in range(xt.shape[1]):
                (g,) = torch.autograd.grad(
                    out[:, j].sum(),
                    xt,
                    create_graph=create_graph,
                    retain_graph=True,
                    allow_unused=True,
                )
                if g is not None:
                    div = div + g[:, j]
    return restore(div if create_graph else div.detach(), numpy_in)
