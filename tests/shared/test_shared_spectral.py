"""Spectral entropies and the Vendi score: closed forms, invariances, bounds, errors."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag
from scipy.stats import entropy as shannon

from entropykit_shared.kernels import rbf_kernel
from entropykit_shared.spectral import (
    NotPSDWarning,
    effective_rank,
    intdiv,
    matrix_renyi_mutual_information,
    quality_weighted_vendi_score,
    renyi_matrix_entropy,
    vendi_score,
    von_neumann_entropy,
)

ORDERS = [0.0, 0.5, 1.0, 2.0, 3.0, math.inf]


def random_psd(n: int, rank: int | None = None, seed: int = 0) -> np.ndarray:
    b = np.random.default_rng(seed).standard_normal((n, rank or n))
    return b @ b.T


def random_unit_kernel(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 3))
    return rbf_kernel(x, sigma=1.0)


def exact_vs(k: np.ndarray, q: float) -> float:
    """Vendi score of order q from a float64 dense spectrum (reference for the fast paths)."""
    lam = np.clip(np.linalg.eigvalsh(k / np.trace(k)), 0.0, None)
    lam = lam[lam > lam.max() * len(lam) * np.finfo(float).eps]
    lam = lam / lam.sum()
    if q == 1.0:
        return float(np.exp(shannon(lam)))
    if math.isinf(q):
        return float(1.0 / lam.max())
    return float(np.sum(lam**q) ** (1.0 / (1.0 - q)))


# ----------------------------------------------------------------------------- von Neumann


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_von_neumann_maximally_mixed_is_log_n(n: int) -> None:
    assert von_neumann_entropy(np.eye(n)) == pytest.approx(math.log(n), abs=1e-12)
    assert von_neumann_entropy(3.0 * np.eye(n), base=2) == pytest.approx(math.log2(n), abs=1e-12)


def test_von_neumann_rank_one_is_zero() -> None:
    v = np.random.default_rng(1).standard_normal(6)
    assert von_neumann_entropy(np.outer(v, v)) == pytest.approx(0.0, abs=1e-10)


def test_von_neumann_matches_spectrum_and_is_scale_invariant() -> None:
    a = random_psd(12, seed=3)
    lam = np.linalg.eigvalsh(a / np.trace(a))
    expected = shannon(lam)
    assert von_neumann_entropy(a) == pytest.approx(expected, rel=1e-12)
    assert von_neumann_entropy(5.0 * a) == pytest.approx(expected, rel=1e-12)


def test_von_neumann_batched_and_torch_agree() -> None:
    mats = np.stack([random_psd(8, seed=s) for s in range(4)])
    out = von_neumann_entropy(mats)
    assert isinstance(out, np.ndarray)
    assert out.shape == (4,)
    np.testing.assert_allclose(out, [von_neumann_entropy(m) for m in mats], rtol=1e-12)
    tout = von_neumann_entropy(torch.from_numpy(mats))
    assert isinstance(tout, torch.Tensor)
    assert tout.dtype == torch.float64
    np.testing.assert_allclose(tout.numpy(), out, rtol=1e-12)
    # float32 tensors are accepted and computed in float64
    t32 = von_neumann_entropy(torch.from_numpy(mats[0]).float())
    assert float(t32) == pytest.approx(out[0], rel=1e-5)


def test_von_neumann_gradcheck() -> None:
    b = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    b.requires_grad_(True)

    def f(m: torch.Tensor) -> torch.Tensor:
        return von_neumann_entropy(m @ m.T + 0.1 * torch.eye(4, dtype=torch.float64))

    assert torch.autograd.gradcheck(f, (b,))
    (grad,) = torch.autograd.grad(f(b), b)
    assert torch.isfinite(grad).all()


def test_von_neumann_gradient_finite_at_zero_eigenvalue() -> None:
    v = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    h = von_neumann_entropy(v.T @ v + torch.diag(torch.tensor([0.0, 0.0, 1e-3])))
    (grad,) = torch.autograd.grad(h, v)
    assert torch.isfinite(grad).all()


def test_von_neumann_bad_inputs() -> None:
    with pytest.raises(ValueError, match="square"):
        von_neumann_entropy(np.ones((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        von_neumann_entropy(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="trace"):
        von_neumann_entropy(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not symmetric"):
        von_neumann_entropy(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="empty"):
        von_neumann_entropy(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="base"):
        von_neumann_entropy(np.eye(2), base=1)


def test_von_neumann_warns_on_non_psd_only_beyond_tolerance() -> None:
    k = np.array(
        [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]
    )  # eigenvalues -0.8, 1.9, 1.9
    with pytest.warns(NotPSDWarning, match="not positive semi-definite"):
        h = von_neumann_entropy(k)
    assert h == pytest.approx(math.log(2.0), abs=1e-12)  # clamped and renormalised
    near = random_psd(6, rank=2) + np.diag([-1e-12] * 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        von_neumann_entropy(near)


# ----------------------------------------------------------------------------- Renyi


@pytest.mark.parametrize("alpha", ORDERS)
def test_renyi_of_maximally_mixed_is_log_n(alpha: float) -> None:
    assert renyi_matrix_entropy(np.eye(9), alpha) == pytest.approx(math.log(9), abs=1e-12)


def test_renyi_special_orders() -> None:
    a = random_psd(10, rank=4, seed=5)
    lam = np.linalg.eigvalsh(a / np.trace(a))
    top = lam[lam > 1e-12]
    assert renyi_matrix_entropy(a, 1.0) == pytest.approx(von_neumann_entropy(a), rel=1e-12)
    assert renyi_matrix_entropy(a, 0) == pytest.approx(math.log(4), abs=1e-12)
    assert renyi_matrix_entropy(a, "inf") == pytest.approx(-math.log(top.max()), rel=1e-12)
    assert renyi_matrix_entropy(a, 2, base=2) == pytest.approx(-math.log2(np.sum(top**2)))
    assert renyi_matrix_entropy(a, 0.5) == pytest.approx(2 * math.log(np.sum(np.sqrt(top))))
    near = [renyi_matrix_entropy(a, 1.0 + s * 1e-6) for s in (-1, 1)]
    np.testing.assert_allclose(near, von_neumann_entropy(a), atol=1e-5)


def test_renyi_rank_tol_decides_what_counts_for_small_alpha() -> None:
    a = np.diag([1.0, 1.0, 1e-9])
    assert renyi_matrix_entropy(a, 0) == pytest.approx(math.log(3))
    assert renyi_matrix_entropy(a, 0, rank_tol=1e-6) == pytest.approx(math.log(2))


def test_renyi_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        renyi_matrix_entropy(np.eye(2), -0.5)
    with pytest.raises(ValueError, match="alpha"):
        renyi_matrix_entropy(np.eye(2), "big")


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 10), st.integers(1, 6), st.integers(0, 10_000))
def test_renyi_non_increasing_in_alpha(n: int, rank: int, seed: int) -> None:
    a = random_psd(n, rank=rank, seed=seed)
    values = [renyi_matrix_entropy(a, alpha) for alpha in ORDERS]
    assert all(v1 >= v2 - 1e-9 for v1, v2 in itertools.pairwise(values))
    assert values[-1] >= -1e-12
    assert values[0] <= math.log(n) + 1e-12


# ----------------------------------------------------------------------------- matrix Renyi MI


def test_mi_constant_kernel_is_zero_and_identity_is_log_n() -> None:
    kb = random_unit_kernel(8)
    assert matrix_renyi_mutual_information(np.ones((8, 8)), kb) == pytest.approx(0.0, abs=1e-10)
    mi = matrix_renyi_mutual_information(np.eye(8), np.eye(8), alpha=2.0)
    assert mi == pytest.approx(math.log(8), abs=1e-12)


def test_mi_of_a_variable_with_itself_beats_an_independent_copy() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 1)), rng.standard_normal((60, 1))
    kx, ky = rbf_kernel(x, sigma=0.5), rbf_kernel(y, sigma=0.5)
    self_mi = matrix_renyi_mutual_information(kx, kx)
    indep = matrix_renyi_mutual_information(kx, ky)
    noisy = rbf_kernel(x + 0.05 * rng.standard_normal((60, 1)), sigma=0.5)
    assert 0 <= indep < 0.5 * matrix_renyi_mutual_information(kx, noisy) < self_mi


@settings(max_examples=20, deadline=None)
@given(st.integers(3, 12), st.floats(0.3, 3.0), st.integers(0, 10_000))
def test_mi_bounds_for_unit_diagonal_kernels(n: int, alpha: float, seed: int) -> None:
    ka, kb = random_unit_kernel(n, seed), random_unit_kernel(n, seed + 1)
    mi = matrix_renyi_mutual_information(ka, kb, alpha=alpha)
    upper = min(renyi_matrix_entropy(ka, alpha), renyi_matrix_entropy(kb, alpha))
    assert -1e-9 <= mi <= upper + 1e-9


def test_mi_torch_and_errors() -> None:
    ka, kb = random_unit_kernel(6), random_unit_kernel(6, 4)
    out = matrix_renyi_mutual_information(torch.from_numpy(ka), torch.from_numpy(kb), base=2)
    assert isinstance(out, torch.Tensor)
    assert float(out) == pytest.approx(matrix_renyi_mutual_information(ka, kb, base=2), rel=1e-12)
    with pytest.raises(ValueError, match="same samples"):
        matrix_renyi_mutual_information(ka, np.eye(5))


# ----------------------------------------------------------------------------- effective rank


def test_effective_rank_closed_forms() -> None:
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((20, 4)))
    assert effective_rank(q * 3.0) == pytest.approx(4.0, rel=1e-12)
    z = np.diag([2.0, 1.0])
    assert effective_rank(z) == pytest.approx(math.exp(shannon([2 / 3, 1 / 3])), rel=1e-12)
    # Vendi with a linear kernel uses sigma^2: a different number on the same matrix
    assert vendi_score(z, kernel="linear") == pytest.approx(math.exp(shannon([0.8, 0.2])))
    assert vendi_score(z, kernel="linear") < effective_rank(z)


def test_effective_rank_batched_torch_and_errors() -> None:
    z = np.random.default_rng(1).standard_normal((3, 10, 4))
    out = effective_rank(z)
    assert out.shape == (3,)
    assert np.all((out >= 1) & (out <= 4))
    t = torch.from_numpy(z[0]).requires_grad_(True)
    r = effective_rank(t)
    assert float(r.detach()) == pytest.approx(out[0], rel=1e-12)
    (grad,) = torch.autograd.grad(r, t)
    assert torch.isfinite(grad).all()
    with pytest.raises(ValueError, match="all zeros"):
        effective_rank(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="matrix"):
        effective_rank(np.ones(3))


# ----------------------------------------------------------------------------- Vendi: closed forms


@pytest.mark.parametrize("q", ORDERS)
def test_vendi_identity_and_all_ones(q: float) -> None:
    assert vendi_score(K=np.eye(7), q=q) == pytest.approx(7.0, rel=1e-12)
    assert vendi_score(K=np.ones((7, 7)), q=q) == pytest.approx(1.0, rel=1e-10)


def test_vendi_readme_values() -> None:
    samples = np.array([0.0, 0.0, 10.0, 10.0, 20.0, 20.0])[:, None]
    vs = vendi_score(samples, kernel=lambda a, b: np.exp(-np.abs(a - b.T)))
    assert 2.9999 <= vs < 3.0  # the README prints 2.9999 (truncated; exactly 3 - 4.1e-9)
    k = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert round(float(vendi_score(K=k)), 4) == 2.1573


def test_quality_weighted_vendi_readme_value() -> None:
    x = np.array([0.0, 0.0, 2.0])[:, None]
    quality = np.exp(-np.abs(x[:, 0] - 2.0))
    qvs = quality_weighted_vendi_score(quality, x, kernel=lambda a, b: np.exp(-np.abs(a - b.T)))
    assert round(float(qvs), 4) == 0.7937
    with pytest.raises(ValueError, match="quality"):
        quality_weighted_vendi_score(quality[:2], x, kernel=lambda a, b: np.exp(-np.abs(a - b.T)))


def test_vendi_partition_formula() -> None:
    """Thm 3.1(3): mutually dissimilar groups give exp(H(p)) · Π VS(S_i)^{p_i}."""
    blocks = [random_unit_kernel(size, seed) for seed, size in enumerate((3, 5, 9))]
    k = block_diag(*blocks)
    sizes = np.array([b.shape[0] for b in blocks], dtype=float)
    p = sizes / sizes.sum()
    expected = math.exp(shannon(p)) * np.prod(
        [vendi_score(K=b) ** pi for b, pi in zip(blocks, p, strict=True)]
    )
    assert vendi_score(K=k) == pytest.approx(expected, rel=1e-8)
    perm = np.random.default_rng(0).permutation(len(k))  # groups need not be contiguous
    assert vendi_score(K=k[np.ix_(perm, perm)]) == pytest.approx(expected, rel=1e-8)


def test_vendi_weighted_identity_is_exp_shannon() -> None:
    """Lemma 7.1: with k(x_i, x_j) = 0 (i != j) the weighted score is exp(H(p))."""
    p = np.array([0.5, 0.25, 0.125, 0.125])
    assert vendi_score(K=np.eye(4), p=p) == pytest.approx(math.exp(shannon(p)), rel=1e-12)


def test_vendi_identical_elements_merge_probability() -> None:
    """Thm 3.1(2): duplicating a sample and splitting its mass leaves VS unchanged."""
    x = np.random.default_rng(2).standard_normal((5, 3))
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    xd = np.vstack([x, x[2]])
    pd = np.append(p, 0.0)
    pd[2], pd[5] = 0.1, 0.2
    for method in ("dense", "dual"):
        base = vendi_score(x, p=p, method=method)
        assert vendi_score(xd, p=pd, method=method) == pytest.approx(base, rel=1e-10)


@pytest.mark.parametrize("kernel", ["cosine", "linear", "rbf"])
def test_vendi_permutation_and_duplication_invariance(kernel: str) -> None:
    x = np.random.default_rng(4).standard_normal((30, 6))
    base = vendi_score(x, kernel=kernel, sigma=2.0)
    perm = np.random.default_rng(5).permutation(30)
    assert vendi_score(x[perm], kernel=kernel, sigma=2.0) == pytest.approx(base, rel=1e-10)
    assert vendi_score(np.vstack([x, x]), kernel=kernel, sigma=2.0) == pytest.approx(
        base, rel=1e-10
    )


@pytest.mark.parametrize("shape", [(60, 5), (8, 20)])
@pytest.mark.parametrize("q", ORDERS)
def test_vendi_dual_equals_dense(shape: tuple[int, int], q: float) -> None:
    x = np.random.default_rng(6).standard_normal(shape)
    for kernel in ("cosine", "linear"):
        dense = vendi_score(x, kernel=kernel, q=q, method="dense")
        assert vendi_score(x, kernel=kernel, q=q, method="dual") == pytest.approx(dense, rel=1e-8)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        assert dense == pytest.approx(exact_vs(xn @ xn.T if kernel == "cosine" else x @ x.T, q))


def test_vendi_q2_frobenius_equals_eigen_path() -> None:
    k = random_unit_kernel(40)
    frob = vendi_score(K=k, q=2)
    assert frob == pytest.approx(1.0 / np.sum((k / 40) ** 2), rel=1e-12)
    assert frob == pytest.approx(vendi_score(K=k, q=2, method="dense"), rel=1e-10)
    x = np.random.default_rng(0).standard_normal((50, 4))
    assert vendi_score(x, q=2) == pytest.approx(vendi_score(x, q=2, method="dense"), rel=1e-10)
    assert vendi_score(x, q=2, method="frobenius") == pytest.approx(vendi_score(x, q=2), rel=1e-10)


def test_vendi_q_continuity_at_one() -> None:
    k = random_unit_kernel(25)
    vs1 = vendi_score(K=k)
    for q in (1 - 1e-6, 1 + 1e-6, 1 - 2e-6, 1 + 2e-6):
        assert abs(vendi_score(K=k, q=q) - vs1) < 1e-4


def test_vendi_q0_counts_rank_above_tolerance() -> None:
    x = np.random.default_rng(1).standard_normal((40, 3))
    assert vendi_score(x, q=0, method="dense") == pytest.approx(3.0)
    assert vendi_score(x, q=0, method="dual") == pytest.approx(3.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(1, 5), st.integers(0, 10_000))
def test_vendi_bounds_and_monotone_in_q(n: int, d: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((n, d))
    for kernel in ("cosine", "rbf"):
        values = [vendi_score(x, kernel=kernel, q=q, sigma=1.0) for q in ORDERS]
        assert all(1 - 1e-9 <= v <= n + 1e-9 for v in values)
        assert all(v1 >= v2 - 1e-9 for v1, v2 in itertools.pairwise(values))


def test_vendi_linear_kernel_is_trace_normalised_cosine_for_unit_rows() -> None:
    x = np.random.default_rng(3).standard_normal((20, 4))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = vendi_score(x, kernel="cosine")
    assert vendi_score(xn, kernel="linear") == pytest.approx(cos, rel=1e-10)
    assert vendi_score(x, kernel="linear", normalize=True) == pytest.approx(cos, rel=1e-10)
    assert vendi_score(x, kernel="linear", method="dense") == pytest.approx(
        exact_vs(x @ x.T, 1.0), rel=1e-10
    )


def test_vendi_batched_kernel_matrices() -> None:
    ks = np.stack([random_unit_kernel(10, s) for s in range(3)])
    out = vendi_score(K=ks, q=1.5)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [exact_vs(k, 1.5) for k in ks], rtol=1e-10)
    np.testing.assert_allclose(vendi_score(K=ks, q=2), [exact_vs(k, 2.0) for k in ks], rtol=1e-10)


def test_vendi_normalize_makes_any_positive_diagonal_usable() -> None:
    k = random_unit_kernel(10)
    scale = np.diag(np.linspace(0.5, 2.0, 10))
    with pytest.raises(ValueError, match="unit diagonal"):
        vendi_score(K=scale @ k @ scale)
    assert vendi_score(K=scale @ k @ scale, normalize=True) == pytest.approx(
        vendi_score(K=k), rel=1e-10
    )


def test_vendi_numpy_torch_agree_and_gradients_are_finite() -> None:
    x = np.random.default_rng(8).standard_normal((40, 6))
    for kernel, method in (("cosine", "dual"), ("cosine", "dense"), ("rbf", "dense")):
        ref = vendi_score(x, kernel=kernel, method=method, sigma=2.0)
        xt = torch.from_numpy(x).requires_grad_(True)
        out = vendi_score(xt, kernel=kernel, method=method, sigma=2.0)
        assert isinstance(out, torch.Tensor)
        assert float(out.detach()) == pytest.approx(float(ref), rel=1e-12)
        (grad,) = torch.autograd.grad(out, xt)
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_vendi_single_sample_is_one() -> None:
    assert vendi_score(np.ones((1, 3))) == 1.0
    assert vendi_score(K=np.ones((1, 1)), q=math.inf) == 1.0
    assert float(vendi_score(torch.ones(1, 3), kernel="rbf", sigma=1.0)) == 1.0


@pytest.mark.parametrize("method", ["rff", "nystrom"])
def test_vendi_approximations_are_seeded(method: str) -> None:
    x = np.random.default_rng(9).standard_normal((80, 3))
    kwargs = {"kernel": "rbf", "sigma": 1.0, "method": method, "num_features": 64}
    kwargs["num_landmarks"] = 40
    a, b = vendi_score(x, seed=1, **kwargs), vendi_score(x, seed=1, **kwargs)
    assert a == b
    assert vendi_score(x, seed=2, **kwargs) != a


def test_vendi_nystrom_with_all_landmarks_is_exact() -> None:
    x = np.random.default_rng(10).standard_normal((60, 3))
    exact = vendi_score(x, kernel="rbf", sigma=1.0)
    approx = vendi_score(x, kernel="rbf", sigma=1.0, method="nystrom", num_landmarks=60, seed=0)
    assert approx == pytest.approx(exact, rel=1e-6)


def test_vendi_bad_inputs() -> None:
    x = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(ValueError, match="exactly one"):
        vendi_score()
    with pytest.raises(ValueError, match="exactly one"):
        vendi_score(x, K=np.eye(5))
    with pytest.raises(ValueError, match="at least 1"):
        vendi_score(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        vendi_score(K=np.zeros((0, 0)))
    xz = x.copy()
    xz[[1, 3]] = 0.0
    with pytest.raises(ValueError, match=r"zero vectors at rows \[1, 3\]"):
        vendi_score(xz)
    with pytest.raises(ValueError, match="NaN"):
        vendi_score(np.array([[np.nan, 1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="q must"):
        vendi_score(x, q=-1)
    with pytest.raises(ValueError, match="unknown method"):
        vendi_score(x, method="svd")
    with pytest.raises(ValueError, match="unknown kernel"):
        vendi_score(x, kernel="poly")
    with pytest.raises(ValueError, match="only q = 2"):
        vendi_score(x, q=1, method="frobenius")
    with pytest.raises(ValueError, match="linear or cosine"):
        vendi_score(x, kernel="rbf", method="dual")
    with pytest.raises(ValueError, match="rbf kernel only"):
        vendi_score(x, kernel="cosine", method="rff")
    with pytest.raises(ValueError, match="needs samples"):
        vendi_score(K=np.eye(5), method="nystrom")
    with pytest.raises(ValueError, match="knn"):
        vendi_score(x, kernel="rbf", sigma="knn", method="rff")
    with pytest.raises(ValueError, match="sum to 1"):
        vendi_score(x, p=np.full(5, 0.1))
    with pytest.raises(ValueError, match="negative"):
        vendi_score(x, p=np.array([1.5, -0.5, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"\(5,\) probability"):
        vendi_score(x, p=np.full(4, 0.25))
    with pytest.raises(ValueError, match="unit diagonal"):
        vendi_score(x, kernel=lambda a, b: 2.0 * np.ones((len(a), len(b))))
    with pytest.raises(ValueError, match=r"return a \(5, 5\) matrix"):
        vendi_score(x, kernel=lambda a, b: np.ones((2, 2)))
    with pytest.raises(ValueError, match="not symmetric"):
        vendi_score(K=np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="non-positive diagonal"):
        vendi_score(K=np.diag([1.0, 0.0]), normalize=True)


def test_vendi_warns_on_non_psd_kernel() -> None:
    k = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.warns(NotPSDWarning):
        assert vendi_score(K=k) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- IntDiv


def test_intdiv_closed_forms_and_fast_path() -> None:
    assert intdiv(K=np.eye(4)) == pytest.approx(0.75)
    assert intdiv(K=np.ones((4, 4))) == pytest.approx(0.0)
    x = np.random.default_rng(0).standard_normal((30, 5))
    p = np.random.default_rng(1).dirichlet(np.ones(30))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    k = xn @ xn.T
    assert intdiv(x, p=p) == pytest.approx(1.0 - p @ k @ p, rel=1e-12)
    assert intdiv(x, q=2) == pytest.approx(1.0 - np.mean(k**2), rel=1e-12)
    assert intdiv(x, kernel="rbf", sigma=1.0) == pytest.approx(
        1.0 - np.mean(rbf_kernel(x, sigma=1.0)), rel=1e-12
    )
    with pytest.raises(ValueError, match="fractional"):
        intdiv(K=k, q=0.5)
    with pytest.raises(ValueError, match="q must"):
        intdiv(K=k, q=-1.0)
