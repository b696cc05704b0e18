"""Input perturbations Per(S_x0) for Inv-Entropy: GAAP, LLM paraphrases and fixed templates.

- :func:`gaap`: the paper's genetic-algorithm adversarial perturbation (key tokens replaced by
  WordNet-style substitutes or deleted, evolved by roulette selection, one-point crossover and
  mutation; samples taken from every τ-th generation, so similarity to the input decreases).
- :func:`llm_paraphrases`: ask a :class:`~entropykit_llm_uq.base.Backend` for paraphrases with the
  official prompt and parse the reply robustly.
- :func:`template_perturbations`: fixed meaning-preserving rewrites (no model needed).

Every perturber returns exactly ``n`` strings (the paper's rule, :func:`force_count`: too few →
random duplicates with a warning, too many → random subset). :data:`PERTURBERS` maps names to
them with one signature.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from entropykit_llm_uq.base import Backend, Embedder
from entropykit_llm_uq.substitutes import STOPWORDS, EmbeddingNeighbourSource, SubstitutionSource

__all__ = [
    "PARAPHRASE_SYSTEM_PROMPT",
    "PERTURBERS",
    "GAAPConfig",
    "GAAPTrace",
    "PerturbationShortfallWarning",
    "Perturber",
    "force_count",
    "gaap",
    "gaap_trace",
    "get_perturber",
    "join_tokens",
    "key_tokens",
    "llm_paraphrases",
    "paraphrase_prompt",
    "parse_paraphrases",
    "register_perturber",
    "split_tokens",
    "template_perturbations",
    "tokenize",
]

T = TypeVar("T")

#: System message of the official paraphrasing call. :class:`~entropykit_llm_uq.base.Backend` has
#: no system-prompt argument, so backends that want it must add it in their chat formatting.
PARAPHRASE_SYSTEM_PROMPT = "You are a helpful assistant that paraphrases sentences."


class PerturbationShortfallWarning(UserWarning):
    """Fewer distinct perturbations than requested were found; duplicates were added."""


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_sentence(sentence: str) -> str:
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(
            f"sentence must be a non-empty string, got {sentence!r}; pass the question text"
        )
    return sentence.strip()


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n (number of perturbations) must be an integer >= 1, got {n!r}")


def force_count(
    items: Sequence[T],
    n: int,
    rng: int | np.random.Generator,
    *,
    what: str = "perturbations",
) -> list[T]:
    """Exactly ``n`` items by the paper's rule (App. D.1).

    Fewer than ``n`` → all items followed by ``n - len(items)`` duplicates drawn uniformly with
    replacement from them, with a :class:`PerturbationShortfallWarning` naming both counts;
    more than ``n`` → a uniform random subset of size ``n`` kept in the original order;
    exactly ``n`` → unchanged.

    Args:
        items: the distinct candidates (at least one).
        n: the count wanted (≥ 1).
        rng: seed or generator drawing the duplicates/subset.
        what: noun used in the warning.
    """
    _check_n(n)
    if len(items) == 0:
        raise ValueError(f"cannot make {n} {what} from an empty list; produce candidates first")
    gen = _rng(rng)
    items = list(items)
    if len(items) == n:
        return items
    if len(items) > n:
        keep = np.sort(gen.choice(len(items), size=n, replace=False))
        return [items[i] for i in keep]
    extra = gen.integers(0, len(items), size=n - len(items))
    warnings.warn(
        f"only {len(items)} distinct {what} available for n={n}; added {n - len(items)} random "
        "duplicate(s) (the paper's rule)",
        PerturbationShortfallWarning,
        stacklevel=2,
    )
    return items + [items[i] for i in extra]


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

# Words (letters/digits/underscore, with inner apostrophes: "don't", "golfer's") or one
# punctuation character; whitespace is kept aside so the sentence can be rebuilt exactly.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def split_tokens(sentence: str) -> tuple[list[str], list[str]]:
    """(tokens, spaces): ``tokens`` as in :func:`tokenize`, ``spaces[i]`` the whitespace before
    ``tokens[i]``. ``join_tokens(*split_tokens(s)) == s.strip()``."""
    tokens: list[str] = []
    spaces: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(sentence):
        tokens.append(match.group())
        spaces.append(sentence[pos : match.start()])
        pos = match.end()
    return tokens, spaces


def tokenize(sentence: str) -> list[str]:
    """Word tokens (``\\w+`` with inner apostrophes) and single punctuation characters, in order.
    "What's the golfer's score?" → ["What's", "the", "golfer's", "score", "?"]."""
    return split_tokens(sentence)[0]


def join_tokens(tokens: Sequence[str], spaces: Sequence[str]) -> str:
    """Rebuild text from tokens and their preceding whitespace. Empty tokens (deleted words) are
    skipped together with their whitespace; the first kept token gets no leading whitespace."""
    parts: list[str] = []
    for token, space in zip(tokens, spaces, strict=True):
        if token:
            parts.append(space + token if parts else token)
    return "".join(parts)


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def key_tokens(
    sentence: str,
    embedder: Embedder,
    ratio: float,
    stopwords: frozenset[str] | set[str] = STOPWORDS,
) -> list[tuple[int, str]]:
    """KeyBERT-style key tokens k(S, ratio): the words most similar to the whole sentence.

    Each word token (see :func:`tokenize`; punctuation is never a key token) that is not a
    stop-word (case-insensitive) is scored by cos(embed(word), embed(sentence)); the top
    ``max(1, int(ratio · p))`` are returned, ``p`` = number of word tokens. When every word is a
    stop-word, all words compete instead. Ties keep sentence order.

    Returns:
        [(index into tokenize(sentence), token)], highest score first.
    """
    sentence = _check_sentence(sentence)
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must lie in (0, 1], got {ratio}")
    tokens = tokenize(sentence)
    words = [i for i, t in enumerate(tokens) if _is_word(t)]
    if not words:
        raise ValueError(f"sentence {sentence!r} has no word tokens; pass a real question")
    content = [i for i in words if tokens[i].lower() not in stopwords] or words
    k = min(max(1, int(ratio * len(words))), len(content))
    unique = list(dict.fromkeys(tokens[i] for i in content))
    vecs = np.asarray(embedder.encode([sentence, *unique]), dtype=np.float64)
    score_of = dict(zip(unique, vecs[1:] @ vecs[0], strict=True))
    scores = np.array([score_of[tokens[i]] for i in content])
    order = np.argsort(-scores, kind="stable")[:k]
    return [(content[j], tokens[content[j]]) for j in order]


# ---------------------------------------------------------------------------------------------
# GAAP
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GAAPConfig:
    """Settings of :func:`gaap`. The paper fixes ``delta`` (0.7), one mutated token per child and
    the deletion option; every other value is left open by the paper and chosen here.

    Attributes:
        key_ratio: fraction of word tokens that are key tokens, k = max(1, int(ratio·p))
            (paper: not given).
        max_generations: Num, the GA stops when t ≥ Num (paper: not given).
        tau: Per(S) samples from Pop_0, Pop_τ, Pop_2τ, … (paper: not given).
        n_parents: roulette-wheel draws (with replacement) forming Pa_t (paper: not given).
        n_offspring: children per generation, from n_offspring/2 crossovers; even (not given).
        population_cap: after Pa ∪ Off ∪ Mu is deduplicated, only the ``population_cap`` fittest
            are kept (paper: no cap stated; Pop_0 itself is never capped).
        delta: stop when max fitness < δ (paper: 0.7).
        min_similarity: candidates with fitness F below this are never returned (0 keeps all,
            which is the paper).
        mutations_per_child: tokens replaced in each child (paper: one). They are drawn among
            the key-token positions: the paper's "random token" would otherwise hit stop-words,
            whose WordNet senses are nonsense here ("a" → "angstrom").
        allow_deletion: include the deletion option ∅ in SUB(t) (paper: yes).
        max_substitutes: use only the first this many substitutes a source gives per word
            (None = all, the paper; a cap bounds |Pop_0| for very general words like "person",
            which has hundreds of WordNet hyponyms).
    """

    key_ratio: float = 0.5
    max_generations: int = 10
    tau: int = 2
    n_parents: int = 20
    n_offspring: int = 20
    population_cap: int = 100
    delta: float = 0.7
    min_similarity: float = 0.0
    mutations_per_child: int = 1
    allow_deletion: bool = True
    max_substitutes: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (0.0 < self.key_ratio <= 1.0, f"key_ratio must lie in (0, 1], got {self.key_ratio}"),
            (self.max_generations >= 0, "max_generations must be >= 0"),
            (self.tau >= 1, f"tau must be >= 1, got {self.tau}"),
            (self.n_parents >= 2, f"n_parents must be >= 2, got {self.n_parents}"),
            (
                self.n_offspring >= 2 and self.n_offspring % 2 == 0,
                f"n_offspring must be an even number >= 2, got {self.n_offspring}",
            ),
            (self.population_cap >= 1, "population_cap must be >= 1"),
            (np.isfinite(self.delta), f"delta must be finite, got {self.delta}"),
            (
                0.0 <= self.min_similarity <= 1.0,
                f"min_similarity must lie in [0, 1], got {self.min_similarity}",
            ),
            (self.mutations_per_child >= 0, "mutations_per_child must be >= 0"),
            (
                self.max_substitutes is None or self.max_substitutes >= 1,
                f"max_substitutes must be None or >= 1, got {self.max_substitutes}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"GAAPConfig: {message}")

    @classmethod
    def quick(cls, **overrides: Any) -> GAAPConfig:
        """Small settings for tests and demos: 4 generations, 8 parents, 8 children, cap 40,
        10 substitutes per word."""
        base = cls(
            max_generations=4, n_parents=8, n_offspring=8, population_cap=40, max_substitutes=10
        )
        return replace(base, **overrides)


@dataclass
class GAAPTrace:
    """What one :func:`gaap_trace` run did.

    Attributes:
        key_tokens: [(token index, token)] that were perturbed.
        max_fitness: max F of Pop_t for t = 0..generations.
        mean_fitness: mean F of Pop_t.
        population_sizes: |Pop_t|.
        generations: GA steps run (the last population is Pop_generations).
        stop_reason: "max_generations" (t ≥ Num) or "delta" (max F < δ) or "empty" (no candidate).
        sampled_generations: the t whose populations Per(S) was sampled from.
    """

    key_tokens: list[tuple[int, str]] = field(default_factory=list)
    max_fitness: list[float] = field(default_factory=list)
    mean_fitness: list[float] = field(default_factory=list)
    population_sizes: list[int] = field(default_factory=list)
    generations: int = 0
    stop_reason: str = ""
    sampled_generations: list[int] = field(default_factory=list)


class _Fitness:
    """F(x) = (1 + cos(ψ(x0), ψ(x)))/2, with embeddings cached by text and batch-encoded."""

    def __init__(self, embedder: Embedder, x0: str) -> None:
        self.embedder = embedder
        self.cache: dict[str, np.ndarray] = {}
        self.e0 = self._encode([x0])[0]

    def _encode(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(self.embedder.encode(texts), dtype=np.float64)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts) or not np.all(np.isfinite(vecs)):
            raise ValueError(
                f"embedder.encode returned shape {vecs.shape} (or non-finite values) for "
                f"{len(texts)} texts; it must return a finite (m, d) array"
            )
        return vecs

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            self.cache.update(zip(new, self._encode(new), strict=True))
        cos = np.stack([self.cache[t] for t in texts]) @ self.e0
        return (1.0 + np.clip(cos, -1.0, 1.0)) / 2.0


Slots = tuple[str, ...]  # one entry per token of the input; "" = deleted


def gaap_trace(
    sentence: str,
    n: int,
    embedder: Embedder,
    source: SubstitutionSource,
    config: GAAPConfig | None = None,
    seed: int | np.random.Generator = 0,
) -> tuple[list[str], GAAPTrace]:
    """:func:`gaap` (same arguments, same draws) that also returns a :class:`GAAPTrace` with the
    key tokens, per-generation max/mean fitness and population sizes, and why it stopped."""
    sentence = _check_sentence(sentence)
    _check_n(n)
    cfg = config if config is not None else GAAPConfig()
    rng = _rng(seed)
    tokens, spaces = split_tokens(sentence)
    original: Slots = tuple(tokens)
    x0 = join_tokens(tokens, spaces)
    keys = key_tokens(sentence, embedder, cfg.key_ratio)
    key_slots = np.array(sorted(i for i, _ in keys))
    trace = GAAPTrace(key_tokens=keys)
    fitness = _Fitness(embedder, x0)
    sub_cache: dict[str, list[str]] = {}

    def sub_options(word: str) -> list[str]:
        """SUB(word) ∪ {∅}: source substitutes (capped), then "" for deletion."""
        if word not in sub_cache:
            subs = [s for s in source.substitutes(word) if s and s != word]
            sub_cache[word] = subs[: cfg.max_substitutes] if cfg.max_substitutes else subs
        return sub_cache[word] + ([""] if cfg.allow_deletion else [])

    def text(slots: Slots) -> str:
        return join_tokens(slots, spaces)

    def add(pop: dict[str, Slots], slots: Slots) -> None:
        # a candidate must keep at least one word, else there is no question left
        if any(s and _is_word(s) for s in slots):
            pop.setdefault(text(slots), slots)

    # Pop_0: every single-key-token substitution re(S, t_j, t'), t' ∈ SUB(t_j) ∪ {∅}
    pop: dict[str, Slots] = {}
    for i in key_slots:
        for option in sub_options(original[i]):
            add(pop, (*original[:i], option, *original[i + 1 :]))
    populations: list[dict[str, Slots]] = [pop]
    scores: list[np.ndarray] = []
    t = 0
    while True:
        members = list(pop)
        f = fitness(members) if members else np.zeros(0)
        scores.append(f)
        trace.population_sizes.append(len(members))
        trace.max_fitness.append(float(f.max()) if f.size else float("nan"))
        trace.mean_fitness.append(float(f.mean()) if f.size else float("nan"))
        if not members:
            trace.stop_reason = "empty"
            break
        if t >= cfg.max_generations:
            trace.stop_reason = "max_generations"
            break
        if f.max() < cfg.delta:
            trace.stop_reason = "delta"
            break
        # selection: roulette wheel, P(x_i) ∝ F_i
        total = f.sum()
        probs = f / total if total > 0 else np.full(f.size, 1.0 / f.size)
        picked = rng.choice(len(members), size=cfg.n_parents, replace=True, p=probs)
        parents = [pop[members[j]] for j in picked]
        # crossover: children swap suffixes at h ~ U{1..p-1}; deletions keep an empty slot, so
        # all candidates have p = len(input tokens) aligned slots
        p = len(original)
        children: list[Slots] = []
        for _ in range(cfg.n_offspring // 2):
            a, b = (parents[j] for j in rng.choice(len(parents), size=2, replace=False))
            if p >= 2:
                h = int(rng.integers(1, p))
                a, b = (*a[:h], *b[h:]), (*b[:h], *a[h:])
            children += [a, b]
        # mutation: random key-token slots of each child get a uniform element of
        # SUB(token) ∪ {∅}; a deleted slot draws from SUB(original token)
        mutants: list[Slots] = []
        n_mut = min(cfg.mutations_per_child, key_slots.size)
        for child in children:
            slots = list(child)
            for i in rng.choice(key_slots, size=n_mut, replace=False):
                options = sub_options(slots[i] or original[i])
                if options:
                    slots[i] = options[int(rng.integers(len(options)))]
            mutants.append(tuple(slots))
        nxt: dict[str, Slots] = {}
        for slots in (*parents, *children, *mutants):
            add(nxt, slots)
        if len(nxt) > cfg.population_cap:
            names = list(nxt)
            keep = np.sort(np.argsort(-fitness(names), kind="stable")[: cfg.population_cap])
            nxt = {names[j]: nxt[names[j]] for j in keep}
        pop = nxt
        populations.append(pop)
        t += 1
    trace.generations = t

    chosen = _sample_generations(populations, scores, n, x0, cfg, rng, trace)
    return force_count(chosen, n, rng, what="GAAP perturbations"), trace


def _sample_generations(
    populations: list[dict[str, Slots]],
    scores: list[np.ndarray],
    n: int,
    x0: str,
    cfg: GAAPConfig,
    rng: np.random.Generator,
    trace: GAAPTrace,
) -> list[str]:
    """Per(S): n distinct texts, spread evenly over Pop_0, Pop_τ, Pop_2τ, … (earlier
    generations get the remainder), each drawn uniformly without replacement. A generation with
    too few unused candidates passes its shortfall to the next one; what is still missing is
    drawn from all remaining candidates of every generation. The input itself and candidates
    with F < min_similarity are excluded; if nothing else exists the input is the only one."""
    sampled = list(range(0, len(populations), cfg.tau))
    trace.sampled_generations = sampled
    quotas = [n // len(sampled) + (k < n % len(sampled)) for k in range(len(sampled))]
    chosen: list[str] = []
    used = {x0}

    def eligible(g: int) -> list[str]:
        names = list(populations[g])
        return [
            s
            for s, f in zip(names, scores[g], strict=True)
            if s not in used and f >= cfg.min_similarity
        ]

    carry = 0
    for g, quota in zip(sampled, quotas, strict=True):
        pool = eligible(g)
        take = min(quota + carry, len(pool))
        carry = quota + carry - take
        for j in rng.choice(len(pool), size=take, replace=False):
            chosen.append(pool[j])
            used.add(pool[j])
    if carry:
        rest = list(dict.fromkeys(s for g in range(len(populations)) for s in eligible(g)))
        take = min(carry, len(rest))
        chosen += [rest[j] for j in rng.choice(len(rest), size=take, replace=False)]
    return chosen or [x0]


def gaap(
    sentence: str,
    n: int,
    embedder: Embedder,
    source: SubstitutionSource,
    config: GAAPConfig | None = None,
    seed: int | np.random.Generator = 0,
) -> list[str]:
    """GAAP perturbations of ``sentence`` (paper §2.6, App. C): exactly ``n`` strings.

    1. Key tokens k(S, ratio) by :func:`key_tokens`.
    2. Pop_0 = every single-key-token substitution by an element of SUB(t) ∪ {∅} (``source``
       gives SUB, deletion added when ``config.allow_deletion``).
    3. For t = 0, 1, …: fitness F(x) = (1 + cos(ψ(x0), ψ(x)))/2 with ``embedder`` ψ; roulette-wheel
       selection of ``n_parents`` parents ∝ F; ``n_offspring/2`` one-point crossovers at
       h ~ U{1..p−1} (children swap suffixes); each child mutated in ``mutations_per_child``
       random key tokens (uniform over SUB(token) ∪ {∅}); Pop_{t+1} = Pa ∪ Off ∪ Mu,
       deduplicated by text and cut to the ``population_cap`` fittest. Stop when t ≥ Num
       (``max_generations``) or max F < δ (``delta``).
    4. Per(S) = ``n`` distinct texts spread evenly over Pop_0, Pop_τ, Pop_2τ, … (earlier
       generations get the remainder), drawn uniformly without replacement; a generation with
       too few candidates passes its shortfall to the next, what is still missing is drawn from
       all remaining candidates. The unchanged input is excluded whenever any other candidate
       exists; the result is forced to ``n`` by :func:`force_count` (too few → duplicates with a
       warning).

    Token representation: a deleted word leaves an empty slot, so every candidate keeps one
    slot per input token and crossover cuts all parents at the same word position (the paper's
    "shorter parent" length is then the input's token count). Texts are rebuilt with the
    input's spacing; substitutes keep the source's form (WordNet underscores included).

    One ``numpy.random.Generator`` made from ``seed`` draws everything: same seed, same list.

    Args:
        sentence: the original question S_x0.
        n: number of perturbations (paper: 9).
        embedder: ψ, returns unit-norm (m, d) embeddings.
        source: SUB(t) provider (WordNetSource, EmbeddingNeighbourSource, DictSource, ...).
        config: :class:`GAAPConfig` (default: paper values where given).
        seed: int or Generator.
    """
    return gaap_trace(sentence, n, embedder, source, config, seed)[0]


# ---------------------------------------------------------------------------------------------
# LLM paraphrases
# ---------------------------------------------------------------------------------------------

_BOLD = re.compile(r"\*\*|__")
_LABEL = re.compile(
    r"^(?:paraphrase|paraphrased|option|version|alternative|sentence|variant)\s*#?\s*\d*\s*[:.)\-–]\s*",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^(?:[-*•·–—+>]+\s*|\(?\d{1,3}\s*[.):\]]\s*|#\d+[.:)]?\s*|[a-z]\)\s+)+")
_OPEN_QUOTES = "\"'“‘«`"
_CLOSE_QUOTES = "\"'”’»`"


def paraphrase_prompt(sentence: str, n: int) -> str:
    """The official paraphrasing request: "Provide {n} paraphrases for this sentence: {sentence}"
    (system message :data:`PARAPHRASE_SYSTEM_PROMPT`, temperature 0.7 in the paper)."""
    _check_n(n)
    return f"Provide {n} paraphrases for this sentence: {_check_sentence(sentence)}"


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .?!")


def _clean_line(line: str) -> str:
    line = _BOLD.sub("", line).strip()
    line = _LIST_MARK.sub("", line).strip()
    line = _LABEL.sub("", line).strip()
    line = line.rstrip(",").strip()
    while len(line) >= 2 and line[0] in _OPEN_QUOTES and line[-1] in _CLOSE_QUOTES:
        line = line[1:-1].strip()
    return line


def parse_paraphrases(reply: str, n: int | None = None, original: str | None = None) -> list[str]:
    """Paraphrases from an LLM reply, one per line.

    Unlike the official split-by-newline (which kept "1. " prefixes and padded with empty
    strings), each line is cleaned: list numbering ("1.", "2)", "(3)", "#4"), bullets ("-", "*",
    "•"), labels ("Paraphrase 5:"), markdown bold and surrounding quotes are removed. Dropped:
    empty lines, introductions (lines ending with ":", e.g. "Here are 9 paraphrases:"), lines
    equal to ``original`` (ignoring case, spacing and final punctuation) and repeats.

    Returns:
        the first ``n`` paraphrases (all when ``n`` is None), possibly fewer.
    """
    if n is not None:
        _check_n(n)
    seen = {_normalise(original)} if original else set()
    out: list[str] = []
    for raw in reply.splitlines():
        line = _clean_line(raw)
        key = _normalise(line)
        if not key or line.endswith(":") or key in seen:
            continue
        seen.add(key)
        out.append(line)
    return out if n is None else out[:n]


def llm_paraphrases(
    sentence: str,
    n: int,
    backend: Backend,
    temperature: float = 0.7,
    max_new_tokens: int | None = None,
    seed: int = 0,
    attempts: int = 3,
) -> list[str]:
    """``n`` paraphrases of ``sentence`` generated by ``backend`` with :func:`paraphrase_prompt`.

    Attempt a = 0, 1, … asks once with seed ``seed + a`` and keeps the new distinct paraphrases
    (:func:`parse_paraphrases`), until ``n`` are collected or ``attempts`` are used; the result is
    forced to ``n`` with :func:`force_count` (more → random subset, fewer → duplicates + warning).

    Args:
        sentence: the original question.
        n: number of paraphrases (paper: 9).
        backend: any :class:`~entropykit_llm_uq.base.Backend`.
        temperature: sampling temperature (paper: 0.7).
        max_new_tokens: reply length limit (default 32·n + 32 tokens, ~one short line each).
        seed: seed of the first attempt and of :func:`force_count`.
        attempts: most generation calls.

    Raises:
        ValueError: bad arguments, or no usable paraphrase in any attempt.
    """
    sentence = _check_sentence(sentence)
    _check_n(n)
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    limit = 32 * n + 32 if max_new_tokens is None else max_new_tokens
    if limit < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    prompt = paraphrase_prompt(sentence, n)
    found: list[str] = []
    for a in range(attempts):
        reply = backend.generate([prompt], 1, temperature, limit, seed + a)[0][0]
        for line in parse_paraphrases(reply, None, original=sentence):
            if _normalise(line) not in {_normalise(x) for x in found}:
                found.append(line)
        if len(found) >= n:
            break
    if not found:
        raise ValueError(
            f"backend {backend.identity!r} gave no usable paraphrase of {sentence!r} in "
            f"{attempts} attempt(s); raise attempts or max_new_tokens, or use the 'template' or "
            "'gaap' perturber"
        )
    return force_count(found, n, seed, what="paraphrases")


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------

_WH_BE = re.compile(r"^(what|who|where|when|which|whose)\s+(is|are|was|were)\s+(.+?)\s*\?$", re.I)


def _lower_first(s: str) -> str:
    """Lower-case the first letter only when the first word is a function word (never a name)."""
    first = s.split(maxsplit=1)[0]
    return s[0].lower() + s[1:] if first.lower() in STOPWORDS else s


def _embedded_question(s: str, lead: str) -> str | None:
    """ "What is the capital of France?" → "{lead} what the capital of France is?"."""
    m = _WH_BE.match(s)
    if m is None:
        return None
    return f"{lead} {m.group(1).lower()} {m.group(3)} {m.group(2).lower()}?"


_TEMPLATES: tuple[Callable[[str], str | None], ...] = (
    lambda s: f"Please tell me: {s}",
    lambda s: f"Quick question — {s}",
    lambda s: f"I was wondering, {_lower_first(s)}",
    lambda s: f"Answer this: {s}",
    lambda s: s.lower(),
    lambda s: f"{s} Thanks!",
    lambda s: f"{s} Thank you.",
    lambda s: f"Question: {s}",
    lambda s: f"Here is a question for you. {s}",
    lambda s: f"{s} Please answer.",
    lambda s: f"Could you help me with this? {s}",
    lambda s: f"Hey, {_lower_first(s)}",
    lambda s: f"Tell me, {_lower_first(s)}",
    lambda s: f"I have a question. {s}",
    lambda s: f"{s[:-1].rstrip()}, please?" if s.endswith("?") else None,
    lambda s: _embedded_question(s, "Do you know"),
    lambda s: _embedded_question(s, "Can you tell me"),
    lambda s: f"{s} I'd like to know.",
)


def template_perturbations(sentence: str, n: int, seed: int | np.random.Generator = 0) -> list[str]:
    """``n`` fixed meaning-preserving rewrites of ``sentence`` (no model needed).

    18 templates: prefixes ("Please tell me:", "Quick question —", "I was wondering,", "Answer
    this:", ...), full lower-casing, trailing politeness ("Thanks!", ", please?"), and for
    "Wh- + be + X?" questions the embedded forms "Do you know wh- X be?" / "Can you tell me
    wh- X be?". Templates that do not apply or that return the input unchanged are skipped; the
    ``seed`` picks a random order of the rest (same seed, same list) and the first ``n`` are
    returned (fewer applicable → :func:`force_count` duplicates with a warning).
    """
    sentence = _check_sentence(sentence)
    _check_n(n)
    rng = _rng(seed)
    outputs: list[str] = []
    for template in _TEMPLATES:
        out = template(sentence)
        if out is not None and out != sentence and out not in outputs:
            outputs.append(out)
    picked = [outputs[i] for i in rng.permutation(len(outputs))[:n]]
    return force_count(picked, n, rng, what="template rewrites")


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


class Perturber(Protocol):
    """Uniform perturber signature; arguments a perturber does not use are ignored."""

    def __call__(
        self,
        sentence: str,
        n: int,
        *,
        seed: int = 0,
        embedder: Embedder | None = None,
        backend: Backend | None = None,
        source: SubstitutionSource | None = None,
        config: GAAPConfig | None = None,
    ) -> list[str]: ...


#: name -> perturber, filled by :func:`register_perturber`.
PERTURBERS: dict[str, Perturber] = {}


def register_perturber(name: str) -> Callable[[Perturber], Perturber]:
    """Decorator adding a perturber to :data:`PERTURBERS` under ``name``."""

    def wrap(fn: Perturber) -> Perturber:
        if name in PERTURBERS:
            raise ValueError(f"perturber {name!r} is already registered; pick another name")
        PERTURBERS[name] = fn
        return fn

    return wrap


def get_perturber(name: str) -> Perturber:
    """The perturber registered as ``name``."""
    if name not in PERTURBERS:
        raise ValueError(f"unknown perturber {name!r}; available: {', '.join(sorted(PERTURBERS))}")
    return PERTURBERS[name]


@functools.cache
def _default_source() -> EmbeddingNeighbourSource:
    """One shared bundled-MiniLM neighbour table (loading it reads a 90 MB file)."""
    return EmbeddingNeighbourSource()


@register_perturber("gaap")
def _gaap_perturber(
    sentence: str,
    n: int,
    *,
    seed: int = 0,
    embedder: Embedder | None = None,
    backend: Backend | None = None,
    source: SubstitutionSource | None = None,
    config: GAAPConfig | None = None,
) -> list[str]:
    """:func:`gaap`; ``source`` defaults to :class:`EmbeddingNeighbourSource` (no WordNet
    needed), ``embedder`` is required, ``backend`` is ignored."""
    if embedder is None:
        raise ValueError("the 'gaap' perturber needs embedder= (an Embedder for the fitness)")
    if config is not None and not isinstance(config, GAAPConfig):
        raise ValueError(f"config must be a GAAPConfig or None, got {type(config).__name__}")
    src = source if source is not None else _default_source()
    return gaap(sentence, n, embedder, src, config, seed)


@register_perturber("paraphrase")
def _paraphrase_perturber(
    sentence: str,
    n: int,
    *,
    seed: int = 0,
    embedder: Embedder | None = None,
    backend: Backend | None = None,
    source: SubstitutionSource | None = None,
    config: GAAPConfig | None = None,
) -> list[str]:
    """:func:`llm_paraphrases` with the paper's temperature 0.7; ``backend`` is required."""
    if backend is None:
        raise ValueError("the 'paraphrase' perturber needs backend= (a Backend to ask)")
    return llm_paraphrases(sentence, n, backend, seed=seed)


@register_perturber("template")
def _template_perturber(
    sentence: str,
    n: int,
    *,
    seed: int = 0,
    embedder: Embedder | None = None,
    backend: Backend | None = None,
    source: SubstitutionSource | None = None,
    config: GAAPConfig | None = None,
) -> list[str]:
    """:func:`template_perturbations`; every other argument is ignored."""
    return template_perturbations(sentence, n, seed)
