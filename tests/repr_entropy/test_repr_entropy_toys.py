"""The DSE/DSMI toy generators and runners: data properties, estimator behaviour, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from entropykit_repr_entropy.toys import (
    MI_BASELINES,
    MIEstimators,
    blobs_with_corruption,
    intrinsic_dimension_data,
    run_dimension_sweep,
    run_intrinsic_dimension,
    run_label_corruption,
)
from sklearn.datasets import make_blobs

from entropykit_shared.testing import assert_bad_input, global_rng_fingerprint


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("distribution", ["uniform", "gaussian"])
def test_intrinsic_data_has_exactly_d_varying_coordinates(distribution):
    x = intrinsic_dimension_data(50, 30, 7, noise=0.0, distribution=distribution, seed=3)
    assert x.shape == (50, 30)
    assert x.dtype == np.float64
    varying = np.ptp(x, axis=0) > 0
    assert varying[:7].all()
    assert not varying[7:].any()
    assert np.unique(x[:, 7:]).size == 1  # one shared constant
    if distribution == "uniform":
        assert np.abs(x[:, :7]).max() <= 1.0
    else:
        assert np.abs(x[:, :7]).max() > 1.0


def test_intrinsic_data_full_dimension_and_paired_noise():
    full = intrinsic_dimension_data(40, 12, 12, noise=0.0, seed=1)
    assert (np.ptp(full, axis=0) > 0).all()
    clean = intrinsic_dimension_data(40, 12, 4, noise=0.0, seed=1)
    small = intrinsic_dimension_data(40, 12, 4, noise=0.1, seed=1)
    big = intrinsic_dimension_data(40, 12, 4, noise=0.5, seed=1)
    assert 0 < np.abs(small - clean).max() <= 0.1
    # one seed: the same clean points and the same noise pattern, scaled by the level
    np.testing.assert_allclose(big - clean, 5.0 * (small - clean), atol=1e-12)


def test_generators_are_seeded_and_leave_global_rngs_alone():
    np_before, torch_before = global_rng_fingerprint(), torch.get_rng_state()
    a = intrinsic_dimension_data(30, 8, 3, seed=5)
    x1, y1 = blobs_with_corruption(60, 4, corruption=0.5, seed=5)
    assert np.array_equal(a, intrinsic_dimension_data(30, 8, 3, seed=5))
    x2, y2 = blobs_with_corruption(60, 4, corruption=0.5, seed=5)
    assert np.array_equal(x1, x2)
    assert np.array_equal(y1, y2)
    assert not np.array_equal(a, intrinsic_dimension_data(30, 8, 3, seed=6))
    g1 = intrinsic_dimension_data(30, 8, 3, seed=np.random.default_rng(9))
    assert np.array_equal(g1, intrinsic_dimension_data(30, 8, 3, seed=np.random.default_rng(9)))
    assert global_rng_fingerprint() == np_before
    assert torch.equal(torch.get_rng_state(), torch_before)


def test_blobs_without_corruption_are_sklearns_blobs():
    x, y = blobs_with_corruption(300, 6, centers=4, corruption=0.0, noise=0.05, seed=11)
    ref_x, ref_y = make_blobs(
        n_samples=300,
        n_features=6,
        centers=4,
        cluster_std=1.0,
        center_box=(-10, 10),
        random_state=11,
    )
    assert x.shape == (300, 6)
    assert y.shape == (300,)
    assert y.dtype == np.int64
    assert np.array_equal(y, ref_y)
    assert 0 < np.abs(x - ref_x).max() <= 0.05


def test_label_corruption_shuffles_the_requested_share():
    n = 3000
    x0, y0 = blobs_with_corruption(n, 5, corruption=0.0, seed=2)
    for share in (0.3, 0.6, 1.0):
        x, y = blobs_with_corruption(n, 5, corruption=share, seed=2)
        assert np.array_equal(x, x0)  # only the labels depend on the corruption
        assert np.array_equal(np.bincount(y), np.bincount(y0))  # permuted among themselves
        p = np.bincount(y0) / n
        expected = share * (1.0 - np.sum(p**2))  # a swap within a class changes nothing
        assert abs(np.mean(y != y0) - expected) < 0.04, (share, np.mean(y != y0), expected)


# ----------------------------------------------------------------------------- runners
def test_dse_grows_with_intrinsic_dimension_while_cse_saturates():
    rows = run_intrinsic_dimension(
        dims=(2, 16, 64), n=300, ambient_dim=128, noises=(0.0, 0.01), sigma="median"
    )
    assert [(r["dim"], r["noise"], r["rep"]) for r in rows] == [
        (d, e, 0) for d in (2, 16, 64) for e in (0.0, 0.01)
    ]
    dse = {(r["dim"], r["noise"]): r["dse"] for r in rows}
    cse = {(r["dim"], r["noise"]): r["cse"] for r in rows}
    assert dse[(2, 0.01)] < dse[(16, 0.01)] < dse[(64, 0.01)]
    assert dse[(64, 0.01)] - dse[(2, 0.01)] > 2.0
    assert abs(dse[(64, 0.01)] - dse[(64, 0.0)]) < 0.05  # DSE barely sees 1 % noise
    log2n = math.log2(300)
    for d in (16, 64):
        assert cse[(d, 0.0)] == pytest.approx(log2n, abs=1e-9)
    # CSE sees the noise, not the dimension: 2 bits for 4 quadrants, log2 n once noisy
    assert cse[(2, 0.0)] == pytest.approx(2.0, abs=0.02)
    assert cse[(2, 0.01)] == pytest.approx(log2n, abs=1e-9)


def test_intrinsic_runner_repetitions_and_fixed_sigma():
    rows = run_intrinsic_dimension(dims=(3,), n=60, ambient_dim=10, noises=(0.1,), repetitions=2)
    assert len(rows) == 2
    assert set(rows[0]) == {"dim", "noise", "rep", "dse", "cse"}
    assert rows[0]["dse"] != rows[1]["dse"]
    assert all(0.0 <= r["dse"] <= math.log2(60) for r in rows)
    assert rows == run_intrinsic_dimension(
        dims=(3,), n=60, ambient_dim=10, noises=(0.1,), repetitions=2
    )


def test_dsmi_falls_with_label_corruption_and_baselines_behave():
    rows = run_label_corruption(
        (0.0, 0.5, 1.0),
        dim=20,
        n=600,
        estimators=MIEstimators(baselines=("csmi", "binned_mi", "ksg", "ross")),
    )
    assert [r["corruption"] for r in rows] == [0.0, 0.5, 1.0]
    assert set(rows[0]) == {"corruption", "rep", "dsmi", "csmi", "binned_mi", "ksg", "ross"}
    dsmi = [r["dsmi"] for r in rows]
    assert dsmi[0] > dsmi[1] > dsmi[2]
    assert dsmi[0] > 0.7
    assert abs(dsmi[2]) < 0.1
    ross = [r["ross"] for r in rows]
    assert ross[0] == pytest.approx(math.log2(3), abs=0.05)
    assert ross[0] > ross[1] > ross[2]
    # saturated bin codes: CSMI collapses to 0, the plug-in MI sticks near H(Y)
    assert all(abs(r["csmi"]) < 0.1 for r in rows)
    assert all(r["binned_mi"] > 1.5 for r in rows)
    assert rows[0]["ksg"] > rows[2]["ksg"]


def test_dimension_sweep_keeps_dsmi_where_ksg_collapses():
    rows = run_dimension_sweep((20, 200), n=300, estimators=MIEstimators(baselines=("ksg",)))
    assert [r["dim"] for r in rows] == [20, 200]
    assert set(rows[0]) == {"dim", "rep", "dsmi", "ksg"}
    high = rows[1]
    assert high["dsmi"] > 0.3
    assert abs(high["ksg"]) < 0.05


def test_mine_baseline_with_a_small_budget():
    torch_before = torch.get_rng_state()
    est = MIEstimators(baselines=("mine",), mine_epochs=60, mine_lr=1e-3, mine_batch_size=100)
    rows = run_label_corruption((0.0, 1.0), dim=5, n=300, estimators=est)
    assert set(rows[0]) == {"corruption", "rep", "dsmi", "mine"}
    assert rows[0]["mine"] > 0.8
    assert rows[0]["mine"] - rows[1]["mine"] > 0.6
    assert torch.equal(torch.get_rng_state(), torch_before)


def test_numeric_sigma_is_passed_through():
    def run(**kw):
        return run_label_corruption(
            (0.0,), dim=4, n=90, estimators=MIEstimators(baselines=(), **kw)
        )

    a = run(sigma=2.0)
    b = run(sigma=float(np.sqrt(4)))
    c = run()
    assert a == b == c
    assert set(a[0]) == {"corruption", "rep", "dsmi"}
    d = run(sigma="median")
    assert d[0]["dsmi"] != c[0]["dsmi"]


def test_default_estimators_are_the_paper_settings_and_none_means_them():
    est = MIEstimators()
    assert est.baselines == ("csmi", "ksg")
    assert (est.sigma, est.t, est.num_repetitions, est.max_n, est.k, est.csmi_bins) == (
        "sqrt_dim",
        1,
        5,
        10000,
        3,
        5,
    )
    assert (est.mine_epochs, est.mine_lr, est.mine_batch_size, est.mine_hidden) == (
        200,
        1e-4,
        500,
        100,
    )
    listed = MIEstimators(baselines=["ross", "ksg"])
    assert listed.baselines == ("ross", "ksg")  # a list is stored as a tuple: hashable
    assert hash(listed) == hash(MIEstimators(baselines=("ross", "ksg")))
    kw = dict(dim=4, n=90)
    default = run_label_corruption((0.0,), **kw)
    assert default == run_label_corruption((0.0,), estimators=MIEstimators(), **kw)
    assert set(default[0]) == {"corruption", "rep", "dsmi", "csmi", "ksg"}


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_problem():
    assert_bad_input(intrinsic_dimension_data, 10, 4, 5, match="intrinsic_dim = 5 exceeds")
    assert_bad_input(intrinsic_dimension_data, 1, 4, 2, match="n must be an int >= 2")
    assert_bad_input(intrinsic_dimension_data, 10, 4, 2, -0.1, match="noise must be")
    assert_bad_input(intrinsic_dimension_data, 10, 4, 2, distribution="cube", match="distribu")
    assert_bad_input(blobs_with_corruption, 50, corruption=1.5, match=r"corruption must lie")
    assert_bad_input(blobs_with_corruption, 50, corruption=-0.1, match=r"in \[0, 1\]")
    assert_bad_input(blobs_with_corruption, 1, match="n must be an int >= 2")
    assert_bad_input(blobs_with_corruption, 50, cluster_std=0.0, match="cluster_std")
    assert_bad_input(blobs_with_corruption, 50, center_box=(3, 3), match="center_box")
    assert_bad_input(
        run_intrinsic_dimension, dims=(4, 64), ambient_dim=32, match=r"dims \[64\] exceed"
    )
    assert_bad_input(run_intrinsic_dimension, dims=(), match="dims must hold")
    assert_bad_input(run_label_corruption, (0.0, 2.0), match="corruption must lie")
    assert_bad_input(run_label_corruption, n=1, match="n must be an int >= 2")
    assert_bad_input(MIEstimators, baselines=("npeet",), match="unknown baseline")
    assert_bad_input(MIEstimators, baselines="ksg", match="sequence of names")
    assert_bad_input(MIEstimators, baselines=("ksg", "ksg"), match="repeated")
    assert_bad_input(run_dimension_sweep, dims=(0,), match="dims entries must be an int >= 1")
    assert_bad_input(MIEstimators, mine_lr=0.0, match="mine_lr must be > 0")
    assert_bad_input(MIEstimators, mine_batch_size=1, match="mine_batch_size must be")
    assert_bad_input(MIEstimators, k=0, match="k must be an int >= 1")
    assert_bad_input(run_label_corruption, estimators={"k": 3}, match="estimators must be an MIE")
    assert_bad_input(run_dimension_sweep, estimators={"k": 3}, match="estimators must be an MIE")
    assert set(MI_BASELINES) == {"csmi", "binned_mi", "ksg", "ross", "mine"}
