"""kNN entropy and mutual-information estimators: closed-form oracles, invariances, backends,
gradients and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from entropykit_shared.knn import (
    conditional_mutual_information,
    knn_entropy,
    ksg_mutual_information,
    mixed_mutual_information,
    weighted_knn_entropy,
    weighted_knn_weights,
)

N = 4000


def gaussian_entropy(cov: np.ndarray) -> float:
    """½ log det(2πeΣ) in nats."""
    return 0.5 * np.linalg.slogdet(2.0 * math.pi * math.e * cov)[1]


def gaussian_mi(cov: np.ndarray, dx: int) -> float:
    """½ log(det Σ_X det Σ_Y / det Σ) for a joint Gaussian with X the first dx coordinates."""
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return 0.5 * (ld(cov[:dx, :dx]) + ld(cov[dx:, dx:]) - ld(cov))


def random_cov(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def correlated_pair(
    rhos: tuple[float, ...], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, Y with canonical correlations ``rhos``, each rotated by a random orthogonal matrix
    (MI-preserving); returns x, y and the joint covariance."""
    d = len(rhos)
    r = np.diag(rhos)
    cov = np.block([[np.eye(d), r], [r, np.eye(d)]])
    qx = np.linalg.qr(rng.normal(size=(d, d)))[0]
    qy = np.linalg.qr(rng.normal(size=(d, d)))[0]
    rot = np.block([[qx, np.zeros((d, d))], [np.zeros((d, d)), qy]])
    cov = rot @ cov @ rot.T
    xy = rng.multivariate_normal(np.zeros(2 * d), cov, size=n)
    return xy[:, :d], xy[:, d:], cov


# ---------------------------------------------------------------------------------------------
# entropy oracles


@pytest.mark.parametrize("d", [1, 3, 5])
@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
def test_kl_entropy_matches_gaussian_closed_form(d: int, metric: str) -> None:
    rng = np.random.default_rng(d)
    cov = random_cov(d, rng)
    x = rng.multivariate_normal(np.zeros(d), cov, size=N)
    est, se = knn_entropy(x, k=3, metric=metric, return_se=True)
    # KL's finite-sample bias for Gaussians at N = 4000 is about -0.01 d nats (ib_analysis §6)
    assert abs(est - gaussian_entropy(cov)) < 0.05 * d
    assert 0 < se < 0.05


def test_kl_entropy_of_uniform_square_is_log_area() -> None:
    x = np.random.default_rng(1).uniform(0.0, 3.0, size=(N, 2))
    # boundary bias of KL on a compact support is positive and O(N^{-1/d}); ~0.05 here
    assert abs(knn_entropy(x, k=3) - 2 * math.log(3.0)) < 0.1


def test_kl_entropy_in_bits_and_scaling_law() -> None:
    x = np.random.default_rng(2).normal(size=(500, 3))
    h = knn_entropy(x)
    assert knn_entropy(x, base=2) == pytest.approx(h / math.log(2), rel=1e-12)
    # H(aX + b) = H(X) + d log|a| holds exactly for the estimator (distances scale by |a|)
    assert knn_entropy(-2.5 * x + 7.0) == pytest.approx(h + 3 * math.log(2.5), abs=1e-9)


@pytest.mark.parametrize("d", [2, 6])
def test_weighted_kl_matches_gaussian_closed_form(d: int) -> None:
    rng = np.random.default_rng(10 + d)
    cov = random_cov(d, rng)
    x = rng.multivariate_normal(np.zeros(d), cov, size=N)
    est, se = weighted_knn_entropy(x, return_se=True)
    assert abs(est - gaussian_entropy(cov)) < max(0.05 * d, 4 * se)


def test_weighted_kl_is_1nn_kl_for_low_dimension() -> None:
    x = np.random.default_rng(3).normal(size=(300, 3))
    assert weighted_knn_entropy(x, k=5) == pytest.approx(knn_entropy(x, k=1), abs=1e-12)


