"""Tests for entropykit_shared.logits: entropy of logits, token entropies, BALD, binary entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import softmax

from entropykit_shared.logits import (
    BaldDecomposition,
    bald,
    binary_entropy_from_logits,
    entropy_from_logits,
    token_entropies,
)


def _logits(*shape: int, seed: int = 0, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


# ---------------------------------------------------------------- entropy_from_logits
@pytest.mark.parametrize("k", [1, 2, 10, 50_000])
def test_equal_logits_give_log_k(k):
    z = np.full((2, k), 3.7)
    np.testing.assert_allclose(entropy_from_logits(z), math.log(k), atol=1e-12)
    expected_norm = 1.0 if k > 1 else 0.0
    np.testing.assert_allclose(entropy_from_logits(z, normalize=True), expected_norm, atol=1e-12)


def test_dominant_logit_is_essentially_zero():
    z = np.zeros(100)
    z[3] = 50.0
    h = entropy_from_logits(z)
    assert 0.0 <= h < 1e-15
    assert entropy_from_logits(np.array([1e4, 0.0, -1e4])) == 0.0


def test_matches_scipy_of_softmax_with_temperature_dim_and_base():
    z = _logits(4, 9, 3)
    ref = ss.entropy(softmax(z / 2.0, axis=1), axis=1, base=2)
    ours = entropy_from_logits(z, dim=1, temperature=2.0, base=2)
    assert ours.shape == (4, 3)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    # shift invariance (the row max is subtracted internally)
    np.testing.assert_allclose(entropy_from_logits(z + 1e3, dim=1), entropy_from_logits(z, dim=1))


def test_masked_minus_inf_logits_are_finite_and_match_categorical():
    z = torch.tensor(_logits(3, 6, seed=1))
    z[0, :4] = -math.inf
    z[2, 5] = -math.inf
    h = entropy_from_logits(z)
    assert torch.isfinite(h).all()
    ref = torch.distributions.Categorical(logits=z).entropy()
    torch.testing.assert_close(h, ref, rtol=1e-12, atol=1e-12)
    # mask argument == -inf logits; normalised by log of the valid count
    mask = torch.isfinite(z)
    h_mask = entropy_from_logits(torch.tensor(_logits(3, 6, seed=1)), mask=mask)
    torch.testing.assert_close(h_mask, h)
    hn = entropy_from_logits(z, normalize=True)
    torch.testing.assert_close(hn[0], h[0] / math.log(2))
    torch.testing.assert_close(hn[2], h[2] / math.log(5))


def test_mask_broadcasts_over_batch():
    z = _logits(5, 4, seed=2)
    mask = np.array([True, False, True, True])
    ref = ss.entropy(softmax(z[:, mask], axis=1), axis=1)
    np.testing.assert_allclose(entropy_from_logits(z, mask=mask), ref, rtol=1e-12)


def test_gradients_finite_with_minus_inf_and_gradcheck():
    z = torch.tensor(_logits(2, 5, seed=3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: entropy_from_logits(x, temperature=0.7), (z,))
    zi = torch.tensor([[-math.inf, 1.0, 2.0], [0.0, 0.0, -math.inf]], requires_grad=True)
    entropy_from_logits(zi).sum().backward()
    assert torch.isfinite(zi.grad).all()
    assert zi.grad[0, 0] == 0
    assert zi.grad[1, 2] == 0


def test_half_precision_is_upcast():
    z = torch.tensor(_logits(3, 8, seed=4), dtype=torch.bfloat16)
    h = entropy_from_logits(z)
    assert h.dtype == torch.float32
    ref = ss.entropy(softmax(z.float().numpy().astype(np.float64), axis=1), axis=1)
    np.testing.assert_allclose(h.numpy(), ref, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-60, 60)))
def test_entropy_bounds(z):
    h = entropy_from_logits(z)
    assert 0.0 <= h <= math.log(z.size) + 1e-12
    assert 0.0 <= entropy_from_logits(z, normalize=True) <= 1.0 + 1e-12


# ---------------------------------------------------------------- token_entropies
@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1000])
def test_token_entropies_match_full_form(chunk):
    z = _logits(2, 5, 64, seed=5)
    z[0, 0, :10] = -math.inf
    np.testing.assert_allclose(
        token_entropies(z, chunk_size=chunk, temperature=1.3),
        entropy_from_logits(z, temperature=1.3),
        rtol=1e-12,
        atol=1e-14,
    )


def test_token_entropies_bf16_chunks_upcast():
    z = torch.tensor(_logits(2, 3, 500, seed=6), dtype=torch.bfloat16)
    h = token_entropies(z, chunk_size=128)
    assert h.dtype == torch.float32
    torch.testing.assert_close(h, entropy_from_logits(z), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- BALD
def test_bald_identical_members_have_zero_epistemic():
    z = np.repeat(_logits(1, 4, 6, seed=7), 5, axis=0)  # (M=5, B=4, K=6)
    res = bald(z)
    assert isinstance(res, BaldDecomposition)
    np.testing.assert_allclose(res.epistemic, 0.0, atol=1e-15)
    np.testing.assert_allclose(res.total, res.aleatoric, rtol=1e-13)
    np.testing.assert_allclose(res.total, entropy_from_logits(z[0]), rtol=1e-13)


def test_bald_confident_disagreeing_members():
    z = np.array([[50.0, 0.0, 0.0], [0.0, 50.0, 0.0]])  # two members, each certain
    res = bald(z, member_dim=0, dim=1, base=2)
    assert res.total == pytest.approx(1.0, abs=1e-12)
    assert res.aleatoric == pytest.approx(0.0, abs=1e-12)
    assert res.epistemic == pytest.approx(1.0, abs=1e-12)


def test_bald_member_dim_and_reference_decomposition():
    z = _logits(3, 7, 4, seed=8)  # (B=3, K=7, M=4): member axis last, classes in the middle
    res = bald(z, member_dim=2, dim=1)
    p = softmax(z, axis=1)
    total = ss.entropy(p.mean(axis=2), axis=1)
    ale = ss.entropy(p, axis=1).mean(axis=1)
    np.testing.assert_allclose(res.total, total, rtol=1e-12)
    np.testing.assert_allclose(res.aleatoric, ale, rtol=1e-12)
    np.testing.assert_allclose(res.epistemic, total - ale, rtol=1e-9, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.floats(0.1, 30.0))
def test_bald_nonnegative(seed, members, scale):
    res = bald(_logits(members, 2, 5, seed=seed, scale=scale))
    assert (res.epistemic >= 0).all()
    np.testing.assert_allclose(res.total, res.aleatoric + res.epistemic, rtol=1e-9, atol=1e-12)


def test_bald_torch_gradients():
    z = torch.tensor(_logits(3, 2, 4, seed=9), requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: bald(x).epistemic, (z,))


# ---------------------------------------------------------------- binary entropy
def test_binary_entropy_oracles():
    z = np.array([0.0, 2.0, -2.0, 40.0, -800.0])
    h = binary_entropy_from_logits(z)
    p = 1 / (1 + np.exp(-z[:3]))
    np.testing.assert_allclose(h[:3], ss.entropy(np.stack([p, 1 - p]), axis=0), rtol=1e-12)
    assert h[0] == pytest.approx(math.log(2))
    assert 0.0 < h[3] < 1e-15
    assert np.all(np.isfinite(h))
    one_bit = binary_entropy_from_logits(0.0, base=2)
    assert isinstance(one_bit, np.floating)
    assert one_bit == pytest.approx(1.0)


def test_binary_entropy_mask_and_reductions():
    z = _logits(2, 4, 4, seed=10)
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2] = True
    full = binary_entropy_from_logits(z)
    per_image = binary_entropy_from_logits(z, mask=mask, reduce="mean", dim=(-2, -1))
    np.testing.assert_allclose(per_image, full[:, :2].mean(axis=(1, 2)), rtol=1e-12)
    assert binary_entropy_from_logits(z, reduce="sum") == pytest.approx(full.sum())
    assert binary_entropy_from_logits(z, reduce="mean") == pytest.approx(full.mean())
    masked = binary_entropy_from_logits(z, mask=mask)
    assert np.all(masked[:, 2:] == 0)


def test_binary_entropy_gradients():
    z = torch.tensor([-30.0, -1.0, 0.0, 3.0, 30.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: binary_entropy_from_logits(x), (z,))


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy_from_logits([1.0, np.nan]), "NaN"),
        (lambda: entropy_from_logits([1.0, np.inf]), r"\+inf"),
        (lambda: entropy_from_logits([[-np.inf, -np.inf]]), "no valid class"),
        (lambda: entropy_from_logits([1.0, 2.0], mask=[True, False, True]), "does not broadcast"),
        (lambda: entropy_from_logits([1.0, 2.0], mask=[1, 0]), "must be boolean"),
        (lambda: entropy_from_logits([1.0, 2.0], temperature=0.0), "temperature"),
        (lambda: entropy_from_logits([1.0, 2.0], dim=2), "dim=2 is out of range"),
        (lambda: entropy_from_logits(3.0), "class axis"),
        (lambda: token_entropies(np.zeros((2, 3)), chunk_size=0), "chunk_size"),
        (lambda: bald(np.zeros((2, 3)), member_dim=1, dim=-1), "different axes"),
        (lambda: bald(np.zeros(3)), "member axis"),
        (lambda: binary_entropy_from_logits([0.0, np.inf]), "NaN or infinite"),
        (lambda: binary_entropy_from_logits([0.0], reduce="max"), "reduce must be"),
        (
            lambda: binary_entropy_from_logits([0.0, 1.0], mask=[False, False], reduce="mean"),
            "without valid elements",
        ),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
