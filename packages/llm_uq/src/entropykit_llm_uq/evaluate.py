"""Evaluation: the metric table (AUROC, PRR, Brier with paired bootstrap std) and the TSU table
of a pipeline run, over Inv-Entropy, the framework's other measures and the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from entropykit_llm_uq.config import UQConfig
from entropykit_llm_uq.method import FRAMEWORK_MEASURES
from entropykit_llm_uq.metrics import paired_bootstrap, tsu
from entropykit_llm_uq.pipeline import PipelineRun

#: The paper's metrics in table order: AUROC, the official code's PRR (AP ratio), Malinin's PRR,
#: isotonic Brier (lower is better).
TABLE_METRICS: tuple[str, ...] = ("auroc", "prr_ap", "prr", "brier")


def methods_of(cfg: UQConfig) -> list[str]:
    """Every uncertainty score the pipeline computes for ``cfg``, Inv-Entropy first."""
    return [*FRAMEWORK_MEASURES, *cfg.baselines]


def metric_results(
    run: PipelineRun,
    methods: Sequence[str],
    *,
    n_boot: int = 100,
    seed: int = 42,
) -> dict[str, Any]:
    """Metrics of every method against correctness, with paired bootstrap mean ± std.

    Questions whose correctness is unknown (a judge that answered neither yes nor no) are left
    out and counted. Defaults follow the official code: 100 bootstrap replicates, seed 42.

    Returns:
        ``{"n_questions", "n_unjudged", "accuracy", "metrics": {method: {metric: (mean, std)}}}``.
    """
    labels = run.labels()
    known = ~np.isnan(labels)
    y = labels[known]
    if y.size == 0:
        raise ValueError("no question has a known correctness label; check the gold answers")
    if y.min() == y.max():
        raise ValueError(
            f"every judged answer is {'correct' if y[0] else 'wrong'} ({y.size} questions): "
            "AUROC and PRR need both; use more or harder questions"
        )
    scores = {m: run.scores(m)[known] for m in methods}
    return {
        "n_questions": int(known.sum()),
        "n_unjudged": int((~known).sum()),
        "accuracy": float(y.mean()),
        "metrics": paired_bootstrap(y, scores, TABLE_METRICS, n_boot=n_boot, seed=seed),
    }


def tsu_results(
    runs: Mapping[float, PipelineRun], methods: Sequence[str], *, strict: bool = True
) -> dict[str, dict[str, float]]:
    """TSU (percent) of every method over each chain of the temperatures in ``runs``: every
    adjacent pair, the (lowest, highest) pair and the whole chain (paper Tables 2 and 5).

    ``runs`` maps temperature -> the run at that temperature (same questions, perturbations and
    seeds); needs at least two temperatures.
    """
    temps = sorted(runs, key=float)
    if len(temps) < 2:
        raise ValueError(f"TSU needs runs at >= 2 temperatures, got {temps}")
    ids = [r.item.id for r in runs[temps[0]].results]
    for t in temps[1:]:
        if [r.item.id for r in runs[t].results] != ids:
            raise ValueError(f"the run at T={t} scored other questions than the run at {temps[0]}")
    chains: list[tuple[float, ...]] = list(pairwise(temps))
    if len(temps) > 2:
        chains += [(temps[0], temps[-1]), tuple(temps)]
    out: dict[str, dict[str, float]] = {}
    for m in methods:
        by_temp = {t: runs[t].scores(m) for t in temps}
        out[m] = {_chain_label(c): tsu({t: by_temp[t] for t in c}, strict=strict) for c in chains}
    return out


def _chain_label(chain: Sequence[float]) -> str:
    if len(chain) == 2:
        return f"TSU({chain[0]:g},{chain[1]:g})"
    return f"TSU({chain[0]:g}-{chain[-1]:g})"
