"""Parity with the reference implementation ``vendi-score`` 0.0.3 (``vendi_score.vendi``).

Where the reference is correct the two agree to 1e-10. Each known bug of the reference has its
own test that shows the reference's output, ours, and why they differ.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn import preprocessing

from entropykit_shared.kernels import rbf_kernel
from entropykit_shared.spectral import NotPSDWarning, intdiv, vendi_score

vendi = pytest.importorskip(
    "vendi_score.vendi", reason="reference package missing: run uv sync (dev group)"
)

# the reference tests `type(K) == scipy.sparse.csr.csr_matrix` (a deprecated namespace)
pytestmark = pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")

PEER_ORDERS = [0.5, 1, 2, 3, "inf"]


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((40, 6))


@pytest.fixture(scope="module")
def k_rbf(x: np.ndarray) -> np.ndarray:
    return rbf_kernel(x, sigma=2.0)


# ----------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("q", PEER_ORDERS)
def test_score_k_parity(k_rbf: np.ndarray, q: float | str) -> None:
    assert vendi_score(K=k_rbf, q=q) == pytest.approx(vendi.score_K(k_rbf, q=q), rel=1e-10)


@pytest.mark.parametrize("q", PEER_ORDERS)
def test_score_dual_parity(x: np.ndarray, q: float | str) -> None:
    ours = vendi_score(x, kernel="cosine", q=q, method="dual")
    assert ours == pytest.approx(vendi.score_dual(x, q=q), rel=1e-10)


def test_weighted_and_normalized_parity(k_rbf: np.ndarray) -> None:
    p = np.random.default_rng(1).dirichlet(np.ones(40))
    assert vendi_score(K=k_rbf, p=p) == pytest.approx(vendi.score_K(k_rbf, p=p), rel=1e-10)
    scale = np.diag(np.linspace(0.5, 3.0, 40))
    scaled = scale @ k_rbf @ scale
    assert vendi_score(K=scaled, normalize=True) == pytest.approx(
        vendi.score_K(scaled, normalize=True), rel=1e-10
    )


def test_score_samples_parity_readme() -> None:
    samples = [0.0, 0.0, 10.0, 10.0, 20.0, 20.0]
    peer = vendi.score(samples, lambda a, b: np.exp(-np.abs(a - b)))
    ours = vendi_score(np.array(samples)[:, None], kernel=lambda a, b: np.exp(-np.abs(a - b.T)))
    assert ours == pytest.approx(peer, rel=1e-12)
    k = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert vendi_score(K=k) == pytest.approx(vendi.score_K(k), rel=1e-12)


def test_intdiv_k_parity(k_rbf: np.ndarray) -> None:
    p = np.random.default_rng(2).dirichlet(np.ones(40))
    for q in (1, 2, 0.5):
        assert intdiv(K=k_rbf, q=q, p=p) == pytest.approx(
            vendi.intdiv_K(k_rbf, q=q, p=p), rel=1e-12
        )


# ----------------------------------------------------------------------------- reference bugs


def test_bug_score_x_ignores_q(x: np.ndarray) -> None:
    """``score_X(X, q)`` calls ``score_K(K, q=1)``: every order returns VS_1."""
    peer_q2 = vendi.score_X(x, q=2)
    assert peer_q2 == pytest.approx(vendi.score_X(x, q=1), rel=1e-12)
    ours_q2 = vendi_score(x, q=2, method="dense")
    assert ours_q2 == pytest.approx(vendi.score_dual(x, q=2), rel=1e-10)  # the correct VS_2
    assert ours_q2 < peer_q2 - 1e-3


def test_bug_sparse_kernel_returns_six_eigenvalues() -> None:
    """A ``csr_matrix`` K goes through ``eigsh`` with its default k = 6: only 6 eigenvalues
    enter the entropy. Ten identical pairs (exact VS = 10) give about 3.98."""
    k = np.kron(np.eye(10), np.ones((2, 2)))
    peer = vendi.score_K(scipy.sparse.csr_matrix(k))
    assert peer == pytest.approx(3.98107, rel=1e-4)
    assert vendi_score(K=scipy.sparse.csr_matrix(k)) == pytest.approx(10.0, rel=1e-10)


def test_bug_order_zero_counts_round_off(x: np.ndarray) -> None:
    """VS_0 counts every eigenvalue > 0, including round-off of a rank-3 kernel."""
    x3 = x[:, :3]
    xn = preprocessing.normalize(x3)
    peer = vendi.score_K(xn @ xn.T, q=0)
    assert peer > 10  # 40 samples in 3 dimensions: rank 3
    assert vendi_score(x3, q=0, method="dense") == pytest.approx(3.0)
    assert vendi_score(K=xn @ xn.T, q=0) == pytest.approx(3.0)


def test_bug_infinite_order_needs_the_string(x: np.ndarray) -> None:
    """Only the string ``"inf"`` selects 1/λ_max; ``math.inf`` gives NaN (log 0 / -inf)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(vendi.score_dual(x, q=math.inf))
    expected = vendi.score_dual(x, q="inf")
    assert vendi_score(x, q=math.inf) == pytest.approx(expected, rel=1e-10)
    assert vendi_score(x, q="inf") == pytest.approx(expected, rel=1e-10)


