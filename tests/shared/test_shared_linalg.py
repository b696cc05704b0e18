"""Linear-algebra fast paths against dense eigvalsh on moderate n.

Documented tolerances (n = 300-400, RBF kernel of 5-D Gaussian samples, sigma = 1.5):
dual Gram 1e-10 relative; SLQ within 4 standard errors; top-k bounds contain the exact entropy;
RFF kernel entries within 6/sqrt(r); RFF Vendi biased low by about 5 % at r = 1024 (checked within
12 %); Nyström exact at m = n and within 10 % at m = 250 of n = 300.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as shannon

from entropykit_shared.kernels import cosine_kernel, rbf_kernel
from entropykit_shared.linalg import (
    dual_gram_eigenvalues,
    gram,
    nystrom_features,
    random_fourier_features,
    slq_trace,
    symmetric_eigvalsh,
    topk_spectral_entropy,
)
from entropykit_shared.spectral import vendi_score


def neg_xlogx(t: np.ndarray) -> np.ndarray:
    return -t * np.log(np.maximum(t, 1e-300))


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((300, 5))


@pytest.fixture(scope="module")
def density(samples: np.ndarray) -> np.ndarray:
    k = rbf_kernel(samples, sigma=1.5)
    return k / np.trace(k)


# ----------------------------------------------------------------------------- dual Gram


@pytest.mark.parametrize("shape", [(200, 7), (6, 40)])
def test_dual_gram_matches_dense_nonzero_spectrum(shape: tuple[int, int]) -> None:
    x = np.random.default_rng(1).standard_normal(shape)
    n = shape[0]
    got = dual_gram_eigenvalues(x, scale=1.0 / n)
    dense = np.linalg.eigvalsh(x @ x.T / n)
    assert got.shape == (min(shape),)
    np.testing.assert_allclose(got, dense[-min(shape) :], rtol=1e-10, atol=1e-12)
    assert np.abs(dense[: n - min(shape)]).max(initial=0.0) < 1e-10


def test_dual_gram_batched_torch_and_gradient() -> None:
    x = torch.randn(3, 50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    out = dual_gram_eigenvalues(x, 0.5)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (3, 4)
    ref = np.stack([np.linalg.eigvalsh(0.5 * m.T @ m) for m in x.detach().numpy()])
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10)
    (grad,) = torch.autograd.grad(out.sum(), x)
    # d(tr XᵀX / 2) / dX = X
    np.testing.assert_allclose(grad.numpy(), x.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="scale"):
        dual_gram_eigenvalues(x.detach(), 0.0)
    with pytest.raises(ValueError, match="shape"):
        dual_gram_eigenvalues(np.ones(3))


# ----------------------------------------------------------------------------- random features


def test_rff_approximates_the_rbf_kernel(samples: np.ndarray) -> None:
    r = 2048
    z = random_fourier_features(samples, sigma=1.5, num_features=r, seed=0)
    assert z.shape == (300, r)
    err = np.abs(z @ z.T - rbf_kernel(samples, sigma=1.5))
    assert err.max() < 6.0 / math.sqrt(r)
    assert err.mean() < 1.5 / math.sqrt(r)


def test_rff_vendi_error_at_default_size(samples: np.ndarray) -> None:
    exact = vendi_score(samples, kernel="rbf", sigma=1.5)
    rel = [
        vendi_score(samples, kernel="rbf", sigma=1.5, method="rff", seed=s) / exact - 1.0
        for s in range(3)
    ]
    assert all(-0.12 < e < 0.03 for e in rel)


def test_rff_seeding_rules_and_global_state(samples: np.ndarray) -> None:
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state must not move)
    torch_state = torch.random.get_rng_state()
    a = random_fourier_features(samples, "median", 16, seed=3)
    np.testing.assert_array_equal(a, random_fourier_features(samples, "median", 16, seed=3))
    assert not np.array_equal(a, random_fourier_features(samples, "median", 16, seed=4))
    np.testing.assert_array_equal(state, np.random.get_state()[1])  # noqa: NPY002
    assert torch.equal(torch_state, torch.random.get_rng_state())
    gen = np.random.default_rng(3)
    np.testing.assert_array_equal(a, random_fourier_features(samples, "median", 16, seed=gen))
    t = random_fourier_features(torch.from_numpy(samples), "median", 16, seed=3)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), a, rtol=1e-12)
    with pytest.raises(ValueError, match="knn"):
        random_fourier_features(samples, "knn", 16, seed=0)
    with pytest.raises(ValueError, match="num_features"):
        random_fourier_features(samples, 1.0, 0)
    with pytest.raises(ValueError, match="seed"):
        random_fourier_features(samples, 1.0, 8, seed=1.5)  # type: ignore[arg-type]


def test_nystrom_exact_with_all_landmarks_and_on_landmark_rows(samples: np.ndarray) -> None:
    x = samples[:80]
    k = rbf_kernel(x, sigma=1.5)
    f = nystrom_features(x, "rbf", 80, seed=0, sigma=1.5)
    np.testing.assert_allclose(f @ f.T, k, atol=1e-8)
    f = nystrom_features(x, "rbf", 20, seed=0, sigma=1.5)
    approx = f @ f.T
    idx = np.sort(np.random.default_rng(0).choice(80, 20, replace=False))
    np.testing.assert_allclose(approx[:, idx], k[:, idx], atol=1e-8)
    assert np.linalg.eigvalsh(k - approx).min() > -1e-8  # K - C W⁺ Cᵀ is PSD


def test_nystrom_vendi_error(samples: np.ndarray) -> None:
    exact = vendi_score(samples, kernel="rbf", sigma=1.5)
    approx = vendi_score(samples, kernel="rbf", sigma=1.5, method="nystrom", num_landmarks=250)
    assert -0.10 < approx / exact - 1.0 <= 1e-9


def test_nystrom_other_kernels_and_errors(samples: np.ndarray) -> None:
    x = samples[:40]
    f = nystrom_features(x, "cosine", 40, seed=1)
    np.testing.assert_allclose(f @ f.T, cosine_kernel(x), atol=1e-8)
    g = nystrom_features(x, lambda a, b: cosine_kernel(a, b), 40, seed=1)
    np.testing.assert_allclose(g @ g.T, f @ f.T, atol=1e-8)
    assert nystrom_features(x, "linear", 40, seed=1).shape[1] == 5  # rank of X Xᵀ
    with pytest.raises(ValueError, match="unknown kernel"):
        nystrom_features(x, "poly", 10)
    with pytest.raises(ValueError, match="num_landmarks"):
        nystrom_features(x, "rbf", 0)
    with pytest.raises(ValueError, match="zero"):
        nystrom_features(x, lambda a, b: np.zeros((len(a), len(b))), 5)


# ----------------------------------------------------------------------------- SLQ


def test_slq_is_exact_for_diagonal_operators_with_full_steps() -> None:
    """Rademacher probes have v_i² = 1, so vᵀ f(D) v = tr f(D) for diagonal D."""
    d = np.diag(np.linspace(0.01, 1.0, 25))
    est, se = slq_trace(d, neg_xlogx, num_probes=4, num_steps=25, seed=0)
    assert est == pytest.approx(neg_xlogx(np.diag(d)).sum(), rel=1e-10)
    assert se < 1e-10
    # Gauss quadrature with m nodes is exact for polynomials of degree < 2m
    est, _ = slq_trace(d, lambda t: t**3, num_probes=3, num_steps=2, seed=0)
    assert est == pytest.approx(np.sum(np.diag(d) ** 3), rel=1e-10)


def test_slq_entropy_within_standard_errors(density: np.ndarray) -> None:
    exact = float(neg_xlogx(np.clip(np.linalg.eigvalsh(density), 0, None)).sum())
    est, se = slq_trace(density, neg_xlogx, num_probes=40, num_steps=20, seed=1)
    assert 0 < se < 0.2
    assert abs(est - exact) < 4 * se
    tr, tr_se = slq_trace(density, lambda t: t, num_probes=60, num_steps=5, seed=2)
    assert abs(tr - 1.0) < 4 * tr_se


def test_slq_matvec_callable_equals_matrix_and_torch(density: np.ndarray) -> None:
    a = torch.from_numpy(density)
    ref = slq_trace(density, neg_xlogx, num_probes=8, num_steps=12, seed=5)
    via_callable = slq_trace(lambda v: a @ v, neg_xlogx, 300, num_probes=8, num_steps=12, seed=5)
    np.testing.assert_allclose(via_callable, ref, rtol=1e-10)
    est, _ = slq_trace(a, neg_xlogx, num_probes=8, num_steps=12, seed=5)
    assert isinstance(est, torch.Tensor)
    assert float(est) == pytest.approx(ref[0], rel=1e-10)
    no_reorth = slq_trace(
        density, neg_xlogx, num_probes=8, num_steps=12, seed=5, reorthogonalize=False
    )
    assert no_reorth[0] == pytest.approx(ref[0], rel=1e-3)
    with pytest.raises(ValueError, match=r"n .* required"):
        slq_trace(lambda v: v, neg_xlogx)
    with pytest.raises(ValueError, match="num_probes"):
        slq_trace(density, neg_xlogx, num_probes=1)
    with pytest.raises(ValueError, match="square"):
        slq_trace(np.ones((3, 4)), neg_xlogx)
    with pytest.raises(ValueError, match="shape"):
        slq_trace(lambda v: v[:2], neg_xlogx, 5)


# ----------------------------------------------------------------------------- top-k


def test_topk_bounds_contain_exact(density: np.ndarray) -> None:
    exact = shannon(np.clip(np.linalg.eigvalsh(density), 0, None))
    widths = []
    for k in (10, 50, 120):
        est, lo, hi = topk_spectral_entropy(density * 7.0, k, seed=0)
        assert lo - 1e-9 <= exact <= hi + 1e-9
        assert lo <= est <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.05


def test_topk_bounds_are_attained() -> None:
    head = [0.4, 0.2, 0.1]
    flat = np.diag(head + [0.3 / 30] * 30)  # tail spread evenly: the upper bound
    _, lo, hi = topk_spectral_entropy(flat, 3, seed=0)
    assert hi == pytest.approx(shannon(np.diag(flat)), rel=1e-10)
    assert lo < hi
    packed = np.diag(head + [0.1, 0.1, 0.1] + [0.0] * 27)  # tail packed at λ_k: the lower bound
    _, lo, hi = topk_spectral_entropy(packed, 3, seed=0)
    assert lo == pytest.approx(shannon(np.diag(packed)), rel=1e-10)


def test_topk_dense_fallback_callable_base_and_errors(density: np.ndarray) -> None:
    small = density[:20, :20]
    exact = shannon(np.clip(np.linalg.eigvalsh(small / np.trace(small)), 0, None))
    assert topk_spectral_entropy(small, 19) == pytest.approx((exact,) * 3, rel=1e-10)
    bits = topk_spectral_entropy(small, 20, base=2)
    assert bits[0] == pytest.approx(exact / math.log(2), rel=1e-10)
    via_op = topk_spectral_entropy(lambda v: density @ v, 30, n=300, trace=1.0, seed=0)
    np.testing.assert_allclose(via_op, topk_spectral_entropy(density, 30, seed=0), rtol=1e-8)
    out = topk_spectral_entropy(torch.from_numpy(density), 30, seed=0)
    assert isinstance(out[0], torch.Tensor)
    with pytest.raises(ValueError, match="k must"):
        topk_spectral_entropy(density, 0)
    with pytest.raises(ValueError, match="trace"):
        topk_spectral_entropy(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="required"):
        topk_spectral_entropy(lambda v: v, 2)


# ----------------------------------------------------------------------------- CPU helpers


def test_gram_and_eigvalsh_helpers_match_torch_on_both_paths() -> None:
    f = torch.randn(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(gram(f, transpose=True).numpy(), (f.T @ f).numpy(), rtol=1e-12)
    np.testing.assert_allclose(gram(f, transpose=False).numpy(), (f @ f.T).numpy(), atol=1e-12)
    g = f.T @ f
    np.testing.assert_allclose(
        symmetric_eigvalsh(g).numpy(), torch.linalg.eigvalsh(g).numpy(), rtol=1e-12
    )
    batch = torch.stack([g, 2 * g])
    assert symmetric_eigvalsh(batch).shape == (2, 4)
    leaf = f.clone().requires_grad_(True)  # autograd keeps the torch path
    (grad,) = torch.autograd.grad(symmetric_eigvalsh(gram(leaf, transpose=True)).sum(), leaf)
    np.testing.assert_allclose(grad.numpy(), 2 * f.numpy(), rtol=1e-10)
