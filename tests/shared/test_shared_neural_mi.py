"""InfoNCE, NWJ and DV/MINE bounds, checked with the optimal critic of correlated Gaussians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from entropykit_shared.gaussian import correlated_gaussian_pairs
from entropykit_shared.neural_mi import infonce_bound, mine_bound, nwj_bound, shuffle_pairs
from entropykit_shared.testing import (
    assert_gradient_matches_central_differences,
    global_rng_fingerprint,
)

M = 2  # coordinate pairs of the Gaussian test problem


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Elementwise closeness (torch.testing.assert_close imports torch.distributed: seconds)."""
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


def pmi_critic(mi: float, matrix: bool = False):
    """log p(x, y) / (p(x) p(y)) for correlated_gaussian_pairs(..., dim=M, mi): the optimal DV
    critic (the optimal NWJ critic is 1 + this). ``matrix=True``: all pairs (x_i, y_j), (B, B)."""
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / M))
    c = 1.0 - rho * rho

    def critic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x2, y2 = (x * x).sum(-1), (y * y).sum(-1)
        if matrix:
            quad = rho * rho * (x2[:, None] + y2[None, :]) - 2.0 * rho * (x @ y.T)
        else:
            quad = rho * rho * (x2 + y2) - 2.0 * rho * (x * y).sum(-1)
        return -0.5 * M * math.log(c) - quad / (2.0 * c)

    return critic


def infonce_mean(mi: float, batch: int, reps: int) -> float:
    critic = pmi_critic(mi, matrix=True)
    vals = []
    for seed in range(reps):
        x, y = correlated_gaussian_pairs(batch, M, mi, seed=seed)
        vals.append(infonce_bound(critic(x, y)))
    return float(np.mean(vals))


# --- InfoNCE -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 9)).map(lambda t: t * 2), elements=st.floats(-50, 50)
    )
)
def test_infonce_never_exceeds_log_b(scores):
    assert infonce_bound(scores) <= math.log(scores.shape[0]) + 1e-12


def test_infonce_equals_log_b_minus_cross_entropy():
    s = torch.randn(2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ce = torch.nn.functional.cross_entropy(s[0], torch.arange(16))
    got = infonce_bound(s)
    assert got.shape == (2,)
    assert float(got[0]) == pytest.approx(math.log(16) - float(ce), abs=1e-12)
    assert infonce_bound(s.numpy(), base=2)[1] == pytest.approx(float(got[1]) / math.log(2))


def test_infonce_optimal_critic_near_true_mi_when_log_b_is_large():
    assert infonce_mean(1.5, batch=1024, reps=4) == pytest.approx(1.5, abs=0.05)


def test_infonce_optimal_critic_below_true_mi_and_saturates():
    assert infonce_mean(4.0, batch=128, reps=4) < 4.0 - 0.2
    sat = infonce_mean(8.0, batch=32, reps=2)
    assert math.log(32) - 0.1 < sat <= math.log(32)


def test_infonce_gradient_flows():
    s = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert_gradient_matches_central_differences(infonce_bound, s)


# --- NWJ and DV with the optimal critic --------------------------------------------------------


@pytest.fixture(scope="module")
def gaussian_scores():
    mi = 1.0
    x, y = correlated_gaussian_pairs(20_000, M, mi, seed=1)
    y_marg = shuffle_pairs(y, seed=2)
    critic = pmi_critic(mi)
    return mi, critic(x, y), critic(x, y_marg)


def test_nwj_optimal_critic_is_tight(gaussian_scores):
    mi, joint, marg = gaussian_scores
    value, se = nwj_bound(1.0 + joint, 1.0 + marg, return_se=True)
    assert 0 < se < 0.05
    assert abs(value - mi) < 4 * se
    worse = nwj_bound(1.0 + 0.5 * joint, 1.0 + 0.5 * marg)
    assert worse < mi - 10 * se


def test_nwj_standard_error_formula():
    tp, tq = np.array([0.1, 0.5, 0.9]), np.array([-1.0, 0.0, 2.0, 0.5])
    _, se = nwj_bound(tp, tq, return_se=True)
    ref = math.sqrt(tp.var(ddof=1) / 3 + np.exp(tq - 1).var(ddof=1) / 4)
    assert se == pytest.approx(ref, abs=1e-14)


def test_dv_optimal_critic_is_tight_and_bounds_nwj(gaussian_scores):
    mi, joint, marg = gaussian_scores
    value, ema = mine_bound(joint, marg)
    assert value == pytest.approx(mi, abs=0.05)
    assert ema == pytest.approx(np.exp(marg).mean())
    # for the same critic DV >= NWJ (log u <= u / e), and DV ignores constant shifts of T
    for scale in (0.3, 0.7):
        dv, _ = mine_bound(scale * joint, scale * marg)
        assert dv < mi
        assert dv >= nwj_bound(scale * joint, scale * marg)
        assert mine_bound(scale * joint + 5.0, scale * marg + 5.0)[0] == pytest.approx(dv)


# --- MINE moving average ------------------------------------------------------------------------


def test_mine_value_is_dv_and_gradient_uses_the_moving_average():
    gen = torch.Generator().manual_seed(3)
    tp = torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True)
    tq = torch.randn(5, dtype=torch.float64, generator=gen, requires_grad=True)
    prev, rate = 2.5, 0.1
    bound, ema = mine_bound(tp, tq, ema=prev, ema_rate=rate)
    dv = tp.mean() - (torch.logsumexp(tq, 0) - math.log(5))
    assert float(bound.detach()) == pytest.approx(float(dv.detach()), abs=1e-14)
    expected_ema = (1 - rate) * prev + rate * float(tq.detach().exp().mean())
    assert float(ema) == pytest.approx(expected_ema, abs=1e-14)
    assert not ema.requires_grad
    g_p, g_q = torch.autograd.grad(bound, (tp, tq))
    assert_close(g_p, torch.full((6,), 1 / 6, dtype=torch.float64))
    assert_close(g_q, -tq.detach().exp() / (5 * expected_ema))