def test_bug_no_unit_diagonal_check() -> None:
    """With diag(K) != 1 and normalize=False, K/n has trace != 1: K = 2I on 5 items scores
    (n/2)² = 6.25 > n. Ours refuses (or normalises on request)."""
    assert vendi.score_K(2.0 * np.eye(5)) == pytest.approx(6.25)
    with pytest.raises(ValueError, match="unit diagonal"):
        vendi_score(K=2.0 * np.eye(5))
    assert vendi_score(K=2.0 * np.eye(5), normalize=True) == pytest.approx(5.0)


def test_bug_negative_eigenvalues_dropped_silently() -> None:
    """A non-PSD K: the reference drops λ <= 0 without renormalising (Σλ = 1.27) and says
    nothing; ours warns, clamps and renormalises (Σλ = 1)."""
    k = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    peer = vendi.score_K(k)
    assert peer == pytest.approx(math.exp(-2 * (1.9 / 3) * math.log(1.9 / 3)), rel=1e-10)
    with pytest.warns(NotPSDWarning):
        ours = vendi_score(K=k)
    assert ours == pytest.approx(2.0, rel=1e-10)


def test_bug_intdiv_x_is_broken(x: np.ndarray) -> None:
    """``intdiv_X`` calls the sample-based ``intdiv(K, q=q, p=p)`` without its kernel argument."""
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        vendi.intdiv_X(x)
    xn = preprocessing.normalize(x)
    assert intdiv(x) == pytest.approx(vendi.intdiv_K(xn @ xn.T), rel=1e-12)


def test_bug_zero_rows_pass_silently(x: np.ndarray) -> None:
    """sklearn's ``normalize`` leaves a zero row at 0, so K has K_ii = 0 and Σλ = (n-1)/n; the
    reference returns a number. Ours names the rows."""
    xz = x.copy()
    xz[3] = 0.0
    peer = vendi.score_dual(xz)
    assert np.isfinite(peer)
    assert peer != pytest.approx(vendi.score_dual(np.delete(x, 3, axis=0)), rel=1e-3)
    with pytest.raises(ValueError, match=r"rows \[3\]"):
        vendi_score(xz)


def test_bug_asymmetric_k_uses_lower_triangle() -> None:
    """``scipy.linalg.eigvalsh`` reads only the lower triangle of an asymmetric K (no check)."""
    k = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert vendi.score_K(k) == pytest.approx(3.0, rel=1e-12)  # as if K were the identity
    with pytest.raises(ValueError, match="not symmetric"):
        vendi_score(K=k)
