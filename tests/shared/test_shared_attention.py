"""Tests for entropykit_shared.attention: per-query attention entropy, the online blockwise form
from scores, and the private-attention entropy regulariser."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.special import entr, softmax

from entropykit_shared.attention import (
    attention_entropy,
    attention_entropy_from_scores,
    entropy_regularizer,
)


def _scores(*shape: int, seed: int = 0, scale: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _causal(t: int) -> np.ndarray:
    return np.tril(np.ones((t, t), dtype=bool))


def _explicit(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Reference: explicit float64 softmax over the valid keys, then sum of entr."""
    s = np.where(valid, scores, -np.inf)
    a = softmax(s, axis=-1)
    return entr(np.where(valid, a, 0.0)).sum(axis=-1)


def _official_entropy(a: torch.Tensor) -> torch.Tensor:
    """The official private-attention code's head entropy:
    -nansum(A log(A + 1e-9)) over keys."""
    return -torch.nansum(a * torch.log(a + 1e-9), dim=-1)


# ---------------------------------------------------------------- from probabilities
def test_uniform_causal_rows_and_first_query_zero():
    t = 6
    a = _causal(t) / np.arange(1, t + 1)[:, None]
    h = attention_entropy(a[None, None], mask=_causal(t))
    np.testing.assert_allclose(h[0, 0], np.log(np.arange(1, t + 1)), atol=1e-14)
    assert h[0, 0, 0] == 0.0
    hn = attention_entropy(a, mask=_causal(t), normalize=True)
    np.testing.assert_allclose(hn, [0.0] + [1.0] * (t - 1), atol=1e-14)


def test_one_hot_rows_are_zero():
    a = np.zeros((2, 3, 4, 4))
    a[..., 1] = 1.0
    np.testing.assert_array_equal(attention_entropy(a), 0.0)


def test_probabilities_and_scores_agree():
    s = _scores(2, 3, 5, 7, seed=1)
    mask = np.broadcast_to(np.array([True] * 6 + [False]), s.shape)
    a = softmax(np.where(mask, s, -np.inf), axis=-1)
    np.testing.assert_allclose(
        attention_entropy(a, mask=mask),
        attention_entropy_from_scores(s, mask=mask),
        rtol=1e-12,
    )


def test_official_eps_form_matches_repo_formula_and_exact_within_bound():
    a = torch.softmax(torch.tensor(_scores(2, 3, 8, 8, seed=2, scale=4.0)), dim=-1)
    ours = attention_entropy(a, eps=1e-9)
    torch.testing.assert_close(ours, _official_entropy(a), rtol=0, atol=1e-15)
    exact = attention_entropy(a)
    diff = exact - ours
    assert (diff >= 0).all()
    assert (diff <= 8 * 1e-9).all()


def test_eps_form_counts_nan_rows_as_zero_like_nansum():
    a = torch.softmax(torch.tensor(_scores(1, 1, 3, 4, seed=3)), dim=-1)
    a[0, 0, 1] = math.nan  # a fully masked row: softmax of all -inf
    with pytest.warns(UserWarning, match="4 NaN"):
        ours = attention_entropy(a, eps=1e-9)
    torch.testing.assert_close(ours, _official_entropy(a))
    with pytest.raises(ValueError, match="NaN"):
        attention_entropy(a)


def test_query_mean_excludes_padding_and_keyless_rows():
    s = _scores(2, 2, 5, 5, seed=4)
    key_mask = np.ones((2, 1, 5, 5), dtype=bool)
    key_mask[1, :, 3] = False  # batch 1, query 3 sees no key: excluded from the mean
    query_mask = np.array([[True] * 5, [True, True, True, True, False]])[:, None, :]
    per_query = attention_entropy_from_scores(s, mask=key_mask)
    assert np.all(per_query[1, :, 3] == 0.0)
    means = attention_entropy_from_scores(
        s, mask=key_mask, reduce="query_mean", query_mask=query_mask
    )
    np.testing.assert_allclose(means[0], per_query[0].mean(axis=-1))
    np.testing.assert_allclose(means[1], per_query[1][:, [0, 1, 2]].mean(axis=-1))


def test_unnormalised_rows_warn():
    a = np.full((3, 4), 0.2)  # rows sum to 0.8, as after dropout
    with pytest.warns(UserWarning, match="do not sum to 1"):
        attention_entropy(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attention_entropy(np.full((3, 4), 0.25))


def test_gradients_finite_with_zero_probabilities():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64, requires_grad=True)
    attention_entropy(a).sum().backward()
    assert torch.isfinite(a.grad).all()


# ---------------------------------------------------------------- online blockwise form
@pytest.mark.parametrize("block", [None, 1, 3, 8, 64])
@pytest.mark.parametrize("causal", [False, True])
def test_online_blockwise_equals_explicit_float64(block, causal):
    s = _scores(2, 3, 9, 13, seed=5, scale=6.0)
    pad = np.ones(13, dtype=bool)
    pad[[4, 11]] = False
    valid = np.broadcast_to(pad, s.shape).copy()
    if causal:  # bottom-right aligned: key j valid for query i when j <= i + (Tk - Tq)
        valid &= np.arange(13)[None, :] <= np.arange(9)[:, None] + 4
    ours = attention_entropy_from_scores(s, mask=pad, block_size=block, causal=causal)
    np.testing.assert_allclose(ours, _explicit(s, valid), rtol=1e-12, atol=1e-14)


