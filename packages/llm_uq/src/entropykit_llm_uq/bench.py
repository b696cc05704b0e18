"""The paper's claim at CPU scale: on factual questions answered by SmolLM2-135M, does
Inv-Entropy predict wrong answers better than the baselines (AUROC, PRR, Brier), and does it rise
with temperature more reliably (TSU)? Also: where the time goes, and parity and speed against the
authors' ``inventropy`` package on the same similarity matrices."""

from __future__ import annotations

import contextlib
import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entropykit_llm_uq.config import DEFAULT_BASELINES, UQConfig
from entropykit_llm_uq.data import QAItem, factual_qa, load_questions
from entropykit_llm_uq.evaluate import methods_of, metric_results, tsu_results
from entropykit_llm_uq.factory import build_backend, build_embedder, build_nli, build_source
from entropykit_llm_uq.method import inv_entropy
from entropykit_llm_uq.pipeline import PipelineRun, Progress, perturb_questions, run_pipeline


@dataclass
class BenchConfig:
    """The bench: ``questions`` generated factual questions (or the file ``data``), scored at
    each temperature in ``temperatures`` (the metric table uses ``uq.temperature``)."""

    uq: UQConfig = field(
        default_factory=lambda: UQConfig(
            n_perturb=5, replicates=3, bootstrap=10, baselines=[*DEFAULT_BASELINES, "p_true"]
        )
    )
    questions: int = 100
    data: str = ""
    temperatures: list[float] = field(default_factory=lambda: [0.3, 0.7, 1.0, 1.4])
    n_boot: int = 100  # metric bootstrap replicates (official code: 100, seed 42)
    metric_seed: int = 42
    parity_repeats: int = 20  # timing repeats for the comparison with `inventropy`

    def __post_init__(self) -> None:
        if self.questions < 4:
            raise ValueError(
                f"questions must be >= 4 for AUROC to mean anything, got {self.questions}"
            )
        if len(set(self.temperatures)) < 2:
            raise ValueError(
                f"temperatures needs >= 2 distinct values for TSU, got {self.temperatures}"
            )
        if self.uq.temperature not in self.temperatures:
            raise ValueError(
                f"uq.temperature={self.uq.temperature} must be one of temperatures="
                f"{self.temperatures} (the metric table uses it)"
            )

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(uq=UQConfig.quick(), questions=30, n_boot=20, parity_repeats=3)


def load_items(data: str, n: int, seed: int) -> list[QAItem]:
    """Questions from the file ``data`` (first ``n``), or ``n`` generated factual questions."""
    if data:
        return load_questions(data)[:n]
    return factual_qa(n, seed=seed)


def authors_draws(seed: int, n_inputs: int, r: int, B: int) -> np.ndarray:
    """The (B, n_inputs) bootstrap draws the authors' code makes after ``random.seed(seed)``:
    ``random.randint`` per input, distinct tuples only (replayed on a private ``random.Random``,
    which yields the same sequence)."""
    rnd = random.Random(seed)
    draws: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(draws) < B:
        key = tuple(rnd.randint(q * r, (q + 1) * r - 1) for q in range(n_inputs))
        if key not in seen:
            seen.add(key)
            draws.append(key)
    return np.array(draws, dtype=np.int64)


def parity_with_inventropy(
    pairs: list[tuple[np.ndarray, np.ndarray]], r: int, B: int, repeats: int
) -> dict[str, Any] | None:
    """Inv-Entropy from the authors' ``inventropy`` package and from ours on each
    (sim_x, sim_y) pair, with the same (distinct) draws; None when the package is missing.

    Returns the largest absolute difference and the mean time per call of each.
    """
    try:
        from inventropy.core import compute_inv_entropy_with_sampling
    except ImportError:
        return None
    worst = 0.0
    t_ref = t_ours = 0.0
    for k, (sim_x, sim_y) in enumerate(pairs):
        n_inputs = sim_x.shape[0]
        sx_full = np.repeat(np.repeat(sim_x, r, 0), r, 1)  # the package wants one row per answer
        for rep in range(repeats):
            random.seed(1000 * k + rep)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # it prints every draw
                ref = compute_inv_entropy_with_sampling(sx_full, sim_y, n_inputs - 1, r, B)
            t_ref += time.perf_counter() - t0
            idx = authors_draws(1000 * k + rep, n_inputs, r, B)
            t0 = time.perf_counter()
            ours = inv_entropy(sim_x, sim_y, r, indices=idx)
            t_ours += time.perf_counter() - t0
            worst = max(worst, abs(ours - float(ref)))
    calls = len(pairs) * repeats
    return {
        "max_abs_diff": worst,
        "inventropy_ms": 1e3 * t_ref / calls,
        "ours_ms": 1e3 * t_ours / calls,
        "speedup": t_ref / t_ours if t_ours > 0 else float("inf"),
    }


def paper_setting_pairs(count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random (sim_x, sim_y) pairs at the paper's n = 9, r = 5 (|cos| of Gaussian vectors)."""
    from entropykit_llm_uq.similarity import abscos

    rng = np.random.default_rng(seed)
    return [
        (abscos(rng.normal(size=(10, 16))), abscos(rng.normal(size=(50, 16)))) for _ in range(count)
    ]


def run_bench(
    cfg: BenchConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the bench; returns metric and TSU tables, timings, parity and the per-temperature
    runs (``"runs"``)."""
    uq = cfg.uq
    items = load_items(cfg.data, cfg.questions, seed)
    t0 = time.perf_counter()
    backend = build_backend(
        uq.backend, items=items, seed=seed, device=device, cache_dir=uq.resolved_cache_dir()
    )
    embedder = build_embedder(uq, device)
    nli = build_nli(uq, device)
    source = build_source(uq) if uq.perturbation == "gaap" else None
    setup_s = time.perf_counter() - t0
    log(f"perturbing {len(items)} questions ({uq.perturbation}, n={uq.n_perturb})")
    t0 = time.perf_counter()
    perts = perturb_questions(
        items,
        uq,
        embedder=embedder,
        backend=backend,
        source=source,
        seed=seed,
        cache_dir=uq.resolved_cache_dir(),
        progress=progress,
    )
    perturb_s = time.perf_counter() - t0
    runs: dict[float, PipelineRun] = {}
    for temp in sorted(cfg.temperatures):
        log(f"answering and scoring at T={temp}")
        runs[temp] = run_pipeline(
            items,
            uq,
            backend=backend,
            embedder=embedder,
            perturbations=perts,
            nli=nli,
            seed=seed,
            temperature=temp,
            progress=progress,
        )
    methods = methods_of(uq)
    main = runs[uq.temperature]
    table = metric_results(main, methods, n_boot=cfg.n_boot, seed=cfg.metric_seed)
    n = len(items)
    timing = {
        "setup_s": setup_s,
        "perturb_s_per_question": perturb_s / n,
        **{f"{k.removesuffix('_s')}_s_per_question": v / n for k, v in main.timings.items()},
    }
    return {
        "n_questions": n,
        "methods": methods,
        "metrics": table,
        "tsu": tsu_results(runs, methods, strict=True),
        "tsu_nonstrict": tsu_results(runs, methods, strict=False),
        "timing": timing,
        "parity": parity_with_inventropy(
            [(q.sim_x, q.sim_y) for q in main.results],
            uq.replicates,
            uq.bootstrap,
            cfg.parity_repeats,
        ),
        "parity_paper_setting": parity_with_inventropy(
            paper_setting_pairs(20, seed), 5, 30, cfg.parity_repeats
        ),
        "runs": runs,
    }
