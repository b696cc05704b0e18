"""Spectral entropies of PSD matrices and the Vendi score, numpy or torch, float64.

A PSD matrix A defines the density matrix ``ρ = A / tr A`` with eigenvalues λ >= 0, Σλ = 1.

- :func:`von_neumann_entropy`: ``S(ρ) = -Σ λ log λ`` (nats by default).
- :func:`renyi_matrix_entropy`: ``S_α(ρ) = log(Σ λ^α) / (1 - α)``, α in [0, ∞].
- :func:`matrix_renyi_mutual_information`: Giraldo-Rao-Principe ``I_α = S_α(A) + S_α(B) -
  S_α(A∘B / tr(A∘B))``.
- :func:`effective_rank`: Roy-Vetterli ``exp(H(σ / Σσ))`` of the singular values of Z.
- :func:`vendi_score`: ``VS_q = exp(S_q(K/n))`` for a unit-diagonal kernel (an effective number,
  1 <= VS <= n), with dual-form, Frobenius, random-Fourier-feature and Nyström paths;
  :func:`quality_weighted_vendi_score` and the baseline :func:`intdiv`.

Spectra are symmetrised, computed with ``eigvalsh`` in float64, negative round-off is clamped to
0 (a :class:`NotPSDWarning` when ``min λ < -1e-6 · tr``) and renormalised to sum 1. The entropies
are differentiable in torch (the log is floored at 1e-12).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from entropykit_shared._backend import (
    check_2d,
    check_finite,
    is_tensor,
    restore,
    to_base,
    to_torch,
)
from entropykit_shared.discrete import _renyi_nats as renyi_nats
from entropykit_shared.kernels import rbf_kernel, unit_rows
from entropykit_shared.linalg import (
    KERNEL_NAMES,
    gram,
    kernel_function,
    nystrom_features,
    random_fourier_features,
    symmetric_eigvalsh,
)

#: |q - 1| below this uses the Shannon formula (the Rényi quotient is 0/0 at q = 1).
SHANNON_ATOL = 1e-6
#: A spectrum with min λ < -PSD_RTOL · tr A triggers :class:`NotPSDWarning`.
PSD_RTOL = 1e-6
#: Largest allowed |K_ii - 1| for a kernel matrix that must have a unit diagonal.
UNIT_DIAG_ATOL = 1e-6

VENDI_METHODS: tuple[str, ...] = ("auto", "dense", "dual", "frobenius", "rff", "nystrom")


class NotPSDWarning(RuntimeWarning):
    """The matrix has eigenvalues below ``-1e-6 · trace``: it is not a PSD kernel. They are set to
    0 and the spectrum renormalised; the entropy is then only a heuristic."""


# --------------------------------------------------------------------------- spectrum helpers


def _check_order(q: float | str, name: str) -> float:
    if isinstance(q, str):
        if q.lower() in ("inf", "infinity"):
            return math.inf
        raise ValueError(f"{name} must be a number in [0, inf] or 'inf', got {q!r}")
    value = float(q)
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must lie in [0, inf] (math.inf allowed), got {q}")
    return value


def _as_square(matrix: Any, name: str) -> tuple[Any, bool]:
    """float64 torch tensor of a (..., n, n) matrix, validated and symmetrised."""
    import torch

    numpy_in = not is_tensor(matrix)
    t = to_torch(matrix, name=name)
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must be a square (..., n, n) matrix, got shape {tuple(t.shape)}")
    if t.shape[-1] == 0:
        raise ValueError(f"{name} is empty (0 x 0); at least one sample is needed")
    check_finite(t, name)
    in_eps = torch.finfo(t.dtype).eps
    t = t.to(torch.float64)
    if t.shape[-1] > 1:
        tol = max(1e-8, 100.0 * in_eps)
        with torch.no_grad():
            asym = torch.linalg.matrix_norm(t - t.mT) / torch.linalg.matrix_norm(t).clamp_min(
                torch.finfo(torch.float64).tiny
            )
            worst = float(asym.max())
        if worst > tol:
            raise ValueError(
                f"{name} is not symmetric (relative asymmetry ||A - Aᵀ||/||A|| = {worst:.1e} > "
                f"{tol:.0e}); pass (A + A.T) / 2 if a symmetrised matrix is intended"
            )
        t = (t + t.mT) / 2.0
    return t, numpy_in


def _unit_trace(t: Any, name: str) -> Any:
    tr = t.diagonal(dim1=-2, dim2=-1).sum(-1)
    if bool((tr <= 0).any()):
        raise ValueError(
            f"{name} has trace {float(tr.min()):.3g} <= 0; a density matrix A / tr A needs a "
            "positive trace (a PSD matrix with zero trace is the zero matrix)"
        )
    return t / tr[..., None, None]


def _clean_spectrum(lam: Any, name: str) -> Any:
    """Clamp negative eigenvalues (warning beyond -1e-6 · trace) and renormalise to sum 1."""
    import torch

    with torch.no_grad():
        total = lam.sum(-1)
        worst = float((lam.min(-1).values / total).min())
    if worst < -PSD_RTOL:
        warnings.warn(
            f"{name} is not positive semi-definite: smallest eigenvalue = {worst:.2e} × trace "
            f"(< -{PSD_RTOL:g} × trace); negative eigenvalues are set to 0 and the spectrum "
            "renormalised, so the entropy is only a heuristic",
            NotPSDWarning,
            stacklevel=3,
        )
    lam = lam.clamp_min(0.0)
    return lam / lam.sum(-1, keepdim=True)


def _density_spectrum(rho: Any, name: str) -> Any:
    return _clean_spectrum(symmetric_eigvalsh(rho), name)


def _renyi_nats(lam: Any, q: float, rank_tol: float | None) -> Any:
    """Rényi entropy (nats) of a probability vector λ (last dim) of order q in [0, ∞].

    For q < 1 eigenvalues ``<= rank_tol · max λ`` count as exact zeros (default
    ``N · eps(float64)``, numpy.linalg.matrix_rank's rule, N = length of λ): λ^q with q < 1 would
    otherwise turn round-off into mass. For q >= 1 they contribute at most N·tol·|log tol|.
    """
    import torch

    if q < 1.0 and abs(q - 1.0) >= SHANNON_ATOL:
        tol = lam.shape[-1] * torch.finfo(torch.float64).eps if rank_tol is None else rank_tol
        keep = lam > tol * lam.max(-1, keepdim=True).values
        lam = torch.where(keep, lam, torch.zeros_like(lam))
    return renyi_nats(lam, q)


# --------------------------------------------------------------------------- matrix entropies


def von_neumann_entropy(matrix: Any, base: float = math.e) -> Any:
    """von Neumann entropy ``S(ρ) = -tr(ρ log ρ) = -Σ λ log λ`` of ``ρ = A / tr A``.

    Args:
        matrix: (..., n, n) symmetric PSD matrix (numpy or torch); batched over leading dims.
        base: log base (math.e: nats, 2: bits).

    Returns:
        (...) entropies in ``base`` units, in [0, log n]; a float for one numpy matrix, a float64
        tensor (differentiable through ``eigvalsh``) for torch input.

    Raises ValueError for non-square, non-symmetric (beyond round-off), NaN/inf or zero-trace
    input; warns :class:`NotPSDWarning` when ``min λ < -1e-6 · tr A``. Cost O(n³).
    """
    t, numpy_in = _as_square(matrix, "matrix")
    lam = _density_spectrum(_unit_trace(t, "matrix"), "matrix")
    return restore(to_base(_renyi_nats(lam, 1.0, None), base), numpy_in)


def renyi_matrix_entropy(
    matrix: Any, alpha: float | str, base: float = math.e, *, rank_tol: float | None = None
) -> Any:
    """Matrix Rényi α-entropy ``S_α(ρ) = log(Σ λ^α) / (1 - α)`` of ``ρ = A / tr A``.

    α = 1 is the von Neumann entropy (used when |α - 1| < 1e-6), α = 0 the log of the numerical
    rank (eigenvalues ``> rank_tol · λ_max``, default ``n · eps``; the same cut applies to all
    α < 1), α = ∞ (``math.inf`` or "inf") ``-log λ_max``. Non-increasing in α.

    Args:
        matrix: (..., n, n) symmetric PSD matrix; batched. alpha: order in [0, ∞].
        base: log base (math.e: nats, 2: bits).

    Returns (...) entropies in ``base`` units; differentiable in torch for α > 0.
    """
    a = _check_order(alpha, "alpha")
    t, numpy_in = _as_square(matrix, "matrix")
    lam = _density_spectrum(_unit_trace(t, "matrix"), "matrix")
    return restore(to_base(_renyi_nats(lam, a, rank_tol), base), numpy_in)


def matrix_renyi_mutual_information(
    ka: Any, kb: Any, alpha: float | str = 1.01, base: float = math.e
) -> Any:
    """Matrix-based Rényi α mutual information (Giraldo, Rao & Principe 2014).

    ``A = K_a / tr K_a``, ``B = K_b / tr K_b``, joint ``A∘B / tr(A∘B)`` (Hadamard product);
    ``I_α(A; B) = S_α(A) + S_α(B) - S_α(A∘B / tr(A∘B))``. For unit-diagonal PSD kernels (e.g.
    RBF) ``0 <= I_α <= min(S_α(A), S_α(B))``; ``I_α = 0`` when one kernel is constant (K = 11ᵀ).
    The default α = 1.01 stays close to Shannon while keeping the Rényi form.

    Args:
        ka, kb: (..., n, n) kernel matrices of the same n samples under two representations.
        alpha: order in [0, ∞]. base: log base (math.e: nats, 2: bits).

    Returns (...) mutual information in ``base`` units; differentiable in torch. Cost O(n³).
    """
    a = _check_order(alpha, "alpha")
    ta, numpy_in = _as_square(ka, "ka")
    tb, _ = _as_square(kb, "kb")
    if ta.shape[-1] != tb.shape[-1]:
        raise ValueError(
            f"ka and kb must describe the same samples, got sizes {ta.shape[-1]} and {tb.shape[-1]}"
        )
    tb = tb.to(ta.device)
    rho_a, rho_b = _unit_trace(ta, "ka"), _unit_trace(tb, "kb")
    joint = _unit_trace(rho_a * rho_b, "ka∘kb")
    s_a = _renyi_nats(_density_spectrum(rho_a, "ka"), a, None)
    s_b = _renyi_nats(_density_spectrum(rho_b, "kb"), a, None)
    s_ab = _renyi_nats(_density_spectrum(joint, "ka∘kb"), a, None)
    return restore(to_base(s_a + s_b - s_ab, base), numpy_in)


def effective_rank(z: Any) -> Any:
    """Effective rank (Roy & Vetterli 2007; RankMe) ``exp(H(σ / Σσ))`` of a (..., n, d) matrix.

    σ are the singular values of Z itself. This is *not* the Vendi score with a linear kernel:
    Vendi uses the eigenvalues of ``Z Zᵀ / n``, i.e. ``σ² / Σσ²``, so
    ``vendi_score(z, kernel="linear")`` weights large directions more and is <= ``effective_rank``
    in general (they agree when all non-zero σ are equal). RankMe adds 1e-7 to σ/Σσ; here
    ``0 log 0 = 0`` exactly. Returns an effective number in [1, min(n, d)] (no units);
    differentiable in torch (distinct non-zero σ). Cost O(n d min(n, d)).
    """
    import torch

    numpy_in = not is_tensor(z)
    t = to_torch(z, name="z")
    if t.ndim < 2 or min(t.shape[-2:]) == 0:
        raise ValueError(f"z must be a non-empty (..., n, d) matrix, got shape {tuple(t.shape)}")
    check_finite(t, "z")
    sv = torch.linalg.svdvals(t.to(torch.float64))
    total = sv.sum(-1, keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError("z is all zeros (no singular value > 0); the effective rank is undefined")
    return restore(torch.exp(_renyi_nats(sv / total, 1.0, None)), numpy_in)


# --------------------------------------------------------------------------- Vendi score


def _sqrt_weights(p: Any, n: int, like: Any) -> Any:
    """√p as a float64 tensor on ``like``'s device (uniform 1/n when p is None)."""
    import torch

    if p is None:
        return torch.full((n,), 1.0 / math.sqrt(n), dtype=torch.float64, device=like.device)
    pt = to_torch(p, name="p").to(like.device, torch.float64)
    if pt.ndim != 1 or pt.shape[0] != n:
        raise ValueError(f"p must be a ({n},) probability vector, got shape {tuple(pt.shape)}")
    check_finite(pt, "p")
    if bool((pt < 0).any()):
        raise ValueError("p has negative entries; pass probabilities >= 0")
    total = float(pt.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"p must sum to 1, got {total:.8g}; pass p / p.sum()")
    return pt.sqrt()


def _cosine_normalize(k: Any, name: str) -> Any:
    d = k.diagonal(dim1=-2, dim2=-1)
    bad = (d <= 0).nonzero().flatten().tolist()
    if bad:
        raise ValueError(
            f"{name} has non-positive diagonal entries (e.g. index {bad[:10]}); the normalisation "
            "K_ij / sqrt(K_ii K_jj) needs a positive diagonal"
        )
    s = d.sqrt()
    return k / (s[..., :, None] * s[..., None, :])


def _require_unit_diagonal(k: Any, name: str) -> None:
    dev = float((k.diagonal(dim1=-2, dim2=-1) - 1.0).abs().max())
    if dev > UNIT_DIAG_ATOL:
        raise ValueError(
            f"{name} must have a unit diagonal (k(x, x) = 1) for K/n to be a density matrix; "
            f"max |K_ii - 1| = {dev:.3g}. Pass normalize=True to use K_ij / sqrt(K_ii K_jj), or "
            "von_neumann_entropy(K) for the entropy of K / tr K"
        )


def _score_from_density(rho: Any, q: float, method: str, rank_tol: float | None, name: str) -> Any:
    """exp(S_q) of an (unnormalised) PSD density ``rho``: Frobenius purity or eigenvalues."""
    import torch

    rho = _unit_trace(rho, name)
    if method == "frobenius":
        # VS_2 = 1 / tr ρ² = 1 / ||ρ||_F² (no eigendecomposition)
        return 1.0 / (rho * rho).sum((-2, -1))
    lam = _density_spectrum(rho, name)
    return torch.exp(_renyi_nats(lam, q, rank_tol))


def vendi_score(
    x: Any = None,
    *,
    kernel: str | Callable[[Any, Any], Any] = "cosine",
    q: float | str = 1.0,
    K: Any = None,
    p: Any = None,
    method: str = "auto",
    sigma: float | str = "median",
    normalize: bool = False,
    num_features: int = 1024,
    num_landmarks: int = 500,
    seed: int | np.random.Generator | None = None,
    rank_tol: float | None = None,
) -> Any:
    """Vendi score of order q: ``VS_q = exp(S_q(ρ))`` with ``ρ = diag(√p) K diag(√p)``
    (``K / n`` for uniform p) and S_q the Rényi entropy (nats) of its eigenvalues.

    An effective number (no units): 1 <= VS_q <= n; n for n mutually dissimilar samples, 1 for n
    identical ones; non-increasing in q. q = 1 is the Vendi score (von Neumann entropy),
    q = 2 is ``1 / ||ρ||_F²`` (the RKE mode count), q = ∞ is ``1 / λ_max``, q = 0 is the number
    of eigenvalues above ``rank_tol · λ_max`` (default ``N · eps``, N the eigenproblem size;
    the same cut is applied for all q < 1 so that round-off does not count as diversity).

    Inputs (exactly one of ``x`` and ``K``):
        x: (n, d) samples with ``kernel`` = "cosine" (rows normalised; zero rows are an error
            naming them), "linear" (ρ = diag(√p) X Xᵀ diag(√p) / Σ p_i |x_i|², i.e. trace
            normalised since X Xᵀ has no unit diagonal), "rbf" (bandwidth ``sigma``: a number or a
            rule of :func:`entropykit_shared.kernels.bandwidth`) or a callable ``k(a, b)`` that
            returns the (len(a), len(b)) matrix (called with the caller's array kind) and must give
            a unit diagonal unless ``normalize=True``.
        K: (..., n, n) precomputed symmetric PSD kernel matrix (batched; a scipy sparse matrix is
            densified). It must have a unit diagonal (|K_ii - 1| <= 1e-6), otherwise ValueError:
            K/n is then not a density matrix. ``normalize=True`` uses ``K_ij / sqrt(K_ii K_jj)``
            instead (for callables too; with kernel="linear" it gives the cosine kernel).
        p: optional (n,) probability weights (>= 0, sum 1).

    Methods:
        "dense": ``eigvalsh`` of the n×n ρ, O(n²d + n³).
        "dual": linear/cosine kernels only: eigenvalues of ``Xᵀ diag(p) X`` (d×d), which has the
            same non-zero spectrum as ρ; O(n d² + d³).
        "frobenius": q = 2 only: ``1 / ||ρ||_F²`` without eigendecomposition (from features as
            ``||Fᵀ diag(p) F||_F²``); no PSD check is possible on this path.
        "rff": RBF kernel only: r = ``num_features`` random Fourier features Z
            (:func:`entropykit_shared.linalg.random_fourier_features`), then the dual form of
            ``Z Zᵀ`` renormalised to unit trace; O(n d r + n r² + r³). Unbiased kernel entries with
            error O(1/√r); the score's error is documented in docs/shared/spectral.md.
        "nystrom": any kernel: m = ``num_landmarks`` landmarks
            (:func:`entropykit_shared.linalg.nystrom_features`), then the dual form; the rank is
            <= m, so VS_q <= m and the score is biased low when the kernel's effective rank
            approaches m; O(n m d + n m² + m³).
        "auto": "dual" for linear/cosine with d < n; else "frobenius" when q = 2; else "dense".
        Bandwidth rules for "rff"/"nystrom" are evaluated on at most 2000 rows (seeded subsample).

    Args:
        q: order in [0, ∞] (``math.inf`` or "inf"). seed: int, None or numpy Generator, used by
            "rff" and "nystrom" only. rank_tol: relative eigenvalue cut for q < 1.

    Returns:
        The score: a float for numpy input (an array for batched K), a float64 tensor for torch
        input (differentiable on the "dense", "dual", "frobenius" and "rff" paths). n = 1 gives
        1.0; n = 0 is an error. A :class:`NotPSDWarning` flags a non-PSD kernel.
    """
    qv = _check_order(q, "q")
    if (x is None) == (K is None):
        raise ValueError("pass exactly one of x (samples) or K (a precomputed kernel matrix)")
    if method not in VENDI_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {VENDI_METHODS}")
    if method == "frobenius" and qv != 2.0:
        raise ValueError(f"method='frobenius' computes only q = 2, got q = {q}; use 'auto'")
    if K is not None:
        return _vendi_from_kernel_matrix(K, qv, p, method, normalize, rank_tol)
    return _vendi_from_samples(
        x, kernel, qv, p, method, sigma, normalize, num_features, num_landmarks, seed, rank_tol
    )


def _vendi_from_kernel_matrix(
    k: Any, q: float, p: Any, method: str, normalize: bool, rank_tol: float | None
) -> Any:
    import torch

    if type(k).__module__.startswith("scipy.sparse"):
        k = k.toarray()
    if method not in ("auto", "dense", "frobenius"):
        raise ValueError(
            f"method={method!r} needs samples x; with a precomputed K use 'auto', 'dense' or "
            "'frobenius'"
        )
    t, numpy_in = _as_square(k, "K")
    if normalize:
        t = _cosine_normalize(t, "K")
    else:
        _require_unit_diagonal(t, "K")
    n = t.shape[-1]
    if n == 1:
        return restore(torch.ones(t.shape[:-2], dtype=torch.float64, device=t.device), numpy_in)
    sp = _sqrt_weights(p, n, t)
    rho = t * (sp[:, None] * sp[None, :])
    path = "frobenius" if method == "frobenius" or (method == "auto" and q == 2.0) else "dense"
    return restore(_score_from_density(rho, q, path, rank_tol, "K"), numpy_in)


def _vendi_from_samples(
    x: Any,
    kernel: str | Callable[[Any, Any], Any],
    q: float,
    p: Any,
    method: str,
    sigma: float | str,
    normalize: bool,
    num_features: int,
    num_landmarks: int,
    seed: int | np.random.Generator | None,
    rank_tol: float | None,
) -> Any:
    import torch

    if not callable(kernel) and kernel not in KERNEL_NAMES:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNEL_NAMES} or a callable")
    if kernel == "linear" and normalize:
        kernel = "cosine"
    numpy_in = not is_tensor(x)
    if (
        numpy_in
        and kernel in ("linear", "cosine")
        and method in ("auto", "dual")
        and np.ndim(x) == 2
        and 1 < np.shape(x)[1] < np.shape(x)[0]
    ):
        return _vendi_dual_numpy(np.asarray(x, dtype=np.float64), kernel, q, p, rank_tol)
    xt = to_torch(x, name="x")
    check_2d(xt, "x", min_rows=1)
    check_finite(xt, "x")
    xt = xt.to(torch.float64)
    n, d = xt.shape
    if kernel == "cosine":
        xt = unit_rows(xt)
    if n == 1:
        return restore(torch.ones((), dtype=torch.float64, device=xt.device), numpy_in)
    sp = _sqrt_weights(p, n, xt)
    if method == "auto":
        if kernel in ("linear", "cosine") and d < n:
            method = "dual"
        else:
            method = "frobenius" if q == 2.0 else "dense"
    if method in ("dual", "rff", "nystrom"):
        if method == "dual":
            if kernel not in ("linear", "cosine"):
                raise ValueError(
                    f"method='dual' needs the linear or cosine kernel, got {kernel!r}; use "
                    "'rff' or 'nystrom' for an explicit feature map"
                )
            feats = xt
        elif method == "rff":
            if kernel != "rbf":
                raise ValueError(f"method='rff' approximates the rbf kernel only, got {kernel!r}")
            feats = random_fourier_features(xt, sigma, num_features, seed)
        else:
            feats = nystrom_features(xt, kernel, num_landmarks, seed, sigma=sigma)
        fw = feats * sp[:, None]
        # Xᵀ diag(p) X has the non-zero spectrum of diag(√p) X Xᵀ diag(√p): use the smaller one
        g = gram(fw, transpose=fw.shape[1] <= n)
        path = "frobenius" if q == 2.0 else "dense"
        return restore(_score_from_density(g, q, path, rank_tol, "kernel"), numpy_in)
    if kernel == "rbf":
        km = rbf_kernel(xt, sigma=sigma)
    elif kernel == "cosine":
        km = xt @ xt.mT
        km.fill_diagonal_(1.0)
    elif kernel == "linear":
        km = xt @ xt.mT
    else:
        km, _ = _as_square(kernel_function(kernel, sigma, numpy_in)(xt, xt), "kernel(x, x)")
        if normalize:
            km = _cosine_normalize(km, "kernel(x, x)")
        else:
            _require_unit_diagonal(km, "kernel(x, x)")
    rho = km * (sp[:, None] * sp[None, :])
    return restore(_score_from_density(rho, q, method, rank_tol, "kernel"), numpy_in)


