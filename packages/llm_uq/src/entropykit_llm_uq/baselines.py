"""Uncertainty baselines of the Inv-Entropy paper, on the m sampled answers of one question.

Every score is an UNCERTAINTY: higher = more uncertain. Three layers:

1. Pure functions of a similarity matrix W (m, m) with entries in [0, 1] (1 = same meaning), of
   cluster labels, or of the answer strings: :func:`degmat`, :func:`eigval_laplacian`, :func:`kle`,
   :func:`luq`, :func:`semantic_entropy`, :func:`lexical_similarity`, :func:`p_true`.
2. Builders of W and of equivalence rules from embeddings or NLI probabilities:
   :func:`embedding_similarity`, :func:`nli_entailment_similarity`, :func:`nli_kle_similarity`,
   :func:`nli_support`, :func:`embedding_equivalence`, :func:`nli_equivalence`,
   :func:`greedy_clusters`.
3. A registry :data:`BASELINES` of ``fn(AnswerSet) -> float``. The papers use a DeBERTa-MNLI model;
   no NLI model ships with this package, so when ``AnswerSet.nli`` is None every NLI-based
   baseline falls back to the sentence embeddings (``W = (1 + cos) / 2``, clusters by
   ``cos >= DEFAULT_EQUIVALENCE_THRESHOLD``). Pass ``nli`` to get the papers' versions.

Values for m = 1 (one answer): degmat 0, eigval_laplacian 1, kle 0, luq 0, semantic_entropy 0,
lexical_similarity -1 (a single answer agrees with itself).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from entropykit_llm_uq.base import NLI_LABELS, AnswerSet, Backend

__all__ = [
    "BASELINES",
    "DEFAULT_EQUIVALENCE_THRESHOLD",
    "KLE_TIME",
    "NLI_RULES",
    "P_TRUE_OPTIONS",
    "baseline_names",
    "degmat",
    "eigval_laplacian",
    "embedding_equivalence",
    "embedding_similarity",
    "get_baseline",
    "greedy_clusters",
    "kle",
    "lcs_length",
    "lexical_similarity",
    "luq",
    "nli_entailment_similarity",
    "nli_equivalence",
    "nli_kle_similarity",
    "nli_support",
    "p_true",
    "p_true_prompt",
    "register_baseline",
    "rouge_l_f1",
    "semantic_entropy",
]

#: Cosine threshold above which two answers count as one meaning when clustering on embeddings.
#: With all-MiniLM-L6-v2, near-duplicates of short answers ("Paris" / "Paris, France",
#: "Mount Everest" / "Everest") score above 0.9, while distinct short answers that share a type
#: (neighbouring numbers or years, two cities of one country) score about 0.5-0.8.
DEFAULT_EQUIVALENCE_THRESHOLD = 0.9

#: Heat-kernel time t of KLE (the value of lm-polygraph's implementation).
KLE_TIME = 0.3

#: Equivalence rules of :func:`nli_equivalence`.
NLI_RULES: tuple[str, str] = ("no_contradiction", "bidirectional_entailment")

#: The two continuations P(True) compares. The backend formats the prompt as a chat turn, so the
#: reply starts right after the assistant header: the options carry no leading space.
P_TRUE_OPTIONS: tuple[str, str] = ("True", "False")

_CONTRA, _NEUTRAL, _ENTAIL = (
    NLI_LABELS.index(k) for k in ("contradiction", "neutral", "entailment")
)
# Tolerance for similarities slightly outside [0, 1] from float round-off.
_RANGE_ATOL = 1e-9
_TOKEN = re.compile(r"[^\W_]+")


# --------------------------------------------------------------------------- input checks


def _similarity(w: Any, name: str = "W") -> np.ndarray:
    """(m, m) float64 copy of a similarity matrix with entries in [0, 1], symmetrised."""
    a = np.array(w, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty square (m, m) matrix of pairwise similarities, got "
            f"shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN/inf; recompute the similarities")
    if a.min() < -_RANGE_ATOL or a.max() > 1 + _RANGE_ATOL:
        raise ValueError(
            f"{name} entries must lie in [0, 1], got range [{a.min():.3g}, {a.max():.3g}]; map "
            "cosines with (1 + cos) / 2 or use probabilities"
        )
    a = np.clip(a, 0.0, 1.0)
    return (a + a.T) / 2.0


def _degrees(w: np.ndarray, name: str) -> np.ndarray:
    d = w.sum(axis=1)
    if np.any(d <= 0):
        raise ValueError(
            f"{name} row(s) {np.flatnonzero(d <= 0).tolist()} have zero total similarity; set the "
            "diagonal to 1 (an answer is similar to itself)"
        )
    return d


def _embeddings(embeddings: Any) -> np.ndarray:
    """(m, d) float64 unit rows."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty (m, d) array, got shape {e.shape}")
    if not np.all(np.isfinite(e)):
        raise ValueError("embeddings contain NaN/inf; re-encode the answers")
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(
            f"embedding row(s) {np.flatnonzero(norms[:, 0] == 0).tolist()} are all zeros; a "
            "cosine needs non-zero vectors (check the embedder on empty answers)"
        )
    return e / norms


