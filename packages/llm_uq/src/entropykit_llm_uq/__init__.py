"""entropykit-llm-uq: Inv-Entropy uncertainty of LLM answers (Song et al., NeurIPS 2025).

The measure::

    from entropykit_llm_uq import inv_entropy
    h = inv_entropy(sim_x, sim_y, r=5, B=30, seed=0)   # nats; higher = more uncertain

End to end (perturb -> generate -> embed -> score)::

    from entropykit_llm_uq import UQConfig, factual_qa, build_backend, build_embedder
    from entropykit_llm_uq import perturb_questions, run_pipeline

Names are imported on first use, so ``import entropykit_llm_uq`` is cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from entropykit_shared.lazy import lazy_exports

try:
    __version__ = version("entropykit-llm-uq")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS: dict[str, str] = {
    # the measure and the framework
    "inv_entropy": "method",
    "framework_scores": "method",
    "bootstrap_indices": "method",
    "dual_walk": "method",
    "DualWalk": "method",
    "FRAMEWORK_MEASURES": "method",
    "cos01": "similarity",
    "abscos": "similarity",
    "nli_average": "similarity",
    "SIMILARITIES": "similarity",
    # metrics
    "tsu": "metrics",
    "auroc": "metrics",
    "prr": "metrics",
    "prr_ap": "metrics",
    "isotonic_brier": "metrics",
    "paired_bootstrap": "metrics",
    "METRICS": "metrics",
    # baselines
    "BASELINES": "baselines",
    "get_baseline": "baselines",
    "baseline_names": "baselines",
    "register_baseline": "baselines",
    "semantic_entropy": "baselines",
    "lexical_similarity": "baselines",
    "degmat": "baselines",
    "eigval_laplacian": "baselines",
    "kle": "baselines",
    "luq": "baselines",
    "p_true": "baselines",
    # backends and embedders
    "BACKENDS": "backends",
    "make_backend": "backends",
    "CachedBackend": "backends",
    "HFBackend": "backends",
    "SmolLM2Backend": "backends",
    "OpenAICompatBackend": "backends",
    "PrecomputedBackend": "backends",
    "ScriptedBackend": "backends",
    "MiniLMEmbedder": "embed",
    "HashingEmbedder": "embed",
    "NLIClassifier": "embed",
    "make_embedder": "embed",
    "Backend": "base",
    "Embedder": "base",
    "NLIModel": "base",
    "AnswerSet": "base",
    # perturbations
    "gaap": "perturb",
    "GAAPConfig": "perturb",
    "llm_paraphrases": "perturb",
    "template_perturbations": "perturb",
    "get_perturber": "perturb",
    "WordNetSource": "substitutes",
    "EmbeddingNeighbourSource": "substitutes",
    "DictSource": "substitutes",
    # data
    "QAItem": "data",
    "load_questions": "data",
    "save_questions": "data",
    "factual_qa": "data",
    "answer_prompt": "data",
    "clean_answer": "data",
    "is_correct": "data",
    "LLMJudge": "data",
    # pipeline, configs, evaluation, bench
    "UQConfig": "config",
    "BackendConfig": "config",
    "perturb_questions": "pipeline",
    "run_pipeline": "pipeline",
    "PipelineRun": "pipeline",
    "build_backend": "factory",
    "build_embedder": "factory",
    "build_source": "factory",
    "build_nli": "factory",
    "simulated_backend": "simulate",
    "metric_results": "evaluate",
    "tsu_results": "evaluate",
    "BenchConfig": "bench",
    "run_bench": "bench",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
