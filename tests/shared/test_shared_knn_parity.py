"""Parity of the kNN and binning estimators with the reference peers: npeet-plus 0.2.0
(``entropy``, ``mi``, ``cmi``, ``micd``), scikit-learn (``mutual_info_regression``,
``mutual_info_classif``) and dse-dsmi 1.1 (classic Shannon entropy, CSE).

Known conventions and bugs of the peers, each pinned by a test below:

- npeet works in bits (``base=2``) by default; ours in nats.
- npeet's ``entropy`` uses the max-norm (Chebyshev) with ``log V_d = d log 2``; ours is Euclidean
  by default, so parity uses ``metric="chebyshev"``.
- npeet adds uniform noise in [0, 1e-10) to every input from the *global* numpy RNG
  (``np.random.random_sample``): results move by ~1e-10 and the caller's RNG state changes.
- npeet shrinks KSG radii by an absolute 1e-15; for radii above ~8 that is below the float64
  spacing, the strict inequality becomes ``<=`` and the counts include the boundary neighbour, so
  npeet's MI changes with a common rescaling of x and y (KSG is exactly invariant to it).
- npeet does not standardise; ours does by default (``standardize=False`` for parity).
- npeet's ``micd`` is not Ross's estimator: it is ``|H(X) − Σ_y p(y) H(X | y)|`` with KL
  entropies, and the absolute value hides negative estimates.
- sklearn scales each column by its std, adds Gaussian noise of ``1e-10·max(1, mean|x|)`` (seeded
  by ``random_state``), works one feature at a time (univariate X) and clips negative MI to 0.
- dse-dsmi's CSE adds machine epsilon to every probability (≈1e-13 bits here) and divides 0 by 0
  for a constant dimension (a RuntimeWarning; the NaN column then lands in one bin).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

from entropykit_shared.binning import binned_entropy
from entropykit_shared.knn import (
    conditional_mutual_information,
    knn_entropy,
    ksg_mutual_information,
    mixed_mutual_information,
)

npeet_plus = pytest.importorskip(
    "npeet_plus", reason="reference package missing: run uv sync (dev group)"
)
dse = pytest.importorskip(
    "dse_dsmi.dse", reason="reference package missing: run uv sync (dev group)"
)

N = 2000


@pytest.fixture
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 2))
    y = x[:, :1] + 0.5 * rng.normal(size=(N, 1))
    z = x[:, 1:] + rng.normal(size=(N, 1))
    return {"x": x, "y": y, "z": z}


def test_entropy_matches_npeet_in_bits_with_max_norm(data: dict[str, np.ndarray]) -> None:
    ref = npeet_plus.entropy(data["x"], k=3)
    assert knn_entropy(data["x"], k=3, metric="chebyshev", base=2) == pytest.approx(ref, rel=1e-8)
    # npeet's default is bits: in nats the values differ by the factor ln 2
    assert knn_entropy(data["x"], k=3, metric="chebyshev") == pytest.approx(
        ref * math.log(2), rel=1e-8
    )


def test_ksg_matches_npeet_mi_without_standardisation(data: dict[str, np.ndarray]) -> None:
    ref = npeet_plus.mi(data["x"], data["y"], k=3)
    ours = ksg_mutual_information(data["x"], data["y"], k=3, standardize=False, base=2)
    assert ours == pytest.approx(ref, rel=1e-8)


def test_cmi_matches_npeet_cmi(data: dict[str, np.ndarray]) -> None:
    ref = npeet_plus.cmi(data["x"], data["y"], data["z"], k=3)
    ours = conditional_mutual_information(
        data["x"], data["y"], data["z"], k=3, standardize=False, base=2
    )
    assert ours == pytest.approx(ref, rel=1e-8)


def test_npeet_absolute_radius_shrink_breaks_scale_invariance(data: dict[str, np.ndarray]) -> None:
    """Known npeet bug: ``dvec - 1e-15`` is a no-op for radii above ~8, so at a large common scale
    the marginal counts include the boundary neighbour and npeet's MI drops."""
    x, y = data["x"], data["y"]
    ours = ksg_mutual_information(x, y, standardize=False)
    ours_scaled = ksg_mutual_information(1e3 * x, 1e3 * y, standardize=False)
    assert ours_scaled == pytest.approx(ours, abs=1e-9)
    npeet, npeet_scaled = npeet_plus.mi(x, y, k=3), npeet_plus.mi(1e3 * x, 1e3 * y, k=3)
    assert npeet == pytest.approx(ours / math.log(2), rel=1e-8)
    assert npeet - npeet_scaled > 0.03


