"""Inv-Entropy and the framework measures: closed forms, official-formula parity, determinism,
similarity validation."""

from __future__ import annotations

import contextlib
import io
import random

import numpy as np
import pytest
from entropykit_llm_uq.bench import authors_draws
from entropykit_llm_uq.method import (
    bootstrap_indices,
    dual_walk,
    epsilon_model_q,
    framework_scores,
    inv_entropy,
    wasserstein_code,
    wasserstein_states,
)
from entropykit_llm_uq.similarity import abscos, check_similarity, cos01, nli_average
from scipy.stats import wasserstein_distance


def eps_matrix(size: int, eps: float) -> np.ndarray:
    s = np.full((size, size), 1.0 - eps)
    np.fill_diagonal(s, 1.0)
    return s


def random_sim(rng: np.random.Generator, size: int, d: int = 8) -> np.ndarray:
    e = rng.normal(size=(size, d))
    return abscos(e)


@pytest.mark.parametrize("n", [1, 4, 9])
@pytest.mark.parametrize("eps_x", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("eps_y", [0.0, 0.3, 0.9])
def test_epsilon_model_closed_form(n: int, eps_x: float, eps_y: float) -> None:
    r = 3
    q = epsilon_model_q(n, eps_x, eps_y)
    expected = -(n + 1) * q * np.log(q)
    got = inv_entropy(eps_matrix(n + 1, eps_x), eps_matrix((n + 1) * r, eps_y), r, B=7, seed=1)
    assert got == pytest.approx(expected, abs=1e-10)


def test_epsilon_model_matches_matrix_product() -> None:
    n, ex, ey = 4, 0.2, 0.7
    px = eps_matrix(n + 1, ex) / eps_matrix(n + 1, ex).sum(1, keepdims=True)
    py = eps_matrix(n + 1, ey) / eps_matrix(n + 1, ey).sum(1, keepdims=True)
    assert np.diag(py @ px) == pytest.approx(np.full(n + 1, epsilon_model_q(n, ex, ey)), abs=1e-14)


def test_inv_entropy_grows_with_output_dispersion_when_q_below_1_over_e() -> None:
    n, r, ex = 9, 2, 0.3
    values = []
    for ey in np.linspace(0.0, 0.95, 12):
        assert epsilon_model_q(n, ex, ey) < 1 / np.e
        values.append(inv_entropy(eps_matrix(n + 1, ex), eps_matrix((n + 1) * r, ey), r, B=2))
    assert np.all(np.diff(values) > 0)


def _official_formula(sim_x: np.ndarray, sim_y: np.ndarray, draws) -> float:
    # the published formula written out draw by draw: -sum diag(P_y P_x) log diag(P_y P_x)
    vals = []
    for keep in draws:
        keep = list(keep)
        sy = sim_y[keep][:, keep]
        px = sim_x / sim_x.sum(axis=1, keepdims=True)
        py = sy / sy.sum(axis=1, keepdims=True)
        d = np.diag(py @ px)
        vals.append(-np.sum(d * np.log(d)))
    return float(np.mean(vals))


def test_parity_with_the_official_formula_on_50x50() -> None:
    rng = np.random.default_rng(3)
    n_inputs, r = 10, 5
    sim_x = random_sim(rng, n_inputs)
    sim_y = random_sim(rng, n_inputs * r)
    draws = authors_draws(11, n_inputs, r, 20)
    ours = inv_entropy(sim_x, sim_y, r, indices=np.array(draws))
    assert ours == pytest.approx(_official_formula(sim_x, sim_y, draws), abs=1e-12)


def test_parity_with_the_authors_package() -> None:
    core = pytest.importorskip("inventropy.core", reason="the authors' package is a dev extra")
    rng = np.random.default_rng(5)
    n_inputs, r = 10, 5
    sim_x = random_sim(rng, n_inputs)
    sim_y = random_sim(rng, n_inputs * r)
    sim_x_full = np.repeat(np.repeat(sim_x, r, 0), r, 1)  # the package wants one row per answer
    random.seed(21)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = core.compute_inv_entropy_with_sampling(sim_x_full, sim_y, 9, r, 10)
    idx = authors_draws(21, n_inputs, r, 10)  # the same random.randint sequence
    assert inv_entropy(sim_x, sim_y, r, indices=idx) == pytest.approx(ref, abs=1e-12)
    assert inv_entropy(sim_x_full, sim_y, r, indices=idx) == pytest.approx(ref, abs=1e-12)


def test_framework_measures_match_their_definitions() -> None:
    rng = np.random.default_rng(8)
    n_inputs, r = 5, 3
    sim_x = random_sim(rng, n_inputs)
    sim_y = random_sim(rng, n_inputs * r)
    idx = bootstrap_indices(n_inputs, r, 6, seed=2)
    got = framework_scores(sim_x, sim_y, r, indices=idx)
    px = sim_x / sim_x.sum(1, keepdims=True)
    ni, wd, wd_s, mx, mxc = [], [], [], [], []
    for keep in idx:
        sy = sim_y[np.ix_(keep, keep)]
        py = sy / sy.sum(1, keepdims=True)
        pi = np.full(n_inputs, 1 / n_inputs)
        p_y = pi @ py
        p_x = pi @ py @ py @ px
        p_x_given_y = py @ px
        joint = p_x_given_y * p_y[:, None]  # [j, i] = P(x_i, y_j)
        p_y_given_x = (joint / p_x[None, :]).T  # [i, j]
        d = np.diag(p_y_given_x)
        ni.append(-np.sum(d * np.log(d)))
        wd.append(wasserstein_distance(p_x, p_y))
        wd_s.append(0.5 * np.abs(p_x - p_y).sum())
        mx.append(d.max())
        mxc.append(p_y.max())
    assert got["ni_entropy"] == pytest.approx(np.mean(ni), abs=1e-12)
    assert got["wd_px_py"] == pytest.approx(np.mean(wd), abs=1e-12)
    assert got["wd_px_py_states"] == pytest.approx(np.mean(wd_s), abs=1e-12)
    assert got["max_py_x"] == pytest.approx(np.mean(mx), abs=1e-12)
    assert got["max_py"] == pytest.approx(np.mean(mxc), abs=1e-12)
    assert got["inv_entropy"] == pytest.approx(inv_entropy(sim_x, sim_y, r, indices=idx))
    first = np.arange(n_inputs)[None] * r
    assert got["nr_inv_entropy"] == pytest.approx(inv_entropy(sim_x, sim_y, r, indices=first))


def test_dual_walk_is_consistent() -> None:
    rng = np.random.default_rng(0)
    w = dual_walk(random_sim(rng, 6), random_sim(rng, 6))
    assert w.p_y.sum() == pytest.approx(1.0)
    assert w.p_x.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w.p_x_given_y.sum(-1), 1.0)
    np.testing.assert_allclose(w.p_y_given_x.sum(-1), 1.0)
    # P(X) by total probability equals pi P_y P_y P_x
    pi = np.full(6, 1 / 6)
    np.testing.assert_allclose(w.p_x[0], pi @ w.py[0] @ w.py[0] @ w.px, atol=1e-14)


