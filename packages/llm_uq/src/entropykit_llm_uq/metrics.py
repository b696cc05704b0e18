"""Evaluation of uncertainty scores against correctness labels, and the TSU metric.

Conventions: ``correct`` is a (N,) array of 0/1 labels (1 = the answer to question i is correct),
``uncertainty`` a (N,) array of finite scores where HIGHER means MORE uncertain. Every metric works
on the confidence ``c = -uncertainty``.

- :func:`auroc`: ROC AUC of ``c`` for separating correct from wrong answers (0.5 = chance).
- :func:`prr_ap`: the "PRR" the Inv-Entropy code reports: ``AP(correct, c) / AP(correct, correct)``,
  i.e. the area under the precision-recall curve of ``c`` for correctness (the oracle AP is 1).
  Use it to compare with the paper's tables.
- :func:`prr`: the Malinin-Gales prediction-rejection ratio (area between rejection curves).
- :func:`isotonic_brier`: Brier score after an in-sample isotonic calibration of ``c``.
- :func:`paired_bootstrap`: mean and std of the metrics over resampled question sets, one index
  draw per replicate shared by all methods and the labels.
- :func:`tsu`: Temperature Sensitivity of Uncertainty, the percentage of questions whose score rises
  with the sampling temperature (needs no labels).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "UndefinedMetricError",
    "auroc",
    "isotonic_brier",
    "metric_table",
    "paired_bootstrap",
    "prr",
    "prr_ap",
    "tsu",
]


class UndefinedMetricError(ValueError):
    """The metric has no value on these labels (all questions correct, or all wrong)."""


def _check(correct: Any, uncertainty: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated (labels as int64 0/1, uncertainty as float64), both (N,)."""
    y = np.asarray(correct)
    u = np.asarray(uncertainty, dtype=np.float64)
    if y.ndim != 1 or u.ndim != 1:
        raise ValueError(
            f"correct and uncertainty must be 1-D arrays of one value per question, got shapes "
            f"{y.shape} and {u.shape}; flatten them or pass one score per question"
        )
    if y.shape[0] != u.shape[0]:
        raise ValueError(
            f"correct has {y.shape[0]} labels but uncertainty has {u.shape[0]} scores; pass "
            "exactly one label and one score per question, in the same order"
        )
    if y.shape[0] == 0:
        raise ValueError("no questions: correct and uncertainty are empty; pass at least two")
    y_float = y.astype(np.float64)
    if not np.all(np.isin(y_float, (0.0, 1.0))):
        raise ValueError(
            "correct must hold only 0/1 (or False/True) labels; drop questions whose correctness "
            "is unknown (NaN) before computing metrics"
        )
    if not np.all(np.isfinite(u)):
        bad = int(np.count_nonzero(~np.isfinite(u)))
        raise ValueError(
            f"uncertainty has {bad} non-finite value(s) (NaN/inf); fix or drop those questions "
            "before computing metrics"
        )
    return y_float.astype(np.int64), u


