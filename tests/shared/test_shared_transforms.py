"""Tests for entropykit_shared.transforms: entropy under an invertible map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import differential_entropy

from entropykit_shared.transforms import entropy_after_map

H_NORMAL = 0.5 * math.log(2 * math.pi * math.e)


def _normal(n: int = 4000, seed: int = 0, d: int | None = None) -> np.ndarray:
    size = n if d is None else (n, d)
    return np.random.default_rng(seed).standard_normal(size)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.special.erfc(-x / math.sqrt(2.0))


@pytest.mark.parametrize("a", [3.0, -0.5, 1e-3])
def test_affine_map_exact_with_known_base_entropy(a):
    x = _normal()
    est, se = entropy_after_map(lambda t: a * t + 1.0, x, base_entropy=H_NORMAL, return_se=True)
    assert est == pytest.approx(H_NORMAL + math.log(abs(a)), abs=1e-12)
    assert se == pytest.approx(0.0, abs=1e-12)  # constant log-derivative
    bits = entropy_after_map(lambda t: a * t, x, base_entropy=H_NORMAL / math.log(2), base=2)
    assert bits == pytest.approx((H_NORMAL + math.log(abs(a))) / math.log(2), abs=1e-12)


def test_affine_map_with_estimated_base_entropy_matches_scipy():
    x = _normal(seed=1)
    est = entropy_after_map(lambda t: 2.0 * t - 3.0, x)
    assert est == pytest.approx(differential_entropy(x) + math.log(2.0), abs=1e-12)
    assert est == pytest.approx(H_NORMAL + math.log(2.0), abs=0.05)


def test_gaussian_cdf_map_gives_uniform_entropy_zero():
    x = _normal(seed=2)
    est, se = entropy_after_map(_phi, x, base_entropy=H_NORMAL, return_se=True)
    # log phi(x) = -x^2/2 - log(2 pi)/2 has sd 1/sqrt(2): the SE is that over sqrt(n)
    assert se == pytest.approx(math.sqrt(0.5 / x.size), rel=0.1)
    assert abs(est) < 4 * se
    assert abs(entropy_after_map(_phi, x)) < 0.05  # with scipy's estimate of H(X)


def test_exp_map_lognormal_closed_form_and_direct_estimate():
    x = _normal(seed=3)
    est = entropy_after_map(torch.exp, x, base_entropy=H_NORMAL)
    assert est == pytest.approx(H_NORMAL + x.mean(), abs=1e-12)  # E[log f'] = sample mean
    assert est == pytest.approx(differential_entropy(np.exp(x)), abs=0.1)


def test_multivariate_linear_map_uses_log_det():
    a = torch.tensor([[2.0, 0.5], [0.3, -1.5]], dtype=torch.float64)
    x = _normal(200, seed=4, d=2)
    est = entropy_after_map(lambda v: a @ v, x, base_entropy=2 * H_NORMAL)
    assert est == pytest.approx(2 * H_NORMAL + math.log(abs(float(torch.det(a)))), abs=1e-12)


def test_multivariate_nonlinear_map_matches_sum_of_marginals():
    x = _normal(300, seed=5, d=3)
    est = entropy_after_map(torch.sinh, x, base_entropy=3 * H_NORMAL)  # elementwise -> diagonal J
    expected = 3 * H_NORMAL + np.log(np.cosh(x)).sum(axis=1).mean()
    assert est == pytest.approx(expected, rel=1e-12)


def test_torch_samples_give_a_differentiable_tensor():
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(_normal(100, seed=6))
    est = entropy_after_map(lambda t: scale * torch.tanh(t), x, base_entropy=H_NORMAL)
    assert isinstance(est, torch.Tensor)
    (grad,) = torch.autograd.grad(est, scale)
    assert float(grad) == pytest.approx(0.5, rel=1e-12)  # d/da log|a| = 1/a


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy_after_map(torch.relu, _normal(50)), "not invertible"),
        (lambda: entropy_after_map(lambda t: t * 0.0, _normal(20)), "not invertible"),
        (lambda: entropy_after_map(torch.log, _normal(50)), "not finite"),
        (lambda: entropy_after_map(lambda v: v, _normal(10, d=2)), "base_entropy is needed"),
        (lambda: entropy_after_map(lambda t: t.sum(), _normal(10)), "elementwise"),
        (lambda: entropy_after_map(lambda v: v[:1], _normal(10, d=2), base_entropy=0.0), "R\\^2"),
        (lambda: entropy_after_map(torch.tanh, np.array([1.0])), "at least 2"),
        (lambda: entropy_after_map(torch.tanh, np.zeros((2, 2, 2))), r"\(n,\) or \(n, d\)"),
        (lambda: entropy_after_map(torch.tanh, np.array([1.0, np.nan])), "NaN"),
        (lambda: entropy_after_map(torch.tanh, _normal(10), method="kde"), "method"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