def _cosines(embeddings: Any) -> np.ndarray:
    e = _embeddings(embeddings)
    return np.clip(e @ e.T, -1.0, 1.0)


def _nli(nli: Any) -> np.ndarray:
    """(m, m, 3) float64 probabilities in NLI_LABELS order, validated."""
    p = np.asarray(nli, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] != p.shape[1] or p.shape[2] != 3 or p.shape[0] == 0:
        raise ValueError(
            f"nli must have shape (m, m, 3) (premise i, hypothesis j, probabilities in the order "
            f"{NLI_LABELS}), got {p.shape}"
        )
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise ValueError("nli must hold finite non-negative probabilities; got NaN/inf or < 0")
    if not np.allclose(p.sum(axis=-1), 1.0, atol=1e-3):
        raise ValueError(
            "nli probabilities must sum to 1 over the last axis; apply a softmax to the logits"
        )
    return p


# --------------------------------------------------------------------------- lexical similarity


def _tokens(text: str) -> list[str]:
    """Lower-cased word tokens: maximal runs of Unicode letters/digits (punctuation dropped)."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences.

    One dynamic-programming row per token of ``a``, each row vectorised over ``b``: with
    ``t_j = dp[i-1][j-1] + 1`` where ``a_i == b_j`` and ``dp[i-1][j]`` elsewhere,
    ``dp[i][j] = max_{k <= j} t_k`` (a running maximum). O(len(a) · len(b)).
    """
    if len(a) == 0 or len(b) == 0:
        return 0
    bb = np.asarray(b, dtype=str)
    prev = np.zeros(len(bb) + 1, dtype=np.int64)
    for tok in a:
        t = np.where(bb == tok, prev[:-1] + 1, prev[1:])
        prev = np.concatenate(([0], np.maximum.accumulate(t)))
    return int(prev[-1])


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts on lower-cased word tokens: ``2 P R / (P + R)`` with
    ``P = LCS / |b|``, ``R = LCS / |a|`` (symmetric). 0 when either text has no tokens, as in
    the ``rouge-score`` package (which this small function replaces to avoid a dependency)."""
    ta, tb = _tokens(a), _tokens(b)
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 0.0
    return 2.0 * lcs / (len(ta) + len(tb))


def lexical_similarity(answers: Sequence[str]) -> float:
    """Lexical-similarity uncertainty (Fomicheva et al. 2020): ``-mean_{i<j} ROUGE-L F1(s_i, s_j)``.

    Args:
        answers: the m sampled answers (m >= 1).

    Returns:
        A value in [-1, 0]: -1 when all answers share their word sequence, 0 when no two answers
        share a word. -1 for m = 1.
    """
    if isinstance(answers, str) or len(answers) == 0:
        raise ValueError("answers must be a non-empty sequence of strings (the m samples)")
    if len(answers) == 1:
        return -1.0
    scores = [
        rouge_l_f1(answers[i], answers[j])
        for i in range(len(answers))
        for j in range(i + 1, len(answers))
    ]
    return -float(np.mean(scores))


# --------------------------------------------------------------------------- graph baselines


def degmat(w: Any) -> float:
    """Degree-matrix uncertainty (Lin et al. 2023): ``(m^2 - sum_ij W_ij) / m^2`` on ``(W + Wᵀ)/2``.

    Args:
        w: (m, m) similarities in [0, 1].

    Returns:
        A value in [0, 1): 0 when all answers are equivalent (W = 1), (m - 1)/m when W = I.
    """
    a = _similarity(w)
    return float(1.0 - a.mean())


def eigval_laplacian(w: Any) -> float:
    """Sum of eigenvalues of the normalised graph Laplacian (Lin et al. 2023):
    ``U = sum_k max(0, 1 - lambda_k)`` with ``L = I - D^{-1/2} W D^{-1/2}`` on ``(W + Wᵀ)/2``.

    A soft count of semantic clusters: 1 when all answers are equivalent (W = 1), m when they
    are all unrelated (W = I).

    Args:
        w: (m, m) similarities in [0, 1] with positive row sums.

    Returns:
        A value in [1, m] for W with unit diagonal.
    """
    a = _similarity(w)
    inv_sqrt = 1.0 / np.sqrt(_degrees(a, "W"))
    lap = np.eye(a.shape[0]) - inv_sqrt[:, None] * a * inv_sqrt[None, :]
    lam = np.linalg.eigvalsh(lap)
    return float(np.maximum(0.0, 1.0 - lam).sum())


def kle(w: Any, t: float = KLE_TIME) -> float:
    """Kernel Language Entropy (Nikitin et al. 2024): von Neumann entropy of a heat kernel.

    ``L = D - W`` (the graph Laplacian, PSD), ``K = expm(-t L)``, ``K`` rescaled to a unit
    diagonal then divided by m (unit trace), ``KLE = -sum_k lambda_k log lambda_k`` (nats).
    lm-polygraph writes ``L = W - D``; with that sign ``expm(-tL)`` amplifies the directions in
    which answers disagree instead of damping them, and the order breaks: at t = 1 five identical
    answers score 1.40 nats but a 3 + 2 split of equivalent answers 1.29. With ``D - W`` (the heat
    kernel of the KLE paper) the same cases score 0.16 and 1.04, and five unrelated answers
    log 5 = 1.61 under both. Self-similarities cancel in ``D - W``.

    Args:
        w: (m, m) similarities in [0, 1] (the KLE paper uses P_entail + P_neutral / 2).
        t: diffusion time > 0.

    Returns:
        Entropy in nats in [0, log m]: log m for W = I; for W = 1 (all answers equivalent) the
        minimum ``H(1/(1 + (m-1) e^{-tm}), e^{-tm}/(1 + (m-1) e^{-tm}) x (m-1))``.
    """
    from scipy.linalg import expm

    from entropykit_shared.spectral import von_neumann_entropy

    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"t (diffusion time) must be a positive number, got {t}")
    a = _similarity(w)
    m = a.shape[0]
    heat = expm(-t * (np.diag(a.sum(axis=1)) - a))
    scale = np.sqrt(np.diag(heat))
    rho = heat / np.outer(scale, scale) / m
    return float(von_neumann_entropy((rho + rho.T) / 2.0))


def luq(s: Any) -> float:
    """LUQ uncertainty (Zhang et al. 2024, one sentence per answer):
    ``1 - mean_i mean_{j!=i} S_ij``.

    Args:
        s: (m, m) support probabilities in [0, 1], ``S[i, j]`` = how much answer j supports
            answer i (the diagonal is ignored). Not symmetrised.

    Returns:
        A value in [0, 1]; 0 for m = 1.
    """
    a = np.array(s, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"S must be a non-empty square (m, m) matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or a.min() < -_RANGE_ATOL or a.max() > 1 + _RANGE_ATOL:
        raise ValueError("S must hold finite support probabilities in [0, 1]")
    m = a.shape[0]
    if m == 1:
        return 0.0
    off_diagonal = a.sum() - np.trace(a)
    return float(1.0 - off_diagonal / (m * (m - 1)))


# --------------------------------------------------------------------------- semantic entropy


def semantic_entropy(labels: Any) -> float:
    """Discrete semantic entropy ``-sum_c (|c|/m) log(|c|/m)`` (nats) over cluster labels.

    Args:
        labels: (m,) cluster id of each answer (any hashable integer ids).

    Returns:
        0 when all answers share a cluster, log m when all differ.
    """
    from entropykit_shared.discrete import entropy

    lab = np.asarray(labels)
    if lab.ndim != 1 or lab.shape[0] == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of cluster ids, got {lab.shape}")
    _, counts = np.unique(lab, return_counts=True)
    return float(entropy(counts.astype(np.float64)))


def greedy_clusters(m: int, equivalent: Callable[[int, int], bool]) -> np.ndarray:
    """Greedy clustering of m answers (Kuhn et al. / Farquhar et al. semantic entropy).

    Answers are visited in order; answer j joins the first existing cluster whose representative
    (its first member) r satisfies ``equivalent(r, j)``, otherwise it founds a new cluster. The
    relation need not be transitive, so the result depends on the answer order, as in the
    original code.

    Returns:
        (m,) int64 cluster ids 0, 1, ... in order of first appearance.
    """
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m (number of answers) must be a positive int, got {m!r}")
    labels = np.empty(int(m), dtype=np.int64)
    representatives: list[int] = []
    for j in range(int(m)):
        for cluster, r in enumerate(representatives):
            if equivalent(r, j):
                labels[j] = cluster
                break
        else:
            labels[j] = len(representatives)
            representatives.append(j)
    return labels


def embedding_equivalence(
    embeddings: Any, threshold: float = DEFAULT_EQUIVALENCE_THRESHOLD
) -> Callable[[int, int], bool]:
    """Equivalence ``cos(e_i, e_j) >= threshold`` on (m, d) sentence embeddings.

    The default :data:`DEFAULT_EQUIVALENCE_THRESHOLD` (0.9) is a substitute for an NLI model:
    it merges near-duplicates and keeps distinct short answers apart.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
    cos = _cosines(embeddings)

    def equivalent(i: int, j: int) -> bool:
        return bool(cos[i, j] >= threshold)

    return equivalent


