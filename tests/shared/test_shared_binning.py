"""Binning (histogram plug-in) entropy and mutual information."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import mutual_info_score

from entropykit_shared.binning import bin_indices, binned_entropy, binned_mutual_information


def code_labels(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)


def test_high_dimensional_codes_hit_the_log_n_ceiling() -> None:
    x = np.random.default_rng(0).normal(size=(300, 256))
    assert binned_entropy(x, bins=2) == pytest.approx(math.log(300), abs=1e-12)
    assert binned_entropy(x, bins=2, base=2) == pytest.approx(math.log2(300), abs=1e-12)


def test_small_known_table() -> None:
    # 1-D, two bins over [0, 1]: codes [0, 0, 0, 1] -> H = -(3/4 log 3/4 + 1/4 log 1/4)
    x = np.array([[0.0], [0.2], [0.49], [1.0]])
    np.testing.assert_array_equal(bin_indices(x, bins=2)[:, 0], [0, 0, 0, 1])
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert binned_entropy(x, bins=2) == pytest.approx(h, abs=1e-15)
    # joint table [[3, 1], [1, 3]] of (x code, label)
    xs = np.array([0.0] * 4 + [1.0] * 4)[:, None]
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    pxy = np.array([[3, 1], [1, 3]]) / 8
    mi = float(np.sum(pxy * np.log(pxy / 0.25)))
    assert binned_mutual_information(xs, y, bins=2) == pytest.approx(mi, abs=1e-15)


def test_mi_equals_sklearn_mutual_info_score_on_codes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 3))
    y = (x[:, 0] + rng.normal(size=1000) > 0).astype(int) + rng.integers(0, 2, size=1000)
    codes = bin_indices(x, bins=5)
    ref = mutual_info_score(code_labels(codes), y)
    assert binned_mutual_information(x, y, bins=5) == pytest.approx(ref, abs=1e-12)
    # continuous y binned with its own bin count
    yc = x[:, :1] + rng.normal(size=(1000, 1))
    ref = mutual_info_score(code_labels(codes), code_labels(bin_indices(yc, bins=4)))
    got = binned_mutual_information(x, yc, bins=5, y_discrete=False, y_bins=4)
    assert got == pytest.approx(ref, abs=1e-12)


def test_fixed_range_tanh_convention() -> None:
    x = np.tanh(np.random.default_rng(2).normal(size=(500, 4)) * 2)
    idx = bin_indices(x, bins=30, range=(-1, 1))
    np.testing.assert_array_equal(idx, np.floor((x + 1) / 2 * 30).astype(int))
    ends = bin_indices(np.array([[-1.0], [1.0]]), bins=30, range=(-1, 1))[:, 0]
    np.testing.assert_array_equal(ends, [0, 29])
    with pytest.raises(ValueError, match="outside range"):
        binned_entropy(x * 1.5, bins=30, range=(-1, 1))


def test_constant_dimension_adds_nothing() -> None:
    x = np.random.default_rng(3).normal(size=(200, 3))
    with_const = np.hstack([x, np.full((200, 1), 4.2)])
    assert binned_entropy(with_const, bins=3) == binned_entropy(x, bins=3)


def test_miller_madow_adds_occupied_bins_over_2n() -> None:
    x = np.random.default_rng(4).normal(size=(400, 2))
    m = np.unique(bin_indices(x, bins=4), axis=0).shape[0]
    plain, corrected = binned_entropy(x, bins=4), binned_entropy(x, bins=4, miller_madow=True)
    assert corrected - plain == pytest.approx((m - 1) / 800, abs=1e-14)
    y = np.arange(400) % 3
    mx, mxy = m, np.unique(np.c_[code_labels(bin_indices(x, bins=4)), y], axis=0).shape[0]
    diff = binned_mutual_information(x, y, bins=4, miller_madow=True) - binned_mutual_information(
        x, y, bins=4
    )
    assert diff == pytest.approx((mx + 3 - mxy - 1) / 800, abs=1e-14)


def test_standard_error_delta_method() -> None:
    # uniform codes: every -log p is the same, so the standard error is 0
    x = np.arange(8.0)[:, None]
    assert binned_entropy(x, bins=8, return_se=True)[1] == 0.0
    # p = (3/4, 1/4): var(-log p_c) over samples / N with ddof 1
    x = np.array([[0.0]] * 300 + [[1.0]] * 100)
    _, se = binned_entropy(x, bins=2, return_se=True)
    terms = np.r_[np.full(300, -math.log(0.75)), np.full(100, -math.log(0.25))]
    assert se == pytest.approx(terms.std(ddof=1) / 20.0, rel=1e-12)


def test_torch_in_torch_out_and_batches() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 100, 2))
    y = rng.integers(0, 2, size=(3, 100))
    h = binned_entropy(torch.from_numpy(x), bins=3)
    assert isinstance(h, torch.Tensor)
    assert h.shape == (3,)
    assert h[1].item() == pytest.approx(binned_entropy(x[1], bins=3), abs=1e-15)
    mi = binned_mutual_information(torch.from_numpy(x), torch.from_numpy(y), bins=3)
    assert mi.shape == (3,)
    assert mi[2].item() == pytest.approx(binned_mutual_information(x[2], y[2], bins=3), abs=1e-15)
    labels = np.array(["cat", "dog"])[y[0]]
    assert binned_mutual_information(x[0], labels, bins=3) == pytest.approx(mi[0].item())


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(2, 80),
    d=st.integers(1, 4),
    bins=st.integers(1, 6),
    n_labels=st.integers(1, 5),
)
def test_entropy_and_mi_bounds(seed: int, n: int, d: int, bins: int, n_labels: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, n_labels, size=n)
    h = binned_entropy(x, bins=bins)
    assert -1e-12 <= h <= math.log(min(n, bins**d)) + 1e-12
    mi = binned_mutual_information(x, y, bins=bins)
    hy = float(scipy_entropy(np.bincount(y)))
    assert -1e-12 <= mi <= min(h, hy) + 1e-12
    # x with its own codes as labels: I(X; X) = H(X)
    own = code_labels(bin_indices(x, bins=bins))
    assert binned_mutual_information(x, own, bins=bins) == pytest.approx(h, abs=1e-12)


def test_bad_inputs_raise_clear_errors() -> None:
    x = np.random.default_rng(6).normal(size=(50, 2))
    with pytest.raises(ValueError, match="y_discrete=True"):
        binned_mutual_information(x, x[:, 0])
    with pytest.raises(ValueError, match="bins must be a positive int"):
        binned_entropy(x, bins=0)
    with pytest.raises(ValueError, match="lo < hi"):
        binned_entropy(x, range=(1, 1))
    with pytest.raises(ValueError, match=r"None or a \(lo, hi\) pair"):
        binned_entropy(x, range="tanh")
    with pytest.raises(ValueError, match="reshape 1-D data"):
        binned_entropy(x[:, 0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        binned_entropy(x[:1])
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        binned_entropy(bad)
    with pytest.raises(ValueError, match="paired with x"):
        binned_mutual_information(x, np.zeros(49, dtype=int))
    with pytest.raises(ValueError, match="base must be"):
        binned_entropy(x, base=-2)
