"""Benchmarks of DSE and DSMI: entropykit against the reference dse-dsmi 1.1.

Run with ``uv run pytest tests/shared/test_shared_bench_dse.py -m bench``. Sizes: DSE at
n = 2000 and n = 5000, DSMI at n = 2000, d = 64, 8 Gaussian blobs (known cluster structure),
sigma = sqrt(d) (the paper's toy setting), t = 1. ``ENTROPYKIT_BENCH_SCALE`` (default 1) scales
n for quick checks. ``extra_info`` records the value, the cluster count's log2 and, once both
implementations of a group have run (parametrisation order), their absolute difference.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from entropykit_shared.diffusion import (
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)

_dse = pytest.importorskip("dse_dsmi", reason="reference package missing: run uv sync (dev group)")
ref_dse = _dse.diffusion_spectral_entropy
ref_dsmi = _dse.diffusion_spectral_mutual_information

pytestmark = pytest.mark.bench

SCALE = float(os.environ.get("ENTROPYKIT_BENCH_SCALE", "1.0"))
DIM = 64
CLUSTERS = 8
SIGMA = math.sqrt(DIM)
IMPLEMENTATIONS = ["entropykit", "dse-dsmi", "entropykit-slq"]
_VALUES: dict[str, dict[str, float]] = {}


def _blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(CLUSTERS, DIM))
    labels = np.arange(n) % CLUSTERS
    return centres[labels] + rng.normal(size=(n, DIM)), labels


def _size(n: int) -> int:
    return max(4 * CLUSTERS, round(n * SCALE))


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """One small call of each implementation so that one-time library initialisation (torch's
    LAPACK loading takes seconds) is not timed."""
    x, _ = _blobs(4 * CLUSTERS)
    diffusion_spectral_entropy(x, SIGMA)
    ref_dse(x, gaussian_kernel_sigma=SIGMA)


def _record(benchmark: BenchmarkFixture, group: str, impl: str, value: float) -> None:
    benchmark.extra_info.update(
        {"value_bits": float(value), "log2_clusters": math.log2(CLUSTERS), "sigma": SIGMA}
    )
    seen = _VALUES.setdefault(group, {})
    seen[impl] = float(value)
    others = {k: v for k, v in seen.items() if k != impl}
    for other, v in others.items():
        benchmark.extra_info[f"abs_diff_vs_{other}"] = abs(float(value) - v)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("n", [2000, 5000])
def test_bench_dse(benchmark: BenchmarkFixture, impl: str, n: int) -> None:
    n = _size(n)
    x, _ = _blobs(n)
    group = f"dse-n{n}"
    benchmark.group = group
    runs: dict[str, Callable[[], float | tuple[float, float]]] = {
        "dse-dsmi": lambda: ref_dse(x, gaussian_kernel_sigma=SIGMA),
        "entropykit": lambda: diffusion_spectral_entropy(x, SIGMA),
        "entropykit-slq": lambda: diffusion_spectral_entropy(
            x, SIGMA, eig="slq", seed=0, return_se=True
        ),
    }
    value = benchmark.pedantic(runs[impl], rounds=3, iterations=1)
    if isinstance(value, tuple):
        value, se = value
        benchmark.extra_info["slq_standard_error_bits"] = float(se)
    assert math.log2(CLUSTERS) - 0.5 < value <= math.log2(n)
    _record(benchmark, group, impl, value)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS[:2])
@pytest.mark.parametrize("n", [500, 2000])  # 500: the training tracker's default sample
def test_bench_dsmi(benchmark: BenchmarkFixture, impl: str, n: int) -> None:
    n = _size(n)
    x, labels = _blobs(n)
    group = f"dsmi-n{n}"
    benchmark.group = group
    runs: dict[str, Callable[[], float]] = {
        "dse-dsmi": lambda: ref_dsmi(x, labels, gaussian_kernel_sigma=SIGMA)[0],
        "entropykit": lambda: diffusion_spectral_mutual_information(x, labels, sigma=SIGMA),
    }
    value = benchmark.pedantic(runs[impl], rounds=3, iterations=1)
    assert value > 0.5  # labels = well-separated clusters (about 1.4 bits at n = 2000)
    _record(benchmark, group, impl, value)
