"""The interfaces every piece of the pipeline talks through.

- :class:`Backend` generates answers (``generate``) and, when it can see token log-probabilities,
  scores fixed continuations (``option_logprobs``, used by P(True)).
- :class:`Embedder` maps texts to unit-norm vectors (``encode``).
- :class:`NLIModel` gives entailment probabilities for text pairs (``probs``).
- :class:`AnswerSet` is what an uncertainty baseline sees for one question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Column order of :meth:`NLIModel.probs` (the MNLI convention of DeBERTa-MNLI models).
NLI_LABELS: tuple[str, str, str] = ("contradiction", "neutral", "entailment")


@runtime_checkable
class Backend(Protocol):
    """A text generator. ``identity`` names the model and settings that change outputs (it keys the
    generation cache), ``supports_logprobs`` says whether :meth:`option_logprobs` works."""

    identity: str
    supports_logprobs: bool

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """``n`` sampled completions for each prompt (chat formatting is the backend's job):
        ``out[i][k]`` is the k-th answer to ``prompts[i]``. ``temperature == 0`` means greedy.
        The same ``seed`` gives the same answers."""
        ...

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """(len(prompts), len(options)) natural-log probabilities that the assistant's reply to
        each prompt starts with each option. Raises ``NotImplementedError`` when
        ``supports_logprobs`` is False."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Sentence embedder; ``identity`` names the model."""

    identity: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) float32 array of L2-normalised embeddings."""
        ...


@runtime_checkable
class NLIModel(Protocol):
    """Natural-language-inference classifier; ``identity`` names the model."""

    identity: str

    def probs(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """(len(premises), 3) probabilities in the order of :data:`NLI_LABELS`."""
        ...


@dataclass
class AnswerSet:
    """The m sampled answers to one question, with what baselines may need.

    Attributes:
        question: the original question.
        answers: the m sampled answers (cleaned text).
        embeddings: (m, d) unit-norm embeddings of ``answers``.
        nli: optional (m, m, 3) NLI probabilities, ``nli[i, j]`` for premise i, hypothesis j,
            in the order of :data:`NLI_LABELS`.
        backend: the generator, for baselines that query the model again (P(True)).
        extra: anything else a custom baseline needs.
    """

    question: str
    answers: list[str]
    embeddings: np.ndarray
    nli: np.ndarray | None = None
    backend: Backend | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = len(self.answers)
        if m < 1:
            raise ValueError("AnswerSet needs at least one answer")
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != m:
            raise ValueError(
                f"embeddings must have shape ({m}, d) for {m} answers, got {self.embeddings.shape}"
            )
        if self.nli is not None and self.nli.shape != (m, m, 3):
            raise ValueError(f"nli must have shape ({m}, {m}, 3), got {self.nli.shape}")
