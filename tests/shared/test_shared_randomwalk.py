"""Random-walk primitives: row normalisation, stationary distributions, entropy rate, Bayes step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropykit_shared.randomwalk import (
    bayes_inversion,
    entropy_rate,
    row_normalize,
    stationary_distribution,
    stationary_distribution_from_similarity,
)

RNG = np.random.default_rng(0)


def random_similarity(n: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).uniform(0.05, 1.0, size=(n, n))
    return (a + a.T) / 2


def constant_similarity(n_states: int, eps: float) -> np.ndarray:
    """Inv-Entropy's sanity model: 1 on the diagonal, 1 - eps elsewhere."""
    return np.full((n_states, n_states), 1.0 - eps) + eps * np.eye(n_states)


# ----------------------------------------------------------------------------- row_normalize
def test_row_normalize_rows_sum_to_one_batched_and_torch() -> None:
    s = RNG.uniform(size=(3, 5, 4))
    p = row_normalize(s)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(p, s / s.sum(axis=-1, keepdims=True), atol=0)
    pt = row_normalize(torch.from_numpy(s))
    assert isinstance(pt, torch.Tensor)
    np.testing.assert_allclose(pt.numpy(), p, atol=0)


def test_all_ones_similarity_gives_the_uniform_walk_with_rate_log_n() -> None:
    n = 7
    p = row_normalize(np.ones((n, n)))
    np.testing.assert_allclose(p, 1.0 / n, atol=1e-15)
    assert entropy_rate(p) == pytest.approx(math.log(n), abs=1e-12)
    assert entropy_rate(p, base=2) == pytest.approx(math.log2(n), abs=1e-12)


def test_identity_similarity_gives_zero_entropy_rate() -> None:
    p = row_normalize(np.eye(5))
    np.testing.assert_array_equal(p, np.eye(5))
    assert entropy_rate(p, np.full(5, 0.2)) == 0.0
    # every distribution is stationary for I: the direct methods refuse, power keeps the start
    with pytest.raises(ValueError, match="reducible"):
        stationary_distribution(p)
    with pytest.raises(ValueError, match="more than once"):
        stationary_distribution(p, method="eig")
    np.testing.assert_allclose(stationary_distribution(p, method="power"), 0.2, atol=1e-15)


def test_zero_rows_raise_or_fall_back_to_uniform() -> None:
    s = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 2.0]])
    with pytest.raises(ValueError, match="sum to 0"):
        row_normalize(s)
    p = row_normalize(s, zero_rows="uniform")
    np.testing.assert_allclose(p[1], 1.0 / 3.0)
    np.testing.assert_allclose(p[2], [0.0, 0.5, 0.5])


def test_closed_form_diagonal_for_constant_off_diagonal_similarity() -> None:
    """P_z[i,i] = 1/(n+1-n eps) on n+1 states; Inv-Entropy's P(x_i | y_i) closed form."""
    n, ex, ey = 9, 0.3, 0.55
    px = row_normalize(constant_similarity(n + 1, ex))
    py = row_normalize(constant_similarity(n + 1, ey))
    np.testing.assert_allclose(np.diag(px), 1.0 / (n + 1 - n * ex), atol=1e-15)
    np.testing.assert_allclose(px[0, 1], (1 - ex) / (n + 1 - n * ex), atol=1e-15)
    q = np.diag(py @ px)
    expected = (1 + n - n * ex - n * ey + n * ex * ey) / ((n + 1 - n * ex) * (n + 1 - n * ey))
    np.testing.assert_allclose(q, expected, atol=1e-15)


# ----------------------------------------------------------------------------- stationary
@pytest.mark.parametrize("method", ["solve", "eig", "power"])
def test_reversible_chain_is_stationary_at_the_degrees(method: str) -> None:
    s = random_similarity(8)
    pi = stationary_distribution(row_normalize(s), method=method)
    np.testing.assert_allclose(pi, s.sum(1) / s.sum(), atol=1e-10)
    np.testing.assert_allclose(stationary_distribution_from_similarity(s), s.sum(1) / s.sum())


def test_stationary_distribution_of_a_general_chain_is_fixed_and_batched() -> None:
    p = row_normalize(RNG.uniform(size=(4, 6, 6)))
    pi = stationary_distribution(p)
    assert pi.shape == (4, 6)
    np.testing.assert_allclose(np.einsum("bi,bij->bj", pi, p), pi, atol=1e-13)
    np.testing.assert_allclose(stationary_distribution(p, method="eig"), pi, atol=1e-10)
    np.testing.assert_allclose(stationary_distribution(p, method="power"), pi, atol=1e-10)


