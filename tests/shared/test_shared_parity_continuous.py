"""Parity of the continuous-variable helpers with reference implementations.

Reference: npeet-plus 0.2.0 (``npeet_plus.entropy``, the Kozachenko-Leonenko kNN estimator).
Its conventions and issues, checked below:

- it adds uniform noise of amplitude 1e-10 to every sample through the GLOBAL numpy RNG
  (``np.random.random_sample``), so results are not reproducible without seeding numpy globally and
  calling it mutates the caller's random state;
- it measures neighbour distances in the max-norm (Chebyshev KD-tree), with the matching unit-ball
  volume 2^d (the ``d log 2`` term), whereas our surrogate uses the Euclidean norm; the two agree
  exactly only in 1-D;
- it returns bits by default (``base=2``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma, gammaln

from entropykit_shared.surrogates import kl_entropy_surrogate
from entropykit_shared.testing import global_rng_fingerprint

npeet_entropy = pytest.importorskip(
    "npeet_plus", reason="reference package missing: run uv sync (dev group)"
).entropy


def euclidean_constant(n: int, d: int, k: int) -> float:
    return digamma(n) - digamma(k) + 0.5 * d * math.log(math.pi) - gammaln(1 + 0.5 * d)


@pytest.mark.parametrize("k", [1, 3])
def test_one_dimensional_kl_entropy_matches_npeet(k):
    x = np.random.default_rng(0).normal(size=(500, 1))
    ours = (kl_entropy_surrogate(x, k=k) + euclidean_constant(500, 1, k)) / math.log(2)
    theirs = npeet_entropy(x, k=k)  # bits; the 1e-10 jitter moves it by ~1e-10 / r
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_npeet_touches_global_rng_and_ours_does_not():
    x = np.random.default_rng(1).normal(size=(100, 2))
    state = global_rng_fingerprint()
    kl_entropy_surrogate(x)
    assert global_rng_fingerprint() == state
    npeet_entropy(x, k=3)
    assert global_rng_fingerprint() != state


def test_multivariate_norms_differ_but_both_estimate_the_gaussian_entropy():
    n, d, k = 2000, 3, 3
    x = np.random.default_rng(2).normal(size=(n, d))
    truth = 0.5 * d * math.log(2 * math.pi * math.e)
    ours = kl_entropy_surrogate(x, k=k) + euclidean_constant(n, d, k)
    theirs = npeet_entropy(x, k=k, base=math.e)
    assert abs(ours - truth) < 0.05 * d
    assert abs(theirs - truth) < 0.05 * d
    assert abs(ours - theirs) > 1e-4  # max-norm vs Euclidean: not the same statistic