def _vendi_dual_numpy(
    a: np.ndarray, kernel: str, q: float, p: Any, rank_tol: float | None
) -> np.float64:
    """The dual form for numpy input on the CPU, in numpy/LAPACK only.

    Same result as the torch path; kept separate because alternating torch (OpenMP) and numpy
    (OpenBLAS) thread pools on big arrays made the torch path ~2x slower on a 2-core machine.
    Uniform weights scale the d×d Gram matrix instead of the n×d samples.
    """
    import torch
    from scipy.linalg import eigvalsh

    check_finite(a, "x")
    n = a.shape[0]
    if kernel == "cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", a, a))
        zero = np.flatnonzero(norms == 0).tolist()
        if zero:
            raise ValueError(
                f"x has zero vectors at rows {zero[:10]}; cosine similarity is undefined for "
                "them: drop those rows or use the linear kernel"
            )
        a = a / norms[:, None]
    if p is None:
        g = a.T @ a  # numpy calls BLAS ?syrk for Aᵀ A
    else:
        sp = _sqrt_weights(p, n, torch.empty(0, dtype=torch.float64)).numpy()
        aw = a * sp[:, None]
        g = aw.T @ aw
    g = g / np.trace(g)  # unit trace: K/n for cosine, K/tr K for linear (weighted or not)
    lam = torch.from_numpy(eigvalsh(g, check_finite=False))
    lam = _clean_spectrum(lam, "kernel")
    return np.exp(_renyi_nats(lam, q, rank_tol).numpy())[()]