def test_power_iteration_handles_periodic_chains() -> None:
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(stationary_distribution(flip, method="power"), [0.5, 0.5])
    p = np.array([[0.0, 1.0], [0.3, 0.7]])
    with pytest.raises(RuntimeError, match="did not converge"):
        stationary_distribution(p, method="power", max_iter=1)


def test_two_state_chain_entropy_rate_closed_form() -> None:
    a, b = 0.2, 0.65

    def h(q: float) -> float:
        return -q * math.log(q) - (1 - q) * math.log(1 - q)

    p = np.array([[1 - a, a], [b, 1 - b]])
    np.testing.assert_allclose(stationary_distribution(p), [b / (a + b), a / (a + b)])
    assert entropy_rate(p) == pytest.approx((b * h(a) + a * h(b)) / (a + b), abs=1e-14)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), seed=st.integers(0, 10_000))
def test_entropy_rate_lies_between_zero_and_log_n(n: int, seed: int) -> None:
    p = row_normalize(np.random.default_rng(seed).exponential(size=(n, n)))
    h = entropy_rate(p)
    assert -1e-12 <= h <= math.log(n) + 1e-12


def test_entropy_rate_gradcheck_through_the_walk() -> None:
    s = torch.tensor(random_similarity(4, seed=2), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: entropy_rate(row_normalize(z)), (s,))


# ----------------------------------------------------------------------------- Bayes
def test_bayes_round_trip_reproduces_the_joint() -> None:
    channel = row_normalize(RNG.uniform(size=(5, 4)))
    prior = RNG.dirichlet(np.ones(5))
    post, marg, joint = bayes_inversion(channel, prior)
    np.testing.assert_allclose(joint, prior[:, None] * channel, atol=1e-15)
    np.testing.assert_allclose(marg, prior @ channel, atol=1e-15)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=1e-14)
    back, prior_back, joint_back = bayes_inversion(post, marg)
    np.testing.assert_allclose(back, channel, atol=1e-14)
    np.testing.assert_allclose(prior_back, prior, atol=1e-14)
    np.testing.assert_allclose(joint_back, joint.T, atol=1e-15)


def test_bayes_step_of_inv_entropy() -> None:
    """C = P_Y P_X (rows y, columns x), prior pi P_Y: marginal P(X) = pi P_Y P_Y P_X."""
    px = row_normalize(random_similarity(6, 1))
    py = row_normalize(random_similarity(6, 2))
    pi = np.full(6, 1 / 6)
    post, p_x, _ = bayes_inversion(py @ px, pi @ py)
    np.testing.assert_allclose(p_x, pi @ py @ py @ px, atol=1e-15)
    np.testing.assert_allclose(post, ((py @ px) * (pi @ py)[:, None]).T / p_x[:, None], atol=1e-15)
    torch_out = bayes_inversion(torch.from_numpy(py @ px), torch.from_numpy(pi @ py))
    assert all(isinstance(t, torch.Tensor) for t in torch_out)


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="negative"):
        row_normalize(np.array([[1.0, -0.1], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="zero_rows"):
        row_normalize(np.eye(2), zero_rows="drop")
    with pytest.raises(ValueError, match="at least 2 dims"):
        row_normalize(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        row_normalize(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="must sum to 1"):
        stationary_distribution(np.ones((3, 3)))
    with pytest.raises(ValueError, match="square"):
        stationary_distribution(np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="method must be"):
        stationary_distribution(np.eye(2), method="qr")
    with pytest.raises(ValueError, match="symmetric"):
        stationary_distribution_from_similarity(np.array([[1.0, 0.2], [0.4, 1.0]]))
    p = row_normalize(random_similarity(3))
    with pytest.raises(ValueError, match="pi must have shape"):
        entropy_rate(p, np.full(4, 0.25))
    with pytest.raises(ValueError, match="pi must sum to 1"):
        entropy_rate(p, np.full(3, 0.5))
    with pytest.raises(ValueError, match="prior must sum to 1"):
        bayes_inversion(p, np.full(3, 0.5))
    with pytest.raises(ValueError, match="marginal is 0"):
        bayes_inversion(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0.5, 0.5]))