def test_npeet_noise_uses_the_global_rng(data: dict[str, np.ndarray]) -> None:
    """Known npeet convention: its tie-breaking noise draws from ``np.random`` (global state)."""
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    knn_entropy(data["x"], jitter=True, seed=0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    npeet_plus.entropy(data["x"], k=3)
    assert not np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_npeet_micd_is_an_absolute_entropy_difference() -> None:
    """npeet's ``micd`` = |H(X) − Σ_y p(y) H(X|y)| (KL, max-norm, bits), not Ross's estimator;
    with labels independent of x the raw difference is negative and npeet returns its absolute
    value, while Ross's estimator (ours) reports the small negative estimate."""
    rng = np.random.default_rng(8)
    x, labels = rng.normal(size=(N, 1)), rng.integers(0, 2, size=N)
    h = lambda v: knn_entropy(v, k=3, metric="chebyshev", base=2)  # noqa: E731
    raw = h(x) - sum(np.mean(labels == c) * h(x[labels == c]) for c in (0, 1))
    ref = npeet_plus.micd(x, labels[:, None], k=3)
    assert raw < 0
    assert ref == pytest.approx(abs(raw), rel=1e-6)
    ours = mixed_mutual_information(x, labels, base=2)
    assert abs(ours) < 0.03


def test_ksg_matches_sklearn_mutual_info_regression() -> None:
    """sklearn: per-column std scaling (ours: the same by default), 1e-10 jitter, clip at 0."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(N, 3))
    y = np.sin(x[:, 0]) + x[:, 1] + 0.3 * rng.normal(size=N)
    ref = mutual_info_regression(x, y, n_neighbors=3, random_state=0)
    # sklearn is univariate in the feature: one MI per column of x
    ours = [ksg_mutual_information(x[:, j : j + 1], y[:, None]) for j in range(3)]
    np.testing.assert_allclose(np.maximum(ours, 0), ref, atol=1e-6)
    # the multivariate I(X; Y) is not a function of those per-column values
    assert ksg_mutual_information(x, y[:, None]) > max(ours) + 0.2


def test_sklearn_clips_negative_mi_to_zero() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1000, 1)), rng.normal(size=1000)
    ours = ksg_mutual_information(x, y[:, None])
    assert ours < 0
    assert mutual_info_regression(x, y, n_neighbors=3, random_state=0)[0] == 0.0
    assert ksg_mutual_information(x, y[:, None], clip_negative=True) == 0.0


def test_mixed_matches_sklearn_mutual_info_classif() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N, 2))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)
    ref = mutual_info_classif(x, labels, n_neighbors=3, random_state=0)
    ours = [mixed_mutual_information(x[:, j : j + 1], labels) for j in range(2)]
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    # small classes: sklearn lowers k to size - 1 and drops singletons; so do we (with a warning)
    labels[:2], labels[2] = 7, 9
    ref = mutual_info_classif(x[:, :1], labels, n_neighbors=3, random_state=0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours_small = mixed_mutual_information(x[:, :1], labels)
    # sklearn's 1e-10 jitter may move one count by one: ~1/N² per count
    assert ours_small == pytest.approx(ref, abs=1e-5)


def test_binned_entropy_matches_dse_classic_shannon_entropy() -> None:
    rng = np.random.default_rng(6)
    for d, bins in ((3, 2), (8, 2), (4, 5)):
        x = rng.normal(size=(400, d))
        ref = dse.diffusion_spectral_entropy(x, classic_shannon_entropy=True, num_bins_per_dim=bins)
        assert binned_entropy(x, bins=bins, base=2) == pytest.approx(ref, abs=1e-9)
    # constant dimension: dse-dsmi divides 0 by 0; the NaN column then digitises to one code
    # (np.digitize puts NaN past the last edge), so the value is unchanged; ours skips the division
    x = np.hstack([rng.normal(size=(400, 2)), np.ones((400, 1))])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = dse.diffusion_spectral_entropy(x, classic_shannon_entropy=True)
    assert binned_entropy(x, bins=2, base=2) == pytest.approx(ref, abs=1e-9)
    assert binned_entropy(x, bins=2, base=2) == binned_entropy(x[:, :2], bins=2, base=2)
