"""Question files, the offline factual-QA generator, answer cleaning and correctness labels."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import pytest
from entropykit_llm_uq.data import (
    ANSWER_SUFFIX,
    CATEGORIES,
    LLMJudge,
    QAItem,
    answer_prompt,
    clean_answer,
    factual_qa,
    is_correct,
    judge_correctness,
    load_questions,
    match_correctness,
    normalize_answer,
    save_questions,
)

ITEMS = [
    QAItem("a1", "What is the capital of Colombia?", ("Bogotá", "Bogota"), "capital"),
    QAItem("a2", 'Who wrote "Hamlet", the play?', ("William Shakespeare", "Shakespeare")),
    QAItem("a3", "What is the atomic number of Carbon?", ("6",), "atomic_number"),
]


# --- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_round_trip(tmp_path, suffix):
    path = save_questions(ITEMS, tmp_path / "sub" / f"q{suffix}")
    assert load_questions(path) == ITEMS


def test_official_csv_format(tmp_path):
    # pandas-style file: BOM, unnamed index column, quoted comma, no id column.
    path = tmp_path / "trivia.csv"
    path.write_text(
        '\ufeff,question,value\n0,"Which city, on the Seine, is France\'s capital?",Paris\n'
        "1,Who painted the Mona Lisa?,Leonardo da Vinci\n",
        encoding="utf-8",
    )
    items = load_questions(path)
    assert [i.id for i in items] == ["q0000", "q0001"]
    assert items[0].question == "Which city, on the Seine, is France's capital?"
    assert items[0].answers == ("Paris",)
    assert items[1].gold == "Leonardo da Vinci"


def test_csv_aliases_and_category(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text(
        "ID,Question,Value,Aliases,Category\n"
        "x,Capital of France?,Paris, Paris | City of Light |,geo\n"
    )
    (item,) = load_questions(path)
    assert item == QAItem("x", "Capital of France?", ("Paris", "City of Light"), "geo")


def test_jsonl_answer_keys(tmp_path):
    path = tmp_path / "q.jsonl"
    lines = [
        {"question": "Q1?", "value": "A1"},
        {"question": "Q2?", "answer": 6, "aliases": "six|VI"},
        {"question": "Q3?", "answers": ["Gold", "Au"], "id": "g"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = load_questions(path)
    assert [i.answers for i in items] == [("A1",), ("6", "six", "VI"), ("Gold", "Au")]
    assert [i.id for i in items] == ["q0000", "q0001", "g"]


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("q.csv", "prompt,answer\nQ?,A\n", r"missing column\(s\) \['question', 'value'\]"),
        ("q.csv", "question,value\nQ?,A\n  ,B\n", r"line 3: the question is empty"),
        ("q.csv", "question,value\nQ?,NaN\n", r"line 2: the answer \('value'\) is empty or NaN"),
        ("q.csv", "question,value\n", "contains no questions"),
        ("q.csv", "id,question,value\nx,Q?,A\nx,R?,B\n", "duplicate id 'x'"),
        ("q.jsonl", '{"question": "Q?", "value": null}\n', r"line 1: the answer"),
        ("q.jsonl", '{"question": "Q?", "value": NaN}\n', r"line 1: the answer"),
        ("q.jsonl", '{"question": "Q?"}\n', r"line 1: no answer; found keys \['question'\]"),
        ("q.jsonl", '\n{"question": "Q?", "value": "A"\n', r"line 2: invalid JSON"),
        ("q.txt", "question,value\nQ?,A\n", r"extension '\.txt'.*\.csv.*\.jsonl"),
    ],
)
def test_load_errors(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_questions(path)


def test_missing_columns_message_lists_found_and_expected(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("prompt,gold\nQ?,A\n")
    with pytest.raises(ValueError, match=r"found columns \['prompt', 'gold'\], expected 'quest"):
        load_questions(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*factual_qa"):
        load_questions(tmp_path / "none.csv")


def test_qaitem_validation():
    with pytest.raises(ValueError, match="item 'k': the question is empty"):
        QAItem("k", "  ", ("A",))
    with pytest.raises(ValueError, match="item 'k': no answers"):
        QAItem("k", "Q?", ())
    with pytest.raises(ValueError, match="item 'k': answer 1 is empty"):
        QAItem("k", "Q?", ("A", " "))
    with pytest.raises(ValueError, match="not one string"):
        QAItem("k", "Q?", "Paris")  # type: ignore[arg-type]
    assert QAItem("k", "Q?", ["A", "B"]).answers == ("A", "B")  # type: ignore[arg-type]


def test_csv_alias_with_separator_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"contains '\|'.*\.jsonl"):
        save_questions([QAItem("k", "Q?", ("A", "B|C"))], tmp_path / "q.csv")


# --- generator -------------------------------------------------------------------------------


def test_generator_deterministic_and_distinct():
    a = factual_qa(120, seed=3)
    assert a == factual_qa(120, seed=3)
    assert a != factual_qa(120, seed=4)
    assert len({i.question for i in a}) == 120
    assert len({i.id for i in a}) == 120


def test_generator_mixes_categories_evenly():
    items = factual_qa(50, seed=0)
    counts = Counter(i.category for i in items)
    assert set(counts) == set(CATEGORIES)
    assert max(counts.values()) - min(counts.values()) <= 1
    for item in items:
        assert item.id.startswith(item.category + "-")
        assert is_correct(item.gold, item.answers)


def test_generator_ids_name_facts_across_seeds():
    by_question = {i.question: i for i in factual_qa(300, seed=0)}
    shared = [i for i in factual_qa(300, seed=1) if i.question in by_question]
    assert shared
    assert all(by_question[i.question] == i for i in shared)


def test_generator_facts():
    everything = factual_qa(None, seed=0)
    pool = {i.question: i for i in everything}
    assert len(pool) == len(everything) > 1000
    assert pool["What is the capital of France?"].gold == "Paris"
    assert pool["What is the chemical symbol of Gold?"].answers == ("Au",)
    assert pool["What is the atomic number of Carbon?"].answers == ("6",)
    assert pool["Which chemical element has the symbol Al?"].answers == ("Aluminum", "Aluminium")
    assert pool["What is the capital of Colombia?"].answers == ("Bogotá", "Bogota")
    assert "Astana" in pool["What is the capital of Kazakhstan?"].answers
    currency = pool["What is the currency of Japan?"].answers
    assert currency[0] == "Yen"
    assert "JPY" in currency
    assert "France" in pool["Paris is the capital of which country or territory?"].answers


def test_generator_subset_and_errors():
    items = factual_qa(10, seed=0, categories=["element_symbol"])
    assert {i.category for i in items} == {"element_symbol"}
    assert all(len(i.gold) <= 2 for i in items)
    with pytest.raises(ValueError, match=r"at most 118 distinct questions"):
        factual_qa(119, categories=["atomic_number"])
    with pytest.raises(ValueError, match="choose from"):
        factual_qa(5, categories=["rivers"])
    assert len(factual_qa(None, categories=["atomic_number"])) == 118
    with pytest.raises(ValueError, match="positive integer"):
        factual_qa(0)


# --- prompt and cleaning ---------------------------------------------------------------------


def test_answer_prompt():
    assert answer_prompt(" Capital of France? ") == f"Capital of France? {ANSWER_SUFFIX}"
    assert answer_prompt("Q?", suffix="") == "Q?"
    with pytest.raises(ValueError, match="empty question"):
        answer_prompt(" ")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("What is the capital of France? Paris", "Paris"),
        (f"what is the capital of france? {ANSWER_SUFFIX}\nParis.", "Paris"),
        ("[INST] What is the capital of France? [/INST] Paris", "Paris"),
        ("Paris<|im_end|>\n<|im_start|>user\nThanks", "Paris"),
        ('\n\n  Answer: "Paris".\nParis is the capital of France.', "Paris"),
        ("## **A: Washington D.C.**", "Washington D.C."),
        ("'Bogotá'", "Bogotá"),
        ("<|im_start|>assistant\n", ""),
    ],
)
def test_clean_answer(raw, expected):
    assert clean_answer(raw, question="What is the capital of France?") == expected


# --- correctness -----------------------------------------------------------------------------


def test_normalize_answer():
    assert normalize_answer("  The  Bogotá, D.C.! ") == "bogota dc"
    assert normalize_answer("Port-au-Prince") == "port au prince"
    assert normalize_answer("Łódź / Øresund") == "lodz oresund"
    assert normalize_answer("An apple") == "apple"


@pytest.mark.parametrize(
    ("response", "answers", "expected"),
    [
        ("Bogota", ("Bogotá",), True),
        ("The capital of France is Paris.", ("Paris",), True),
        ("Parisian", ("Paris",), False),
        ("It is Lyon.", ("Paris",), False),
        ("port au prince", ("Port-au-Prince",), True),
        ("The symbol is Au.", ("Au",), True),
        ("Au", ("Au",), True),
        ("au", ("Au",), True),  # equality of normalised forms
        ("the symbol is au", ("Au",), False),
        ("Gold has the symbol Ag?", ("Au",), False),
        ("It is a metal", ("A",), False),
        ("Atomic number 6.", ("6",), True),
        ("16", ("6",), False),
        ("6.5", ("6",), False),
        ("The euro", ("Euro", "EUR"), True),
        ("all of them", ("Lek", "ALL"), False),
        ("Lek (ALL)", ("ALL",), True),
        ("", ("Paris",), False),
        ("Paris", "Paris", True),
    ],
)
def test_is_correct(response, answers, expected):
    assert is_correct(response, answers) is expected


def test_match_correctness():
    item = ITEMS[1]
    assert match_correctness(item, "It was Shakespeare.")
    assert not match_correctness(item, "Marlowe")


class FakeJudgeBackend:
    """Replies from a fixed list, records the calls."""

    identity = "fake-judge"
    supports_logprobs = False

    def __init__(self, replies: Sequence[str]):
        self.replies = list(replies)
        self.calls: list[dict] = []

    def generate(self, prompts, n, temperature, max_new_tokens, seed):
        self.calls.append(dict(prompts=list(prompts), n=n, t=temperature, m=max_new_tokens))
        return [[self.replies[i % len(self.replies)]] for i in range(len(prompts))]


def test_llm_judge():
    backend = FakeJudgeBackend(["Yes.", " no, different", "Maybe"])
    judge = LLMJudge(backend)
    triples = [("Capital of France?", "Paris", f"City {k}") for k in range(4)]
    assert judge.judge_many(triples) == [True, False, None, True]
    (call,) = backend.calls
    assert (call["n"], call["t"], call["m"]) == (1, 0.0, 4)
    prompt = call["prompts"][1]
    assert "semantically equivalent" in prompt
    assert "Q: Capital of France?\nA1: Paris\nA2: City 1" in prompt
    assert judge.judge_many([]) == []
    assert LLMJudge(FakeJudgeBackend(["NO"]))("Q", "a", "b") is False
    assert LLMJudge(FakeJudgeBackend([""]))("Q", "a", "b") is None
    correctness = judge_correctness(LLMJudge(FakeJudgeBackend(["Yes"])))
    assert correctness(ITEMS[0], "Bogota") is True


def test_llm_judge_errors():
    with pytest.raises(ValueError, match="max_new_tokens"):
        LLMJudge(FakeJudgeBackend(["Yes"]), max_new_tokens=0)
    with pytest.raises(ValueError, match="unknown field"):
        LLMJudge(FakeJudgeBackend(["Yes"]), prompt_template="{q} {gold}")

    class Short(FakeJudgeBackend):
        def generate(self, prompts, n, temperature, max_new_tokens, seed):
            return []

    with pytest.raises(ValueError, match="0 reply lists for 1 prompts"):
        LLMJudge(Short(["Yes"]))("Q", "a", "b")


def test_an_echoed_question_is_not_an_answer() -> None:
    q = "What is the capital of Luxembourg?"
    assert not is_correct("The capital of Luxembourg is Brussels.", ("Luxembourg",), q)
    assert is_correct("The capital of Luxembourg is Luxembourg.", ("Luxembourg",), q)
    assert is_correct("Luxembourg", ("Luxembourg",), q)
    assert is_correct("The capital of Luxembourg is Brussels.", ("Luxembourg",))  # no question
    sym = "Which chemical element has the symbol Fe?"
    assert not is_correct("The element with the symbol Fe is copper.", ("Fe",), sym)
    assert is_correct("Fe is Fe", ("Fe",), sym)
