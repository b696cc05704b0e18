"""Figures of the llm_uq app: uncertainty against correctness, ROC curves, TSU bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from entropykit_llm_uq.pipeline import PipelineRun

from entropykit import pyplot

LABELS = {
    "inv_entropy": "Inv-Entropy",
    "ni_entropy": "NI-Entropy",
    "nr_inv_entropy": "NR-Inv-Entropy",
    "wd_px_py": "WD-px-py",
    "wd_px_py_states": "WD (states)",
    "max_py_x": "MAX-py-x",
    "max_py": "MAX-py (code)",
    "semantic_entropy": "Semantic entropy",
    "lexsim": "LexSim",
    "degmat": "DegMat",
    "eigval_laplacian": "EigValLaplacian",
    "kle": "KLE",
    "luq": "LUQ",
    "p_true": "P(True)",
}


def label(method: str) -> str:
    return LABELS.get(method, method)


def uncertainty_vs_correctness(run: PipelineRun, methods: Sequence[str]) -> Any:
    """One panel per method: each question's uncertainty, split by whether the answer was right
    (scores min-max scaled per method so the panels share an axis)."""
    plt = pyplot()
    y = run.labels()
    fig, ax = plt.subplots(figsize=(1.1 * len(methods) + 2.5, 4.0))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for k, m in enumerate(methods):
        s = run.scores(m)
        span = s.max() - s.min()
        z = (s - s.min()) / span if span > 0 else np.zeros_like(s)
        for cls, colour, shift in ((1.0, "tab:green", -0.15), (0.0, "tab:red", 0.15)):
            sel = y == cls
            ax.scatter(
                k + shift + rng.uniform(-0.07, 0.07, sel.sum()),
                z[sel],
                s=14,
                color=colour,
                alpha=0.7,
                label=("correct" if cls else "wrong") if k == 0 else None,
            )
    ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=35, ha="right")
    ax.set_ylabel("uncertainty (min-max scaled per method)")
    ax.set_title("Uncertainty of each question's answer, by correctness")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def roc_curves(run: PipelineRun, methods: Sequence[str]) -> Any:
    """ROC curves of confidence (= -uncertainty) for predicting a correct answer."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = pyplot()
    y = run.labels()
    keep = ~np.isnan(y)
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    for m in methods:
        c = -run.scores(m)[keep]
        fpr, tpr, _ = roc_curve(y[keep], c)
        auc = roc_auc_score(y[keep], c)
        ax.plot(fpr, tpr, lw=2.2 if m == "inv_entropy" else 1.0, label=f"{label(m)} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Predicting correct answers (AUROC)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def metric_bars(metrics: Mapping[str, Mapping[str, tuple[float, float]]], metric: str) -> Any:
    """Bars of one metric's bootstrap mean ± std per method."""
    plt = pyplot()
    methods = list(metrics)
    means = [metrics[m][metric][0] for m in methods]
    stds = [metrics[m][metric][1] for m in methods]
    fig, ax = plt.subplots(figsize=(0.7 * len(methods) + 2.5, 3.8))
    colours = ["tab:blue" if m == "inv_entropy" else "tab:grey" for m in methods]
    ax.bar(range(len(methods)), means, yerr=stds, color=colours, capsize=3)
    ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=35, ha="right")
    ax.set_ylabel(f"{metric} (bootstrap mean ± std)")
    if metric == "auroc":
        ax.axhline(0.5, color="black", ls=":", lw=1)
    fig.tight_layout()
    return fig


def tsu_bars(tsu: Mapping[str, Mapping[str, float]]) -> Any:
    """Grouped bars: TSU (%) of each method for each temperature chain."""
    plt = pyplot()
    methods = list(tsu)
    chains = list(next(iter(tsu.values())))
    width = 0.8 / len(chains)
    fig, ax = plt.subplots(figsize=(0.8 * len(methods) + 2.5, 3.8))
    for j, chain in enumerate(chains):
        ax.bar(
            np.arange(len(methods)) + (j - (len(chains) - 1) / 2) * width,
            [tsu[m][chain] for m in methods],
            width,
            label=chain,
        )
    ax.set_xticks(range(len(methods)), [label(m) for m in methods], rotation=35, ha="right")
    ax.set_ylabel("TSU (%)")
    ax.set_title("Share of questions whose uncertainty rises with temperature")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