def nli_equivalence(nli: Any, rule: str = "no_contradiction") -> Callable[[int, int], bool]:
    """Equivalence from (m, m, 3) NLI probabilities (``nli[i, j]``: premise i, hypothesis j).

    The predicted label of a direction is the argmax over
    :data:`~entropykit_llm_uq.base.NLI_LABELS`.

    - ``"no_contradiction"`` (the semantic-entropy code used by the Inv-Entropy repository):
      neither direction predicts contradiction, and not both directions predict neutral.
    - ``"bidirectional_entailment"`` (the semantic-entropy paper's wording): both directions
      predict entailment.
    """
    if rule not in NLI_RULES:
        raise ValueError(f"unknown NLI rule {rule!r}; choose from {NLI_RULES}")
    pred = _nli(nli).argmax(axis=-1)

    if rule == "bidirectional_entailment":

        def equivalent(i: int, j: int) -> bool:
            return bool(pred[i, j] == _ENTAIL and pred[j, i] == _ENTAIL)

    else:

        def equivalent(i: int, j: int) -> bool:
            both = (int(pred[i, j]), int(pred[j, i]))
            return _CONTRA not in both and both != (_NEUTRAL, _NEUTRAL)

    return equivalent


# --------------------------------------------------------------------------- similarity builders


