"""Benchmark: KSG mutual information and Kozachenko–Leonenko entropy against npeet-plus and
scikit-learn on correlated Gaussians with a closed form (run with ``pytest -m bench``).

Rows (one pytest-benchmark group each), N = 10 000 · ENTROPYKIT_BENCH_SCALE (default 1):

- ``ksg-mi-d2``: X, Y one-dimensional with correlation 0.8, ``I = −½ log(1 − 0.8²)``;
- ``ksg-mi-d8``: X, Y four-dimensional with canonical correlations (0.8, 0.6, 0.4, 0.2) under
  random rotations, ``I = −½ Σ log(1 − ρ_i²)``;
- ``kl-entropy-d2`` / ``kl-entropy-d8``: the joint (X, Y) of those rows, ``H = ½ log det(2πeΣ)``.

Implementations: ``entropykit`` (auto search: KD-trees here), ``entropykit-brute`` (the blocked
torch path used on GPUs and in high dimension), ``npeet-plus`` and ``sklearn``. sklearn's
``mutual_info_regression`` is univariate in the feature and has no entropy estimator, so it runs
only the ``ksg-mi-d2`` row. Every run stores the estimate, the closed form and
``abs_error = |estimate − truth|`` (nats) in ``benchmark.extra_info``. k = 3 everywhere; npeet is
called with ``base=math.e`` and uses the max-norm KL entropy (entropykit: Euclidean).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import numpy as np
import pytest
import torch  # noqa: F401  (imported here so entropykit's lazy torch import is not timed)
from pytest_benchmark.fixture import BenchmarkFixture
from sklearn.feature_selection import mutual_info_regression

from entropykit_shared.knn import knn_entropy, ksg_mutual_information

npeet_plus = pytest.importorskip(
    "npeet_plus", reason="reference package missing: run uv sync (dev group)"
)

pytestmark = pytest.mark.bench

SCALE = float(os.environ.get("ENTROPYKIT_BENCH_SCALE", "1"))
N = max(200, round(10_000 * SCALE))
RHOS = {2: (0.8,), 8: (0.8, 0.6, 0.4, 0.2)}
K = 3


@functools.cache
def gaussian_pair(d: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """x, y (d/2 features each), their closed-form MI and the joint entropy (nats)."""
    rng = np.random.default_rng(d)
    rhos = RHOS[d]
    h = len(rhos)
    r = np.diag(rhos)
    cov = np.block([[np.eye(h), r], [r, np.eye(h)]])
    rot = np.zeros((d, d))
    rot[:h, :h] = np.linalg.qr(rng.normal(size=(h, h)))[0]
    rot[h:, h:] = np.linalg.qr(rng.normal(size=(h, h)))[0]
    cov = rot @ cov @ rot.T
    xy = rng.multivariate_normal(np.zeros(d), cov, size=N)
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    mi = 0.5 * (ld(cov[:h, :h]) + ld(cov[h:, h:]) - ld(cov))
    entropy = 0.5 * ld(2 * math.pi * math.e * cov)
    return xy[:, :h], xy[:, h:], float(mi), float(entropy)


def mi_runner(impl: str, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    if impl == "entropykit":
        return lambda: float(ksg_mutual_information(x, y, k=K))
    if impl == "entropykit-brute":
        return lambda: float(ksg_mutual_information(x, y, k=K, search="brute"))
    if impl == "npeet-plus":
        return lambda: float(npeet_plus.mi(x, y, k=K, base=math.e))
    return lambda: float(mutual_info_regression(x, y[:, 0], n_neighbors=K, random_state=0)[0])


def entropy_runner(impl: str, xy: np.ndarray) -> Callable[[], float]:
    if impl == "entropykit":
        return lambda: float(knn_entropy(xy, k=K))
    if impl == "entropykit-brute":
        return lambda: float(knn_entropy(xy, k=K, search="brute"))
    return lambda: float(npeet_plus.entropy(xy, k=K, base=math.e))


IMPLS = ("entropykit", "entropykit-brute", "npeet-plus")
MI_CASES = [(d, impl) for d in (2, 8) for impl in IMPLS] + [(2, "sklearn")]
ENTROPY_CASES = [(d, impl) for d in (2, 8) for impl in IMPLS]


def record(benchmark: BenchmarkFixture, estimate: float, truth: float, d: int) -> None:
    benchmark.extra_info.update(
        {
            "n": N,
            "d": d,
            "k": K,
            "estimate": estimate,
            "truth": truth,
            "abs_error": abs(estimate - truth),
        }
    )


@pytest.mark.parametrize(("d", "impl"), MI_CASES)
def test_bench_ksg_mi(benchmark: BenchmarkFixture, d: int, impl: str) -> None:
    x, y, truth, _ = gaussian_pair(d)
    benchmark.group = f"ksg-mi-d{d}"
    estimate = benchmark.pedantic(mi_runner(impl, x, y), rounds=3, iterations=1)
    record(benchmark, estimate, truth, d)
    assert abs(estimate - truth) < 0.5


@pytest.mark.parametrize(("d", "impl"), ENTROPY_CASES)
def test_bench_kl_entropy(benchmark: BenchmarkFixture, d: int, impl: str) -> None:
    x, y, _, truth = gaussian_pair(d)
    benchmark.group = f"kl-entropy-d{d}"
    estimate = benchmark.pedantic(entropy_runner(impl, np.hstack([x, y])), rounds=3, iterations=1)
    record(benchmark, estimate, truth, d)
    assert abs(estimate - truth) < 0.5
