"""Answers produced elsewhere (another tool, an earlier run, post-processed text), read from a
file so that any uncertainty measure can score them.

Formats (UTF-8):

- CSV with a header holding ``prompt`` and ``response``; one row per answer, several rows per
  prompt (in the order they should be returned).
- JSONL, one object per line: ``{"prompt": ..., "responses": [...]}`` or
  ``{"prompt": ..., "response": ...}``; lines with the same prompt add up.

A ``temperature`` column (CSV) or key (JSONL, then on every line) ties each answer to the
temperature it was sampled at, and :meth:`PrecomputedBackend.generate` returns only the answers
stored for the requested temperature; without it the requested temperature is ignored. The seed
is always ignored: the stored answers are returned in file order (the first ``n``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_llm_uq.backends._common import MissingFileError, check_generate_args, nearest

SUFFIXES: tuple[str, ...] = (".csv", ".jsonl", ".ndjson")

_Record = tuple[str, str, float | None]  # prompt, response, temperature


class PrecomputedBackend:
    """Stored answers from a CSV or JSONL file (see the module docstring for the formats).

    ``identity`` holds the file's path and a hash of its content, so a cache built on this
    backend is invalidated when the file changes.
    """

    supports_logprobs = False

    def __init__(self, path: str | Path) -> None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise MissingFileError(
                f"responses file {str(file)!r} does not exist; pass a CSV (columns prompt, "
                "response) or JSONL ({'prompt': ..., 'responses': [...]}) file"
            )
        if file.suffix.lower() not in SUFFIXES:
            raise ValueError(
                f"cannot read {file.name!r}: the responses file must end in "
                f"{', '.join(SUFFIXES)} (CSV with prompt,response columns, or JSONL)"
            )
        raw = file.read_bytes()
        self.path = file.resolve()
        reader = self._read_csv if file.suffix.lower() == ".csv" else self._read_jsonl
        records = list(reader(raw))
        if not records:
            raise ValueError(f"{str(file)!r} holds no responses; add at least one prompt/response")
        self.has_temperature = records[0][2] is not None
        self._table: dict[str, list[tuple[str, float | None]]] = {}
        for prompt, response, temperature in records:
            self._table.setdefault(prompt, []).append((response.strip(), temperature))
        self.identity = f"precomputed:{self.path}#{hashlib.sha256(raw).hexdigest()[:16]}"

    def __repr__(self) -> str:
        return f"PrecomputedBackend({self.identity})"

    @property
    def prompts(self) -> list[str]:
        """The stored prompts, in file order."""
        return list(self._table)

    def _read_csv(self, raw: bytes) -> Iterator[_Record]:
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
        columns = reader.fieldnames or []
        missing = [c for c in ("prompt", "response") if c not in columns]
        if missing:
            raise ValueError(
                f"{str(self.path)!r} lacks the column(s) {', '.join(missing)} (found: "
                f"{', '.join(columns) or 'no header'}); the header must name prompt and response"
            )
        with_temperature = "temperature" in columns
        for row in reader:
            where = f"{self.path.name} line {reader.line_num}"
            if row["prompt"] is None or row["response"] is None:
                raise ValueError(f"{where} has too few fields; every row needs prompt and response")
            temperature = self._temperature(row["temperature"], where) if with_temperature else None
            yield row["prompt"], row["response"], temperature

    def _read_jsonl(self, raw: bytes) -> Iterator[_Record]:
        with_temperature: bool | None = None
        for number, line in enumerate(raw.decode("utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{self.path.name} line {number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where} is not valid JSON ({exc}); one object per line") from exc
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                raise ValueError(f'{where} needs an object with a string "prompt"')
            if ("responses" in obj) == ("response" in obj):
                raise ValueError(f'{where} needs exactly one of "responses" (a list) or "response"')
            responses = obj["responses"] if "responses" in obj else [obj["response"]]
            if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
                raise ValueError(f'{where}: "responses" must be a list of strings')
            if with_temperature is None:
                with_temperature = "temperature" in obj
            if with_temperature != ("temperature" in obj):
                raise ValueError(f'{where}: "temperature" must be given on every line or on none')
            temperature = self._temperature(obj["temperature"], where) if with_temperature else None
            for response in responses:
                yield obj["prompt"], response, temperature

    @staticmethod
    def _temperature(value: Any, where: str) -> float:
        try:
            t = float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: temperature {value!r} is not a number") from exc
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"{where}: temperature must be a finite number >= 0, got {value!r}")
        return t

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """The first ``n`` stored answers of each prompt (at ``temperature`` when the file
        records temperatures). ``max_new_tokens`` and ``seed`` are ignored."""
        prompts = check_generate_args(prompts, n, temperature, max_new_tokens, seed)
        return [self._answers(p, n, float(temperature)) for p in prompts]

    def _answers(self, prompt: str, n: int, temperature: float) -> list[str]:
        stored = self._table.get(prompt)
        if stored is None:
            raise ValueError(
                f"no stored responses for prompt {prompt!r} in {self.path.name}; nearest stored "
                f"prompt: {nearest(prompt, self._table)!r}. Prompts must match the file exactly"
            )
        at = ""
        if self.has_temperature:
            kept = [r for r, t in stored if t is not None and math.isclose(t, temperature)]
            if not kept:
                stored_at = sorted({t for _, t in stored if t is not None})
                raise ValueError(
                    f"no responses at temperature {temperature:g} for prompt {prompt!r} in "
                    f"{self.path.name}; it has responses at {stored_at}"
                )
            at = f" at temperature {temperature:g}"
        else:
            kept = [r for r, _ in stored]
        if len(kept) < n:
            raise ValueError(
                f"only {len(kept)} response(s) stored{at} for prompt {prompt!r} in "
                f"{self.path.name}, but n={n} were requested; store at least {n} or lower n"
            )
        return kept[:n]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """Not available: stored text has no token probabilities."""
        raise NotImplementedError(
            "PrecomputedBackend stores text only, so it has no token log-probabilities; use a "
            "baseline that does not need them, or a model backend ('hf', 'smollm2', 'openai')"
        )
