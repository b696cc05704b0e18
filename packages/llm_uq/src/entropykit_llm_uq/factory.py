"""Build the pipeline's parts (backend, embedder, substitution source, NLI model) from a
:class:`~entropykit_llm_uq.config.UQConfig`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from entropykit_llm_uq.base import Backend, Embedder, NLIModel
from entropykit_llm_uq.config import BackendConfig, UQConfig
from entropykit_llm_uq.data import QAItem


def build_backend(
    cfg: BackendConfig,
    *,
    items: Sequence[QAItem] = (),
    seed: int = 0,
    device: str = "cpu",
    cache_dir: str | Path | None = None,
) -> Backend:
    """The backend ``cfg`` names; model backends are wrapped in a generation cache in
    ``cache_dir`` (None: no cache). ``items`` feed the simulated backend."""
    from entropykit_llm_uq.backends import CachedBackend, make_backend

    if cfg.name == "simulated":
        from entropykit_llm_uq.simulate import simulated_backend

        return simulated_backend(items, seed)
    kwargs: dict[str, Any]
    if cfg.name == "smollm2":
        kwargs = {"device": device, "batch_size": cfg.batch_size}
    elif cfg.name == "hf":
        kwargs = {"path": cfg.path, "device": device, "batch_size": cfg.batch_size}
        if cfg.gguf_file:
            kwargs["gguf_file"] = cfg.gguf_file
    elif cfg.name == "openai":
        kwargs = {
            "base_url": cfg.base_url,
            "model": cfg.model,
            "api_key": os.environ.get(cfg.api_key_env) or None,
            "concurrency": cfg.concurrency,
        }
    elif cfg.name == "precomputed":
        return make_backend("precomputed", path=cfg.path)
    else:
        kwargs = {}
    backend = make_backend(cfg.name, **kwargs)
    return backend if cache_dir is None else CachedBackend(backend, cache_dir)


def build_embedder(cfg: UQConfig, device: str = "cpu") -> Embedder:
    """The embedder ``cfg.embedder`` names (``minilm``, ``hashing`` or a local folder)."""
    from entropykit_llm_uq.embed import make_embedder

    if cfg.embedder == "hashing":
        return make_embedder("hashing")
    return make_embedder(cfg.embedder, device=device)


def build_nli(cfg: UQConfig, device: str = "cpu") -> NLIModel | None:
    """The local NLI model of ``cfg.nli_model`` (None when unset)."""
    if not cfg.nli_model:
        return None
    from entropykit_llm_uq.embed import NLIClassifier

    return NLIClassifier(cfg.nli_model, device=device)


def build_source(cfg: UQConfig) -> Any:
    """GAAP's substitution source: WordNet when ``cfg.wordnet_dir`` is set, else nearest
    neighbours in the bundled embedder's vocabulary."""
    from entropykit_llm_uq.substitutes import EmbeddingNeighbourSource, WordNetSource

    if cfg.wordnet_dir:
        return WordNetSource(cfg.wordnet_dir)
    return EmbeddingNeighbourSource()