def _require_both_classes(y: np.ndarray, metric: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        state = "correct" if n_pos else "wrong"
        raise UndefinedMetricError(
            f"{metric} is undefined when all {y.shape[0]} answers are {state}; it needs both "
            "correct and wrong answers (use more questions)"
        )


def auroc(correct: Any, uncertainty: Any) -> float:
    """Area under the ROC curve of the confidence ``-uncertainty`` for predicting correctness.

    Args:
        correct: (N,) 0/1 labels. uncertainty: (N,) finite scores, higher = more uncertain.

    Returns:
        AUROC in [0, 1]; 1 = every correct answer is less uncertain than every wrong one, 0.5 =
        chance, 0 = reversed. Ties count one half.

    Raises:
        UndefinedMetricError (a ValueError) when all labels are equal; ValueError for shape,
        label or finiteness problems.
    """
    from sklearn.metrics import roc_auc_score

    y, u = _check(correct, uncertainty)
    _require_both_classes(y, "AUROC")
    return float(roc_auc_score(y, -u))


def prr_ap(correct: Any, uncertainty: Any) -> float:
    """The Inv-Entropy code's "PRR": ``AP(correct, -uncertainty) / AP(correct, correct)``.

    ``AP`` is scikit-learn's average precision (step-wise area under the precision-recall curve
    of the confidence, correct answers as positives). The oracle AP is 1, so this is the AUPRC of
    the confidence; it is not the Malinin-Gales ratio (see :func:`prr`).

    Args:
        correct: (N,) 0/1 labels. uncertainty: (N,) finite scores, higher = more uncertain.

    Returns:
        A value in (0, 1]; 1 for a perfect ranking. Baseline (random scores) = accuracy.

    Raises:
        UndefinedMetricError when all labels are equal (with no wrong answers the AP is 1 for any
        score; with no correct answers it has no value).
    """
    from sklearn.metrics import average_precision_score

    y, u = _check(correct, uncertainty)
    _require_both_classes(y, "prr_ap")
    return float(average_precision_score(y, -u) / average_precision_score(y, y))


def _rejection_area(errors_removed: np.ndarray, n_err: int, n: int) -> float:
    """Area under the system-error curve ``e(k) = (n_err - removed(k)) / n`` for k = 0..n,
    over the rejected fraction k / n in [0, 1] (trapezoids; exact for piecewise-linear curves
    with knots at integers)."""
    curve = (n_err - errors_removed) / n
    return float(np.sum(curve[1:] + curve[:-1]) / (2 * n))


def prr(correct: Any, uncertainty: Any) -> float:
    """Malinin-Gales prediction-rejection ratio ``(A_rnd - A_unc) / (A_rnd - A_orc)``.

    The rejection curve is the one of Malinin & Gales: the k most uncertain answers (k = 0..N) are
    rejected and handed to an oracle that always answers correctly, and ``e(k)`` is the error rate
    of that combined system over ALL N questions, ``e(k) = #wrong among the N - k retained / N``.
    ``A`` is the area under ``e`` against the rejected fraction k/N in [0, 1]:

    - ``A_unc``: rejection in decreasing ``uncertainty``;
    - ``A_rnd``: random rejection, ``e(k) = err · (N - k) / N`` (err = overall error rate);
    - ``A_orc``: the oracle rejects the wrong answers first, ``e(k) = max(0, n_wrong - k) / N``.

    Ties in ``uncertainty`` are averaged: within a group of g tied answers holding h wrong ones,
    rejecting j of them removes j·h/g errors, the expected value over random orders of the group.
    The result therefore does not depend on the input order.

    Args:
        correct: (N,) 0/1 labels. uncertainty: (N,) finite scores, higher = more uncertain.

    Returns:
        PRR in [-1, 1]: 1 = oracle ranking, 0 = random, negative = worse than random.

    Raises:
        UndefinedMetricError when all labels are equal (the oracle and random curves coincide).
    """
    y, u = _check(correct, uncertainty)
    _require_both_classes(y, "PRR")
    n = y.shape[0]
    wrong = 1 - y
    n_err = int(wrong.sum())
    order = np.argsort(-u, kind="stable")
    u_sorted, w_sorted = u[order], wrong[order]
    # Knots of the tie-averaged curve: the boundaries between tie groups.
    starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
    knots = np.r_[starts, n]
    removed_at_knots = np.r_[0, np.cumsum(np.add.reduceat(w_sorted, starts))]
    k = np.arange(n + 1)
    removed_unc = np.interp(k, knots, removed_at_knots)
    removed_rnd = n_err * k / n
    removed_orc = np.minimum(k, n_err)
    a_unc = _rejection_area(removed_unc, n_err, n)
    a_rnd = _rejection_area(removed_rnd, n_err, n)
    a_orc = _rejection_area(removed_orc, n_err, n)
    return (a_rnd - a_unc) / (a_rnd - a_orc)


def isotonic_brier(correct: Any, uncertainty: Any) -> float:
    """Brier score of the confidence after isotonic calibration, fitted and scored in-sample.

    ``p = IsotonicRegression(out_of_bounds='clip').fit_transform(-uncertainty, correct)``, then
    ``mean((p - correct)^2)``. Fitting and scoring on the same questions, as the Inv-Entropy code
    does, makes the value optimistic (it is a lower bound on the held-out Brier score of this
    calibrator); it measures how well a monotone map of the score can fit the labels.

    Args:
        correct: (N,) 0/1 labels. uncertainty: (N,) finite scores, higher = more uncertain.

    Returns:
        Brier score in [0, 0.25] (lower is better); 0 for a perfect ranking or a single class.
    """
    from sklearn.isotonic import IsotonicRegression

    y, u = _check(correct, uncertainty)
    p = IsotonicRegression(out_of_bounds="clip").fit_transform(-u, y.astype(np.float64))
    return float(np.mean((p - y) ** 2))


#: Metrics by name: ``fn(correct, uncertainty) -> float``.
METRICS: dict[str, Callable[[Any, Any], float]] = {
    "auroc": auroc,
    "prr_ap": prr_ap,
    "prr": prr,
    "brier": isotonic_brier,
}


def _as_generator(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def paired_bootstrap(
    correct: Any,
    scores: Mapping[str, Any],
    metrics: Sequence[str] = ("auroc", "prr_ap", "prr", "brier"),
    n_boot: int = 100,
    seed: int | np.random.Generator = 42,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Bootstrap mean and std of each metric for each method, resampling questions.

    Each replicate draws N question indices with replacement ONCE; the labels and every method's
    scores are indexed with that same draw, so methods are compared on identical question sets.
    The std is the bootstrap standard deviation over replicates (``ddof=0``, as in the paper's code,
    which uses 100 replicates; the paper reports 40).

    Args:
        correct: (N,) 0/1 labels.
        scores: method name -> (N,) uncertainty scores (higher = more uncertain).
        metrics: names from :data:`METRICS`.
        n_boot: number of replicates (>= 1).
        seed: int or ``numpy.random.Generator`` for the index draws.

    Returns:
        ``{method: {metric: (mean, std)}}``. Replicates where a metric is undefined (the draw
        holds a single class) are left out of that metric's mean and std, and a ``RuntimeWarning``
        says how many were left out.

    Raises:
        ValueError for an unknown metric name, an empty ``scores``, ``n_boot < 1``, or invalid
        labels/scores; UndefinedMetricError when a metric is undefined on the full label set.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(METRICS)}")
    if not metrics:
        raise ValueError(f"metrics is empty; choose at least one of {sorted(METRICS)}")
    if not scores:
        raise ValueError("scores is empty; pass {method name: (N,) uncertainty scores}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    from sklearn import config_context

    checked = {name: _check(correct, s) for name, s in scores.items()}
    y = next(iter(checked.values()))[0]
    for name in metrics:
        if name != "brier":
            _require_both_classes(y, name)
    n = y.shape[0]
    draws = _as_generator(seed).integers(0, n, size=(int(n_boot), n))
    n_correct = y[draws].sum(axis=1)
    single_class = (n_correct == 0) | (n_correct == n)

    out: dict[str, dict[str, tuple[float, float]]] = {}
    skipped: dict[str, int] = {}
    for method, (_, u) in checked.items():
        out[method] = {}
        for name in metrics:
            fn = METRICS[name]
            keep = draws if name == "brier" else draws[~single_class]
            if keep.shape[0] == 0:
                raise UndefinedMetricError(
                    f"{name} is undefined on every one of the {n_boot} bootstrap replicates (each "
                    "drew a single class); use more questions or more replicates"
                )
            # inputs were validated once above; sklearn's per-call validation would dominate
            with config_context(skip_parameter_validation=True):
                values = np.array([fn(y[idx], u[idx]) for idx in keep])
            out[method][name] = (float(values.mean()), float(values.std()))
            if keep.shape[0] < n_boot:
                skipped[name] = int(n_boot - keep.shape[0])
    if skipped:
        detail = ", ".join(f"{k}: {v}" for k, v in skipped.items())
        warnings.warn(
            f"bootstrap replicates left out of {n_boot} because they drew a single class "
            f"({detail}); the reported mean and std use the rest",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


def metric_table(
    results: Mapping[str, Mapping[str, tuple[float, float]]], digits: int = 3
) -> list[list[str]]:
    """Rows of strings for a table of :func:`paired_bootstrap` results.

    Returns ``[["method", metric, ...], [method, "mean ± std", ...], ...]`` with the metrics in the
    order of the first method; every method must have the same metrics.
    """
    if not results:
        raise ValueError("results is empty; pass the output of paired_bootstrap")
    names = list(next(iter(results.values())))
    rows = [["method", *names]]
    for method, by_metric in results.items():
        if list(by_metric) != names:
            raise ValueError(
                f"method {method!r} has metrics {list(by_metric)}, expected {names}; build all "
                "rows from one paired_bootstrap call"
            )
        rows.append([method, *(f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in by_metric.values())])
    return rows


def tsu(scores_by_temperature: Any, strict: bool = True) -> float:
    """Temperature Sensitivity of Uncertainty (TSU), in percent.

    ``TSU = 100 · mean_q 1[s_q(T_1) < s_q(T_2) < ... < s_q(T_k)]`` for temperatures
    ``T_1 < ... < T_k``: the share of questions whose uncertainty rises strictly along the whole
    temperature chain. With ``strict=False`` ties count as rising (``<=``), so a constant score
    gives 100 instead of 0.

    Args:
        scores_by_temperature: either a (k, N) array whose rows are ordered by increasing
            temperature, or a mapping ``{temperature: (N,) scores}`` (sorted by temperature here).
            Scores must come from the same questions (and, for perturbation methods, the same
            perturbations and seeds) at every temperature.
        strict: strict ``<`` (the paper's definition) or ``<=``.

    Returns:
        TSU in [0, 100].

    Raises:
        ValueError for fewer than 2 temperatures, unequal lengths, no questions or NaN/inf.
    """
    if isinstance(scores_by_temperature, Mapping):
        temps = sorted(scores_by_temperature, key=float)
        rows = [np.asarray(scores_by_temperature[t], dtype=np.float64) for t in temps]
        if any(r.ndim != 1 for r in rows):
            raise ValueError("each temperature must map to a 1-D array of one score per question")
        lengths = {r.shape[0] for r in rows}
        if len(lengths) > 1:
            raise ValueError(
                f"score arrays have different lengths {sorted(lengths)} across temperatures; "
                "score the same questions at every temperature"
            )
        s = np.stack(rows) if rows else np.empty((0, 0))
    else:
        s = np.asarray(scores_by_temperature, dtype=np.float64)
        if s.ndim != 2:
            raise ValueError(
                f"scores_by_temperature must be a (k, N) array (rows = increasing temperatures) "
                f"or a {{temperature: scores}} mapping, got shape {s.shape}"
            )
    if s.shape[0] < 2:
        raise ValueError(f"TSU needs at least 2 temperatures, got {s.shape[0]}")
    if s.shape[1] == 0:
        raise ValueError("TSU needs at least one question; the score arrays are empty")
    if not np.all(np.isfinite(s)):
        raise ValueError(
            "scores_by_temperature contains NaN/inf; fix or drop those questions at every "
            "temperature"
        )
    steps = np.diff(s, axis=0)
    rising = np.all(steps > 0 if strict else steps >= 0, axis=0)
    return float(100.0 * rising.mean())
