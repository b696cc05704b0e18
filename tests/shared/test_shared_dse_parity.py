"""Parity with the reference dse-dsmi 1.1 (``mode="official"``) and the documented differences
of the exact mode.

Known properties of the reference, each asserted below:
- its kernel comment says K = D^-1/2 G D^-1/2 has the spectrum of the alpha = 1/2 operator; it has
  the spectrum of the plain random walk D^-1 G (alpha = 0);
- it adds machine epsilon to every probability before the log2 entropy;
- it subsamples (DSE with N > max_N, the DSMI reference subsets) with Python's global ``random``
  after ``random.seed(random_seed)``, so calling it changes the caller's global RNG state;
- DSMI reseeds that generator for every cluster (the reference subsets of different clusters
  share one random stream prefix) and infers discrete labels from an integer dtype only (bool
  labels raise TypeError in its min-max scaling).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from entropykit_shared.diffusion import (
    diffusion_operator,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)

_dse = pytest.importorskip("dse_dsmi", reason="reference package missing: run uv sync (dev group)")
ref_dse = _dse.diffusion_spectral_entropy
ref_dsmi = _dse.diffusion_spectral_mutual_information

RNG = np.random.default_rng(0)
U = RNG.uniform(size=(200, 10))  # the reference's own example distribution (uniform [0,1]^10)
TOL = 1e-8


@pytest.mark.parametrize("sigma", [0.3, 1.0, 10.0])
@pytest.mark.parametrize("t", [1, 3])
def test_official_dse_matches_reference(sigma: float, t: int) -> None:
    ref = ref_dse(U, gaussian_kernel_sigma=sigma, t=t)
    assert diffusion_spectral_entropy(U, sigma, t, mode="official") == pytest.approx(ref, abs=TOL)


@pytest.mark.parametrize("seed", [0, 7])
def test_official_dse_reproduces_the_reference_subsample(seed: int) -> None:
    x = RNG.normal(size=(300, 6))
    ref = ref_dse(x, gaussian_kernel_sigma=2.0, max_N=120, random_seed=seed)
    ours = diffusion_spectral_entropy(x, 2.0, max_n=120, seed=seed, mode="official")
    assert ours == pytest.approx(ref, abs=TOL)


def test_reference_mutates_global_rng_ours_does_not() -> None:
    x = RNG.normal(size=(60, 3))
    state = random.getstate()
    diffusion_spectral_entropy(x, 1.0, max_n=30, seed=5, mode="official")
    assert random.getstate() == state
    ref_dse(x, gaussian_kernel_sigma=1.0, max_N=30, random_seed=5)
    assert random.getstate() != state  # the reference reseeded the caller's generator


def test_reference_spectrum_is_alpha_zero_not_alpha_half() -> None:
    ours0 = diffusion_spectral_entropy(U, 0.5)
    ours_half = diffusion_spectral_entropy(U, 0.5, alpha=0.5)
    ref = ref_dse(U, gaussian_kernel_sigma=0.5)
    assert ours0 == pytest.approx(ref, abs=1e-9)  # exact mode = reference up to its +eps
    assert abs(ours_half - ref) > 0.01
    # eigenvalue level: reference K vs the random walk D^-1 G
    from dse_dsmi.diffusion import compute_diffusion_matrix

    lam_ref = np.sort(np.linalg.eigvalsh(compute_diffusion_matrix(U, sigma=0.5)))
    lam_p = np.sort(np.linalg.eigvals(diffusion_operator(U, 0.5, kind="markov")).real)
    np.testing.assert_allclose(lam_ref, lam_p, atol=1e-8)


def test_reference_adds_machine_epsilon_to_every_probability() -> None:
    """sigma -> 0: all eigenvalues are 1, p = 1/n. Exact: log2 n; reference: the eps formula."""
    n = U.shape[0]
    eps = np.finfo(float).eps
    with_eps = -n * (1 / n + eps) * math.log2(1 / n + eps)
    assert ref_dse(U, gaussian_kernel_sigma=1e-3) == pytest.approx(with_eps, abs=1e-13)
    assert diffusion_spectral_entropy(U, 1e-3, mode="official") == pytest.approx(
        with_eps, abs=1e-13
    )
    assert diffusion_spectral_entropy(U, 1e-3) == pytest.approx(math.log2(n), abs=1e-13)
    assert abs(with_eps - math.log2(n)) > 1e-14


def _blobs(n_per: int = 40, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=3.0, size=(4, d))
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centres])
    return x, np.repeat(np.arange(4), n_per)


@pytest.mark.parametrize("seed", [0, 11])
def test_official_dsmi_matches_reference_for_labels(seed: int) -> None:
    x, y = _blobs()
    ref, ref_clusters = ref_dsmi(x, y, gaussian_kernel_sigma=2.0, random_seed=seed)
    ours, clusters = diffusion_spectral_mutual_information(
        x, y, sigma=2.0, seed=seed, mode="official", return_clusters=True
    )
    assert ours == pytest.approx(ref, abs=TOL)
    np.testing.assert_array_equal(clusters, ref_clusters.ravel())
    assert ours > 0.3


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_official_dsmi_matches_reference_for_continuous_references() -> None:
    x, y = _blobs()
    scalar = y + 0.3 * np.random.default_rng(1).normal(size=len(y))  # float -> 5 equal bins
    ref, ref_bins = ref_dsmi(x, scalar, gaussian_kernel_sigma=2.0, n_clusters=5, t=2)
    ours, bins = diffusion_spectral_mutual_information(
        x, scalar, sigma=2.0, n_clusters=5, t=2, mode="official", return_clusters=True
    )
    assert ours == pytest.approx(ref, abs=TOL)
    np.testing.assert_array_equal(bins, ref_bins.ravel())
    vectors = x + 0.1 * np.random.default_rng(2).normal(size=x.shape)  # spectral clustering
    ref, ref_cl = ref_dsmi(x, vectors, gaussian_kernel_sigma=2.0, n_clusters=4)
    ours, cl = diffusion_spectral_mutual_information(
        x, vectors, sigma=2.0, n_clusters=4, mode="official", return_clusters=True
    )
    assert ours == pytest.approx(ref, abs=TOL)
    np.testing.assert_array_equal(cl, ref_cl)


def test_exact_dsmi_differs_from_official_only_by_its_random_subsets() -> None:
    """Exact mode draws the reference subsets from one numpy Generator (independent across
    clusters); the official mode restarts Python's generator per cluster. The two estimates
    agree within a few standard errors; with one cluster both are exactly 0."""
    x, y = _blobs()
    off = diffusion_spectral_mutual_information(x, y, sigma=2.0, mode="official")
    exact, se = diffusion_spectral_mutual_information(
        x, y, sigma=2.0, num_repetitions=20, return_se=True
    )
    assert off != exact
    assert abs(off - exact) < 0.05 + 5 * se
    one = np.zeros(len(y), dtype=int)
    assert diffusion_spectral_mutual_information(x, one, sigma=2.0) == pytest.approx(0, abs=1e-12)
    assert ref_dsmi(x, one, gaussian_kernel_sigma=2.0)[0] == pytest.approx(0, abs=1e-12)


def test_bool_labels_crash_the_reference_and_are_read_as_two_classes() -> None:
    """The reference treats a non-integer column as continuous and min-max scales it, which
    raises TypeError for a bool array. Both modes here read bool labels as the two classes the
    reference gives for the same labels as integers."""
    x, y = _blobs()
    flags = y >= 2
    with pytest.raises(TypeError):
        ref_dsmi(x, flags, gaussian_kernel_sigma=2.0)
    ref, _ = ref_dsmi(x, flags.astype(np.int64), gaussian_kernel_sigma=2.0)
    ours, bins = diffusion_spectral_mutual_information(
        x, flags, sigma=2.0, mode="official", return_clusters=True
    )
    assert ours == pytest.approx(ref, abs=TOL)
    assert set(np.unique(bins)) == {1, 10}  # official: binned into bins 1 and n_clusters
    _, exact_bins = diffusion_spectral_mutual_information(x, flags, sigma=2.0, return_clusters=True)
    assert set(np.unique(exact_bins)) == {False, True}