def embedding_similarity(embeddings: Any) -> np.ndarray:
    """(m, m) similarity ``(1 + cos) / 2`` of (m, d) embeddings (the paper's SBERT map)."""
    return (1.0 + _cosines(embeddings)) / 2.0


def nli_entailment_similarity(nli: Any) -> np.ndarray:
    """(m, m) entailment probability averaged over both directions, unit diagonal (DegMat,
    EigValLaplacian)."""
    e = _nli(nli)[..., _ENTAIL]
    w = (e + e.T) / 2.0
    np.fill_diagonal(w, 1.0)
    return w


def nli_kle_similarity(nli: Any) -> np.ndarray:
    """(m, m) ``P_entail + P_neutral / 2`` averaged over both directions, unit diagonal (KLE)."""
    p = _nli(nli)
    s = p[..., _ENTAIL] + 0.5 * p[..., _NEUTRAL]
    w = (s + s.T) / 2.0
    np.fill_diagonal(w, 1.0)
    return w


def nli_support(nli: Any) -> np.ndarray:
    """(m, m) LUQ support ``S[i, j] = e / (e + c)`` with e, c the entailment and contradiction
    probabilities of premise j -> hypothesis i (= ``exp(l_e) / (exp(l_e) + exp(l_c))`` on the
    logits). A pair with ``e = c = 0`` (pure neutral) gets 0.5: no evidence either way."""
    p = _nli(nli)
    e, c = p[..., _ENTAIL], p[..., _CONTRA]
    total = e + c
    s = np.divide(e, total, out=np.full_like(e, 0.5), where=total > 0)
    return s.T.copy()


