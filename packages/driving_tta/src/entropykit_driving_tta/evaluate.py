"""Open-loop evaluation on held-out logs (the navtest analogue), paired statistics and the
uncertainty AUROC.

Every method plans on the same decision frames; its chosen entry is scored with the teacher
scores of that frame (computed once, :class:`~entropykit_driving_tta.features.FrameSet`).
Frames of one episode are correlated, so every confidence interval is an episode-level
(cluster) bootstrap, and the p-value is a sign-flip permutation test on episode means.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entropykit_driving_tta.centaur import Planner, TTTConfig
from entropykit_driving_tta.features import (
    DECISION_EVERY,
    FIRST_FRAME,
    MAX_RANGE,
    METRIC_HEADS,
    frame_features,
)
from entropykit_driving_tta.model import HydraLite
from entropykit_driving_tta.sim import EpisodeLog
from entropykit_driving_tta.vocab import Vocabulary

COLUMNS = ("nc", "dac", "ttc", "comfort", "ep", "pdms")
TRIVIAL_RANGE = 40.0  # m: a frame with no object this close is "trivial" (NAVSIM-style filter)


@dataclass
class MethodRun:
    """Per-frame results of one method: chosen entries, their teacher metrics, timing."""

    name: str
    choice: np.ndarray
    metrics: dict[str, np.ndarray]
    info: list[dict[str, Any]] = field(default_factory=list)
    ms_per_decision: float = 0.0


def nontrivial_mask(frames: Any) -> np.ndarray:
    """Frames with an object within 40 m (agent feature x is scaled by 50 m, y by 10 m)."""
    a = frames.agents
    dist = np.hypot(a[..., 1] * 50.0, a[..., 2] * 10.0)
    near = (a[..., 0] > 0) & (dist <= min(TRIVIAL_RANGE, MAX_RANGE))
    return near.any(axis=-1)


def _metrics_of(frames: Any, choice: np.ndarray) -> dict[str, np.ndarray]:
    rows = np.arange(len(choice))
    out = {
        m: frames.teacher[rows, choice, j].astype(np.float64) for j, m in enumerate(METRIC_HEADS)
    }
    out["pdms"] = frames.pdms[rows, choice].astype(np.float64)
    return out


def run_method(
    name: str,
    model: HydraLite,
    vocab: Vocabulary,
    cfg: TTTConfig,
    frames: Any,
    logs: Sequence[EpisodeLog],
    seed: int = 0,
) -> MethodRun:
    """Plan every frame of ``frames`` (built from ``logs``) with one method.

    The buffer of each episode starts with the observations of the history frames before the
    first decision (NAVSIM scenes carry 1.5 s of history), then grows with every decision.
    """
    planner = Planner(model, vocab, cfg, seed=seed)
    choice = np.zeros(len(frames), dtype=np.int64)
    infos: list[dict[str, Any]] = [{}] * len(frames)
    elapsed = 0.0
    for e, log in enumerate(logs):
        idx = np.nonzero(frames.episode == e)[0]
        idx = idx[np.argsort(frames.frame[idx])]
        planner.reset()
        for t in range(0, FIRST_FRAME, DECISION_EVERY):
            planner.observe(*frame_features(log, t))
        for i in idx:
            a, s = frames.agents[i], frames.status[i]
            t0 = time.perf_counter()
            c, info = planner.plan(a, s)
            elapsed += time.perf_counter() - t0
            choice[i] = c
            infos[i] = info
    planner.reset()
    return MethodRun(
        name=name,
        choice=choice,
        metrics=_metrics_of(frames, choice),
        info=infos,
        ms_per_decision=1000 * elapsed / max(len(frames), 1),
    )


def reference_runs(frames: Any) -> dict[str, MethodRun]:
    """The privileged oracle (argmax teacher PDMS) and the IDM expert's own windows."""
    oracle = np.argmax(frames.pdms, axis=1)
    expert = {m: frames.expert_scores[:, j].astype(np.float64) for j, m in enumerate(METRIC_HEADS)}
    expert["pdms"] = frames.expert_pdms.astype(np.float64)
    return {
        "oracle": MethodRun("oracle", oracle, _metrics_of(frames, oracle)),
        "idm_expert": MethodRun("idm_expert", np.full(len(frames), -1), expert),
    }


