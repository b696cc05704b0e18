"""Diffusion operators, DSE and DSMI: closed-form limits, invariances, DSMI, bad inputs."""

from __future__ import annotations

import itertools
import math
import random
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from entropykit_shared.diffusion import (
    diffusion_operator,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from entropykit_shared.kernels import bandwidth


def blobs(k: int, per: int, d: int = 3, spread: float = 1e-3, sep: float = 50.0, seed: int = 0):
    """k clusters of ``per`` points with standard deviation ``spread``, centres ``sep`` apart."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((k, d))
    centres[:, 0] = sep * np.arange(k)
    x = np.concatenate([c + spread * rng.normal(size=(per, d)) for c in centres])
    return x, np.repeat(np.arange(k), per)


RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))


# ----------------------------------------------------------------------------- operator
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_operator_conjugate_has_the_markov_spectrum(alpha: float) -> None:
    m, p = diffusion_operator(X, 1.5, alpha, kind="both")
    np.testing.assert_allclose(m, m.T, atol=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert p.min() >= 0
    lam_m = np.sort(np.linalg.eigvalsh(m))
    lam_p = np.sort(np.linalg.eigvals(p).real)
    np.testing.assert_allclose(lam_m, lam_p, atol=1e-10)
    assert lam_m.max() == pytest.approx(1.0, abs=1e-12)
    assert lam_m.min() > -1e-10
    # P = diag(d)^-1/2 M diag(d)^1/2 with d the stationary weights (pi ∝ d for a symmetric G_a)
    d = np.linalg.eig(p.T)[1][:, 0].real
    d = d / d.sum()
    np.testing.assert_allclose(np.diag(d**-0.5) @ m @ np.diag(d**0.5), p, atol=1e-10)


def test_operator_alpha_zero_is_the_plain_random_walk() -> None:
    from entropykit_shared.kernels import rbf_kernel

    g = rbf_kernel(X, sigma=1.5)
    p = diffusion_operator(X, 1.5, kind="markov")
    np.testing.assert_allclose(p, g / g.sum(axis=1, keepdims=True), atol=1e-14)


def test_operator_torch_in_torch_out_matches_numpy() -> None:
    m_np = diffusion_operator(X, "median", 0.5)
    m_t = diffusion_operator(torch.from_numpy(X), "median", 0.5)
    assert isinstance(m_t, torch.Tensor)
    assert m_t.dtype == torch.float64
    np.testing.assert_allclose(m_t.numpy(), m_np, atol=1e-14)


def test_unit_eigenvalue_multiplicity_counts_connected_components() -> None:
    for k in (1, 2, 4):
        x, _ = blobs(k, 15, spread=0.3, sep=60.0)
        lam = np.linalg.eigvalsh(diffusion_operator(x, 1.0))
        assert int(np.sum(np.abs(lam - 1.0) < 1e-9)) == k


# ----------------------------------------------------------------------------- DSE limits
def test_small_sigma_gives_log2_n() -> None:
    assert diffusion_spectral_entropy(X, 1e-3) == pytest.approx(math.log2(60), abs=1e-6)


def test_large_sigma_gives_zero() -> None:
    assert 0.0 <= diffusion_spectral_entropy(X, 1e6) <= 1e-3


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("t", [1, 2, 5])
def test_far_tight_clusters_give_log2_k(k: int, t: int) -> None:
    x, _ = blobs(k, 20)
    assert diffusion_spectral_entropy(x, 1.0, t) == pytest.approx(math.log2(k), abs=0.05)


def test_loose_clusters_need_large_enough_t() -> None:
    """log2 k holds once (n - k) lambda_{k+1}^t << k: the leftover spectrum must be negligible."""
    k = 3
    x, _ = blobs(k, 40, spread=0.3)
    lam = np.sort(np.linalg.eigvalsh(diffusion_operator(x, 1.0)))[::-1]
    tail = lam[k]
    assert abs(diffusion_spectral_entropy(x, 1.0, 1) - math.log2(k)) > 0.5
    t_ok = math.ceil(math.log(0.01 * k / (len(x) - k)) / math.log(tail))
    assert diffusion_spectral_entropy(x, 1.0, t_ok) == pytest.approx(math.log2(k), abs=0.05)


def test_constant_data_warns_and_gives_zero() -> None:
    with pytest.warns(RuntimeWarning, match="coincide"):
        assert diffusion_spectral_entropy(np.ones((20, 3)), 1.0) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------- invariances
def test_invariant_to_rotation_translation_permutation() -> None:
    ref = diffusion_spectral_entropy(X, 1.3, 2)
    q, _ = np.linalg.qr(RNG.normal(size=(4, 4)))
    assert diffusion_spectral_entropy(X @ q, 1.3, 2) == pytest.approx(ref, abs=1e-10)
    assert diffusion_spectral_entropy(X + 7.5, 1.3, 2) == pytest.approx(ref, abs=1e-10)
    assert diffusion_spectral_entropy(X[RNG.permutation(60)], 1.3, 2) == pytest.approx(
        ref, abs=1e-10
    )


def test_scaling_data_and_sigma_together_leaves_dse_unchanged() -> None:
    ref = diffusion_spectral_entropy(X, 0.8)
    assert diffusion_spectral_entropy(25.0 * X, 20.0) == pytest.approx(ref, abs=1e-10)
    # with a fixed sigma the value changes (sigma is absolute)
    assert abs(diffusion_spectral_entropy(25.0 * X, 0.8) - ref) > 0.5


def test_bandwidth_rule_equals_its_numeric_sigma() -> None:
    s = bandwidth(X, "median")
    assert diffusion_spectral_entropy(X, "median") == pytest.approx(
        diffusion_spectral_entropy(X, s), abs=1e-12
    )


def test_base_converts_bits_to_nats() -> None:
    bits = diffusion_spectral_entropy(X, 1.0)
    assert diffusion_spectral_entropy(X, 1.0, base=math.e) == pytest.approx(
        bits * math.log(2), rel=1e-12
    )


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(3, 25),
    sigma=st.floats(0.05, 20.0),
    seed=st.integers(0, 10_000),
)
def test_dse_bounded_and_nonincreasing_in_t(n: int, sigma: float, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(n, 3))
    values = [diffusion_spectral_entropy(x, sigma, t) for t in (0.5, 1, 2, 4)]
    assert all(-1e-12 <= v <= math.log2(n) + 1e-9 for v in values)
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(values))


# ----------------------------------------------------------------------------- torch / autograd
def test_torch_matches_numpy_and_is_differentiable() -> None:
    xt = torch.from_numpy(X[:12].copy()).requires_grad_(True)
    h = diffusion_spectral_entropy(xt, 1.0, 2)
    assert isinstance(h, torch.Tensor)
    assert h.ndim == 0
    assert float(h.detach()) == pytest.approx(diffusion_spectral_entropy(X[:12], 1.0, 2), abs=1e-12)
    h.backward()
    assert xt.grad is not None
    assert torch.isfinite(xt.grad).all()


def test_gradcheck_small_input() -> None:
    x = torch.tensor(RNG.normal(size=(6, 2)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: diffusion_spectral_entropy(z, 1.0, 1), (x,))


# ----------------------------------------------------------------------------- subsampling
def test_subsampling_is_seeded_and_leaves_global_rng_alone() -> None:
    x = RNG.normal(size=(120, 3))
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    torch_state = torch.get_rng_state()
    a = diffusion_spectral_entropy(x, 1.0, max_n=50, seed=3)
    assert diffusion_spectral_entropy(x, 1.0, max_n=50, seed=3) == a
    assert diffusion_spectral_entropy(x, 1.0, max_n=50, seed=4) != a
    assert diffusion_spectral_entropy(x, 1.0, max_n=50, seed=np.random.default_rng(3)) == a
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_standard_error_of_subsampling() -> None:
    x = RNG.normal(size=(120, 3))
    h, se = diffusion_spectral_entropy(x, 1.0, max_n=60, num_subsamples=4, return_se=True)
    assert 0.0 < se < 0.5
    assert 0.0 < h <= math.log2(60)
    _, se_full = diffusion_spectral_entropy(x, 1.0, return_se=True)
    assert se_full == 0.0
    with pytest.raises(ValueError, match="num_subsamples >= 2"):
        diffusion_spectral_entropy(x, 1.0, max_n=60, return_se=True)


# ----------------------------------------------------------------------------- SLQ fast path
@pytest.mark.parametrize("t", [1, 2, 3])
def test_slq_agrees_with_the_exact_spectrum(t: int) -> None:
    x, _ = blobs(5, 60, d=8, spread=1.0, sep=4.0, seed=2)
    exact = diffusion_spectral_entropy(x, 2.0, t)
    est, se = diffusion_spectral_entropy(x, 2.0, t, eig="slq", seed=1, return_se=True)
    assert 0.0 < se < 0.2
    assert abs(est - exact) < 4 * se + 0.02
    assert diffusion_spectral_entropy(x, 2.0, t, eig="slq", seed=1) == est
    assert diffusion_spectral_entropy(x, 2.0, t, eig="slq", seed=2) != est


def test_slq_with_subsampling_reports_the_spread() -> None:
    x, _ = blobs(4, 40, d=5, spread=1.0, sep=4.0)
    est, se = diffusion_spectral_entropy(
        x, 2.0, eig="slq", max_n=100, num_subsamples=3, return_se=True
    )
    assert se > 0
    assert abs(est - diffusion_spectral_entropy(x, 2.0)) < 0.5


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "official", "eig": "slq"}, "exact eigenvalues"),
        ({"eig": "slq", "slq_probes": 1}, "num_probes"),
        ({"sigma": 0.0}, "sigma must be"),
        ({"sigma": -1.0}, "sigma must be"),
        ({"sigma": "bogus"}, "unknown bandwidth rule"),
        ({"t": 0}, "t .diffusion time"),
        ({"alpha": 1.5}, "alpha must lie"),
        ({"mode": "fast"}, "mode must be"),
        ({"eig": "chebyshev"}, "eig must be"),
        ({"base": 1.0}, "base must be"),
        ({"max_n": 1}, "max_n must be"),
        ({"num_subsamples": 0}, "num_subsamples"),
        ({"seed": "zero", "max_n": 10}, "seed must be"),
        ({"mode": "official", "sigma": "median"}, "numeric sigma"),
        ({"mode": "official", "alpha": 0.5}, "alpha = 0"),
        ({"mode": "official", "seed": np.random.default_rng(0), "max_n": 10}, "Mersenne"),
    ],
)
def test_dse_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        diffusion_spectral_entropy(X, **kwargs)


def test_dse_bad_data() -> None:
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        diffusion_spectral_entropy(bad)
    with pytest.raises(ValueError, match="at least 2 samples"):
        diffusion_spectral_entropy(X[:1])
    with pytest.raises(ValueError, match="2-D"):
        diffusion_spectral_entropy(X[:, 0])
    with pytest.raises(ValueError, match="kind must be"):
        diffusion_operator(X, kind="laplacian")


# ----------------------------------------------------------------------------- DSMI
def test_dsmi_of_independent_labels_is_near_zero() -> None:
    x = np.random.default_rng(1).normal(size=(1000, 5))
    y = np.random.default_rng(2).integers(0, 4, size=1000)
    assert abs(diffusion_spectral_mutual_information(x, y, sigma=2.0)) < 0.1


def test_dsmi_of_separated_classes_exceeds_one_bit() -> None:
    x, y = blobs(3, 40, spread=0.2, sep=30.0)
    mi, se = diffusion_spectral_mutual_information(x, y, sigma=1.0, return_se=True)
    assert mi > 1.0
    assert 0.0 <= se < 0.1


def test_dsmi_decreases_under_label_corruption() -> None:
    x, y = blobs(3, 50, d=4, spread=1.0, sep=6.0, seed=3)
    rng = np.random.default_rng(0)
    values = []
    for r in np.linspace(0.0, 1.0, 6):
        yc = y.copy()
        idx = rng.choice(len(y), size=int(r * len(y)), replace=False)
        yc[idx] = rng.permutation(yc[idx])
        values.append(diffusion_spectral_mutual_information(x, yc, sigma=2.0, seed=1))
    assert spearmanr(np.linspace(0, 1, 6), values).statistic <= -0.9


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
@pytest.mark.parametrize("clustering", ["spectral", "kmeans"])
def test_dsmi_with_vector_reference_is_clustered(clustering: str) -> None:
    x, y = blobs(3, 30, spread=0.2, sep=30.0)
    mi, labels = diffusion_spectral_mutual_information(
        x, x, n_clusters=3, clustering=clustering, sigma=1.0, return_clusters=True
    )
    assert labels.shape == (90,)
    assert len(np.unique(labels)) == 3
    assert mi > 1.0
    # the clusters recover the blobs (up to relabelling)
    assert all(len(np.unique(labels[y == c])) == 1 for c in range(3))


def test_dsmi_scalar_reference_is_binned_and_precomputed_clusters_are_used() -> None:
    x, y = blobs(2, 30, spread=0.2, sep=30.0)
    scalar = y + 0.01 * np.random.default_rng(0).normal(size=60)
    mi, labels = diffusion_spectral_mutual_information(
        x, scalar, n_clusters=2, sigma=1.0, return_clusters=True
    )
    assert set(np.unique(labels)) == {1, 2}
    same = diffusion_spectral_mutual_information(x, clusters=labels, sigma=1.0)
    assert same == pytest.approx(mi, abs=1e-12)


def test_dsmi_is_deterministic_and_leaves_global_rng_alone() -> None:
    x, y = blobs(3, 20, spread=0.5, sep=5.0)
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    a = diffusion_spectral_mutual_information(x, y, sigma=1.0, seed=5)
    assert diffusion_spectral_mutual_information(x, y, sigma=1.0, seed=5) == a
    assert random.getstate() == py_state
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002


def _dsmi_one_subset_at_a_time(x, y, sigma, t, alpha, max_n, seed, repetitions):
    """DSMI written out with the public DSE, one subset at a time, with the documented draws:
    per class, the class subset, then the size-matched reference subsets (each cut to max_n)."""
    rng = np.random.default_rng(seed)
    sig = sigma if sigma == "knn" else bandwidth(x, sigma)
    n, total = len(x), 0.0

    def draw(idx):
        return idx[rng.choice(idx.size, size=max_n, replace=False)] if idx.size > max_n else idx

    def dse(idx):
        return diffusion_spectral_entropy(x[idx], sig, t, alpha, max_n=None)

    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        h = dse(draw(members))
        refs = [
            dse(draw(rng.choice(n, size=members.size, replace=False))) for _ in range(repetitions)
        ]
        total += members.size / n * (np.mean(refs) - h)
    return total


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sigma": "median", "t": 1, "alpha": 0.0, "max_n": 10000},
        {"sigma": 2.0, "t": 2, "alpha": 0.5, "max_n": 10000},
        {"sigma": 1.5, "t": 1, "alpha": 0.0, "max_n": 12},
        {"sigma": "knn", "t": 1, "alpha": 0.0, "max_n": 10000},
    ],
)
def test_dsmi_batched_subsets_match_one_subset_at_a_time(kwargs: dict) -> None:
    # DSMI builds and diagonalises the equally sized subsets of a class as one batch
    x, y = blobs(3, 25, spread=0.8, sep=4.0, seed=2)
    expected = _dsmi_one_subset_at_a_time(x, y, seed=3, repetitions=4, **kwargs)
    got = diffusion_spectral_mutual_information(x, y, seed=3, num_repetitions=4, **kwargs)
    assert got == pytest.approx(expected, abs=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    fast = diffusion_spectral_mutual_information(
        xt, torch.from_numpy(y), seed=3, num_repetitions=4, **kwargs
    )
    fast.backward()  # autograd flows through the batched path
    assert xt.grad is not None
    assert bool(torch.isfinite(xt.grad).all())
    assert float(xt.grad.abs().sum()) > 0
    assert fast.detach().item() == pytest.approx(expected, abs=1e-12)


def test_dsmi_batches_large_classes_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = blobs(2, 30, spread=0.8, sep=4.0, seed=4)
    whole = diffusion_spectral_mutual_information(x, y, sigma=2.0, seed=1)
    monkeypatch.setattr("entropykit_shared.diffusion._BATCH_ENTRIES", 30 * 30 * 2)
    assert diffusion_spectral_mutual_information(x, y, sigma=2.0, seed=1) == pytest.approx(
        whole, abs=1e-12
    )


def test_dsmi_torch_in_torch_out() -> None:
    x, y = blobs(2, 20, spread=0.5, sep=5.0)
    ref = diffusion_spectral_mutual_information(x, y, sigma=1.0)
    out = diffusion_spectral_mutual_information(torch.from_numpy(x), torch.from_numpy(y), sigma=1.0)
    assert isinstance(out, torch.Tensor)
    assert float(out) == pytest.approx(ref, abs=1e-12)


def test_dsmi_string_labels_and_singleton_warning() -> None:
    x, y = blobs(2, 20, spread=0.5, sep=5.0)
    names = np.where(y == 0, "cat", "dog").astype(object)
    names[0] = "bird"
    with pytest.warns(UserWarning, match="single sample"):
        diffusion_spectral_mutual_information(x, names, sigma=1.0)


def test_dsmi_warns_for_float_labels() -> None:
    x, y = blobs(2, 20, spread=0.5, sep=5.0)
    with pytest.warns(UserWarning, match="discrete=True"):
        diffusion_spectral_mutual_information(x, y.astype(float), sigma=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diffusion_spectral_mutual_information(x, y.astype(float), discrete=True, sigma=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y": np.zeros(7, dtype=int)}, "rows like x"),
        ({"y": np.zeros((40, 2)), "discrete": True}, "one label per sample"),
        ({"y": None}, "y is required"),
        ({"y": np.zeros(40, dtype=int), "discrete": True, "clusters": np.zeros(40)}, "not both"),
        ({"y": None, "clusters": np.zeros(39)}, r"clusters must have shape \(40,\)"),
        ({"y": np.zeros((40, 2)), "n_clusters": 40}, "n_clusters must be < n"),
        ({"y": np.zeros(40, dtype=int), "n_clusters": 0}, "n_clusters must be"),
        ({"y": np.zeros(40, dtype=int), "num_repetitions": 0}, "num_repetitions"),
        ({"y": np.zeros(40, dtype=int), "return_se": True, "num_repetitions": 1}, ">= 2"),
        ({"y": np.zeros(40, dtype=int), "clustering": "dbscan"}, "clustering must be"),
        ({"y": np.full(40, np.inf)}, "NaN or infinite"),
    ],
)
def test_dsmi_bad_inputs(kwargs: dict, match: str) -> None:
    x, _ = blobs(2, 20)
    y = kwargs.pop("y")
    with pytest.raises(ValueError, match=match):
        diffusion_spectral_mutual_information(x, y, **kwargs)
