"""Benchmark: Vendi score against ``vendi-score`` 0.0.3 on data whose exact score is known in
closed form (run with ``pytest -m bench``; sizes scale with ENTROPYKIT_BENCH_SCALE, default 1).

Rows (one pytest-benchmark group each):

- ``vendi-cosine`` (n = 20 000 · scale, d = 512, cosine kernel, q = 1): rows
  ``X = Q diag(s) R`` with Q the orthonormal discrete cos/sin pairs of 256 frequencies (every row
  has the same norm, so cosine normalisation is a constant factor) and R a random rotation; the
  density ``X̂ᵀX̂ / n`` then has eigenvalues ``s² / Σ s²`` exactly. Both libraries get the same
  samples and use their fastest applicable path: entropykit ``method="auto"`` (the dual form,
  float64), the reference ``score_dual`` (numpy/scipy float64).
- ``vendi-rbf`` (n = 4 000 · scale, RBF, q = 1): points equally spaced on a unit circle
  (shuffled, rotated into 16 dimensions), so K is a permuted circulant matrix whose eigenvalues
  are the discrete Fourier transform of its first row. Fairness: the reference's ``score`` would
  call the kernel on 16 M pairs in a Python loop, so both exact rows get the same precomputed K
  (built outside the timed region) — entropykit ``vendi_score(K=K)`` against the reference
  ``score_K`` (both LAPACK ``eigvalsh`` in float64 on the CPU). Two more entropykit rows time the
  approximations from the samples (feature construction included): ``method="rff"`` with 2048
  features and ``method="nystrom"`` with min(1000, n/2) landmarks (σ = 0.1 fixed for all rows).

Every run records the score, the closed-form value and ``rel_error`` in ``benchmark.extra_info``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

import numpy as np
import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from entropykit_shared.kernels import rbf_kernel
from entropykit_shared.spectral import vendi_score

vendi = pytest.importorskip(
    "vendi_score.vendi", reason="reference package missing: run uv sync (dev group)"
)

pytestmark = [
    pytest.mark.bench,
    # the reference tests `type(K) == scipy.sparse.csr.csr_matrix` (a deprecated namespace)
    pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning"),
]

SCALE = float(os.environ.get("ENTROPYKIT_BENCH_SCALE", "1"))
N_COS = max(1024, round(20_000 * SCALE))
D_COS = 512
N_RBF = max(200, round(4_000 * SCALE))
SIGMA = 0.1
RFF_FEATURES = 2048
NYSTROM_LANDMARKS = min(1000, N_RBF // 2)


def exp_entropy(lam: np.ndarray) -> float:
    lam = np.clip(lam, 0.0, None)
    lam = lam[lam > 0] / lam.sum()
    return float(np.exp(-np.sum(lam * np.log(lam))))


@functools.cache
def cosine_data() -> tuple[np.ndarray, float]:
    """(n, 512) samples and their exact cosine-kernel Vendi score."""
    rng = np.random.default_rng(0)
    i = np.arange(N_COS)[:, None]
    freqs = np.arange(1, D_COS // 2 + 1)[None, :]
    angle = 2.0 * math.pi * i * freqs / N_COS
    q = np.hstack([np.cos(angle), np.sin(angle)]) * math.sqrt(2.0 / N_COS)
    s2 = np.tile(1.0 / freqs[0], 2)  # the same s² for the cos and sin column of a frequency
    rot = np.linalg.qr(rng.standard_normal((D_COS, D_COS)))[0]
    x = (q * np.sqrt(s2)) @ rot
    return x[rng.permutation(N_COS)], exp_entropy(s2)


@functools.cache
def rbf_data() -> tuple[np.ndarray, np.ndarray, float]:
    """(n, 16) samples on a circle, their RBF kernel matrix and its exact Vendi score."""
    rng = np.random.default_rng(1)
    theta = 2.0 * math.pi * np.arange(N_RBF) / N_RBF
    chord2 = 2.0 - 2.0 * np.cos(theta)  # squared distance from point 0 to point j
    first_row = np.exp(-chord2 / (2.0 * SIGMA**2))
    # K is circulant (before the shuffle): its eigenvalues are the DFT of the first row, real
    # because the row is symmetric (K_0j = K_0,n-j)
    exact = exp_entropy(np.fft.fft(first_row).real)
    circle = np.zeros((N_RBF, 16))
    circle[:, 0], circle[:, 1] = np.cos(theta), np.sin(theta)
    x = (circle @ np.linalg.qr(rng.standard_normal((16, 16)))[0])[rng.permutation(N_RBF)]
    return x, rbf_kernel(x, sigma=SIGMA), exact


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """entropykit imports torch lazily: load it and its LAPACK once, outside the timed rounds
    (the reference's numpy/scipy are imported at module import)."""
    vendi_score(torch.eye(4, dtype=torch.float64), kernel="cosine")
    vendi_score(K=np.eye(4))


def record(benchmark: BenchmarkFixture, score: float, exact: float, n: int, d: int) -> None:
    benchmark.extra_info.update(
        {"n": n, "d": d, "score": score, "exact": exact, "rel_error": abs(score / exact - 1.0)}
    )


def cosine_runner(impl: str, x: np.ndarray) -> Callable[[], float]:
    if impl == "entropykit":
        return lambda: float(vendi_score(x, kernel="cosine", q=1.0))
    return lambda: float(vendi.score_dual(x, q=1))


def rbf_runner(impl: str, x: np.ndarray, k: np.ndarray) -> Callable[[], float]:
    if impl == "entropykit":
        return lambda: float(vendi_score(K=k, q=1.0))
    if impl == "entropykit-rff":
        return lambda: float(
            vendi_score(
                x, kernel="rbf", sigma=SIGMA, method="rff", num_features=RFF_FEATURES, seed=0
            )
        )
    if impl == "entropykit-nystrom":
        return lambda: float(
            vendi_score(
                x,
                kernel="rbf",
                sigma=SIGMA,
                method="nystrom",
                num_landmarks=NYSTROM_LANDMARKS,
                seed=0,
            )
        )
    return lambda: float(vendi.score_K(k, q=1))


@pytest.mark.benchmark(group="vendi-cosine")
@pytest.mark.parametrize("impl", ["entropykit", "vendi-score"])
def test_bench_vendi_cosine(benchmark: BenchmarkFixture, impl: str) -> None:
    x, exact = cosine_data()
    score = benchmark.pedantic(cosine_runner(impl, x), rounds=3, iterations=1)
    record(benchmark, score, exact, N_COS, D_COS)
    assert score == pytest.approx(exact, rel=1e-8)


@pytest.mark.benchmark(group="vendi-rbf")
@pytest.mark.parametrize(
    "impl", ["entropykit", "vendi-score", "entropykit-rff", "entropykit-nystrom"]
)
def test_bench_vendi_rbf(benchmark: BenchmarkFixture, impl: str) -> None:
    x, k, exact = rbf_data()
    score = benchmark.pedantic(rbf_runner(impl, x, k), rounds=3, iterations=1)
    record(benchmark, score, exact, N_RBF, x.shape[1])
    tolerance = 1e-8 if impl in ("entropykit", "vendi-score") else 0.25
    assert score == pytest.approx(exact, rel=tolerance)