def quality_weighted_vendi_score(quality: Any, x: Any = None, **vendi_kwargs: Any) -> Any:
    """Quality-weighted Vendi score (Nguyen & Dieng 2024): ``qVS_q = mean(s) · VS_q``.

    ``quality``: (n,) per-sample scores s(x_i) (the mean is ``Σ p_i s_i`` when ``p`` is passed);
    the other arguments are those of :func:`vendi_score`. Returns the product (units of s).
    """
    import torch

    numpy_in = not is_tensor(quality)
    vs = vendi_score(x, **vendi_kwargs)
    vs = to_torch(vs, name="vendi score")
    k = vendi_kwargs.get("K")
    n = len(x) if k is None else (k.shape[-1] if hasattr(k, "shape") else len(k))
    s = to_torch(quality, name="quality").to(vs.device, torch.float64)
    check_finite(s, "quality")
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(
            f"quality must be a ({n},) vector of per-sample scores, got shape {tuple(s.shape)}"
        )
    p = vendi_kwargs.get("p")
    mean = s.mean() if p is None else (s * to_torch(p, name="p").to(s.device)).sum()
    return restore(mean * vs, numpy_in)


def intdiv(
    x: Any = None,
    *,
    kernel: str | Callable[[Any, Any], Any] = "cosine",
    K: Any = None,
    q: float = 1.0,
    p: Any = None,
    sigma: float | str = "median",
) -> Any:
    """Internal diversity ``IntDiv = 1 - Σ_ij p_i p_j K_ij^q`` (element-wise power; p uniform
    by default, i.e. ``1 - mean(K^q)``): the Vendi paper's baseline.

    With ``x`` and the linear/cosine kernel at q = 1 it is ``1 - ||Σ_i p_i x_i||²`` in O(n d);
    otherwise the n×n kernel is built. ``K`` may be batched (..., n, n). q must be >= 0 and an
    integer when K has negative entries (a fractional power of a negative similarity is
    undefined). Returns a float (numpy) or a tensor (torch); no units.
    """
    import torch

    qv = float(q)
    if not (qv >= 0 and math.isfinite(qv)):
        raise ValueError(f"q must be a finite number >= 0, got {q}")
    if (x is None) == (K is None):
        raise ValueError("pass exactly one of x (samples) or K (a precomputed kernel matrix)")
    if K is not None:
        if type(K).__module__.startswith("scipy.sparse"):
            K = K.toarray()
        km, numpy_in = _as_square(K, "K")
        n = km.shape[-1]
    else:
        if not callable(kernel) and kernel not in KERNEL_NAMES:
            raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNEL_NAMES} or a callable")
        numpy_in = not is_tensor(x)
        xt = to_torch(x, name="x")
        check_2d(xt, "x", min_rows=1)
        check_finite(xt, "x")
        xt = xt.to(torch.float64)
        n = xt.shape[0]
        if kernel == "cosine":
            xt = unit_rows(xt)
        if kernel in ("linear", "cosine") and qv == 1.0:
            w = _sqrt_weights(p, n, xt) ** 2
            mean_vec = (w[:, None] * xt).sum(0)
            return restore(1.0 - (mean_vec * mean_vec).sum(), numpy_in)
        other = xt if callable(kernel) else None
        km = to_torch(kernel_function(kernel, sigma, numpy_in)(xt, other))
    w = _sqrt_weights(p, n, km) ** 2
    if qv != int(qv) and bool((km < 0).any()):
        raise ValueError(
            f"K has negative entries and q = {q} is fractional: K_ij^q is undefined; use an "
            "integer q or a non-negative kernel"
        )
    kq = km**qv
    return restore(1.0 - (kq * (w[:, None] * w[None, :])).sum((-2, -1)), numpy_in)
