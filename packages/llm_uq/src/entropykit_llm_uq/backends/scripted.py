"""A scripted "model" with a known answer distribution per prompt, for tests and experiments
whose expected uncertainty must be known exactly.

For each prompt the script gives candidate answers ``a_1..a_K`` with logits ``z_1..z_K``. At
temperature ``T > 0`` an answer is ``a_k`` with probability ``softmax(z / T)_k``; at ``T = 0``
it is the first answer of largest logit. The draws for one prompt come from a NumPy generator
seeded with SHA-256 of ``(seed, prompt)``: they do not depend on the other prompts of the call
or on their order, and the same seed at another temperature reuses the same uniforms.

``option_logprobs`` treats the script as the model's reply distribution at ``T = 1`` and returns
the exact log-probability that the reply starts with each option:
``log Σ_{k: a_k starts with option} softmax(z)_k`` (``-inf`` when no answer does). A P(True)
prompt ("...Is the proposed answer true?") is then scripted like any other prompt, e.g. with
answers ``("True", "False")``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.special import logsumexp, softmax

from entropykit_llm_uq.backends._common import (
    check_generate_args,
    check_options,
    nearest,
    text_seed,
)

#: Candidate answers and their logits.
Distribution = tuple[Sequence[str], Sequence[float]]


def _checked(prompt: str, dist: Distribution) -> tuple[list[str], np.ndarray]:
    try:
        answers, logits = dist
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the script for prompt {prompt!r} must be a pair (answers, logits), got {dist!r}"
        ) from exc
    answers = list(answers)
    z = np.asarray(logits, dtype=np.float64)
    if not answers or z.shape != (len(answers),):
        raise ValueError(
            f"the script for prompt {prompt!r} needs one logit per answer and at least one "
            f"answer; got {len(answers)} answer(s) and logits of shape {z.shape}"
        )
    if not all(isinstance(a, str) for a in answers):
        raise ValueError(f"the answers scripted for prompt {prompt!r} must be strings")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"the logits scripted for prompt {prompt!r} must be finite, got {z}")
    return answers, z


class ScriptedBackend:
    """Answers drawn from a scripted categorical distribution per prompt (see the module
    docstring).

    Args:
        table: ``{prompt: (answers, logits)}``, or a function ``prompt -> (answers, logits)``.
        default: the distribution of prompts missing from a ``table`` mapping; ``None`` makes a
            missing prompt an error.
        name: the ``identity``. By default it is a hash of the table and default (a mapping), or
            the function's module and qualified name (a function: give a ``name`` when the
            function's behaviour can change, so that caches keyed on it stay valid).
    """

    supports_logprobs = True

    def __init__(
        self,
        table: Mapping[str, Distribution] | Callable[[str], Distribution],
        default: Distribution | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(table, Mapping):
            self._table = {p: _checked(p, d) for p, d in table.items()}
            self._fn: Callable[[str], Distribution] | None = None
            self._default = None if default is None else _checked("<default>", default)
            content = {
                "table": sorted((p, a, z.tolist()) for p, (a, z) in self._table.items()),
                "default": None
                if self._default is None
                else [self._default[0], self._default[1].tolist()],
            }
            digest = hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()[:16]
            auto = f"scripted:{digest}"
        elif callable(table):
            if default is not None:
                raise ValueError("default only applies to a table mapping; the function decides")
            self._table, self._fn, self._default = {}, table, None
            where = getattr(table, "__module__", "?"), getattr(table, "__qualname__", "?")
            auto = f"scripted:{where[0]}.{where[1]}"
        else:
            raise ValueError(
                "table must be a mapping {prompt: (answers, logits)} or a function "
                f"prompt -> (answers, logits), got {type(table).__name__}"
            )
        self.identity = auto if name is None else f"scripted:{name}"

    def __repr__(self) -> str:
        return f"ScriptedBackend({self.identity})"

    def distribution(self, prompt: str) -> tuple[list[str], np.ndarray]:
        """(answers, logits) scripted for ``prompt``."""
        if self._fn is not None:
            return _checked(prompt, self._fn(prompt))
        if prompt in self._table:
            return self._table[prompt]
        if self._default is not None:
            return self._default
        raise ValueError(
            f"no script for prompt {prompt!r}; nearest scripted prompt: "
            f"{nearest(prompt, self._table)!r}. Add it to the table or pass default="
        )

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """``n`` draws per prompt from ``softmax(logits / temperature)`` (argmax at 0).
        ``max_new_tokens`` is ignored."""
        prompts = check_generate_args(prompts, n, temperature, max_new_tokens, seed)
        out = []
        for prompt in prompts:
            answers, z = self.distribution(prompt)
            if temperature == 0:
                out.append([answers[int(np.argmax(z))]] * n)
                continue
            rng = np.random.default_rng(text_seed(seed, prompt))
            picks = rng.choice(len(answers), size=n, p=softmax(z / temperature))
            out.append([answers[k] for k in picks])
        return out

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """(len(prompts), len(options)) exact log-probability, at ``T = 1``, that the reply
        starts with each option."""
        prompts = check_generate_args(prompts, 1, 0.0, 1, 0)
        options = check_options(options)
        out = np.empty((len(prompts), len(options)), dtype=np.float64)
        for i, prompt in enumerate(prompts):
            answers, z = self.distribution(prompt)
            starts = np.array([[a.startswith(o) for a in answers] for o in options])
            out[i] = logsumexp(np.where(starts, z, -np.inf), axis=1) - logsumexp(z)
        return out