# --------------------------------------------------------------------------- P(True)


def _normalise_answer(text: str) -> str:
    return " ".join(text.lower().split())


def p_true_prompt(question: str, answers: Sequence[str], brainstorm: bool = True) -> str:
    """The P(True) prompt (Kadavath et al. 2022 format with brainstormed samples).

    The proposed answer is the most frequent answer after lower-casing and collapsing whitespace
    (ties: the one seen first), shown as first written. With ``brainstorm`` all m samples are
    listed first, which Kadavath et al. found to improve P(True).
    """
    if isinstance(answers, str) or len(answers) == 0:
        raise ValueError("answers must be a non-empty sequence of strings (the m samples)")
    if not question.strip():
        raise ValueError("question is empty; P(True) needs the question text")
    keys = [_normalise_answer(a) for a in answers]
    # most_common keeps first-seen order among equal counts.
    proposed = answers[keys.index(Counter(keys).most_common(1)[0][0])]
    lines = [f"Question: {question.strip()}"]
    if brainstorm:
        lines.append("Here are some brainstormed answers:")
        lines.extend(f"- {a.strip()}" for a in answers)
    lines += [
        f"Proposed answer: {proposed.strip()}",
        "Is the proposed answer:",
        "(A) True",
        "(B) False",
        "Reply with one word: True or False.",
    ]
    return "\n".join(lines)


