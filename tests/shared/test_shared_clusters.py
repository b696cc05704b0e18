"""Tests for entropykit_shared.clusters: cluster entropy of proposal logits, semantic entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from entropykit_shared.clusters import cluster_entropy, semantic_entropy

IDS = np.array([0, 0, 1, 1, 1, 2, 4, 4])  # cluster 3 is empty


def _logits(*shape: int, seed: int = 0, scale: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _reference(z: np.ndarray, ids: np.ndarray, tau: float = 1.0) -> np.ndarray:
    """scipy entropy of the scatter-added float64 softmax."""
    p = softmax(z / tau, axis=-1)
    mass = np.stack([p[..., ids == c].sum(axis=-1) for c in np.unique(ids)], axis=-1)
    return ss.entropy(mass, axis=-1)


def test_equal_logits_give_entropy_of_bincount():
    z = np.zeros((3, IDS.size))
    expected = ss.entropy(np.bincount(IDS))
    np.testing.assert_allclose(cluster_entropy(z, IDS), expected, rtol=1e-14)
    np.testing.assert_allclose(cluster_entropy(z, IDS, eps=1e-12), expected, rtol=1e-10)


def test_one_hot_like_logits_follow_the_dominant_proposal():
    z = np.zeros((2, IDS.size))
    z[0, 3] = 60.0  # all mass on a proposal of cluster 1
    z[1, [0, 5]] = 60.0  # half on cluster 0, half on cluster 2
    h = cluster_entropy(z, IDS)
    assert 0.0 <= h[0] < 1e-20
    assert h[1] == pytest.approx(math.log(2), abs=1e-14)


def test_all_proposals_in_one_cluster_is_zero():
    z = _logits(4, 6, seed=1)
    np.testing.assert_array_equal(cluster_entropy(z, np.zeros(6, dtype=int)), 0.0)
    np.testing.assert_array_equal(cluster_entropy(z, np.zeros(6, dtype=int), normalize=True), 0.0)


def test_uniform_over_equal_clusters_is_log_c():
    ids = np.repeat(np.arange(4), 3)
    assert cluster_entropy(np.zeros(12), ids) == pytest.approx(math.log(4), abs=1e-14)
    assert cluster_entropy(np.zeros(12), ids, normalize=True) == pytest.approx(1.0, abs=1e-14)
    assert cluster_entropy(np.zeros(12), ids, base=2) == pytest.approx(2.0, abs=1e-14)


def test_matches_reference_softmax_scatter_and_tau():
    z = _logits(5, IDS.size, seed=2, scale=4.0)
    np.testing.assert_allclose(
        cluster_entropy(z, IDS, tau=1.7), _reference(z, IDS, 1.7), rtol=1e-12
    )
    np.testing.assert_allclose(cluster_entropy(z, IDS, tau=2.0), cluster_entropy(z / 2.0, IDS))


def test_eps_form_is_driving_tta_formula():
    z = _logits(4, IDS.size, seed=3, scale=5.0)
    p = softmax(z, axis=-1)
    mass = np.zeros((4, 5))
    np.add.at(mass, (slice(None), IDS), p)
    official = -(mass * np.log(mass + 1e-12)).sum(axis=-1)
    np.testing.assert_allclose(cluster_entropy(z, IDS, eps=1e-12), official, rtol=1e-12)
    # the eps form is biased low by sum_c P_c log(1 + eps / P_c) <= C eps
    diff = cluster_entropy(z, IDS) - official
    assert np.all(diff > 0)
    assert np.all(diff <= 5 * 1e-12)


def test_empty_clusters_contribute_zero_and_normalisation_counts_nonempty():
    z = _logits(3, IDS.size, seed=4)
    base = cluster_entropy(z, IDS)
    np.testing.assert_allclose(cluster_entropy(z, IDS, num_clusters=12), base, rtol=1e-14)
    np.testing.assert_allclose(cluster_entropy(z, IDS, normalize=True), base / math.log(4))


def test_batched_per_scene_cluster_ids():
    z = _logits(3, 6, seed=5)
    ids = np.array([[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1], [2, 2, 2, 0, 0, 0]])
    ours = cluster_entropy(z, ids)
    for row in range(3):
        assert ours[row] == pytest.approx(_reference(z[row], ids[row]), rel=1e-12)


def test_torch_gradients_gradcheck_and_extreme_logits():
    ids = torch.tensor(IDS)
    z = torch.tensor(_logits(2, IDS.size, seed=6), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: cluster_entropy(x, ids), (z,))
    assert torch.autograd.gradcheck(lambda x: cluster_entropy(x, ids, normalize=True), (z,))
    big = torch.tensor([[1000.0, -1000.0, 999.0, 0.0, -5e3, 1e3, 2.0, 3.0]], requires_grad=True)
    h = cluster_entropy(big, ids)
    h.sum().backward()
    assert torch.isfinite(h).all()
    assert torch.isfinite(big.grad).all()
    assert h.dtype == torch.float32


def test_one_gradient_step_lowers_entropy():
    """Centaur's test-time update: one SGD step on the logits reduces the cluster entropy."""
    z = torch.tensor(_logits(1, IDS.size, seed=7), requires_grad=True)
    h0 = cluster_entropy(z, IDS)
    (grad,) = torch.autograd.grad(h0.sum(), z)
    h1 = cluster_entropy(z.detach() - 0.1 * grad, IDS)
    assert h1.item() < h0.item()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 20.0))
def test_bounds(seed, scale):
    h = cluster_entropy(_logits(3, IDS.size, seed=seed, scale=scale), IDS)
    assert np.all(h >= 0)
    assert np.all(h <= math.log(4) + 1e-12)


# ---------------------------------------------------------------- semantic entropy
def test_semantic_entropy_matches_bincount():
    labels = np.array([0, 2, 2, 5, 5, 5, 0, 2])
    expected = ss.entropy(np.bincount(labels)[np.bincount(labels) > 0])
    assert semantic_entropy(labels) == pytest.approx(expected, rel=1e-14)
    assert semantic_entropy(["a", "b", "b", "a"], base=2) == pytest.approx(1.0)
    assert semantic_entropy([3, 3, 3]) == 0.0
    t = semantic_entropy(torch.tensor(labels))
    assert isinstance(t, torch.Tensor)
    assert float(t) == pytest.approx(expected, rel=1e-14)


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cluster_entropy(np.zeros(3), [0, 1]), "broadcastable"),
        (lambda: cluster_entropy(np.zeros(3), [0, -1, 1]), ">= 0"),
        (lambda: cluster_entropy(np.zeros(3), [0.5, 1, 1]), "non-integer"),
        (lambda: cluster_entropy(np.zeros(3), [0, 1, 5], num_clusters=3), "num_clusters"),
        (lambda: cluster_entropy([0.0, np.nan], [0, 1]), "NaN"),
        (lambda: cluster_entropy(np.zeros(2), [0, 1], tau=0), "tau"),
        (lambda: cluster_entropy(np.zeros(2), [0, 1], eps=-1.0), "eps"),
        (lambda: cluster_entropy(1.0, [0]), "K >= 1"),
        (lambda: semantic_entropy([]), "non-empty 1-D"),
        (lambda: semantic_entropy([[1, 2]]), "non-empty 1-D"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
