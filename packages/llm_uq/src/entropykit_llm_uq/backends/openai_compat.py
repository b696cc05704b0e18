"""A client for any server speaking the OpenAI chat-completions protocol (OpenAI, vLLM,
llama.cpp's ``llama-server``, Ollama, LM Studio...), written on the standard library only.

``generate`` posts ``{base_url}/chat/completions`` with ``n``, ``temperature``, ``max_tokens`` and
``seed``. Servers that ignore ``n`` (llama.cpp, Ollama) return one choice: the client then asks
again with ``seed + 1``, ``seed + 2``... until it has ``n`` answers. At ``temperature == 0`` it
asks once and repeats the answer ``n`` times (greedy decoding). Prompts run concurrently
(``concurrency`` threads). HTTP 429 and 5xx replies are retried with exponential back-off;
anything else fails at once with a message naming the URL and what to check.

Whether the same seed gives the same answers is up to the server (OpenAI: "best effort").
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from entropykit_llm_uq.backends._common import (
    BackendError,
    check_count,
    check_generate_args,
    check_options,
)

#: How many alternatives per position ``option_logprobs`` asks for (the OpenAI maximum).
TOP_LOGPROBS = 20

_T = TypeVar("_T")


class OpenAICompatBackend:
    """Chat completions over HTTP.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is
            appended).
        model: the model name the server expects.
        api_key: bearer token; ``None`` reads ``OPENAI_API_KEY`` from the environment (local
            servers usually need none).
        timeout: seconds to wait for one reply.
        max_retries: extra attempts after an HTTP 429 or 5xx reply.
        system_prompt: system message sent before each prompt; ``None`` sends none.
        concurrency: prompts in flight at once.
        backoff: seconds before the first retry; doubled for each further one (a ``Retry-After``
            header asking for longer wins, up to 60 s).

    ``option_logprobs`` reads the top-20 log-probabilities of the first reply token (greedy,
    one token). An option matches a listed token when both are equal after stripping
    whitespace (``"True"`` matches ``" True"``; several matching tokens are added up in
    probability). Options outside the top 20, and options longer than one token, get ``-inf``:
    use single-token options such as ``"True"``/``"False"``.
    """

    supports_logprobs = True

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60,
        max_retries: int = 2,
        system_prompt: str | None = None,
        concurrency: int = 4,
        backoff: float = 0.5,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(
                "base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                f"got {base_url!r}"
            )
        if not isinstance(model, str) or not model:
            raise ValueError("model must name the served model (e.g. 'gpt-4o-mini'), got nothing")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        check_count(max_retries, "max_retries", minimum=0)
        check_count(concurrency, "concurrency")
        if not backoff >= 0:
            raise ValueError(f"backoff must be >= 0 seconds, got {backoff!r}")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.system_prompt = system_prompt
        self.concurrency = concurrency
        self.backoff = float(backoff)
        system = "<none>" if system_prompt is None else repr(system_prompt)
        self.identity = f"openai:{self.base_url}|model={model}|system={system}"

    def __repr__(self) -> str:
        return f"OpenAICompatBackend({self.identity})"

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """``n`` answers per prompt (whitespace stripped; a ``null`` content counts as ``""``)."""
        prompts = check_generate_args(prompts, n, temperature, max_new_tokens, seed)
        return self._map(
            lambda p: self._sample(p, n, float(temperature), max_new_tokens, seed), prompts
        )

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """(len(prompts), len(options)) log-probabilities of the first reply token matching each
        option (see the class docstring for the top-20 limitation)."""
        prompts = check_generate_args(prompts, 1, 0.0, 1, 0)
        options = check_options(options)
        rows = self._map(lambda p: self._first_token_logprobs(p, options), prompts)
        return np.array(rows, dtype=np.float64).reshape(len(prompts), len(options))

    def _map(self, fn: Callable[[str], _T], prompts: list[str]) -> list[_T]:
        if len(prompts) <= 1 or self.concurrency == 1:
            return [fn(p) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(fn, prompts))

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    def _sample(
        self, prompt: str, n: int, temperature: float, max_new_tokens: int, seed: int
    ) -> list[str]:
        wanted = 1 if temperature == 0 else n
        answers: list[str] = []
        k = 0
        while len(answers) < wanted:
            reply = self._post(
                {
                    "model": self.model,
                    "messages": self._messages(prompt),
                    "n": wanted - len(answers),
                    "temperature": temperature,
                    "max_tokens": max_new_tokens,
                    "seed": seed + k,
                }
            )
            answers += [self._content(c) for c in self._choices(reply)]
            k += 1
        return answers * n if temperature == 0 else answers[:n]

    def _first_token_logprobs(self, prompt: str, options: list[str]) -> list[float]:
        reply = self._post(
            {
                "model": self.model,
                "messages": self._messages(prompt),
                "n": 1,
                "temperature": 0.0,
                "max_tokens": 1,
                "seed": 0,
                "logprobs": True,
                "top_logprobs": TOP_LOGPROBS,
            }
        )
        try:
            first = self._choices(reply)[0]["logprobs"]["content"][0]
            listed = {e["token"]: float(e["logprob"]) for e in first.get("top_logprobs") or []}
            listed.setdefault(first["token"], float(first["logprob"]))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendError(
                f"{self.url} returned no token log-probabilities ({type(exc).__name__}: {exc}); "
                "the server must support 'logprobs' and 'top_logprobs' in chat completions "
                "(OpenAI, vLLM and llama-server do), otherwise use a local 'hf' backend"
            ) from exc
        out = []
        for option in options:
            hits = [lp for tok, lp in listed.items() if tok.strip() == option.strip()]
            out.append(float(np.logaddexp.reduce(hits)) if hits else float("-inf"))
        return out

    def _choices(self, reply: Any) -> list[dict[str, Any]]:
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices:
            raise BackendError(
                f"{self.url} replied without any 'choices': {json.dumps(reply)[:300]}; check that "
                "base_url points at an OpenAI-compatible API root (ending in /v1)"
            )
        return sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)

    def _content(self, choice: Any) -> str:
        try:
            content = choice["message"]["content"]
        except (KeyError, TypeError) as exc:
            raise BackendError(
                f"{self.url} returned a choice without message.content: {json.dumps(choice)[:300]}"
                "; check that the server implements /chat/completions"
            ) from exc
        return "" if content is None else str(content).strip()

    def _post(self, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON and return the decoded reply, retrying 429/5xx."""
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                retryable = exc.code == 429 or exc.code >= 500
                if retryable and attempt < self.max_retries:
                    time.sleep(self._delay(attempt, exc.headers.get("Retry-After")))
                    continue
                raise BackendError(self._http_message(exc.code, detail, attempt + 1)) from exc
            except urllib.error.URLError as exc:
                raise BackendError(
                    f"could not reach {self.url} ({exc.reason}); check that the server is "
                    "running and that base_url is right (the API root, e.g. "
                    "http://127.0.0.1:8000/v1)"
                ) from exc
            except TimeoutError as exc:
                raise BackendError(
                    f"no reply from {self.url} within {self.timeout:g} s; check the server or "
                    "raise timeout="
                ) from exc
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            excerpt = raw[:200].decode("utf-8", "replace")
            raise BackendError(
                f"{self.url} did not reply with JSON ({exc}); got {excerpt!r}. Check that "
                "base_url points at an OpenAI-compatible API root (ending in /v1)"
            ) from exc

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            asked = float(retry_after) if retry_after else 0.0
        except ValueError:  # an HTTP-date Retry-After: keep the exponential delay
            asked = 0.0
        return max(self.backoff * 2**attempt, min(asked, 60.0))

    def _http_message(self, code: int, detail: str, attempts: int) -> str:
        if code in (401, 403):
            hint = "check the API key (api_key= or OPENAI_API_KEY)"
        elif code == 404:
            hint = f"check base_url (the API root ending in /v1) and the model name {self.model!r}"
        elif code == 429 or code >= 500:
            hint = f"still failing after {attempts} attempt(s); retry later or raise max_retries"
        else:
            hint = f"check the request settings and the model name {self.model!r}"
        return f"{self.url} answered HTTP {code}: {detail!r}; {hint}"