def test_weighted_knn_weights_solve_the_constraint_system() -> None:
    np.testing.assert_array_equal(weighted_knn_weights(4, 5), [1, 0, 0, 0, 0])
    d, k = 9, 9
    w = weighted_knn_weights(d, k)
    j = np.arange(1, k + 1, dtype=float)
    assert w.sum() == pytest.approx(1.0, abs=1e-10)
    for ell in range(1, d // 4 + 1):
        assert np.exp(gammaln(j + 2 * ell / d) - gammaln(j)) @ w == pytest.approx(0, abs=1e-9)
    # support {⌊i k / d⌋}: with k = 5 < d = 8 it is {1..5}; with k = 16 only even indices
    assert np.flatnonzero(weighted_knn_weights(8, 16)).tolist() == list(range(1, 16, 2))


def test_weighted_knn_weights_refuse_unsatisfiable_systems() -> None:
    with pytest.raises(ValueError, match="raise k"):
        weighted_knn_weights(20, 5)
    with pytest.raises(ValueError, match="numerically unsatisfiable"):
        weighted_knn_weights(64, 64)
    with pytest.warns(RuntimeWarning, match="l1 norm"):
        weighted_knn_weights(12, 12)


# ---------------------------------------------------------------------------------------------
# mutual information oracles


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("rhos", [(0.9,), (0.8, 0.5)])
def test_ksg_matches_gaussian_mi(algorithm: int, rhos: tuple[float, ...]) -> None:
    rng = np.random.default_rng(len(rhos))
    x, y, cov = correlated_pair(rhos, N, rng)
    truth = gaussian_mi(cov, len(rhos))
    assert truth == pytest.approx(-0.5 * sum(math.log(1 - r * r) for r in rhos))
    assert abs(ksg_mutual_information(x, y, algorithm=algorithm) - truth) < 0.05


def test_ksg_independence_is_near_zero_and_not_clipped() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(N, 2)), rng.normal(size=(N, 1))
    est = ksg_mutual_information(x, y)
    assert abs(est) < 0.03
    clipped = ksg_mutual_information(x, y, clip_negative=True)
    assert clipped == max(est, 0.0)


def test_ksg_is_exactly_symmetric_for_both_algorithms() -> None:
    rng = np.random.default_rng(6)
    x, y, _ = correlated_pair((0.7, 0.3), 800, rng)
    for algorithm in (1, 2):
        assert ksg_mutual_information(x, y, algorithm=algorithm) == ksg_mutual_information(
            y, x, algorithm=algorithm
        )


def test_ksg_is_nearly_invariant_to_monotone_marginal_maps() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N, 1))
    y = 0.8 * x + 0.6 * rng.normal(size=(N, 1))
    base = ksg_mutual_information(x, y)
    assert abs(ksg_mutual_information(x**3, np.exp(y)) - base) < 0.05
    # per-column affine maps are exact thanks to standardisation
    assert ksg_mutual_information(100 * x + 3, -0.01 * y) == pytest.approx(base, abs=1e-9)
    # without standardisation the max-norm mixes scales and the estimate moves
    assert abs(ksg_mutual_information(1000 * x, y, standardize=False) - base) > 0.1


def test_cmi_of_conditionally_independent_pair_is_near_zero() -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(size=(N, 1))
    x = z + 0.5 * rng.normal(size=(N, 1))
    y = z + 0.5 * rng.normal(size=(N, 1))
    assert ksg_mutual_information(x, y) > 0.5
    assert abs(conditional_mutual_information(x, y, z)) < 0.03


def test_cmi_matches_gaussian_closed_form() -> None:
    rng = np.random.default_rng(9)
    cov = random_cov(3, rng)
    xyz = rng.multivariate_normal(np.zeros(3), cov, size=N)
    ld = lambda idx: np.linalg.slogdet(cov[np.ix_(idx, idx)])[1]  # noqa: E731
    truth = 0.5 * (ld([0, 2]) + ld([1, 2]) - ld([2]) - ld([0, 1, 2]))
    est = conditional_mutual_information(xyz[:, :1], xyz[:, 1:2], xyz[:, 2:])
    assert abs(est - truth) < 0.05


def test_mixed_mi_of_independent_labels_is_near_zero() -> None:
    rng = np.random.default_rng(11)
    x, labels = rng.normal(size=(N, 2)), rng.integers(0, 3, size=N)
    assert abs(mixed_mutual_information(x, labels)) < 0.03


def test_mixed_mi_of_separated_classes_is_label_entropy() -> None:
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 3, size=N)
    x = rng.normal(size=(N, 2)) + 20.0 * labels[:, None]
    counts = np.bincount(labels)
    h = -np.sum(counts / N * np.log(counts / N))
    assert mixed_mutual_information(x, labels) == pytest.approx(h, abs=0.01)
    strings = np.array(["a", "b", "c"])[labels]
    assert mixed_mutual_information(x, strings) == mixed_mutual_information(x, labels)


