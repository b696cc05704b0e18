"""The end-to-end pipeline: perturb each question, answer every input r times, embed, and score
with Inv-Entropy, the other framework measures and the baselines.

Work is batched across questions: one ``generate`` call per kind of prompt, one ``encode`` call
for every distinct text, then per-question scoring (small matrices, vectorised over the bootstrap
draws). Generation goes through a disk cache so reruns do not regenerate.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_llm_uq.base import AnswerSet, Backend, Embedder, NLIModel
from entropykit_llm_uq.baselines import get_baseline
from entropykit_llm_uq.config import UQConfig
from entropykit_llm_uq.data import (
    LLMJudge,
    QAItem,
    answer_prompt,
    clean_answer,
    match_correctness,
)
from entropykit_llm_uq.method import framework_scores
from entropykit_llm_uq.perturb import get_perturber
from entropykit_llm_uq.similarity import get_similarity, nli_average

Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass
class QuestionResult:
    """Everything computed for one question.

    Attributes:
        item: the question and its gold answers.
        inputs: the question followed by its n perturbations.
        answers: (n+1) lists of r cleaned answers, one list per input.
        baseline_answers: the m answers to the question the baselines score.
        reference: the answer whose correctness is judged.
        correct: whether ``reference`` is right (None: the judge could not tell).
        scores: uncertainty by measure name (higher = more uncertain).
        sim_x: (n+1, n+1) input similarities used by the framework.
        sim_y: ((n+1) r, (n+1) r) answer similarities used by the framework.
    """

    item: QAItem
    inputs: list[str]
    answers: list[list[str]]
    baseline_answers: list[str]
    reference: str
    correct: bool | None
    scores: dict[str, float]
    sim_x: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))
    sim_y: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 0)))

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready flat record."""
        return {
            "id": self.item.id,
            "question": self.item.question,
            "gold": self.item.answers[0],
            "reference_answer": self.reference,
            "correct": self.correct,
            **self.scores,
            "inputs": self.inputs,
            "answers": self.answers,
            "baseline_answers": self.baseline_answers,
        }


@dataclass
class PipelineRun:
    """Results of :func:`run_pipeline` plus where the time went (seconds)."""

    results: list[QuestionResult]
    timings: dict[str, float] = field(default_factory=dict)

    def scores(self, name: str) -> np.ndarray:
        """(N,) uncertainty of measure ``name`` for every question."""
        return np.array([r.scores[name] for r in self.results], dtype=np.float64)

    def labels(self) -> np.ndarray:
        """(N,) correctness as 0/1 floats (NaN where unknown)."""
        return np.array(
            [np.nan if r.correct is None else float(r.correct) for r in self.results],
            dtype=np.float64,
        )