def test_online_form_with_huge_score_spread_and_minus_inf():
    s = np.array([[[0.0, 900.0, -900.0, -np.inf, 899.0, 900.0]]])
    ours = attention_entropy_from_scores(s, block_size=2)
    a = softmax(s, axis=-1)
    assert ours[0, 0] == pytest.approx(entr(a).sum(), rel=1e-12)
    assert np.isfinite(ours).all()


def test_causal_first_query_is_zero():
    s = _scores(1, 2, 6, 6, seed=6)
    h = attention_entropy_from_scores(s, causal=True, block_size=4)
    np.testing.assert_array_equal(h[..., 0], 0.0)
    hn = attention_entropy_from_scores(s, causal=True, normalize=True, reduce="query_mean")
    assert hn.shape == (1, 2)
    assert np.all((hn >= 0) & (hn <= 1))


def test_gradcheck_blockwise():
    s = torch.tensor(_scores(1, 2, 4, 5, seed=7), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: attention_entropy_from_scores(x, block_size=2, causal=True), (s,)
    )


# ---------------------------------------------------------------- regulariser
def _layers(n_layers: int, seed: int = 8, dtype=torch.float64) -> list[torch.Tensor]:
    t = 5
    causal = torch.tensor(_causal(t))
    out = []
    for layer in range(n_layers):
        s = torch.tensor(_scores(3, 2, t, t, seed=seed + layer, scale=3.0), dtype=dtype)
        out.append(torch.softmax(s.masked_fill(~causal, -math.inf), dim=-1))
    return out


def test_regularizer_query_mean_by_hand():
    attns = _layers(2)
    theta = torch.tensor([[0.1, 0.9], [0.5, 0.3]], dtype=torch.float64)
    gamma, e_max = 0.2, math.log(5)
    expected = 0.0
    for layer in range(2):
        ent = _official_entropy(attns[layer])  # (B, H, T)
        layer_pen = 0.0
        for head in range(2):
            delta = float(ent[:, head].mean()) - float(theta[layer, head]) * e_max
            layer_pen += delta**2 if abs(delta) > gamma * e_max else 0.0
        expected += layer_pen / 2
    expected /= 2
    ours = entropy_regularizer(attns, theta, gamma=gamma)
    assert float(ours) == pytest.approx(expected, rel=1e-12)
    assert expected > 0


def test_regularizer_element_sum_matches_official_code_formula():
    attns = torch.stack(_layers(3))  # (L, B, H, T, T)
    theta = torch.tensor([0.2, 0.6], dtype=torch.float64)  # (H,): official per-head thresholds
    e_max = torch.log(torch.tensor(5.0, dtype=torch.float64))
    tol = 0.2 * e_max
    total = 0.0
    for attn in attns:  # the official code's granularity
        ent = _official_entropy(attn)
        layer_loss = 0.0
        for head in range(2):
            dev = ent[:, head, :] - theta[head] * e_max
            layer_loss += torch.square(torch.where(dev.abs() > tol, dev, 0.0)).sum()
        total += layer_loss / 2
    total /= 3
    ours = entropy_regularizer(attns, theta, reduction="element_sum")
    torch.testing.assert_close(ours, total, rtol=1e-12, atol=0)


def test_regularizer_zero_inside_margin_and_gradients_flow():
    attns = [a.requires_grad_(True) for a in _layers(2)]
    ent = torch.stack([attention_entropy(a.detach(), eps=1e-9).mean(dim=(0, 2)) for a in attns])
    theta = (ent / math.log(5)).clone().requires_grad_(True)  # delta = 0 exactly
    assert entropy_regularizer(attns, theta).item() == 0.0
    theta2 = (theta.detach() + 0.5).requires_grad_(True)  # far outside the margin
    loss = entropy_regularizer(attns, theta2, eps=None)
    loss.backward()
    assert loss.item() > 0
    assert torch.isfinite(theta2.grad).all()
    assert (theta2.grad.abs() > 0).all()
    assert all(torch.isfinite(a.grad).all() for a in attns)


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: attention_entropy(np.ones(4) / 4), "at least 2-D"),
        (lambda: attention_entropy(-np.eye(3)), "negative entries"),
        (lambda: attention_entropy(np.eye(3), reduce="mean"), "reduce must be"),
        (lambda: attention_entropy(np.eye(3), eps=-1.0), "eps must be"),
        (lambda: attention_entropy(np.eye(3), mask=np.ones(4, dtype=bool)), "does not broadcast"),
        (lambda: attention_entropy_from_scores(np.zeros((2, 2)), block_size=0), "block_size"),
        (lambda: attention_entropy_from_scores(np.full((2, 2), np.nan)), "NaN"),
        (
            lambda: attention_entropy_from_scores(
                np.zeros((1, 2, 2)), mask=np.zeros((2, 2), dtype=bool), reduce="query_mean"
            ),
            "no valid query",
        ),
        (lambda: entropy_regularizer(_layers(2), torch.zeros(2, 3)), r"shape \(L, H\)"),
        (lambda: entropy_regularizer(_layers(2), torch.zeros(2), gamma=-0.1), "gamma"),
        (lambda: entropy_regularizer(_layers(1), torch.zeros(2), e_max=0.0), "e_max"),
        (lambda: entropy_regularizer([], torch.zeros(2)), "non-empty sequence"),
        (
            lambda: entropy_regularizer(
                [_layers(1)[0], torch.ones(3, 2, 4, 4) / 4], torch.zeros(2)
            ),
            r"attentions\[1\] has shape",
        ),
        (lambda: entropy_regularizer(_layers(1), torch.zeros(2), reduction="sum"), "reduction"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
