"""A disk cache in front of any backend, so that re-running an experiment (another similarity,
another baseline, another bootstrap seed) does not regenerate the answers.

One JSON file per (prompt, call settings) under ``cache_dir/<2 hex>/<sha256>.json``; the key is
the SHA-256 of ``(backend.identity, prompt, n, temperature, max_new_tokens, seed)`` for
``generate`` and of ``(backend.identity, prompt, options)`` for ``option_logprobs``. Files are
written to a temporary name and renamed (``os.replace``), so an interrupted run never leaves a
half-written entry and several processes may share a folder. An entry that cannot be read back
(invalid JSON, other settings, wrong shape) is reported with a ``UserWarning`` and regenerated.

Only the prompts missing from the cache are sent to the backend, in one call. That equals the
uncached answer only when a backend answers each prompt independently of the others in the
call, which holds for every backend of this package (each derives its randomness per prompt).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_llm_uq.backends._common import BackendError, check_generate_args, check_options
from entropykit_llm_uq.base import Backend


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


class CachedBackend:
    """Wraps ``backend``; same ``identity`` and ``supports_logprobs`` (a cache changes no answer).

    Attributes:
        hits, misses: prompts served from the cache and prompts sent to the backend, over the
            lifetime of this object (a prompt repeated within one call counts once).
    """

    def __init__(self, backend: Backend, cache_dir: str | Path) -> None:
        if not isinstance(getattr(backend, "identity", None), str):
            raise ValueError(
                f"{type(backend).__name__} has no string 'identity'; the cache key needs one "
                "(see entropykit_llm_uq.base.Backend)"
            )
        self.backend = backend
        self.cache_dir = Path(cache_dir).expanduser()
        if self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise ValueError(f"cache_dir {str(self.cache_dir)!r} is a file; pass a folder")
        self.identity = backend.identity
        self.supports_logprobs = backend.supports_logprobs
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"CachedBackend({self.backend!r}, cache_dir={str(self.cache_dir)!r})"

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """Same contract as the wrapped backend's ``generate``."""
        prompts = check_generate_args(prompts, n, temperature, max_new_tokens, seed)
        settings = {
            "n": n,
            "temperature": float(temperature),
            "max_new_tokens": max_new_tokens,
            "seed": seed,
        }

        def valid(value: Any) -> bool:
            return isinstance(value, list) and len(value) == n and all(map(_is_str, value))

        def compute(missing: list[str]) -> list[Any]:
            return self.backend.generate(missing, n, temperature, max_new_tokens, seed)

        found = self._lookup("generate", prompts, settings, valid, compute)
        return [list(found[p]) for p in prompts]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """Same contract as the wrapped backend's ``option_logprobs``."""
        if not self.supports_logprobs:
            return self.backend.option_logprobs(prompts, options)
        prompts = check_generate_args(prompts, 1, 0.0, 1, 0)
        options = check_options(options)
        settings = {"options": options}

        def valid(value: Any) -> bool:
            return (
                isinstance(value, list)
                and len(value) == len(options)
                and all(isinstance(v, float) and not math.isnan(v) for v in value)
            )

        def compute(missing: list[str]) -> list[Any]:
            return np.asarray(self.backend.option_logprobs(missing, options), float).tolist()

        found = self._lookup("option_logprobs", prompts, settings, valid, compute)
        return np.array([found[p] for p in prompts], dtype=np.float64).reshape(
            len(prompts), len(options)
        )

    def _lookup(
        self,
        kind: str,
        prompts: list[str],
        settings: dict[str, Any],
        valid: Callable[[Any], bool],
        compute: Callable[[list[str]], list[Any]],
    ) -> dict[str, Any]:
        """Cached values of the unique ``prompts``; the missing ones come from one ``compute``
        call and are written to disk."""
        found: dict[str, Any] = {}
        missing: list[str] = []
        for prompt in dict.fromkeys(prompts):
            record = {"kind": kind, "identity": self.identity, "prompt": prompt, **settings}
            value = self._read(self._path(record), record, valid)
            if value is None:
                missing.append(prompt)
            else:
                found[prompt] = value
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            values = compute(missing)
            if len(values) != len(missing) or not all(valid(v) for v in values):
                raise BackendError(
                    f"{self.identity} returned invalid {kind} output for {len(missing)} prompt(s) "
                    "(wrong count, non-text answers or NaN log-probabilities); nothing was cached"
                )
            for prompt, value in zip(missing, values, strict=True):
                record = {"kind": kind, "identity": self.identity, "prompt": prompt, **settings}
                self._write(self._path(record), {**record, "value": value})
                found[prompt] = value
        return found

    def _path(self, record: dict[str, Any]) -> Path:
        key = hashlib.sha256(json.dumps(record, sort_keys=True).encode("utf-8")).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    @staticmethod
    def _read(path: Path, record: dict[str, Any], valid: Callable[[Any], bool]) -> Any:
        if not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            value = stored.pop("value")
            problem = "" if stored == record and valid(value) else "other settings or wrong shape"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError) as exc:
            problem, value = f"{type(exc).__name__}: {exc}", None
        if problem:
            warnings.warn(
                f"cache entry {path} is unreadable ({problem}); regenerating it", stacklevel=4
            )
            return None
        return value

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
