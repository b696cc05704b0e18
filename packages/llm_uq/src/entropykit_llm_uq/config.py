"""Configuration dataclasses. Defaults are the paper's (n = 9 perturbations, r = 5 replicates,
B = 30 draws, T = 0.7, (1 + cos)/2 similarity); ``quick()`` presets run in seconds on a CPU with
the simulated backend and the hashing embedder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from entropykit_llm_uq.perturb import GAAPConfig

#: Baselines run by default. "p_true" needs a backend with token log-probabilities (the bundled
#: SmolLM2, local Hugging Face models, OpenAI-compatible servers); the demo and bench add it.
DEFAULT_BASELINES: tuple[str, ...] = (
    "semantic_entropy",
    "lexsim",
    "degmat",
    "eigval_laplacian",
    "kle",
    "luq",
)
PERTURBATIONS: tuple[str, ...] = ("gaap", "paraphrase", "template")
CORRECTNESS: tuple[str, ...] = ("match", "judge")
REFERENCE_ANSWERS: tuple[str, ...] = ("greedy", "first_sample")


@dataclass
class BackendConfig:
    """Which model answers.

    ``name``: ``smollm2`` (bundled SmolLM2-135M-Instruct), ``hf`` (a local Hugging Face model
    folder in ``path``), ``openai`` (an OpenAI-compatible server at ``base_url`` serving
    ``model``; the key, if any, from the environment variable ``api_key_env``), ``precomputed``
    (responses stored in the CSV/JSONL file ``path``) or ``simulated`` (a seeded answer
    distribution per question; for tests and quick demos only).
    """

    name: str = "smollm2"
    path: str = ""
    gguf_file: str = ""
    base_url: str = ""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    batch_size: int = 16
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.name in ("hf", "precomputed") and not self.path:
            raise ValueError(f"backend.name={self.name!r} needs backend.path (a local path)")
        if self.name == "openai" and not (self.base_url and self.model):
            raise ValueError(
                "backend.name='openai' needs backend.base_url (e.g. http://127.0.0.1:8000/v1) "
                "and backend.model"
            )
        if self.batch_size < 1 or self.concurrency < 1:
            raise ValueError("backend.batch_size and backend.concurrency must be >= 1")


@dataclass
class UQConfig:
    """The Inv-Entropy pipeline: perturb -> generate r answers per input -> embed -> score."""

    n_perturb: int = 9  # paper D.1: 9 perturbations, 10 inputs
    replicates: int = 5  # r, paper D.1
    bootstrap: int = 30  # B (the paper's S), paper D.1
    distinct_draws: bool = False  # True: the official code's distinct index tuples
    temperature: float = 0.7
    max_new_tokens: int = 32
    perturbation: str = "gaap"
    similarity: str = "cos01"  # paper; "abscos" = official code; "nli" needs nli_model
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))
    baseline_samples: int = 5  # m answers to the question for the baselines (official code)
    reference_answer: str = "greedy"  # the answer whose correctness is judged
    correctness: str = "match"  # normalised alias match; "judge" asks the backend
    embedder: str = "minilm"  # "minilm" (bundled), "hashing", or a local model folder
    nli_model: str = ""  # local MNLI model folder: NLI similarity and NLI baselines
    wordnet_dir: str = ""  # WordNet 3.0 dict folder for GAAP; "" = embedding neighbours
    cache_dir: str = ""  # generation cache; "" = $ENTROPYKIT_CACHE/llm_uq or ~/.cache/...
    backend: BackendConfig = field(default_factory=BackendConfig)
    gaap: GAAPConfig = field(default_factory=GAAPConfig)

    def __post_init__(self) -> None:
        for name in ("n_perturb", "replicates", "bootstrap", "baseline_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        choices = {
            "perturbation": PERTURBATIONS,
            "similarity": ("cos01", "abscos", "nli"),
            "reference_answer": REFERENCE_ANSWERS,
            "correctness": CORRECTNESS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.similarity == "nli" and not self.nli_model:
            raise ValueError("similarity='nli' needs nli_model (a local MNLI model folder)")

    def resolved_cache_dir(self) -> Path:
        """The generation cache folder."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        root = os.environ.get("ENTROPYKIT_CACHE")
        base = Path(root) if root else Path.home() / ".cache" / "entropykit"
        return base / "llm_uq"

    @classmethod
    def quick(cls) -> UQConfig:
        """Seconds on a CPU: simulated answers, hashing embeddings, template perturbations."""
        return cls(
            n_perturb=4,
            replicates=3,
            bootstrap=10,
            perturbation="template",
            embedder="hashing",
            backend=BackendConfig(name="simulated"),
            gaap=GAAPConfig.quick(),
        )


@dataclass
class DemoConfig:
    """A few generated factual questions answered by the bundled SmolLM2-135M (a smaller n, r
    and B than the paper so the demo takes about two minutes on a CPU)."""

    uq: UQConfig = field(
        default_factory=lambda: UQConfig(
            n_perturb=5, replicates=3, bootstrap=10, baselines=[*DEFAULT_BASELINES, "p_true"]
        )
    )
    questions: int = 8

    def __post_init__(self) -> None:
        if self.questions < 1:
            raise ValueError(f"questions must be >= 1, got {self.questions}")

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(uq=UQConfig.quick(), questions=16)


@dataclass
class EvaluateConfig:
    """Score a question file and compute the metric table (paired bootstrap over questions)."""

    uq: UQConfig = field(default_factory=UQConfig)
    limit: int = 0  # score only the first `limit` questions (0 = all)
    n_boot: int = 100  # official code: 100 replicates
    metric_seed: int = 42  # official code's seed

    def __post_init__(self) -> None:
        if self.limit < 0 or self.n_boot < 1:
            raise ValueError("limit must be >= 0 and n_boot >= 1")

    @classmethod
    def quick(cls) -> EvaluateConfig:
        return cls(uq=UQConfig.quick(), n_boot=20)


@dataclass
class PredictConfig:
    """Score questions without gold answers: uncertainty only."""

    uq: UQConfig = field(default_factory=UQConfig)

    @classmethod
    def quick(cls) -> PredictConfig:
        return cls(uq=UQConfig.quick())