def test_mixed_mi_small_classes_follow_sklearn_rule_with_warning() -> None:
    rng = np.random.default_rng(13)
    x, labels = rng.normal(size=(200, 1)), rng.integers(0, 2, size=200)
    labels[:2], labels[2] = 5, 6  # a class of 2 (k -> 1) and a singleton (dropped)
    with pytest.warns(RuntimeWarning, match="at most k=3 samples"):
        est = mixed_mutual_information(x, labels)
    assert np.isfinite(est)


# ---------------------------------------------------------------------------------------------
# backends, batching, gradients, jitter


def test_tree_and_brute_force_agree_for_every_estimator() -> None:
    rng = np.random.default_rng(14)
    x, y, _ = correlated_pair((0.6, 0.2), 400, rng)
    z, labels = rng.normal(size=(400, 1)), rng.integers(0, 3, size=400)
    calls = [
        lambda s: knn_entropy(x, search=s),
        lambda s: knn_entropy(x, metric="chebyshev", search=s),
        lambda s: weighted_knn_entropy(np.hstack([x, y, z]), search=s),
        lambda s: ksg_mutual_information(x, y, search=s),
        lambda s: ksg_mutual_information(x, y, algorithm=2, search=s),
        lambda s: conditional_mutual_information(x, y, z, search=s),
        lambda s: mixed_mutual_information(x, labels, search=s),
    ]
    for call in calls:
        assert call("tree") == pytest.approx(call("brute"), abs=1e-12)


def test_torch_in_torch_out_and_float32() -> None:
    rng = np.random.default_rng(15)
    x, y, _ = correlated_pair((0.8,), 300, rng)
    ref = ksg_mutual_information(x, y)
    out = ksg_mutual_information(torch.from_numpy(x), torch.from_numpy(y))
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float64
    assert out.item() == pytest.approx(ref, abs=1e-12)
    h32 = knn_entropy(torch.from_numpy(x).float())
    assert h32.dtype == torch.float32
    assert h32.item() == pytest.approx(knn_entropy(x), abs=1e-4)
    assert isinstance(knn_entropy(x), np.floating)


def test_batched_inputs_equal_separate_calls() -> None:
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(2, 3, 200, 2)), rng.normal(size=(2, 3, 200, 1))
    est, se = ksg_mutual_information(x, y, return_se=True)
    assert est.shape == se.shape == (2, 3)
    assert est[1, 2] == ksg_mutual_information(x[1, 2], y[1, 2])
    h = knn_entropy(torch.from_numpy(x))
    assert h.shape == (2, 3)
    assert h[0, 1].item() == pytest.approx(knn_entropy(x[0, 1]), abs=1e-12)
    labels = rng.integers(0, 2, size=(2, 3, 200))
    assert mixed_mutual_information(x, labels).shape == (2, 3)


def test_kl_entropy_gradient_matches_finite_differences() -> None:
    # central differences instead of torch.autograd.gradcheck (same check, without its imports)
    x = np.random.default_rng(20).normal(size=(12, 2))
    for fn in (knn_entropy, weighted_knn_entropy):
        xt = torch.tensor(x, requires_grad=True)
        fn(xt, k=2).backward()
        numeric = np.zeros_like(x)
        for i, j in np.ndindex(*x.shape):
            step = np.zeros_like(x)
            step[i, j] = 1e-6
            numeric[i, j] = (fn(x + step, k=2) - fn(x - step, k=2)) / 2e-6
        np.testing.assert_allclose(xt.grad.numpy(), numeric, atol=1e-6)
    # spreading the points out raises the entropy: d/dc H(c x) = d / c
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    knn_entropy(scale * torch.from_numpy(x), k=2).backward()
    assert scale.grad.item() == pytest.approx(2.0, rel=1e-9)


