"""Tests for entropykit_shared.rate: bits / bpp from likelihoods and the discretized Gaussian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from entropykit_shared.discrete import entropy
from entropykit_shared.rate import (
    bits_from_likelihoods,
    bits_per_pixel,
    discretized_gaussian_likelihood,
)


def _likelihoods(seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return {
        "y": torch.tensor(rng.uniform(0.01, 1.0, size=(2, 4, 3, 3))),
        "z": torch.tensor(rng.uniform(0.01, 1.0, size=(2, 2, 1, 1))),
    }


def test_bits_of_tensor_dict_and_list():
    lik = _likelihoods()
    expected = sum(float(-torch.log2(v).sum()) for v in lik.values())
    assert float(bits_from_likelihoods(lik)) == pytest.approx(expected, rel=1e-14)
    assert float(bits_from_likelihoods(list(lik.values()))) == pytest.approx(expected, rel=1e-14)
    assert bits_from_likelihoods(np.full(8, 0.5)) == pytest.approx(8.0)
    assert bits_from_likelihoods([0.5, 0.25]) == pytest.approx(3.0)


def test_per_sample_bits_and_bpp_conventions():
    lik = _likelihoods(1)
    per_image = bits_from_likelihoods(lik, per_sample=True)
    assert per_image.shape == (2,)
    torch.testing.assert_close(per_image.sum(), bits_from_likelihoods(lik))
    h, w = 16, 8
    bpp_images = bits_per_pixel(lik, h * w, per_sample=True)
    torch.testing.assert_close(bpp_images, per_image / (h * w))
    # CompressAI RateDistortionLoss: sum(log(likelihoods)) / (-ln 2 * N * H * W)
    compressai_style = sum(torch.log(v).sum() for v in lik.values()) / (-math.log(2) * 2 * h * w)
    torch.testing.assert_close(bits_per_pixel(lik, 2 * h * w), compressai_style)
    torch.testing.assert_close(bits_per_pixel(lik, 2 * h * w), bpp_images.mean())


def test_bits_are_differentiable():
    lik = torch.tensor([0.5, 0.1, 0.9], dtype=torch.float64, requires_grad=True)
    bits_from_likelihoods(lik).backward()
    torch.testing.assert_close(lik.grad, -1.0 / (lik.detach() * math.log(2)))


# ---------------------------------------------------------------- discretized Gaussian
@pytest.mark.parametrize(("mean", "scale"), [(0.0, 1.0), (0.37, 3.5), (-2.6, 0.2), (5.5, 12.0)])
def test_discretized_gaussian_sums_to_one(mean, scale):
    y = np.arange(-400, 401)
    p = discretized_gaussian_likelihood(y, mean, scale, scale_bound=None, likelihood_bound=None)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(p >= 0)


def test_matches_cdf_difference_and_is_precise_in_the_tail():
    y = np.arange(-6, 7, dtype=float)
    p = discretized_gaussian_likelihood(y, 0.3, 1.4, likelihood_bound=None)
    ref = norm.cdf((y + 0.5 - 0.3) / 1.4) - norm.cdf((y - 0.5 - 0.3) / 1.4)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-16)
    # far upper tail: the naive Phi(upper) - Phi(lower) rounds to 0, the lower-tail form does not
    v = 30.0
    tail = discretized_gaussian_likelihood(v, 0.0, 1.0, likelihood_bound=None)
    exact = norm.sf(v - 0.5) - norm.sf(v + 0.5)
    assert norm.cdf(v + 0.5) - norm.cdf(v - 0.5) == 0.0
    assert tail == pytest.approx(exact, rel=1e-10)
    # symmetric in y - mean
    assert discretized_gaussian_likelihood(-4.0, 0.0, 2.0) == discretized_gaussian_likelihood(
        4.0, 0.0, 2.0
    )


def test_bounds_clamp_scale_and_likelihood():
    small = discretized_gaussian_likelihood(0.0, 0.0, 0.01)
    assert isinstance(small, np.floating)  # scalars in, scalar out
    assert small == discretized_gaussian_likelihood(0.0, 0.0, 0.11)
    assert discretized_gaussian_likelihood(100.0, 0.0, 1.0) == 1e-9
    assert discretized_gaussian_likelihood(100.0, 0.0, 1.0, likelihood_bound=None) < 1e-300


def test_mean_bits_of_samples_approach_discrete_entropy():
    mean, scale, n = 0.25, 2.3, 50_000
    y = np.arange(-60, 61)
    pmf = discretized_gaussian_likelihood(y, mean, scale, scale_bound=None, likelihood_bound=None)
    h_bits = entropy(pmf, base=2)
    samples = np.round(np.random.default_rng(0).normal(mean, scale, size=n))  # exact bin draws
    bits = -np.log2(discretized_gaussian_likelihood(samples, mean, scale))
    se = bits.std(ddof=1) / math.sqrt(n)
    assert abs(bits.mean() - h_bits) < 4 * se
    assert bits_from_likelihoods(discretized_gaussian_likelihood(samples, mean, scale)) / n == (
        pytest.approx(bits.mean(), rel=1e-12)
    )


def test_gradients_flow_to_y_mean_and_scale():
    y = torch.tensor([0.0, 1.3, -2.0], dtype=torch.float64, requires_grad=True)
    mu = torch.tensor([0.2, 0.1, 0.4], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([0.7, 1.5, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: discretized_gaussian_likelihood(a, b, c), (y, mu, s)
    )


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bits_from_likelihoods(np.array([0.5, 0.0])), "<= 0"),
        (lambda: bits_from_likelihoods(np.array([0.5, 1.5])), "> 1"),
        (lambda: bits_from_likelihoods({"y": np.array([np.nan])}), r"likelihoods\['y'\]"),
        (lambda: bits_from_likelihoods({}), "empty"),
        (lambda: bits_per_pixel(np.array([0.5]), 0), "num_pixels"),
        (lambda: bits_per_pixel(np.array([0.5]), 2.5), "num_pixels"),
        (
            lambda: bits_from_likelihoods(
                [np.full((2, 3), 0.5), np.full((3, 1), 0.5)], per_sample=True
            ),
            "same leading batch axis",
        ),
        (lambda: discretized_gaussian_likelihood(0.0, 0.0, 0.0, scale_bound=None), "scale must be"),
        (lambda: discretized_gaussian_likelihood(0.0, 0.0, 1.0, scale_bound=-1.0), "scale_bound"),
        (lambda: discretized_gaussian_likelihood(np.nan, 0.0, 1.0), "y contains"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
