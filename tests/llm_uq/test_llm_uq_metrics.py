"""Evaluation metrics and TSU on hand-made labels and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from entropykit_llm_uq.metrics import (
    METRICS,
    UndefinedMetricError,
    auroc,
    isotonic_brier,
    metric_table,
    paired_bootstrap,
    prr,
    prr_ap,
    tsu,
)
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, roc_auc_score

CORRECT = np.array([1, 1, 0, 0, 1, 0])
PERFECT = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7])  # every correct answer less uncertain


def test_registry_names() -> None:
    assert set(METRICS) == {"auroc", "prr_ap", "prr", "brier"}


def test_perfect_ranking() -> None:
    assert auroc(CORRECT, PERFECT) == 1.0
    assert prr_ap(CORRECT, PERFECT) == pytest.approx(1.0)
    assert prr(CORRECT, PERFECT) == pytest.approx(1.0)
    assert isotonic_brier(CORRECT, PERFECT) == pytest.approx(0.0)


def test_reversed_ranking() -> None:
    assert auroc(CORRECT, -PERFECT) == 0.0
    # Rejecting the correct answers first: the reversed curve mirrors the oracle around random.
    assert prr(CORRECT, -PERFECT) == pytest.approx(-1.0)
    assert prr_ap(CORRECT, -PERFECT) < 1.0


def test_random_scores_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    u = rng.normal(size=60)
    assert auroc(y, u) == pytest.approx(roc_auc_score(y, -u), abs=1e-12)
    assert prr_ap(y, u) == pytest.approx(average_precision_score(y, -u), abs=1e-12)
    p = IsotonicRegression(out_of_bounds="clip").fit_transform(-u, y)
    assert isotonic_brier(y, u) == pytest.approx(np.mean((p - y) ** 2), abs=1e-12)


def test_bool_labels_accepted() -> None:
    assert auroc(CORRECT.astype(bool), PERFECT) == 1.0


def test_malinin_prr_hand_example() -> None:
    # Reject order (most uncertain first): idx1 wrong, idx2 right, idx3 wrong, idx0 right.
    # N * e(k), k = 0..4: uncertainty [2,1,1,0,0], random [2,1.5,1,.5,0], oracle [2,1,0,0,0].
    # Trapezoid areas (x16): 3, 4, 2 -> PRR = (4 - 3) / (4 - 2).
    assert prr([1, 0, 1, 0], [0.1, 0.9, 0.5, 0.3]) == pytest.approx(0.5, abs=1e-12)


def test_malinin_prr_ties_are_averaged() -> None:
    # Tie group {0 wrong, 1 right} is rejected first: N * e(k) = [1, .5, 0, 0, 0] (mean over both
    # orders), random [1,.75,.5,.25,0], oracle [1,0,0,0,0]; areas (x16) 1, 2, .5 -> 2/3.
    y = np.array([0, 1, 1, 1])
    u = np.array([0.5, 0.5, 0.1, 0.1])
    assert prr(y, u) == pytest.approx(2 / 3, abs=1e-12)
    perm = np.array([1, 3, 0, 2])
    assert prr(y[perm], u[perm]) == pytest.approx(2 / 3, abs=1e-12)


def test_isotonic_brier_hand_value() -> None:
    # Sorted by confidence the labels are [0, 1, 0, 1]; PAVA fits [0, .5, .5, 1].
    assert isotonic_brier([1, 0, 1, 0], [0.1, 0.9, 0.5, 0.3]) == pytest.approx(0.125)


def test_single_class_undefined() -> None:
    for fn in (auroc, prr_ap, prr):
        with pytest.raises(UndefinedMetricError, match="all 3 answers are correct"):
            fn([1, 1, 1], [0.1, 0.2, 0.3])
    assert isotonic_brier([0, 0, 0], [0.1, 0.2, 0.3]) == 0.0


@pytest.mark.parametrize(
    ("y", "u", "msg"),
    [
        ([1, 0], [0.1, 0.2, 0.3], "2 labels but uncertainty has 3"),
        ([1, 0, 1], [0.1, np.nan, 0.3], "non-finite"),
        ([1, 0, 2], [0.1, 0.2, 0.3], "only 0/1"),
        ([1, 0, np.nan], [0.1, 0.2, 0.3], "only 0/1"),
        ([[1, 0]], [[0.1, 0.2]], "1-D"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs(y: list, u: list, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        auroc(y, u)


def test_bootstrap_perfect_score_is_exact() -> None:
    res = paired_bootstrap(CORRECT, {"perfect": PERFECT}, n_boot=30, seed=1)
    for name in ("auroc", "prr_ap", "prr"):
        mean, std = res["perfect"][name]
        assert mean == pytest.approx(1.0)
        assert std == pytest.approx(0.0, abs=1e-12)
    assert res["perfect"]["brier"] == pytest.approx((0.0, 0.0), abs=1e-12)


def test_bootstrap_is_paired_and_seeded() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    u = rng.normal(size=40) - y  # informative score
    res = paired_bootstrap(y, {"a": u, "b": u.copy()}, metrics=("auroc",), n_boot=20, seed=7)
    # One draw per replicate shared by labels and methods: recompute it by hand.
    draws = np.random.default_rng(7).integers(0, 40, size=(20, 40))
    vals = [roc_auc_score(y[d], -u[d]) for d in draws]
    assert res["a"]["auroc"] == pytest.approx((np.mean(vals), np.std(vals)), abs=1e-12)
    assert res["a"] == res["b"]
    again = paired_bootstrap(
        y, {"a": u}, metrics=("auroc",), n_boot=20, seed=np.random.default_rng(7)
    )
    assert again["a"] == res["a"]


def test_bootstrap_skips_single_class_replicates() -> None:
    y = np.array([1, 0, 0, 0])
    u = np.array([0.1, 0.5, 0.6, 0.7])
    with pytest.warns(RuntimeWarning, match=r"replicates left out of 50.*auroc: \d+"):
        res = paired_bootstrap(y, {"m": u}, metrics=("auroc", "brier"), n_boot=50, seed=0)
    assert res["m"]["auroc"] == pytest.approx((1.0, 0.0))


def test_bootstrap_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(CORRECT, {"m": PERFECT}, metrics=("ece",))
    with pytest.raises(ValueError, match="scores is empty"):
        paired_bootstrap(CORRECT, {})
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap(CORRECT, {"m": PERFECT}, n_boot=0)
    with pytest.raises(ValueError, match="6 labels but uncertainty has 5"):
        paired_bootstrap(CORRECT, {"m": PERFECT[:5]})
    with pytest.raises(UndefinedMetricError):
        paired_bootstrap(np.ones(6), {"m": PERFECT}, metrics=("auroc",))


def test_metric_table() -> None:
    rows = metric_table({"a": {"auroc": (0.5, 0.01)}, "b": {"auroc": (0.75, 0.125)}}, digits=2)
    assert rows == [["method", "auroc"], ["a", "0.50 ± 0.01"], ["b", "0.75 ± 0.12"]]
    with pytest.raises(ValueError, match="expected"):
        metric_table({"a": {"auroc": (0.5, 0.0)}, "b": {"prr": (0.5, 0.0)}})


TSU_SCORES = np.array(
    [
        [1.0, 1.0, 0.0, 2.0],
        [2.0, 1.0, 1.0, 3.0],
        [3.0, 2.0, 1.0, 1.0],
    ]
)


def test_tsu_strict_and_nonstrict() -> None:
    # q0 rises strictly; q1 and q2 rise with one tie; q3 falls at the end.
    assert tsu(TSU_SCORES) == 25.0
    assert tsu(TSU_SCORES, strict=False) == 75.0


def test_tsu_constant_score() -> None:
    const = np.full((4, 10), 0.3)
    assert tsu(const) == 0.0
    assert tsu(const, strict=False) == 100.0


def test_tsu_mapping_sorted_by_temperature() -> None:
    shuffled = {1.4: TSU_SCORES[2], 0.3: TSU_SCORES[0], 0.7: TSU_SCORES[1]}
    assert tsu(shuffled) == 25.0
    # Sorted: row 2 then row 0, only q3 rises (insertion order would give 75).
    assert tsu({1.4: TSU_SCORES[0], 0.3: TSU_SCORES[2]}) == 25.0


@pytest.mark.parametrize(
    ("scores", "msg"),
    [
        (np.ones((1, 5)), "at least 2 temperatures"),
        (np.array([[1.0, math.nan], [2.0, 3.0]]), "NaN"),
        (np.ones(5), r"\(k, N\)"),
        (np.ones((2, 0)), "at least one question"),
        ({0.3: [1.0, 2.0], 0.7: [1.0]}, "different lengths"),
    ],
)
def test_tsu_bad_inputs(scores: object, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        tsu(scores)
