"""Tests for entropykit_shared.discrete: Shannon, Rényi, Tsallis, Hill, Miller-Madow, KL, JS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon

from entropykit_shared.discrete import (
    entropy,
    hill_number,
    js_divergence,
    kl_divergence,
    miller_madow_entropy,
    renyi_entropy,
    tsallis_entropy,
)

ALPHAS = [0.0, 0.3, 0.5, 1.0, 1.0 + 5e-7, 2.0, 3.7, math.inf]
prob_vectors = arrays(
    np.float64,
    st.integers(2, 12),
    elements=st.floats(0.0, 10.0, allow_nan=False, allow_subnormal=False),
).filter(lambda a: a.sum() > 1e-3)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- Shannon oracles
@pytest.mark.parametrize("k", [1, 2, 7, 1000])
def test_uniform_is_log_k(k):
    assert entropy(np.ones(k)) == pytest.approx(math.log(k), abs=1e-13)
    assert entropy(np.full(k, 3.0), base=2) == pytest.approx(math.log2(k), abs=1e-13)


def test_delta_is_zero():
    p = np.zeros(9)
    p[4] = 1.0
    assert entropy(p) == 0.0
    assert renyi_entropy(p, 2.0) == 0.0
    assert tsallis_entropy(p, 2.0) == 0.0


@pytest.mark.parametrize("n", [1, 10, 60])
def test_binomial_exact_sum(n):
    pmf = ss.binom.pmf(np.arange(n + 1), n, 0.5)
    expected = -sum(q * math.log(q) for q in pmf)
    assert entropy(pmf) == pytest.approx(expected, rel=1e-12)
    assert entropy(pmf) == pytest.approx(float(ss.binom(n, 0.5).entropy()), rel=1e-10)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_matches_scipy_batched(axis):
    counts = _rng(1).integers(0, 20, size=(6, 5, 4)).astype(float) + 0.5
    ours = entropy(counts, base=2, axis=axis)
    np.testing.assert_allclose(ours, ss.entropy(counts, base=2, axis=axis), rtol=1e-12)
    assert ours.shape == tuple(np.delete(counts.shape, axis))


def test_counts_and_probabilities_agree():
    counts = np.array([3.0, 0.0, 5.0, 2.0])
    assert entropy(counts) == pytest.approx(entropy(counts / counts.sum()), abs=1e-15)


def test_numpy_in_numpy_out_torch_in_torch_out():
    out = entropy([0.5, 0.5])
    assert isinstance(out, np.floating)
    t = entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float32))
    assert isinstance(t, torch.Tensor)
    assert t.dtype == torch.float32
    assert torch.allclose(t, torch.tensor([math.log(2), 0.0]))


def test_gradient_finite_with_zero_entries():
    p = torch.tensor([0.0, 0.3, 0.7], dtype=torch.float64, requires_grad=True)
    entropy(p).backward()
    assert torch.isfinite(p.grad).all()
    # value on the autograd path equals the exact one (no entries in (0, 1e-12))
    assert float(entropy(p.detach())) == pytest.approx(float(ss.entropy([0.3, 0.7])), abs=1e-15)


def test_gradcheck_shannon_renyi_tsallis():
    p = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: entropy(x), (p,))
    assert torch.autograd.gradcheck(lambda x: renyi_entropy(x, 2.5), (p,))
    assert torch.autograd.gradcheck(lambda x: tsallis_entropy(x, 0.7), (p,))
    q = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: kl_divergence(x, q), (p,))
    assert torch.autograd.gradcheck(lambda x: js_divergence(x, q), (p,))


# ---------------------------------------------------------------- Rényi / Hill / Tsallis
@pytest.mark.parametrize("alpha", ALPHAS)
def test_renyi_of_uniform_is_log_k(alpha):
    assert renyi_entropy(np.ones(6), alpha) == pytest.approx(math.log(6), abs=1e-12)
    assert hill_number(np.ones(6), alpha) == pytest.approx(6.0, rel=1e-12)


def test_renyi_special_orders():
    p = np.array([0.5, 0.25, 0.25, 0.0])
    assert renyi_entropy(p, 0.0) == pytest.approx(math.log(3))
    assert renyi_entropy(p, math.inf) == pytest.approx(math.log(2))
    assert renyi_entropy(p, 2.0) == pytest.approx(-math.log(np.sum(p**2)), rel=1e-14)
    assert renyi_entropy(p, 1.0) == pytest.approx(ss.entropy(p), rel=1e-14)
    # continuity around the Shannon switch and toward the limits
    assert renyi_entropy(p, 1.0 + 1e-4) == pytest.approx(ss.entropy(p), abs=1e-4)
    assert renyi_entropy(p, 1.0 - 1e-4) == pytest.approx(ss.entropy(p), abs=1e-4)
    assert renyi_entropy(p, 400.0) == pytest.approx(math.log(2), abs=5e-3)
    assert renyi_entropy(p, 1e-6) == pytest.approx(math.log(3), abs=1e-5)
    assert renyi_entropy(p, 2.0, base=2) == pytest.approx(-math.log2(np.sum(p**2)), rel=1e-14)


@settings(max_examples=30, deadline=None)
@given(prob_vectors, st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_renyi_is_non_increasing_and_bounded(p, a, b):
    lo, hi = sorted((a, b))
    h_lo, h_hi = renyi_entropy(p, lo), renyi_entropy(p, hi)
    assert h_hi <= h_lo + 1e-9
    support = np.count_nonzero(p)
    assert renyi_entropy(p, math.inf) - 1e-9 <= h_hi <= math.log(support) + 1e-9


def test_hill_is_exp_renyi_and_support_count():
    p = _rng(2).dirichlet(np.ones(8), size=3)
    for q in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(hill_number(p, q), np.exp(renyi_entropy(p, q)), rtol=1e-14)
    assert hill_number([0.2, 0.0, 0.8, 0.0], 0.0) == pytest.approx(2.0)


def test_tsallis_closed_forms_and_limit():
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    assert tsallis_entropy(p, 2.0) == pytest.approx(1.0 - np.sum(p**2), rel=1e-14)
    assert tsallis_entropy(p, 3.0) == pytest.approx((1.0 - np.sum(p**3)) / 2.0, rel=1e-14)
    assert tsallis_entropy(p, 0.0) == pytest.approx(3.0, rel=1e-14)
    # near q = 1 the expm1 form is smooth (no cancellation)
    assert tsallis_entropy(p, 1.0 + 1e-5) == pytest.approx(ss.entropy(p), abs=1e-5)
    assert tsallis_entropy(p, 1.0 + 1e-7) == pytest.approx(ss.entropy(p), abs=1e-12)
    k = 5
    assert tsallis_entropy(np.ones(k), 2.0) == pytest.approx(1.0 - 1.0 / k)


# ---------------------------------------------------------------- Miller-Madow
def test_miller_madow_formula_and_se():
    counts = np.array([5, 0, 3, 2, 10])
    n, m = counts.sum(), 4
    plugin = ss.entropy(counts)
    est, se = miller_madow_entropy(counts, return_se=True)
    assert est == pytest.approx(plugin + (m - 1) / (2 * n), rel=1e-14)
    p = counts[counts > 0] / n
    var = (np.sum(p * np.log(p) ** 2) - plugin**2) / n
    assert se == pytest.approx(math.sqrt(var), rel=1e-12)
    est2, se2 = miller_madow_entropy(counts, base=2, return_se=True)
    assert est2 == pytest.approx(est / math.log(2))
    assert se2 == pytest.approx(se / math.log(2))


def test_miller_madow_reduces_plugin_bias():
    rng = _rng(3)
    k, n = 10, 30
    p = rng.dirichlet(np.ones(k))
    counts = rng.multinomial(n, p, size=2000).astype(float)
    truth = ss.entropy(p)
    bias_plugin = abs(entropy(counts).mean() - truth)
    bias_mm = abs(miller_madow_entropy(counts).mean() - truth)
    assert bias_mm < 0.5 * bias_plugin


# ---------------------------------------------------------------- KL / JS
def test_kl_matches_scipy_and_limits():
    rng = _rng(4)
    p, q = rng.dirichlet(np.ones(6), size=4), rng.dirichlet(np.ones(6), size=4)
    np.testing.assert_allclose(kl_divergence(p, q), ss.entropy(p, q, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(kl_divergence(p, p), 0.0, atol=1e-15)
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl_divergence([1.0, 0.0], [0.5, 0.5], base=2) == pytest.approx(1.0)
    # broadcasting one reference distribution against a batch
    np.testing.assert_allclose(
        kl_divergence(p, q[0]), ss.entropy(p, np.broadcast_to(q[0], p.shape), axis=-1)
    )


def test_js_matches_scipy_square_and_bounds():
    rng = _rng(5)
    p, q = rng.dirichlet(np.ones(5), size=3), rng.dirichlet(np.ones(5), size=3)
    ours = js_divergence(p, q, base=2)
    ref = jensenshannon(p, q, base=2, axis=-1) ** 2
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    np.testing.assert_allclose(ours, js_divergence(q, p, base=2), rtol=1e-14)
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.log(2), abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(prob_vectors, st.integers(0, 2**31 - 1))
def test_divergences_nonnegative_and_entropy_bounded(p, seed):
    q = np.random.default_rng(seed).dirichlet(np.ones(p.size))
    assert kl_divergence(p, q) >= -1e-12
    assert -1e-12 <= js_divergence(p, q) <= math.log(2) + 1e-12
    assert -1e-12 <= entropy(p) <= math.log(np.count_nonzero(p)) + 1e-12


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy([0.5, -0.1, 0.6]), "negative entries"),
        (lambda: entropy([0.5, np.nan]), "NaN or infinite"),
        (lambda: entropy([[0.0, 0.0], [1.0, 0.0]]), "zero total mass"),
        (lambda: entropy(1.0), "at least one axis"),
        (lambda: entropy([0.5, 0.5], axis=3), "axis=3 is out of range"),
        (lambda: entropy([0.5, 0.5], base=1), "base must be"),
        (lambda: renyi_entropy([0.5, 0.5], -1.0), "alpha must lie"),
        (lambda: renyi_entropy([0.5, 0.5], math.nan), "alpha must lie"),
        (lambda: tsallis_entropy([0.5, 0.5], math.inf), "q must lie"),
        (lambda: miller_madow_entropy([1.5, 2.0]), "integer-valued"),
        (lambda: kl_divergence(np.ones((2, 3)), np.ones((2, 4))), "broadcastable"),
        (lambda: js_divergence([1.0, 0.0], [-1.0, 2.0]), "q has 1 negative"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
