"""A simulated answerer for tests and quick demos: no language model, but answers whose
uncertainty is tied to correctness the way a real model's is.

Each question gets a hidden difficulty d in [0, 1) (seeded, per question id). Its answer
distribution puts logit ``gold_margin * (1 - 2 d)`` on the gold answer and 0 on a few distractors
(gold answers of other questions of the same category), so easy questions are answered right
and consistently, hard ones wrongly (greedy picks a distractor once d > 0.5) and erratically.
A perturbed prompt is mapped to its question by string similarity and gets Gaussian logit noise
of scale ``perturb_noise * d``: hard questions are also more sensitive to rephrasing.
It is a stand-in with a known structure, not a model of any real LLM.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence

import numpy as np

from entropykit_llm_uq.backends import ScriptedBackend
from entropykit_llm_uq.data import ANSWER_SUFFIX, QAItem, answer_prompt


def _unit(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def simulated_backend(
    items: Sequence[QAItem],
    seed: int = 0,
    *,
    n_distractors: int = 3,
    gold_margin: float = 4.0,
    perturb_noise: float = 2.0,
) -> ScriptedBackend:
    """A :class:`ScriptedBackend` answering the answer prompts of ``items`` and any rephrasing
    of them (see the module docstring). Prompts far from every question raise ValueError."""
    if not items:
        raise ValueError("simulated_backend needs at least one QAItem")
    by_prompt = {answer_prompt(it.question): it for it in items}
    questions = {it.question: it for it in items}
    pools: dict[str, list[str]] = {}
    for it in items:
        pools.setdefault(it.category, []).append(it.answers[0])
    fallback = [f"option {k}" for k in range(1, n_distractors + 1)]
    tables: dict[str, tuple[list[str], np.ndarray, float]] = {}
    for it in items:
        rng = np.random.default_rng(_unit(seed, it.id))
        difficulty = float(rng.random())
        others = sorted({a for a in pools[it.category] if a != it.answers[0]})
        picks = [others[k] for k in rng.permutation(len(others))[:n_distractors]]
        picks += fallback[: n_distractors - len(picks)]
        logits = np.zeros(1 + n_distractors)
        logits[0] = gold_margin * (1.0 - 2.0 * difficulty)
        tables[it.id] = ([it.answers[0], *picks], logits, difficulty)

    def answer(prompt: str) -> tuple[list[str], list[float]]:
        item = by_prompt.get(prompt)
        exact = item is not None
        if item is None:
            # match the question part only: the shared answer suffix would make anything close
            text = prompt.removesuffix(ANSWER_SUFFIX).strip()
            close = difflib.get_close_matches(text, list(questions), n=1, cutoff=0.5)
            if not close:
                raise ValueError(
                    f"the simulated backend knows no question close to {prompt[:80]!r}; it only "
                    "answers the questions it was built from"
                )
            item = questions[close[0]]
        candidates, logits, difficulty = tables[item.id]
        if not exact:
            noise = np.random.default_rng(_unit(seed, "noise", prompt)).normal(size=logits.shape)
            logits = logits + perturb_noise * difficulty * noise
        return list(candidates), [float(v) for v in logits]

    return ScriptedBackend(answer)