def test_mine_without_ema_has_the_plain_dv_gradient():
    tq = torch.randn(7, dtype=torch.float64, requires_grad=True)
    bound, ema = mine_bound(torch.zeros(3, dtype=torch.float64), tq)
    (g,) = torch.autograd.grad(bound, tq)
    assert_close(g, -torch.softmax(tq.detach(), 0))
    # rate 1: the running average is the current batch mean, i.e. again the plain gradient
    bound1, _ = mine_bound(torch.zeros(3, dtype=torch.float64), tq, ema=123.0, ema_rate=1.0)
    (g1,) = torch.autograd.grad(bound1, tq)
    assert_close(g1, g)
    assert float(ema) == pytest.approx(float(tq.detach().exp().mean()))


def test_mine_numpy_batched_and_bits():
    tp = np.array([[0.0, 1.0], [2.0, 3.0]])
    tq = np.zeros(4)
    bound, ema = mine_bound(tp, tq, ema=np.ones(2), base=2)
    assert isinstance(bound, np.ndarray)
    np.testing.assert_allclose(bound, np.array([0.5, 2.5]) / math.log(2))
    np.testing.assert_allclose(ema, [1.0, 1.0])


# --- shuffle_pairs -----------------------------------------------------------------------------


def test_shuffle_is_a_derangement_and_seeded():
    state = global_rng_fingerprint()
    for seed in range(30):
        perm = shuffle_pairs(np.arange(5), seed=seed)
        assert sorted(perm.tolist()) == list(range(5))
        assert (perm != np.arange(5)).all()
    assert global_rng_fingerprint() == state
    a = shuffle_pairs(np.arange(20), seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a, shuffle_pairs(np.arange(20), seed=7))


def test_shuffle_torch_generator_keeps_rows_together():
    y = torch.arange(12.0).reshape(6, 2)
    out = shuffle_pairs(y, seed=torch.Generator().manual_seed(0))
    again = shuffle_pairs(y, seed=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(out[:, 1] - out[:, 0], torch.ones(6))
    assert (out[:, 0] != y[:, 0]).all()


# --- bad inputs --------------------------------------------------------------------------------


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(\.\.\., B, B\)"):
        infonce_bound(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        infonce_bound(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="broadcastable"):
        nwj_bound(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="return_se needs"):
        nwj_bound(np.zeros(1), np.zeros(3), return_se=True)
    with pytest.raises(ValueError, match="ema must be the positive"):
        mine_bound(np.zeros(2), np.zeros(2), ema=0.0)
    with pytest.raises(ValueError, match="ema_rate"):
        mine_bound(np.zeros(2), np.zeros(2), ema_rate=0.0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        shuffle_pairs(np.zeros((1, 3)), seed=0)
