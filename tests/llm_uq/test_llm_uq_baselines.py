"""Uncertainty baselines: closed forms on hand-made similarity matrices, NLI tensors and texts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from entropykit_llm_uq.base import AnswerSet
from entropykit_llm_uq.baselines import (
    BASELINES,
    P_TRUE_OPTIONS,
    baseline_names,
    degmat,
    eigval_laplacian,
    embedding_equivalence,
    embedding_similarity,
    get_baseline,
    greedy_clusters,
    kle,
    lcs_length,
    lexical_similarity,
    luq,
    nli_entailment_similarity,
    nli_equivalence,
    nli_kle_similarity,
    nli_support,
    p_true,
    p_true_prompt,
    register_baseline,
    rouge_l_f1,
    semantic_entropy,
)

M = 5
ONES = np.ones((M, M))
EYE = np.eye(M)


def _entropy(p: np.ndarray) -> float:
    return float(-(p * np.log(p)).sum())


def test_identical_answers() -> None:
    assert degmat(ONES) == pytest.approx(0.0, abs=1e-12)
    assert eigval_laplacian(ONES) == pytest.approx(1.0, abs=1e-10)
    assert lexical_similarity(["The Nile"] * M) == -1.0
    assert semantic_entropy(np.zeros(M, dtype=int)) == 0.0
    assert luq(ONES) == pytest.approx(0.0)


def test_unrelated_answers() -> None:
    assert degmat(EYE) == pytest.approx((M - 1) / M)
    # L = I - I = 0: every eigenvalue contributes 1.
    assert eigval_laplacian(EYE) == pytest.approx(M)
    assert semantic_entropy(np.arange(M)) == pytest.approx(math.log(M))
    assert kle(EYE) == pytest.approx(math.log(M), abs=1e-10)
    assert luq(EYE) == pytest.approx(1.0)


def test_kle_identical_closed_form_and_minimal() -> None:
    t = 0.3
    # L = mI - J has eigenvalues 0 (once) and m (m-1 times): heat-kernel spectrum 1, e^{-tm}.
    lam = np.array([1.0] + [math.exp(-t * M)] * (M - 1))
    assert kle(ONES, t=t) == pytest.approx(_entropy(lam / lam.sum()), abs=1e-10)
    partial = np.full((M, M), 0.5)
    np.fill_diagonal(partial, 1.0)
    assert kle(ONES) < kle(partial) < kle(EYE)
    # A 3 + 2 split is more uncertain than full agreement (the L = W - D sign reverses this).
    split = np.zeros((M, M))
    split[:3, :3] = split[3:, 3:] = 1.0
    assert kle(ONES, t=1.0) < kle(split, t=1.0) < kle(EYE, t=1.0)


def test_two_answer_closed_forms() -> None:
    a, t = 0.5, 0.3
    w = np.array([[1.0, a], [a, 1.0]])
    # Normalised Laplacian eigenvalues 0 and 2a / (1 + a).
    assert eigval_laplacian(w) == pytest.approx(1 + (1 - a) / (1 + a), abs=1e-12)
    # Heat kernel 1/2 [[1+e, 1-e], [1-e, 1+e]] with e = exp(-2ta); unit diag, / 2.
    e = math.exp(-2 * t * a)
    r = (1 - e) / (1 + e)
    assert kle(w, t=t) == pytest.approx(_entropy(np.array([(1 + r) / 2, (1 - r) / 2])), abs=1e-10)


def test_degmat_symmetrises() -> None:
    w = np.array([[1.0, 0.5], [0.3, 1.0]])
    assert degmat(w) == pytest.approx(0.3)


def test_luq_hand_value() -> None:
    s = np.array([[1.0, 0.8, 0.6], [0.4, 1.0, 0.2], [0.0, 1.0, 0.5]])
    assert luq(s) == pytest.approx(1 - 3.0 / 6)


def test_single_answer_values() -> None:
    one = np.ones((1, 1))
    assert degmat(one) == 0.0
    assert eigval_laplacian(one) == pytest.approx(1.0)
    assert kle(one) == pytest.approx(0.0, abs=1e-12)
    assert luq(one) == 0.0
    assert lexical_similarity(["Paris"]) == -1.0


@pytest.mark.parametrize("fn", [degmat, eigval_laplacian, kle])
@pytest.mark.parametrize(
    ("w", "msg"),
    [
        (np.ones((2, 3)), "square"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
        (np.array([[1.0, -0.5], [-0.5, 1.0]]), r"\[0, 1\]"),
    ],
)
def test_bad_similarity(fn, w: np.ndarray, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        fn(w)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="zero total similarity"):
        eigval_laplacian(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="diffusion time"):
        kle(EYE, t=0.0)
    with pytest.raises(ValueError, match="square"):
        luq(np.ones(3))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        semantic_entropy([])
    with pytest.raises(ValueError, match="non-empty sequence"):
        lexical_similarity("one string")


def _lcs_reference(a: Sequence[str], b: Sequence[str]) -> int:
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            dp[i][j] = dp[i - 1][j - 1] + 1 if x == y else max(dp[i - 1][j], dp[i][j - 1])
    return dp[-1][-1]


def test_lcs_and_rouge_l() -> None:
    # LCS "the cat on mat" = 4 of 6 and 5 tokens.
    assert (
        lcs_length(["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "on", "a", "mat"]) == 4
    )
    assert rouge_l_f1("The cat sat on the mat.", "the CAT on a mat") == pytest.approx(8 / 11)
    assert rouge_l_f1("", "anything") == 0.0
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = list(rng.choice(list("abcd"), size=rng.integers(0, 9)))
        b = list(rng.choice(list("abcd"), size=rng.integers(0, 9)))
        assert lcs_length(a, b) == _lcs_reference(a, b)


def test_lexical_similarity_hand_value() -> None:
    # Only ("Paris", "Paris, France") overlap: F1 = 2 * 1 / (1 + 2); mean over 3 pairs.
    assert lexical_similarity(["Paris", "Paris, France", "London"]) == pytest.approx(-2 / 9)


def test_greedy_clusters_follow_representatives() -> None:
    pairs = {frozenset(p) for p in [(0, 1), (1, 2), (0, 3), (2, 3)]}
    calls: list[tuple[int, int]] = []

    def eq(i: int, j: int) -> bool:
        calls.append((i, j))
        return frozenset((i, j)) in pairs

    # 1 joins 0; 2 is not equivalent to representative 0 (only to member 1) -> new cluster;
    # 3 matches both representatives and takes the first.
    np.testing.assert_array_equal(greedy_clusters(4, eq), [0, 0, 1, 0])
    assert calls == [(0, 1), (0, 2), (0, 3)]
    with pytest.raises(ValueError, match="positive int"):
        greedy_clusters(0, eq)


def _nli_from_labels(pred: np.ndarray) -> np.ndarray:
    """(m, m, 3) probabilities with 0.8 on the given label and 0.1 on the others."""
    p = np.full((*pred.shape, 3), 0.1)
    np.put_along_axis(p, pred[..., None], 0.8, axis=-1)
    return p


# Labels: 0 contradiction, 1 neutral, 2 entailment; pred[i, j] for premise i, hypothesis j.
PRED = np.array(
    [
        [2, 2, 2, 2],
        [2, 2, 1, 2],
        [1, 1, 2, 2],
        [0, 2, 2, 2],
    ]
)


def test_nli_equivalence_rules() -> None:
    nli = _nli_from_labels(PRED)
    loose = nli_equivalence(nli)
    strict = nli_equivalence(nli, rule="bidirectional_entailment")
    assert loose(0, 1)
    assert strict(0, 1)
    assert loose(0, 2)
    assert not strict(0, 2)
    assert not loose(1, 2)
    assert not strict(1, 2)
    assert not loose(0, 3)
    assert not strict(0, 3)
    assert loose(2, 3)
    assert strict(2, 3)
    with pytest.raises(ValueError, match="unknown NLI rule"):
        nli_equivalence(nli, rule="majority")


def test_nli_similarities_hand_values() -> None:
    nli = np.zeros((2, 2, 3))
    nli[0, 1] = [0.1, 0.3, 0.6]
    nli[1, 0] = [0.4, 0.4, 0.2]
    nli[0, 0] = nli[1, 1] = [0.0, 0.0, 1.0]
    w = nli_entailment_similarity(nli)
    np.testing.assert_allclose(w, [[1.0, 0.4], [0.4, 1.0]])
    k = nli_kle_similarity(nli)
    np.testing.assert_allclose(k, [[1.0, 0.575], [0.575, 1.0]])  # (0.75 + 0.4) / 2
    s = nli_support(nli)
    # S[i, j] uses premise j -> hypothesis i.
    np.testing.assert_allclose(s, [[1.0, 0.2 / 0.6], [0.6 / 0.7, 1.0]])
    assert luq(s) == pytest.approx(1 - (0.2 / 0.6 + 0.6 / 0.7) / 2)


def test_nli_support_pure_neutral_is_half() -> None:
    nli = np.zeros((2, 2, 3))
    nli[..., 1] = 1.0
    np.testing.assert_allclose(nli_support(nli), 0.5)


def test_bad_nli() -> None:
    with pytest.raises(ValueError, match=r"shape \(m, m, 3\)"):
        nli_equivalence(np.ones((2, 3, 3)) / 3)
    with pytest.raises(ValueError, match="softmax"):
        nli_support(np.ones((2, 2, 3)))


def test_embedding_similarity_and_equivalence() -> None:
    c = 0.95
    e = np.array([[2.0, 0.0], [c, math.sqrt(1 - c**2)], [0.0, 1.0]])  # row 0 not unit
    np.testing.assert_allclose(embedding_similarity(e)[0], [1.0, (1 + c) / 2, 0.5])
    eq = embedding_equivalence(e, threshold=0.9)
    assert eq(0, 1)
    assert not eq(0, 2)
    with pytest.raises(ValueError, match="all zeros"):
        embedding_similarity(np.array([[0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        embedding_equivalence(np.array([[np.nan, 0.0]]))


class FakeBackend:
    """Returns fixed log-probabilities for the two P(True) options and records the call."""

    identity = "fake"

    def __init__(self, logprobs: tuple[float, float], supports_logprobs: bool = True) -> None:
        self.logprobs = logprobs
        self.supports_logprobs = supports_logprobs
        self.calls: list[tuple[list[str], list[str]]] = []

    def generate(self, prompts, n, temperature, max_new_tokens, seed):  # pragma: no cover
        raise NotImplementedError

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> np.ndarray:
        self.calls.append((list(prompts), list(options)))
        return np.array([self.logprobs])


def test_p_true_with_fake_backend() -> None:
    backend = FakeBackend((math.log(0.3), math.log(0.1)))
    answers = ["London", "Paris", "paris "]
    assert p_true("Capital of France?", answers, backend) == pytest.approx(-0.75)
    ((prompts, options),) = backend.calls
    assert options == list(P_TRUE_OPTIONS) == ["True", "False"]
    assert "Proposed answer: Paris\n" in prompts[0]  # most frequent after normalising
    assert prompts[0] == p_true_prompt("Capital of France?", answers)
    assert "- London" in prompts[0]
    assert "(A) True" in prompts[0]
    assert "brainstormed" not in p_true_prompt("Q?", answers, brainstorm=False)
    # Ties go to the answer seen first.
    assert "Proposed answer: B\n" in p_true_prompt("Q?", ["B", "A"])


def test_p_true_refuses_backends_without_logprobs() -> None:
    with pytest.raises(ValueError, match=r"supports_logprobs is False.*local model backend"):
        p_true("Q?", ["A"], FakeBackend((0.0, 0.0), supports_logprobs=False))
    with pytest.raises(ValueError, match="pass a backend"):
        p_true("Q?", ["A"], None)
    with pytest.raises(ValueError, match="question is empty"):
        p_true("  ", ["A"], FakeBackend((0.0, 0.0)))


def _answer_set(answers: list[str], emb: np.ndarray, **kw) -> AnswerSet:
    return AnswerSet(question="Capital of France?", answers=answers, embeddings=emb, **kw)


def test_registry() -> None:
    expected = {"semantic_entropy", "lexsim", "degmat", "eigval_laplacian", "kle", "luq", "p_true"}
    assert expected <= set(baseline_names())
    assert get_baseline("degmat") is BASELINES["degmat"]
    with pytest.raises(ValueError, match=r"unknown baseline 'vendi'.*'degmat'"):
        get_baseline("vendi")
    with pytest.raises(ValueError, match="already registered"):
        register_baseline("lexsim")(lambda ans: 0.0)


def test_registry_on_answer_sets() -> None:
    same = _answer_set(["Paris"] * 3, np.tile([[1.0, 0.0]], (3, 1)))
    assert get_baseline("degmat")(same) == pytest.approx(0.0)
    assert get_baseline("semantic_entropy")(same) == 0.0
    assert get_baseline("lexsim")(same) == -1.0
    assert get_baseline("luq")(same) == pytest.approx(0.0)
    assert get_baseline("eigval_laplacian")(same) == pytest.approx(1.0)
    # Orthogonal embeddings: W = (1 + 0) / 2 off the diagonal, three singleton clusters.
    spread = _answer_set(["Paris", "Lyon", "Nice"], np.eye(3))
    assert get_baseline("semantic_entropy")(spread) == pytest.approx(math.log(3))
    assert get_baseline("degmat")(spread) == pytest.approx(1 - (3 + 6 * 0.5) / 9)
    assert get_baseline("kle")(spread) > get_baseline("kle")(same)
    # NLI takes precedence over the embeddings when present.
    contra = _nli_from_labels(np.zeros((3, 3), dtype=int))
    with_nli = _answer_set(["Paris"] * 3, np.tile([[1.0, 0.0]], (3, 1)), nli=contra)
    assert get_baseline("semantic_entropy")(with_nli) == pytest.approx(math.log(3))
    assert get_baseline("luq")(with_nli) == pytest.approx(1 - 0.1 / 0.9)
    backend = FakeBackend((math.log(0.9), math.log(0.1)))
    assert get_baseline("p_true")(_answer_set(["Paris"], np.ones((1, 2)), backend=backend)) == (
        pytest.approx(-0.9)
    )