def test_wasserstein_code_matches_scipy_batched() -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(7), size=4)
    q = rng.dirichlet(np.ones(7), size=4)
    expected = [wasserstein_distance(a, b) for a, b in zip(p, q, strict=True)]
    np.testing.assert_allclose(wasserstein_code(p, q), expected, atol=1e-15)
    assert wasserstein_states(p[0], p[0]) == 0.0


def test_same_seed_same_value_and_global_rng_untouched() -> None:
    # reads the legacy global numpy state on purpose: it must stay untouched
    rng = np.random.default_rng(2)
    sim_x, sim_y = random_sim(rng, 6), random_sim(rng, 18)
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    py_state = random.getstate()
    a = inv_entropy(sim_x, sim_y, 3, B=10, seed=4)
    b = inv_entropy(sim_x, sim_y, 3, B=10, seed=4)
    c = inv_entropy(sim_x, sim_y, 3, B=10, seed=5)
    assert a == b
    assert a != c
    after = np.random.get_state()[1]  # noqa: NPY002
    assert np.array_equal(after, state)
    assert random.getstate() == py_state


def test_bootstrap_indices_stay_in_their_blocks_and_distinct_mode() -> None:
    idx = bootstrap_indices(4, 3, 500, seed=0)
    assert idx.shape == (500, 4)
    assert np.array_equal(idx // 3, np.broadcast_to(np.arange(4), (500, 4)))
    assert set(np.unique(idx[:, 2] % 3)) == {0, 1, 2}
    d = bootstrap_indices(3, 2, 8, seed=1, distinct=True)
    assert len({tuple(row) for row in d}) == 8
    with pytest.raises(ValueError, match="distinct draws"):
        bootstrap_indices(3, 2, 9, seed=1, distinct=True)


def test_return_draws_gives_every_draw() -> None:
    rng = np.random.default_rng(6)
    sim_x, sim_y = random_sim(rng, 4), random_sim(rng, 8)
    draws = inv_entropy(sim_x, sim_y, 2, B=12, seed=3, return_draws=True)
    assert draws.shape == (12,)
    assert draws.mean() == pytest.approx(inv_entropy(sim_x, sim_y, 2, B=12, seed=3))


def test_similarities() -> None:
    e = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(cos01(e), [[1, 0, 0.5], [0, 1, 0.5], [0.5, 0.5, 1]], atol=1e-15)
    np.testing.assert_allclose(abscos(e), [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-15)
    nli = np.zeros((2, 2, 3))
    nli[0, 1] = [0.1, 0.1, 0.8]
    nli[1, 0] = [0.5, 0.3, 0.2]
    np.testing.assert_allclose(nli_average(nli), [[1, 0.5], [0.5, 1]])
    for s in (cos01(e), abscos(e), nli_average(nli)):
        check_similarity(s)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN or inf"),
        (np.array([[1.0, -0.2], [-0.2, 1.0]]), "negative entries"),
        (np.array([[1.0, 0.2], [0.3, 1.0]]), "symmetric"),
        (np.array([[0.5, 0.2], [0.2, 1.0]]), "unit diagonal"),
        (np.ones((2, 3)), "square"),
    ],
)
def test_bad_similarities_are_rejected(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_similarity(matrix)
    good = eps_matrix(4, 0.5)
    with pytest.raises(ValueError, match=message):
        inv_entropy(good[:2, :2] if matrix.shape == (2, 2) else good, _tile(matrix), 2)


def _tile(m: np.ndarray) -> np.ndarray:
    # put the bad 2x2 block into a 4x4 answer matrix so the validation (not the shape) fails
    if m.shape != (2, 2):
        return m
    out = eps_matrix(4, 0.5)
    out[:2, :2] = m
    return out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"r": 0}, "r must be a positive integer"),
        ({"r": 2, "B": 0}, "B must be a positive integer"),
        ({"r": 3}, "not a multiple of r=3"),
        ({"r": 4}, "at least one perturbation"),
    ],
)
def test_bad_counts_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inv_entropy(eps_matrix(2, 0.5), eps_matrix(4, 0.5), **kwargs)


def test_mismatched_sizes_and_indices_are_rejected() -> None:
    with pytest.raises(ValueError, match="implies n\\+1 = 2 inputs"):
        inv_entropy(eps_matrix(3, 0.5), eps_matrix(4, 0.5), 2)
    with pytest.raises(ValueError, match="one of input i's answers"):
        inv_entropy(eps_matrix(2, 0.5), eps_matrix(4, 0.5), 2, indices=np.array([[2, 0]]))
    with pytest.raises(ValueError, match="shape \\(B, 2\\)"):
        inv_entropy(eps_matrix(2, 0.5), eps_matrix(4, 0.5), 2, indices=np.array([0, 2]))
