"""Entropy production rates: OU closed forms, the active-matter oracles, divergence by autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropykit_shared.epr import (
    divergence,
    epr_from_velocity,
    ou_entropy_production,
    ou_stationary_covariance,
)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Elementwise closeness (torch.testing.assert_close imports torch.distributed: seconds)."""
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)


def rotational_drift(omega: float) -> np.ndarray:
    return np.array([[1.0, -omega], [omega, 1.0]])


def aoup(a: float, gamma: float, v0: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Single AOUP in a harmonic trap, z = (x, g): dz = M z dt + sqrt(2 D) dW with
    M = [[-a, v0], [0, -gamma]], D = diag(eps, gamma); our convention is A = -M."""
    return np.array([[a, -v0], [0.0, gamma]]), np.array([eps, gamma])


# --- OU closed forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("omega", [0.0, 0.3, 1.0, 2.5])
def test_rotational_ou_epr_is_two_omega_squared(omega):
    a = rotational_drift(omega)
    np.testing.assert_allclose(ou_stationary_covariance(a, np.eye(2)), np.eye(2), atol=1e-12)
    assert ou_entropy_production(a, np.eye(2)) == pytest.approx(2 * omega**2, abs=1e-10)
    assert ou_entropy_production(a, 1.0) == pytest.approx(2 * omega**2, abs=1e-10)


def test_equilibrium_ou_has_zero_epr():
    """Reversible OU: A = D G with symmetric G (gradient drift) gives EPR 0."""
    dmat = np.array([[2.0, 0.3], [0.3, 0.5]])
    g = np.array([[1.0, 0.2], [0.2, 3.0]])
    assert ou_entropy_production(dmat @ g, dmat) == pytest.approx(0.0, abs=1e-10)


def test_stationary_covariance_solves_lyapunov():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    b = rng.normal(size=(4, 4))
    dmat = b @ b.T
    s = ou_stationary_covariance(a, dmat)
    np.testing.assert_allclose(a @ s + s @ a.T, 2 * dmat, atol=1e-10)
    st_ = ou_stationary_covariance(torch.tensor(a), torch.tensor(dmat))
    assert isinstance(st_, torch.Tensor)
    np.testing.assert_allclose(st_.numpy(), s)


def test_aoup_stationary_covariance_closed_form():
    a, gamma, v0, eps = 0.5, 0.1, 1.0, 0.1
    s = ou_stationary_covariance(*aoup(a, gamma, v0, eps))
    cxx = (eps * (a + gamma) + v0**2) / (a * (a + gamma))
    np.testing.assert_allclose(s, [[cxx, v0 / (a + gamma)], [v0 / (a + gamma), 1.0]], atol=1e-12)


def test_aoup_harmonic_trap_numeric_value():
    assert ou_entropy_production(*aoup(0.5, 0.1, 1.0, 0.1)) == pytest.approx(5 / 3, abs=1e-10)


@settings(max_examples=25, deadline=None)
@given(
    a=st.floats(0.05, 5.0),
    gamma=st.floats(0.05, 5.0),
    v0=st.floats(0.1, 3.0),
    eps=st.floats(0.01, 2.0),
)
def test_aoup_epr_formula(a, gamma, v0, eps):
    expected = gamma * v0**2 / (eps * (a + gamma))
    assert ou_entropy_production(*aoup(a, gamma, v0, eps)) == pytest.approx(expected, rel=1e-8)


def test_hypoelliptic_aoup_uses_the_pseudo_inverse():
    """eps = 0: only the g channel dissipates; EPR = A, independent of v0 (and equal to
    -E[div_x b_x])."""
    for v0 in (0.5, 2.0):
        assert ou_entropy_production(*aoup(0.5, 0.1, v0, 0.0)) == pytest.approx(0.5, abs=1e-10)


def test_hypoelliptic_aoup_ring_both_ways():
    """active_matter.md 2.2(d): N = 3 AOUPs on a ring of springs k_s in a trap A, eps = 0:
    EPR = N (A + 2 k_s) = 5.1, from the Lyapunov form and from -E[div_x b_x]."""
    n, a, ks, v0, gamma = 3, 0.3, 0.7, 1.0, 0.5
    lap = 2 * np.eye(n) - np.roll(np.eye(n), 1, axis=1) - np.roll(np.eye(n), -1, axis=1)
    m = np.zeros((2 * n, 2 * n))
    m[:n, :n] = -a * np.eye(n) - ks * lap
    m[:n, n:] = v0 * np.eye(n)
    m[n:, n:] = -gamma * np.eye(n)
    dvec = np.r_[np.zeros(n), gamma * np.ones(n)]
    assert ou_entropy_production(-m, dvec) == pytest.approx(5.1, abs=1e-10)
    g = torch.randn(64, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mx, mg = torch.tensor(m[:n, :n]), torch.tensor(m[:n, n:])

    def drift_x(x: torch.Tensor) -> torch.Tensor:
        return x @ mx.T + g @ mg.T

    x = np.random.default_rng(1).normal(size=(64, n))
    assert -divergence(drift_x, x).mean() == pytest.approx(5.1, abs=1e-12)


def test_torch_matrices_give_a_tensor():
    out = ou_entropy_production(torch.tensor(rotational_drift(0.5)), torch.tensor(1.0))
    assert isinstance(out, torch.Tensor)
    assert out.shape == ()
    assert float(out) == pytest.approx(0.5, abs=1e-10)


# --- Monte Carlo from velocities ---------------------------------------------------------------


def test_monte_carlo_epr_with_exact_velocity():
    omega = 0.8
    x = np.random.default_rng(2).normal(size=(20_000, 2))  # stationary law N(0, I)
    v = x @ np.array([[0.0, omega], [-omega, 0.0]]).T  # (D S^-1 - A) x with S = I
    est, se = epr_from_velocity(v, 1.0, return_se=True)
    assert 0 < se < 0.05
    assert abs(est - 2 * omega**2) < 4 * se


def test_scalar_vector_and_matrix_d_agree():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(50, 3))
    ref = (v**2).sum(1).mean() / 2.0
    assert epr_from_velocity(v, 2.0) == pytest.approx(ref)
    assert epr_from_velocity(v, [2.0, 2.0, 2.0]) == pytest.approx(ref)
    assert epr_from_velocity(v, 2.0 * np.eye(3)) == pytest.approx(ref)
    b = rng.normal(size=(3, 3))
    dmat = b @ b.T + np.eye(3)
    expected = np.einsum("ni,ij,nj->n", v, np.linalg.inv(dmat), v).mean()
    assert epr_from_velocity(v, dmat) == pytest.approx(expected, rel=1e-10)


def test_degenerate_d_ignores_the_noiseless_directions():
    v = np.array([[3.0, 1.0], [-2.0, 2.0]])
    assert epr_from_velocity(v, [0.0, 0.5]) == pytest.approx((1.0 + 4.0) / 2 / 0.5)
    # rotated degenerate matrix: noise only along (1, 1) / sqrt(2)
    u = np.array([1.0, 1.0]) / math.sqrt(2)
    dmat = 2.0 * np.outer(u, u)
    assert epr_from_velocity(np.array([[1.0, -1.0]]), dmat) == pytest.approx(0.0, abs=1e-12)
    assert epr_from_velocity(np.array([[1.0, 1.0]]), dmat) == pytest.approx(1.0)


def test_epr_batched_se_and_gradient():
    v = torch.randn(2, 100, 3, dtype=torch.float64, requires_grad=True)
    est, se = epr_from_velocity(v, torch.tensor([1.0, 2.0, 4.0]), return_se=True)
    assert est.shape == se.shape == (2,)
    q = (v.detach() ** 2 / torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)).sum(-1)
    assert_close(est.detach(), q.mean(-1))
    assert_close(se, q.std(-1) / 10.0)
    (g,) = torch.autograd.grad(est.sum(), v)
    assert_close(g, 2 * v.detach() / torch.tensor([1.0, 2.0, 4.0]) / 100)


# --- divergence --------------------------------------------------------------------------------


def test_divergence_of_linear_field_is_trace():
    m = np.random.default_rng(4).normal(size=(4, 4))
    x = np.random.default_rng(5).normal(size=(10, 4))
    div = divergence(lambda t: t @ torch.tensor(m).T, x)
    assert isinstance(div, np.ndarray)
    np.testing.assert_allclose(div, np.full(10, np.trace(m)), atol=1e-12)


def test_divergence_of_nonlinear_field_and_create_graph():
    x = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=torch.float64, requires_grad=True)

    def field(t: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.sin(t[:, 0]) * t[:, 1], t[:, 0] * t[:, 1] ** 2], dim=1)

    div = divergence(field, x, create_graph=True)
    expected = torch.cos(x[:, 0]) * x[:, 1] + 2 * x[:, 0] * x[:, 1]
    assert_close(div, expected.detach())
    (g,) = torch.autograd.grad(div.sum(), x)
    ref = torch.stack(
        [-torch.sin(x[:, 0]) * x[:, 1] + 2 * x[:, 1], torch.cos(x[:, 0]) + 2 * x[:, 0]], 1
    )
    assert_close(g, ref.detach())
    const = divergence(lambda t: torch.ones_like(t), x.detach())
    assert torch.equal(const, torch.zeros(2, dtype=torch.float64))


# --- bad inputs --------------------------------------------------------------------------------


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"not stable.*A = -M"):
        ou_entropy_production(-np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="not controllable"):
        ou_entropy_production(np.eye(2), [1.0, 0.0])
    with pytest.raises(ValueError, match="positive semi-definite"):
        epr_from_velocity(np.ones((3, 2)), [1.0, -1.0])
    with pytest.raises(ValueError, match="not symmetric"):
        epr_from_velocity(np.ones((3, 2)), np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="needs 2 entries"):
        epr_from_velocity(np.ones((3, 2)), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="scalar D must be positive"):
        epr_from_velocity(np.ones((3, 2)), 0.0)
    with pytest.raises(ValueError, match=r"v must be \(\.\.\., N, d\)"):
        epr_from_velocity(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        epr_from_velocity(np.array([[np.inf]]), 1.0)
    with pytest.raises(ValueError, match="same shape"):
        divergence(lambda t: t.sum(1), np.ones((3, 2)))