def perturb_questions(
    items: Sequence[QAItem],
    cfg: UQConfig,
    *,
    embedder: Embedder,
    backend: Backend | None = None,
    source: Any = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> list[list[str]]:
    """``cfg.n_perturb`` perturbations of every question with ``cfg.perturbation``.

    With ``cache_dir``, each question's perturbations are stored under
    ``cache_dir/perturbations/`` keyed by the question, method, n, seed, GAAP settings and the
    identities of the embedder, substitution source and (for paraphrases) backend.
    """
    perturber = get_perturber(cfg.perturbation)
    parts = {
        "method": cfg.perturbation,
        "n": cfg.n_perturb,
        "embedder": getattr(embedder, "identity", type(embedder).__name__),
    }
    if cfg.perturbation == "gaap":
        parts["gaap"] = asdict(cfg.gaap)
        parts["source"] = getattr(source, "identity", "default")
    if cfg.perturbation == "paraphrase" and backend is not None:
        parts["backend"] = backend.identity
    out = []
    loop = progress(list(enumerate(items))) if progress is not None else enumerate(items)
    for k, it in loop:
        key = {**parts, "question": it.question, "seed": seed + k}
        cached = _read_cached(cache_dir, key)
        if cached is not None and len(cached) == cfg.n_perturb:
            out.append(cached)
            continue
        pert = perturber(
            it.question,
            cfg.n_perturb,
            seed=seed + k,
            embedder=embedder,
            backend=backend,
            source=source,
            config=cfg.gaap,
        )
        _write_cached(cache_dir, key, pert)
        out.append(pert)
    return out


def _cache_file(cache_dir: str | Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return Path(cache_dir) / "perturbations" / digest[:2] / f"{digest}.json"


def _read_cached(cache_dir: str | Path | None, key: dict[str, Any]) -> list[str] | None:
    if cache_dir is None:
        return None
    path = _cache_file(cache_dir, key)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent or unreadable: recompute (and overwrite)
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value if ok else None


def _write_cached(cache_dir: str | Path | None, key: dict[str, Any], value: list[str]) -> None:
    if cache_dir is None:
        return
    path = _cache_file(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def _clean_all(texts: list[list[str]], questions: Sequence[str]) -> list[list[str]]:
    out = []
    for replies, q in zip(texts, questions, strict=True):
        cleaned = []
        for raw in replies:
            c = clean_answer(raw, q)
            cleaned.append(c if c else raw.strip())
        out.append(cleaned)
    return out


def _embed_unique(embedder: Embedder, texts: Iterable[str]) -> dict[str, np.ndarray]:
    unique = sorted(set(texts))
    vectors = embedder.encode(unique)
    return dict(zip(unique, vectors, strict=True))


def _correctness(
    items: Sequence[QAItem], refs: Sequence[str], cfg: UQConfig, backend: Backend, seed: int
) -> list[bool | None]:
    if cfg.correctness == "match":
        return [match_correctness(it, ref) for it, ref in zip(items, refs, strict=True)]
    judge = LLMJudge(backend, seed=seed)
    return list(
        judge.judge_many(
            [(it.question, it.answers[0], ref) for it, ref in zip(items, refs, strict=True)]
        )
    )


def run_pipeline(
    items: Sequence[QAItem],
    cfg: UQConfig,
    *,
    backend: Backend,
    embedder: Embedder,
    perturbations: Sequence[Sequence[str]],
    nli: NLIModel | None = None,
    seed: int = 0,
    temperature: float | None = None,
    judge: bool = True,
    progress: Progress | None = None,
) -> PipelineRun:
    """Answer, embed and score every question.

    Args:
        items: the questions with gold answers.
        cfg: pipeline settings (``n_perturb``, ``replicates``, ``bootstrap``, ``similarity``,
            ``baselines``...).
        backend: answers the prompts (wrap it in a ``CachedBackend`` to avoid regenerating).
        embedder: embeds inputs and answers.
        perturbations: ``cfg.n_perturb`` perturbations per question (from
            :func:`perturb_questions`; reuse them across temperatures for TSU).
        nli: optional NLI model for the ``nli`` similarity and NLI-based baselines.
        seed: generation and bootstrap seed.
        temperature: sampling temperature (default ``cfg.temperature``).
        judge: judge correctness (False for questions without gold answers: ``correct`` is None).
        progress: wraps the per-question scoring loop (e.g. tqdm).
    """
    if len(perturbations) != len(items):
        raise ValueError(
            f"got perturbations for {len(perturbations)} questions but {len(items)} questions"
        )
    for it, pert in zip(items, perturbations, strict=True):
        if len(pert) != cfg.n_perturb:
            raise ValueError(
                f"question {it.id!r} has {len(pert)} perturbations, expected n_perturb="
                f"{cfg.n_perturb}; Inv-Entropy is only comparable at equal n"
            )
    temp = cfg.temperature if temperature is None else temperature
    r, m = cfg.replicates, cfg.baseline_samples
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    orig_prompts = [answer_prompt(it.question) for it in items]
    pert_inputs = [p for pert in perturbations for p in pert]
    orig_raw = backend.generate(orig_prompts, max(r, m), temp, cfg.max_new_tokens, seed)
    pert_raw = backend.generate(
        [answer_prompt(p) for p in pert_inputs], r, temp, cfg.max_new_tokens, seed
    )
    if cfg.reference_answer == "greedy":
        ref_raw = [g[0] for g in backend.generate(orig_prompts, 1, 0.0, cfg.max_new_tokens, seed)]
    else:
        ref_raw = [o[0] for o in orig_raw]
    timings["generate_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    questions = [it.question for it in items]
    orig = _clean_all(orig_raw, questions)
    pert = _clean_all(pert_raw, pert_inputs)
    refs = [row[0] for row in _clean_all([[x] for x in ref_raw], questions)]
    correct = _correctness(items, refs, cfg, backend, seed) if judge else [None] * len(items)
    timings["correctness_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    all_texts = [*questions, *pert_inputs]
    for row in (*orig, *pert):
        all_texts.extend(row)
    vec = _embed_unique(embedder, all_texts)
    timings["embed_s"] = time.perf_counter() - t0

    sim_fn = None if cfg.similarity == "nli" else get_similarity(cfg.similarity)
    baselines = {name: get_baseline(name) for name in cfg.baselines}
    results = []
    t_nli = t_framework = t_baselines = 0.0
    loop = range(len(items))
    for k in progress(loop) if progress is not None else loop:
        inputs = [questions[k], *perturbations[k]]
        answers = [orig[k][:r], *pert[k * cfg.n_perturb : (k + 1) * cfg.n_perturb]]
        flat = [a for row in answers for a in row]
        t1 = time.perf_counter()
        nli_m = _pairwise(nli, orig[k][:m]) if nli is not None else None
        if sim_fn is None:
            sx = nli_average(_pairwise(nli, inputs))
            sy = nli_average(_pairwise(nli, flat))
        else:
            sx = sim_fn(np.stack([vec[t] for t in inputs]))
            sy = sim_fn(np.stack([vec[t] for t in flat]))
        t2 = time.perf_counter()
        scores = framework_scores(sx, sy, r, cfg.bootstrap, seed + k, distinct=cfg.distinct_draws)
        t3 = time.perf_counter()
        ans = AnswerSet(
            question=questions[k],
            answers=orig[k][:m],
            embeddings=np.stack([vec[t] for t in orig[k][:m]]),
            nli=nli_m,
            backend=backend,
        )
        for name, fn in baselines.items():
            scores[name] = float(fn(ans))
        t4 = time.perf_counter()
        t_nli += t2 - t1
        t_framework += t3 - t2
        t_baselines += t4 - t3
        results.append(
            QuestionResult(
                items[k], inputs, answers, orig[k][:m], refs[k], correct[k], scores, sx, sy
            )
        )
    timings.update(similarity_s=t_nli, framework_s=t_framework, baselines_s=t_baselines)
    return PipelineRun(results, timings)


def _pairwise(nli: NLIModel | None, texts: Sequence[str]) -> np.ndarray:
    from entropykit_llm_uq.embed import pairwise_nli

    if nli is None:
        raise ValueError("an NLI model is needed here; set nli_model to a local MNLI folder")
    return pairwise_nli(nli, list(texts))