def test_duplicates_raise_without_jitter_and_jitter_is_seeded() -> None:
    rng = np.random.default_rng(17)
    x = np.repeat(rng.normal(size=(100, 2)), 4, axis=0)  # every point four times
    with pytest.raises(ValueError, match="jitter=True"):
        knn_entropy(x, k=3)
    with pytest.raises(ValueError, match="jitter=True"):
        ksg_mutual_information(x[:, :1], x[:, 1:])
    a = knn_entropy(x, k=3, jitter=True, seed=1)
    assert np.isfinite(a)
    assert a == knn_entropy(x, k=3, jitter=True, seed=1)
    assert a != knn_entropy(x, k=3, jitter=True, seed=2)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (global state untouched)
    ksg_mutual_information(x[:, :1], x[:, 1:], jitter=True, seed=np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    # no duplicates: jitter=True changes nothing
    y = rng.normal(size=(100, 2))
    assert knn_entropy(y, jitter=True, seed=3) == knn_entropy(y)


def test_standard_error_tracks_replicate_spread() -> None:
    rng = np.random.default_rng(18)
    runs = [knn_entropy(rng.normal(size=(400, 2)), return_se=True) for _ in range(30)]
    spread, mean_se = np.std([r[0] for r in runs], ddof=1), np.mean([r[1] for r in runs])
    assert 0.6 < mean_se / spread < 1.6


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(20, 120),
    dx=st.integers(1, 3),
    dy=st.integers(1, 3),
    k=st.integers(1, 5),
)
def test_ksg_symmetry_and_permutation_invariance(
    seed: int, n: int, dx: int, dy: int, k: int
) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dx)), rng.exponential(size=(n, dy))
    i = ksg_mutual_information(x, y, k=k)
    assert i == ksg_mutual_information(y, x, k=k)
    perm = rng.permutation(n)
    assert ksg_mutual_information(x[perm], y[perm], k=k) == pytest.approx(i, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    d=st.integers(1, 4),
    shift=st.floats(-100, 100),
    k=st.integers(1, 5),
)
def test_kl_entropy_translation_invariance(seed: int, d: int, shift: float, k: int) -> None:
    x = np.random.default_rng(seed).normal(size=(60, d))
    assert knn_entropy(x + shift, k=k) == pytest.approx(knn_entropy(x, k=k), abs=1e-6)


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_bad_inputs_raise_clear_errors() -> None:
    x = np.random.default_rng(19).normal(size=(50, 2))
    with pytest.raises(ValueError, match=r"1 <= k < n_samples = 50"):
        knn_entropy(x, k=50)
    with pytest.raises(ValueError, match="at least 2 samples"):
        knn_entropy(x[:1], k=1)
    with pytest.raises(ValueError, match=r"reshape 1-D data"):
        knn_entropy(x[:, 0])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        ksg_mutual_information(bad, x)
    with pytest.raises(ValueError, match="same leading shape and n_samples"):
        ksg_mutual_information(x, x[:40])
    with pytest.raises(ValueError, match="same leading shape and n_samples"):
        conditional_mutual_information(x, x, x[:49])
    with pytest.raises(ValueError, match="algorithm must be 1 or 2"):
        ksg_mutual_information(x, x, algorithm=3)
    with pytest.raises(ValueError, match="metric must be one of"):
        knn_entropy(x, metric="cosine")
    with pytest.raises(ValueError, match="search must be one of"):
        knn_entropy(x, search="faiss")
    with pytest.raises(ValueError, match="base must be"):
        knn_entropy(x, base=1)
    with pytest.raises(ValueError, match="k must be a positive int"):
        knn_entropy(x, k=2.5)
    with pytest.raises(ValueError, match="seed must be"):
        knn_entropy(x, jitter=True, seed="abc")
    with pytest.raises(ValueError, match="labels must have shape"):
        mixed_mutual_information(x, np.zeros(49, dtype=int))
    with pytest.raises(ValueError, match="must be discrete"):
        mixed_mutual_information(x, np.arange(50))
    with pytest.raises(ValueError, match="labels contains 1 NaN"):
        mixed_mutual_information(x, np.r_[np.nan, np.zeros(49)])


@pytest.mark.parametrize("strict", [True, False])
def test_sorted_one_dimensional_counts_equal_brute_force(strict: bool) -> None:
    from entropykit_shared.knn import _count_within_sorted

    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=400), 2)  # many ties and exact boundary distances
    radius = np.abs(values - values[rng.integers(0, 400, size=400)])
    radius[radius == 0] = 0.01  # estimators never count within a zero radius (they raise first)
    diff = np.abs(values[None, :] - values[:, None])
    inside = diff < radius[:, None] if strict else diff <= radius[:, None]
    np.testing.assert_array_equal(
        _count_within_sorted(values, radius, strict=strict), inside.sum(axis=1) - 1
    )
