"""The end-to-end pipeline on scripted answers: TSU of Inv-Entropy, caches, correctness, NLI
similarity, and the predict path without gold answers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from entropykit_llm_uq.backends import CachedBackend, ScriptedBackend
from entropykit_llm_uq.config import UQConfig
from entropykit_llm_uq.data import QAItem, answer_prompt
from entropykit_llm_uq.embed import HashingEmbedder
from entropykit_llm_uq.evaluate import methods_of, metric_results, tsu_results
from entropykit_llm_uq.method import FRAMEWORK_MEASURES
from entropykit_llm_uq.metrics import tsu
from entropykit_llm_uq.pipeline import perturb_questions, run_pipeline
from entropykit_llm_uq.simulate import simulated_backend

WORDS = ["Lima", "Oslo", "Quito", "Hanoi", "Dakar", "Riga", "Suva", "Apia"]


def ladder_items(count: int) -> list[QAItem]:
    return [
        QAItem(f"q{k:02d}", f"What is the code word number {k}?", (WORDS[k % 8],))
        for k in range(count)
    ]


def ladder_backend(items: list[QAItem]) -> ScriptedBackend:
    """Every prompt about item k answers among 4 words with fixed logits (gold first)."""

    def answer(prompt: str) -> tuple[list[str], list[float]]:
        k = int(re.search(r"number (\d+)", prompt).group(1))
        words = [WORDS[(k + j) % 8] for j in range(4)]
        return words, [2.0, 1.0, 0.5, 0.0]

    return ScriptedBackend(answer, name="ladder")


def template_cfg(**kw: object) -> UQConfig:
    base = {
        "n_perturb": 4,
        "replicates": 4,
        "bootstrap": 30,
        "perturbation": "template",
        "embedder": "hashing",
        "baselines": ["semantic_entropy", "degmat"],
    }
    base.update(kw)
    return UQConfig(**base)


def test_inv_entropy_rises_with_temperature_on_scripted_answers() -> None:
    items = ladder_items(50)
    cfg = template_cfg()
    emb = HashingEmbedder()
    backend = ladder_backend(items)
    perts = perturb_questions(items, cfg, embedder=emb, seed=0)
    runs = {
        t: run_pipeline(
            items, cfg, backend=backend, embedder=emb, perturbations=perts, temperature=t
        )
        for t in (0.3, 1.0, 2.0)
    }
    table = tsu_results(runs, ["inv_entropy"])
    assert table["inv_entropy"]["TSU(0.3-2)"] >= 80.0
    # a constant score never rises
    assert tsu({t: np.zeros(50) for t in runs}) == 0.0


def test_pipeline_records_every_measure_and_the_scale() -> None:
    items = ladder_items(6)
    cfg = template_cfg(replicates=3, bootstrap=10)
    emb = HashingEmbedder()
    perts = perturb_questions(items, cfg, embedder=emb, seed=1)
    run = run_pipeline(
        items, cfg, backend=ladder_backend(items), embedder=emb, perturbations=perts, seed=1
    )
    res = run.results[0]
    assert set(res.scores) == set(methods_of(cfg))
    assert len(res.inputs) == 5
    assert [len(a) for a in res.answers] == [3] * 5
    assert res.sim_x.shape == (5, 5)
    assert res.sim_y.shape == (15, 15)
    assert res.correct is True  # greedy picks the gold word
    # n + 1 inputs bound the pseudo-entropy: q_i <= 1 and sum of -q log q <= (n+1)/e
    for r in run.results:
        assert 0.0 < r.scores["inv_entropy"] <= 5 / np.e + 1e-12
    assert set(run.timings) >= {"generate_s", "embed_s", "framework_s", "baselines_s"}


def test_generation_and_perturbation_caches_are_reused(tmp_path: Path) -> None:
    items = ladder_items(4)
    cfg = template_cfg(replicates=2, bootstrap=5)
    emb = HashingEmbedder()
    cached = CachedBackend(ladder_backend(items), tmp_path / "gen")
    perts = perturb_questions(items, cfg, embedder=emb, seed=0, cache_dir=tmp_path)
    files = sorted((tmp_path / "perturbations").rglob("*.json"))
    assert len(files) == 4
    again = perturb_questions(items, cfg, embedder=emb, seed=0, cache_dir=tmp_path)
    assert again == perts
    first = run_pipeline(items, cfg, backend=cached, embedder=emb, perturbations=perts)
    misses = cached.misses
    second = run_pipeline(items, cfg, backend=cached, embedder=emb, perturbations=perts)
    assert cached.misses == misses  # nothing regenerated
    assert cached.hits > 0
    assert [r.scores for r in first.results] == [r.scores for r in second.results]


def test_judge_correctness_uses_the_backend() -> None:
    items = ladder_items(3)
    cfg = template_cfg(replicates=2, bootstrap=5, correctness="judge")
    base = ladder_backend(items)

    def answer(prompt: str) -> tuple[list[str], list[float]]:
        if prompt.startswith("Are the following two answers"):
            return ["No", "Yes"], [0.0, 5.0]
        return base.distribution(prompt)

    emb = HashingEmbedder()
    perts = perturb_questions(items, cfg, embedder=emb)
    run = run_pipeline(
        items,
        cfg,
        backend=ScriptedBackend(answer, name="judge"),
        embedder=emb,
        perturbations=perts,
    )
    assert [r.correct for r in run.results] == [True, True, True]


class KeywordNLI:
    """Entailment when both texts share their last word, contradiction otherwise."""

    identity = "keyword-nli"

    def probs(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        same = np.array(
            [p.split()[-1] == h.split()[-1] for p, h in zip(premises, hypotheses, strict=True)]
        )
        return np.where(same[:, None], [[0.05, 0.05, 0.9]], [[0.8, 0.1, 0.1]])


def test_nli_similarity_and_nli_baselines() -> None:
    items = ladder_items(3)
    cfg = template_cfg(replicates=2, bootstrap=5, similarity="nli", nli_model="given")
    emb = HashingEmbedder()
    perts = perturb_questions(items, cfg, embedder=emb)
    run = run_pipeline(
        items,
        cfg,
        backend=ladder_backend(items),
        embedder=emb,
        perturbations=perts,
        nli=KeywordNLI(),
    )
    res = run.results[0]
    assert np.allclose(np.diag(res.sim_y), 1.0)
    assert set(np.unique(np.round(res.sim_y, 6))) <= {0.1, 0.9, 1.0}
    assert all(np.isfinite(list(r.scores.values())).all() for r in run.results)


def test_questions_without_gold_are_not_judged() -> None:
    items = [QAItem("x", "What is the code word number 3?", ("(no gold answer)",))]
    cfg = template_cfg(replicates=2, bootstrap=5)
    emb = HashingEmbedder()
    perts = perturb_questions(items, cfg, embedder=emb)
    run = run_pipeline(
        items, cfg, backend=ladder_backend(items), embedder=emb, perturbations=perts, judge=False
    )
    assert run.results[0].correct is None
    assert np.isnan(run.labels()).all()


def test_simulated_backend_links_difficulty_and_correctness() -> None:
    from entropykit_llm_uq.data import factual_qa

    items = factual_qa(40, seed=2)
    cfg = UQConfig.quick()
    emb = HashingEmbedder()
    backend = simulated_backend(items, seed=2)
    perts = perturb_questions(items, cfg, embedder=emb, seed=2)
    run = run_pipeline(items, cfg, backend=backend, embedder=emb, perturbations=perts, seed=2)
    table = metric_results(run, list(FRAMEWORK_MEASURES), n_boot=10)
    assert 0.2 < table["accuracy"] < 0.8
    assert table["metrics"]["inv_entropy"]["auroc"][0] > 0.5
    with pytest.raises(ValueError, match="knows no question close to"):
        backend.generate(
            [answer_prompt("Completely unrelated zebra xylophone query")], 1, 0.7, 8, 0
        )


def test_wrong_number_of_perturbations_is_rejected() -> None:
    items = ladder_items(2)
    cfg = template_cfg()
    with pytest.raises(ValueError, match="expected n_perturb=4"):
        run_pipeline(
            items,
            cfg,
            backend=ladder_backend(items),
            embedder=HashingEmbedder(),
            perturbations=[["a"] * 4, ["b"] * 3],
        )
    with pytest.raises(ValueError, match="perturbations for 1 questions but 2"):
        run_pipeline(
            items,
            cfg,
            backend=ladder_backend(items),
            embedder=HashingEmbedder(),
            perturbations=[["a"] * 4],
        )