def open_loop(
    model: HydraLite,
    vocab: Vocabulary,
    frames: Any,
    logs: Sequence[EpisodeLog],
    methods: Mapping[str, TTTConfig],
    seed: int = 0,
) -> dict[str, MethodRun]:
    """Every method on the same frames, plus the oracle and the expert."""
    if len(logs) != len(frames.seeds) or any(
        lg.seed != s for lg, s in zip(logs, frames.seeds, strict=True)
    ):
        raise ValueError("frames and logs disagree: build the frames from exactly these logs")
    vocab.check_matches(frames.vocab_hash, what="frame set")
    runs = {n: run_method(n, model, vocab, c, frames, logs, seed) for n, c in methods.items()}
    runs.update(reference_runs(frames))
    return runs


# -- statistics ---------------------------------------------------------------------------------
def episode_bootstrap(
    values: np.ndarray,
    episode: np.ndarray,
    n_boot: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Frame-weighted mean of ``values`` and its episode-level bootstrap CI."""
    values = np.asarray(values, dtype=np.float64)
    eps, inv = np.unique(episode, return_inverse=True)
    sums = np.bincount(inv, weights=values, minlength=len(eps))
    counts = np.bincount(inv, minlength=len(eps)).astype(np.float64)
    rng = np.random.default_rng([int(seed), 3])
    pick = rng.integers(0, len(eps), size=(int(n_boot), len(eps)))
    boot = sums[pick].sum(1) / counts[pick].sum(1)
    a = (1 - level) / 2
    return float(values.mean()), float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))


def sign_flip_pvalue(
    diff: np.ndarray, episode: np.ndarray, n_perm: int = 10_000, seed: int = 0
) -> float:
    """Two-sided sign-flip permutation p-value of the mean of per-episode mean differences."""
    eps, inv = np.unique(episode, return_inverse=True)
    means = np.bincount(inv, weights=diff) / np.bincount(inv)
    obs = abs(means.mean())
    if obs == 0:
        return 1.0
    rng = np.random.default_rng([int(seed), 5])
    signs = rng.choice([-1.0, 1.0], size=(int(n_perm), len(eps)))
    null = np.abs((signs * means).mean(1))
    return float((1 + np.sum(null >= obs - 1e-12)) / (1 + n_perm))


def paired_delta(
    a: np.ndarray, b: np.ndarray, episode: np.ndarray, n_boot: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Mean of a - b (frame-weighted), its episode-bootstrap 95% CI and sign-flip p-value."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean, lo, hi = episode_bootstrap(d, episode, n_boot, seed)
    return {"delta": mean, "lo": lo, "hi": hi, "p": sign_flip_pvalue(d, episode, n_boot, seed)}


def open_loop_table(
    runs: Mapping[str, MethodRun],
    episode: np.ndarray,
    mask: np.ndarray | None = None,
    base: str = "none",
    n_boot: int = 10_000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per method: sub-scores and PDMS (x100, NAVSIM's units), PDMS and TTC deltas
    against ``base`` with 95% CIs, and ms per decision."""
    mask = np.ones(len(episode), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    ep = np.asarray(episode)[mask]
    rows = []
    for name, run in runs.items():
        row: dict[str, Any] = {"method": name, "frames": int(mask.sum())}
        for c in COLUMNS:
            row[c] = 100 * float(run.metrics[c][mask].mean())
        if base in runs and name != base:
            for c in ("pdms", "ttc"):
                d = paired_delta(
                    run.metrics[c][mask], runs[base].metrics[c][mask], ep, n_boot, seed
                )
                row[f"d_{c}"] = 100 * d["delta"]
                row[f"d_{c}_lo"] = 100 * d["lo"]
                row[f"d_{c}_hi"] = 100 * d["hi"]
                row[f"d_{c}_p"] = d["p"]
        row["ms_per_decision"] = run.ms_per_decision
        rows.append(row)
    return rows


def uncertainty_auroc(run: MethodRun, mask: np.ndarray | None = None) -> list[dict[str, float]]:
    """AUROC of uncertainty scores (before any update) for predicting a failed frame
    (NC = 0 or PDMS < 0.5 of the base choice)."""
    from sklearn.metrics import roc_auc_score

    mask = np.ones(len(run.choice), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    fail = ((run.metrics["nc"] == 0) | (run.metrics["pdms"] < 0.5))[mask]
    rows = []
    for key, label in (
        ("h_before", "cluster entropy"),
        ("h_full", "full-vocabulary entropy"),
        ("one_minus_max_p", "1 - max p"),
        ("head_var", "head-score variance"),
    ):
        score = np.array([inf[key] for inf in run.info])[mask]
        auc = float(roc_auc_score(fail, score)) if 0 < fail.sum() < len(fail) else float("nan")
        rows.append(
            {"score": label, "auroc": auc, "failures": int(fail.sum()), "frames": int(mask.sum())}
        )
    return rows
