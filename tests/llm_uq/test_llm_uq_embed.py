"""Embedders, the NLI wrapper and all-pairs NLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from entropykit_llm_uq.backends import ModelNotFoundError
from entropykit_llm_uq.base import NLI_LABELS, Embedder
from entropykit_llm_uq.embed import (
    EMBEDDERS,
    HashingEmbedder,
    NLIClassifier,
    _label_order,
    make_embedder,
    pairwise_nli,
    pooling_mode,
)


def test_hashing_unit_norm_and_deterministic() -> None:
    texts = ["Paris", "The capital of France is Paris.", "", "a"]
    emb = HashingEmbedder()
    assert isinstance(emb, Embedder)
    x = emb.encode(texts)
    assert x.shape == (4, 256)
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(HashingEmbedder().encode(texts), x)
    assert emb.encode([]).shape == (0, 256)


def test_hashing_similar_strings_are_closer() -> None:
    x = HashingEmbedder(dim=512).encode(
        [
            "The capital of France is Paris.",
            "the capital of  FRANCE is Paris.",
            "The capital of Italy is Rome.",
            "Photosynthesis turns light into sugar.",
        ]
    )
    cos = x @ x.T
    assert cos[0, 1] == pytest.approx(1.0)  # case and whitespace are normalised away
    assert cos[0, 1] > cos[0, 2] > cos[0, 3]


def test_hashing_arguments() -> None:
    assert HashingEmbedder(dim=64, ngram=(2, 2)).identity == "hashing:dim=64|ngram=2-2"
    with pytest.raises(ValueError, match="ngram must be"):
        HashingEmbedder(ngram=(4, 3))
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        HashingEmbedder(dim=0)
    with pytest.raises(ValueError, match="got one string"):
        HashingEmbedder().encode("text")


def test_make_embedder() -> None:
    assert set(EMBEDDERS) == {"minilm", "hashing"}
    assert make_embedder("hashing", dim=32).encode(["x"]).shape == (1, 32)


def test_make_embedder_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"unknown embedder .*not one of minilm, hashing"):
        make_embedder(str(tmp_path / "no-model"))
    with pytest.raises(ModelNotFoundError, match=r"is not a model folder \(no config.json\)"):
        make_embedder(str(tmp_path))


def test_pooling_mode_from_sentence_transformers_config(tmp_path: Path) -> None:
    assert pooling_mode(tmp_path) == "mean"
    (tmp_path / "modules.json").write_text(
        json.dumps([{"idx": 1, "path": "pool", "type": "sentence_transformers.models.Pooling"}])
    )
    (tmp_path / "pool").mkdir()
    config = tmp_path / "pool" / "config.json"
    config.write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    assert pooling_mode(tmp_path) == "cls"
    config.write_text(json.dumps({"pooling_mode_weightedmean_tokens": True}))
    with pytest.raises(ValueError, match="supported: exactly one of"):
        pooling_mode(tmp_path)


def test_nli_label_order() -> None:
    assert _label_order({"0": "ENTAILMENT", "1": "NEUTRAL", "2": "CONTRADICTION"}, "m") == [2, 1, 0]
    assert _label_order({0: "contradiction", 1: "neutral", 2: "entailment"}, "m") == [0, 1, 2]
    with pytest.raises(ValueError, match=r"names its labels .*LABEL_0"):
        _label_order({0: "entailment", 1: "not_entailment"}, "m")


def test_nli_classifier_rejects_unnamed_labels(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}})
    )
    with pytest.raises(ValueError, match="expected three labels contradiction, neutral"):
        NLIClassifier(tmp_path)
    with pytest.raises(ModelNotFoundError, match=r"NLI model folder .* does not exist"):
        NLIClassifier(tmp_path / "missing")


class FakeNLI:
    """Entailment when the hypothesis is contained in the premise, else contradiction."""

    identity = "fake-nli"

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def probs(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        self.pairs += list(zip(premises, hypotheses, strict=True))
        return np.array(
            [
                [0.1, 0.1, 0.8] if h in p else [0.7, 0.2, 0.1]
                for p, h in zip(premises, hypotheses, strict=True)
            ]
        )


def test_pairwise_nli() -> None:
    nli = FakeNLI()
    texts = ["Paris", "Paris, France", "Rome", "Paris"]
    out = pairwise_nli(nli, texts)
    assert out.shape == (4, 4, 3)
    entail = NLI_LABELS.index("entailment")
    # Three distinct texts: 6 ordered pairs, each scored once.
    assert len(nli.pairs) == 6
    assert len(set(nli.pairs)) == 6
    np.testing.assert_array_equal(out[np.arange(4), np.arange(4)], [[0, 0, 1]] * 4)
    np.testing.assert_array_equal(out[0, 3], [0, 0, 1])  # identical text
    np.testing.assert_array_equal(out[1, 0], [0.1, 0.1, 0.8])  # "Paris" in "Paris, France"
    np.testing.assert_array_equal(out[0, 1], [0.7, 0.2, 0.1])
    np.testing.assert_array_equal(out[3, 2], out[0, 2])
    assert out[..., entail].min() == pytest.approx(0.1)
    assert pairwise_nli(nli, ["only"]).shape == (1, 1, 3)


# ---------------------------------------------------------------------------- MiniLM (slow)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder("minilm")


@pytest.mark.slow(reason="loads the bundled all-MiniLM-L6-v2 (90 MB) and runs it on the CPU")
def test_minilm_embeds_paraphrases_closer(minilm: Embedder) -> None:
    texts = [
        "How old is the president?",
        "What is the age of the president?",
        "The recipe needs two eggs and flour.",
    ]
    x = minilm.encode(texts)
    assert x.shape == (3, 384)
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    cos = x @ x.T
    assert cos[0, 1] > cos[0, 2] + 0.3
    assert minilm.encode([]).shape == (0, 384)
    # Batching does not change the vectors.
    np.testing.assert_allclose(minilm.encode(texts[1:2]), x[1:2], atol=1e-5)


@pytest.mark.slow(reason="loads all-MiniLM-L6-v2 twice (ours and sentence-transformers')")
def test_minilm_matches_sentence_transformers(minilm: Embedder) -> None:
    st = pytest.importorskip(
        "sentence_transformers", reason="sentence-transformers is an optional reference"
    )
    from entropykit_llm_uq.embed import bundled_minilm_dir

    texts = ["Paris", "The capital of France is Paris.", "Who wrote Hamlet?"]
    ref = st.SentenceTransformer(str(bundled_minilm_dir()), device="cpu", local_files_only=True)
    expected = ref.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.encode(texts), expected, atol=1e-5)
