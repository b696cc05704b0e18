"""Nearest-neighbour entropy surrogates (RB-MaEM log-mean form and the KL mean-of-logs form)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.special import digamma, gammaln

from entropykit_shared.surrogates import kl_entropy_surrogate, nn_log_mean_distance


def kl_constant(n: int, d: int, k: int) -> float:
    """psi(n) - psi(k) + log V_d, V_d the volume of the Euclidean unit ball in R^d."""
    return digamma(n) - digamma(k) + 0.5 * d * math.log(math.pi) - gammaln(1 + 0.5 * d)


def brute_kth_sq(x: np.ndarray, ref: np.ndarray | None, k: int) -> np.ndarray:
    d2 = cdist(x, x if ref is None else ref, "sqeuclidean")
    if ref is None:
        np.fill_diagonal(d2, np.inf)
    return np.sort(d2, axis=1)[:, k - 1]


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(200, 3))


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_kl_surrogate_matches_brute_force(sample, k):
    expected = 0.5 * 3 * np.log(brute_kth_sq(sample, None, k)).mean()
    assert kl_entropy_surrogate(sample, k=k) == pytest.approx(expected, abs=1e-10)


def test_log_mean_matches_brute_force_with_memory(sample):
    memory = np.random.default_rng(1).normal(size=(50, 3))
    expected = math.log((brute_kth_sq(sample, memory, 1) / 3).mean())
    assert nn_log_mean_distance(sample, memory) == pytest.approx(expected, abs=1e-10)
    expected_kl = 1.5 * np.log(brute_kth_sq(sample, memory, 2)).mean()
    assert kl_entropy_surrogate(sample, memory, k=2) == pytest.approx(expected_kl, abs=1e-10)


def test_same_position_is_the_official_rb_maem_expression():
    """MaEM-GAN: dist[m, b] = mean_k (buf[m, b, k] - e[b, k])^2, NN = mean_b min_m dist[m, b]."""
    rng = np.random.default_rng(2)
    buf = rng.uniform(-1, 1, size=(16, 8, 5))
    e = rng.normal(size=(8, 5))
    official = math.log(((buf - e[None]) ** 2).mean(axis=2).min(axis=0).mean())
    ours = nn_log_mean_distance(e, buf, same_position=True)
    assert ours == pytest.approx(official, abs=1e-12)
    # slot-wise comparison differs from comparing against the whole memory
    assert nn_log_mean_distance(e, buf.reshape(-1, 5)) < ours


def test_kl_surrogate_plus_constants_recovers_gaussian_entropy():
    n, d = 2000, 2
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    x = np.random.default_rng(3).multivariate_normal(np.zeros(d), cov, size=n)
    truth = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * cov))
    for k in (1, 4):
        estimate = kl_entropy_surrogate(x, k=k) + kl_constant(n, d, k)
        assert estimate == pytest.approx(truth, abs=0.05 * d)


def test_scale_and_translation_relations(sample):
    c = 3.7
    shift = np.array([5.0, -2.0, 1.0])
    assert kl_entropy_surrogate(c * sample) - kl_entropy_surrogate(sample) == pytest.approx(
        3 * math.log(c), abs=1e-10
    )
    assert nn_log_mean_distance(c * sample) - nn_log_mean_distance(sample) == pytest.approx(
        2 * math.log(c), abs=1e-10
    )
    assert kl_entropy_surrogate(sample + shift) == pytest.approx(
        kl_entropy_surrogate(sample), abs=1e-9
    )


def test_batched_numpy_and_torch_agree(sample):
    batch = sample.reshape(4, 50, 3)
    out = kl_entropy_surrogate(batch, k=2)
    assert isinstance(out, np.ndarray)
    assert out.shape == (4,)
    for i in range(4):
        assert out[i] == pytest.approx(kl_entropy_surrogate(batch[i], k=2), abs=1e-12)
    t = nn_log_mean_distance(torch.tensor(batch), memory=torch.tensor(sample[:20]))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), nn_log_mean_distance(batch, memory=sample[:20]))


# --- gradients and duplicates ------------------------------------------------------------------


def test_gradients_match_central_differences():
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for fn in (lambda t: kl_entropy_surrogate(t, k=2), nn_log_mean_distance):
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(xg), xg)
        h = 1e-6
        for i, j in [(0, 0), (3, 1), (6, 0)]:
            step = torch.zeros_like(x)
            step[i, j] = h
            numeric = (float(fn(x + step)) - float(fn(x - step))) / (2 * h)
            assert float(grad[i, j]) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_duplicates_are_clamped_and_gradients_stay_finite():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    value = kl_entropy_surrogate(x, eps=1e-12)
    expected = (2 * math.log(1e-12) + math.log(5.0) + math.log(10.0)) / 4  # (d/2) mean log r^2
    assert float(value.detach()) == pytest.approx(expected, rel=1e-6)
    loss = value + nn_log_mean_distance(x)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all()
    assert grad[2:].abs().sum() > 0


def test_memory_is_differentiable_unless_detached():
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    mem = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    gx, gm = torch.autograd.grad(nn_log_mean_distance(x, mem), (x, mem))
    assert gx.abs().sum() > 0
    assert gm.abs().sum() > 0
    (gx_only,) = torch.autograd.grad(nn_log_mean_distance(x, mem.detach()), x)
    np.testing.assert_allclose(gx_only.numpy(), gx.numpy())


# --- bad inputs --------------------------------------------------------------------------------


def test_bad_inputs(sample):
    with pytest.raises(ValueError, match="k must be < the batch size 5"):
        kl_entropy_surrogate(sample[:5], k=5)
    with pytest.raises(ValueError, match="positive integer"):
        kl_entropy_surrogate(sample, k=0)
    with pytest.raises(ValueError, match="memory size 3"):
        kl_entropy_surrogate(sample, sample[:3], k=4)
    with pytest.raises(ValueError, match="d = 3"):
        nn_log_mean_distance(sample, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(\.\.\., M, 200, 3\)"):
        nn_log_mean_distance(sample, np.zeros((4, 3)), same_position=True)
    with pytest.raises(ValueError, match="do not broadcast"):
        nn_log_mean_distance(sample.reshape(4, 50, 3), np.zeros((3, 10, 3)))
    with pytest.raises(ValueError, match="x must be"):
        nn_log_mean_distance(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        kl_entropy_surrogate(np.array([[0.0], [np.nan], [1.0]]))
    with pytest.raises(ValueError, match="eps must be positive"):
        kl_entropy_surrogate(sample, eps=0.0)
