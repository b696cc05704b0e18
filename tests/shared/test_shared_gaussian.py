"""Gaussian closed forms, the correlated-pairs generator and the Kolchinsky-Tracey bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from entropykit_shared.gaussian import (
    correlated_gaussian_pairs,
    gaussian_entropy,
    gaussian_kl,
    gaussian_mutual_information,
    pairwise_distance_mi_bounds,
)
from entropykit_shared.testing import (
    assert_gradient_matches_central_differences,
    global_rng_fingerprint,
)


def random_spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


# --- entropy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 5])
def test_entropy_matches_scipy(d):
    cov = random_spd(d, d)
    ref = multivariate_normal(mean=np.zeros(d), cov=cov).entropy()
    assert gaussian_entropy(cov) == pytest.approx(ref, abs=1e-12)
    assert gaussian_entropy(cov, base=2) == pytest.approx(ref / math.log(2), abs=1e-12)


def test_entropy_is_batched_and_returns_numpy():
    covs = np.stack([random_spd(3, s) for s in range(4)]).reshape(2, 2, 3, 3)
    out = gaussian_entropy(covs)
    assert isinstance(out, np.ndarray)
    assert out.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert out[i, j] == pytest.approx(gaussian_entropy(covs[i, j]), abs=1e-12)


def test_entropy_torch_gradient_is_half_inverse():
    cov = torch.tensor(random_spd(3, 7), requires_grad=True)
    h = gaussian_entropy(cov)
    assert isinstance(h, torch.Tensor)
    (g,) = torch.autograd.grad(h, cov)
    # dH/dS = S^-1 / 2 (the symmetrisation spreads it evenly over S_ij and S_ji)
    np.testing.assert_allclose(g.numpy(), 0.5 * np.linalg.inv(cov.detach().numpy()), atol=1e-10)


def test_entropy_scaling_adds_d_log_c():
    cov = random_spd(4, 3)
    assert gaussian_entropy(9.0 * cov) - gaussian_entropy(cov) == pytest.approx(4 * math.log(3))


# --- mutual information ------------------------------------------------------------------------


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9, -0.99])
def test_bivariate_mi_closed_form(rho):
    cov = np.array([[2.0, rho * math.sqrt(2.0)], [rho * math.sqrt(2.0), 1.0]])
    assert gaussian_mutual_information(cov, 1) == pytest.approx(
        -0.5 * math.log1p(-(rho**2)), abs=1e-12
    )


def test_mi_is_symmetric_and_accepts_index_lists():
    cov = random_spd(5, 11)
    forward = gaussian_mutual_information(cov, 2)
    assert gaussian_mutual_information(cov, [2, 3, 4]) == pytest.approx(forward, abs=1e-12)
    perm = [3, 0, 4, 1, 2]  # X = coordinates (0, 1) now sit at positions 1 and 3
    permuted = cov[np.ix_(perm, perm)]
    assert gaussian_mutual_information(permuted, [1, 3]) == pytest.approx(forward, abs=1e-12)


def test_mi_equals_entropy_identity_and_vanishes_for_independent_blocks():
    cov = random_spd(4, 5)
    h = gaussian_entropy
    expected = h(cov[:2, :2]) + h(cov[2:, 2:]) - h(cov)
    assert gaussian_mutual_information(cov, 2) == pytest.approx(expected, abs=1e-12)
    block = cov.copy()
    block[:2, 2:] = 0.0
    block[2:, :2] = 0.0
    assert gaussian_mutual_information(block, 2) == pytest.approx(0.0, abs=1e-12)


# --- KL ----------------------------------------------------------------------------------------


def test_kl_of_identical_gaussians_is_zero():
    cov = random_spd(4, 2)
    mean = np.arange(4.0)
    assert gaussian_kl(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-12)


def kl_reference(m0, s0, m1, s1):
    inv = np.linalg.inv(s1)
    diff = m1 - m0
    return 0.5 * (
        np.trace(inv @ s0)
        + diff @ inv @ diff
        - len(m0)
        + np.linalg.slogdet(s1)[1]
        - np.linalg.slogdet(s0)[1]
    )


def test_kl_matches_explicit_inverse_formula_batched_torch():
    covs0 = np.stack([random_spd(3, s) for s in range(3)])
    covs1 = np.stack([random_spd(3, 10 + s) for s in range(3)])
    m0 = np.random.default_rng(0).normal(size=(3, 3))
    m1 = np.zeros(3)  # broadcast against the batch
    ours = gaussian_kl(*(torch.tensor(a) for a in (m0, covs0, m1, covs1)))
    assert isinstance(ours, torch.Tensor)
    assert ours.shape == (3,)
    ref = [kl_reference(m0[i], covs0[i], m1, covs1[i]) for i in range(3)]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-10)
    assert (ours > 0).all()


def test_kl_one_dimensional_closed_form_in_bits():
    m0, s0, m1, s1 = 0.5, 2.0, -1.0, 0.7
    nats = math.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
    got = gaussian_kl([m0], [[s0**2]], [m1], [[s1**2]], base=2)
    assert got == pytest.approx(nats / math.log(2), abs=1e-12)


# --- correlated pairs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dim", "mi", "rotate"), [(1, 0.5, False), (3, 1.5, True), ((2, 4), 2.0, True)]
)
def test_pairs_hit_target_mi(dim, mi, rotate):
    x, y, cov = correlated_gaussian_pairs(100_000, dim, mi, seed=3, rotate=rotate, return_cov=True)
    dx = x.shape[1]
    assert gaussian_mutual_information(cov, dx) == pytest.approx(mi, abs=1e-10)
    empirical = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
    assert gaussian_mutual_information(empirical, dx) == pytest.approx(mi, abs=0.03)
    np.testing.assert_allclose(empirical, cov, atol=0.03)


def test_rotation_is_orthogonal_mixing_and_keeps_mi():
    x0, y0 = correlated_gaussian_pairs(500, 3, 1.0, seed=9)
    x1, y1 = correlated_gaussian_pairs(500, 3, 1.0, seed=9, rotate=True)
    q = np.linalg.lstsq(x0, x1, rcond=None)[0].T
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-10)
    assert not np.allclose(q, np.eye(3), atol=0.1)
    assert not np.allclose(y0, y1)


def test_zero_mi_pairs_are_uncorrelated_and_seed_is_deterministic():
    _, _, cov = correlated_gaussian_pairs(10, 2, 0.0, seed=0, return_cov=True)
    np.testing.assert_array_equal(cov, np.eye(4))
    state = global_rng_fingerprint()
    a = correlated_gaussian_pairs(50, 2, 1.0, seed=np.random.default_rng(4), rotate=True)
    b = correlated_gaussian_pairs(50, 2, 1.0, seed=4, rotate=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert global_rng_fingerprint() == state


# --- Kolchinsky-Tracey bounds -------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 12),
    d=st.integers(1, 3),
    sigma=st.floats(1e-3, 1e3),
    seed=st.integers(0, 10_000),
)
def test_kt_lower_below_upper_within_zero_log_n(n, d, sigma, seed):
    h = np.random.default_rng(seed).normal(size=(n, d))
    lower, upper = pairwise_distance_mi_bounds(h, sigma)
    assert -1e-12 <= lower <= upper + 1e-12
    assert upper <= math.log(n) + 1e-12


def test_kt_limits():
    h = np.random.default_rng(0).normal(size=(30, 2))
    lo, up = pairwise_distance_mi_bounds(h, 1e-4)
    assert lo == pytest.approx(math.log(30), abs=1e-9)
    assert up == pytest.approx(math.log(30), abs=1e-9)
    lo, up = pairwise_distance_mi_bounds(h, 1e4)
    assert 0 <= lo <= up < 1e-6
    # duplicated rows: sigma -> 0 gives the entropy of the distinct rows' frequencies
    dup = np.array([[0.0], [0.0], [5.0], [5.0]])
    lo, up = pairwise_distance_mi_bounds(dup, 1e-3)
    assert lo == pytest.approx(math.log(2), abs=1e-12)
    assert up == pytest.approx(math.log(2), abs=1e-12)


def test_kt_bounds_bracket_monte_carlo_mi():
    """I(X; h + noise) for X uniform over the rows, by Monte Carlo over the mixture density."""
    rng = np.random.default_rng(1)
    h = rng.normal(size=(8, 2))
    sigma, n_mc = 0.8, 40_000
    idx = rng.integers(0, 8, n_mc)
    z = h[idx] + sigma * rng.normal(size=(n_mc, 2))
    d2 = ((z[:, None, :] - h[None, :, :]) ** 2).sum(-1)
    log_mix = np.logaddexp.reduce(-d2 / (2 * sigma**2), axis=1) - math.log(8)
    log_own = -d2[np.arange(n_mc), idx] / (2 * sigma**2)
    terms = log_own - log_mix  # log p(z | x) - log p(z): the Gaussian constants cancel
    mi, se = terms.mean(), terms.std() / math.sqrt(n_mc)
    lo, up = pairwise_distance_mi_bounds(h, sigma)
    assert lo - 4 * se <= mi <= up + 4 * se
    assert lo < up - 0.05  # the bounds are genuinely different here


def test_kt_batched_torch_and_differentiable():
    h = torch.randn(3, 10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h.requires_grad_(True)
    lo, up = pairwise_distance_mi_bounds(h, 0.5, base=2)
    assert lo.shape == up.shape == (3,)
    for i in range(3):
        lo_i, up_i = pairwise_distance_mi_bounds(h[i].detach().numpy(), 0.5)
        assert float(lo[i].detach()) == pytest.approx(lo_i / math.log(2), abs=1e-12)
        assert float(up[i].detach()) == pytest.approx(up_i / math.log(2), abs=1e-12)
    (g,) = torch.autograd.grad((lo + up).sum(), h)
    assert torch.isfinite(g).all()
    assert g.abs().sum() > 0
    assert_gradient_matches_central_differences(
        lambda t: pairwise_distance_mi_bounds(t, 0.7)[1], h[0]
    )


# --- bad inputs --------------------------------------------------------------------------------


def test_bad_inputs():
    with pytest.raises(ValueError, match="not symmetric"):
        gaussian_entropy(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"not positive definite.*ridge"):
        gaussian_entropy(np.array([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"batch element\(s\) \[3\]"):
        gaussian_entropy(
            np.stack([np.eye(2), np.eye(2), np.eye(2), -np.eye(2)]).reshape(2, 2, 2, 2)
        )
    with pytest.raises(ValueError, match="square matrix"):
        gaussian_entropy(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        gaussian_entropy(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="dims_x"):
        gaussian_mutual_information(np.eye(3), 3)
    with pytest.raises(ValueError, match="distinct indices"):
        gaussian_mutual_information(np.eye(3), [0, 0])
    with pytest.raises(ValueError, match="mean1 must have 2"):
        gaussian_kl(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="mutual_information"):
        correlated_gaussian_pairs(10, 2, -1.0)
    with pytest.raises(ValueError, match="noise_std"):
        pairwise_distance_mi_bounds(np.zeros((3, 1)), 0.0)
    with pytest.raises(ValueError, match="at least 2 samples of"):
        pairwise_distance_mi_bounds(np.zeros((1, 2)), 1.0)