def p_true(
    question: str,
    answers: Sequence[str],
    backend: Backend | None,
    brainstorm: bool = True,
    options: tuple[str, str] = P_TRUE_OPTIONS,
) -> float:
    """P(True) uncertainty ``-P(True)`` (Kadavath et al. 2022).

    ``P(True) = exp(l_T) / (exp(l_T) + exp(l_F))`` from the backend's log-probabilities that its
    reply to :func:`p_true_prompt` starts with ``options[0]`` ("True") or ``options[1]``
    ("False"), normalised over these two options.

    Returns:
        A value in [-1, 0]; -1 = the model is sure the proposed answer is true.

    Raises:
        ValueError when the backend cannot score options (``supports_logprobs`` False).
    """
    from scipy.special import expit

    if backend is None:
        raise ValueError("P(True) needs the generator: pass a backend (AnswerSet.backend is None)")
    if not getattr(backend, "supports_logprobs", False):
        raise ValueError(
            f"backend {getattr(backend, 'identity', type(backend).__name__)!r} cannot score "
            "options (supports_logprobs is False); P(True) needs a backend that reads token "
            "log-probabilities: a local model backend (the bundled SmolLM2 GGUF model or a local "
            "Hugging Face model directory). API-only and precomputed-response backends cannot."
        )
    prompt = p_true_prompt(question, answers, brainstorm=brainstorm)
    lp = np.asarray(backend.option_logprobs([prompt], list(options)), dtype=np.float64)
    if lp.shape != (1, 2):
        raise ValueError(
            f"backend.option_logprobs returned shape {lp.shape} for 1 prompt and 2 options; it "
            "must return (len(prompts), len(options))"
        )
    diff = lp[0, 0] - lp[0, 1]
    if np.isnan(diff):
        raise ValueError(f"backend returned unusable log-probabilities {lp[0].tolist()}")
    return -float(expit(diff))


# --------------------------------------------------------------------------- registry

#: Baselines by name: ``fn(AnswerSet) -> uncertainty`` (higher = more uncertain).
BASELINES: dict[str, Callable[[AnswerSet], float]] = {}


def register_baseline(
    name: str,
) -> Callable[[Callable[[AnswerSet], float]], Callable[[AnswerSet], float]]:
    """Decorator adding ``fn(AnswerSet) -> float`` to :data:`BASELINES` under ``name``."""

    def add(fn: Callable[[AnswerSet], float]) -> Callable[[AnswerSet], float]:
        if name in BASELINES:
            raise ValueError(f"a baseline named {name!r} is already registered; pick another name")
        BASELINES[name] = fn
        return fn

    return add


def baseline_names() -> list[str]:
    """Registered baseline names, sorted."""
    return sorted(BASELINES)


def get_baseline(name: str) -> Callable[[AnswerSet], float]:
    """The baseline registered as ``name``."""
    try:
        return BASELINES[name]
    except KeyError:
        raise ValueError(
            f"unknown baseline {name!r}; registered baselines: {baseline_names()}"
        ) from None


def _graph_similarity(ans: AnswerSet) -> np.ndarray:
    if ans.nli is not None:
        return nli_entailment_similarity(ans.nli)
    return embedding_similarity(ans.embeddings)


@register_baseline("semantic_entropy")
def _semantic_entropy_of(ans: AnswerSet) -> float:
    """Clusters by the NLI "no_contradiction" rule, else by embedding cosine >= threshold."""
    if ans.nli is not None:
        equivalent = nli_equivalence(ans.nli)
    else:
        equivalent = embedding_equivalence(ans.embeddings)
    return semantic_entropy(greedy_clusters(len(ans.answers), equivalent))


@register_baseline("lexsim")
def _lexsim_of(ans: AnswerSet) -> float:
    return lexical_similarity(ans.answers)


@register_baseline("degmat")
def _degmat_of(ans: AnswerSet) -> float:
    return degmat(_graph_similarity(ans))


@register_baseline("eigval_laplacian")
def _eigval_of(ans: AnswerSet) -> float:
    return eigval_laplacian(_graph_similarity(ans))


@register_baseline("kle")
def _kle_of(ans: AnswerSet) -> float:
    if ans.nli is not None:
        return kle(nli_kle_similarity(ans.nli))
    return kle(embedding_similarity(ans.embeddings))


@register_baseline("luq")
def _luq_of(ans: AnswerSet) -> float:
    if ans.nli is not None:
        return luq(nli_support(ans.nli))
    return luq(embedding_similarity(ans.embeddings))


@register_baseline("p_true")
def _p_true_of(ans: AnswerSet) -> float:
    return p_true(ans.question, ans.answers, ans.backend)
