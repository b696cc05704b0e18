"""Questions, answers and correctness labels.

- :class:`QAItem` is one question with its gold answer and accepted aliases.
- :func:`load_questions` / :func:`save_questions` read and write the two file formats: CSV with
  columns ``question,value`` (the format of the paper's repository; optional ``aliases`` with
  ``|``-separated aliases, ``id`` and ``category``) and JSON lines.
- :func:`factual_qa` generates factual questions offline from the data shipped in ``countryinfo``,
  ``pycountry`` and ``periodictable`` (capitals, currencies, chemical elements), with alias sets.
- :func:`answer_prompt` builds the paper's answer prompt, :func:`clean_answer` strips what chat
  models add around an answer.
- :func:`is_correct` labels an answer by normalised matching against the aliases (the offline
  replacement of the paper's GPT-3.5 judge); :class:`LLMJudge` runs the paper's judge prompt on any
  :class:`~entropykit_llm_uq.base.Backend`. Both fit the :data:`Correctness` signature through
  :func:`match_correctness` and :func:`judge_correctness`.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from entropykit_llm_uq.base import Backend

__all__ = [
    "ANSWER_SUFFIX",
    "CATEGORIES",
    "JUDGE_PROMPT",
    "Correctness",
    "LLMJudge",
    "QAItem",
    "answer_prompt",
    "clean_answer",
    "factual_qa",
    "is_correct",
    "judge_correctness",
    "load_questions",
    "match_correctness",
    "normalize_answer",
    "save_questions",
]


@dataclass(frozen=True)
class QAItem:
    """One question.

    Attributes:
        id: identifier, unique within a data set.
        question: the question text.
        answers: accepted answers, the gold answer first, then aliases (a list is converted to a
            tuple).
        category: optional label (the generator's category name, or a column of the file).
    """

    id: str
    question: str
    answers: tuple[str, ...]
    category: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"QAItem id must be a non-empty string, got {self.id!r}")
        if isinstance(self.answers, str):
            raise ValueError(
                f"item {self.id!r}: answers must be a sequence of strings, not one string; "
                f"pass answers=({self.answers!r},)"
            )
        answers = tuple(self.answers)
        object.__setattr__(self, "answers", answers)
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"item {self.id!r}: the question is empty; give the question text")
        if not answers:
            raise ValueError(f"item {self.id!r}: no answers; give at least the gold answer")
        for k, answer in enumerate(answers):
            if not isinstance(answer, str) or not answer.strip():
                raise ValueError(
                    f"item {self.id!r}: answer {k} is empty ({answer!r}); remove it or fill it in"
                )

    @property
    def gold(self) -> str:
        """The gold answer (``answers[0]``)."""
        return self.answers[0]


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

_FORMATS_HELP = (
    "use .csv (columns question,value; optional aliases ('|'-separated), id, category) or "
    ".jsonl (JSON lines: one object per line with 'question' and 'value', 'answer' or 'answers')"
)


def _is_missing(value: Any) -> bool:
    """Empty cells, JSON null and the NaN that pandas writes for missing values."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in ("", "nan")


def _as_text(value: Any, where: str, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{where}: {field} must be text or a number, got {value!r}")
    return str(value).strip()


def _split_aliases(value: Any, where: str) -> list[str]:
    if _is_missing(value):
        return []
    if isinstance(value, str):
        return [a.strip() for a in value.split("|") if a.strip()]
    if isinstance(value, list):
        return [_as_text(a, where, "alias") for a in value if not _is_missing(a)]
    raise ValueError(f"{where}: aliases must be a '|'-separated string or a list, got {value!r}")


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _make_item(
    where: str, item_id: Any, question: Any, gold: Any, aliases: list[str], category: Any
) -> QAItem:
    if _is_missing(question):
        raise ValueError(f"{where}: the question is empty or NaN; fill it in or delete the row")
    if _is_missing(gold):
        raise ValueError(
            f"{where}: the answer ('value') is empty or NaN; fill it in or delete the row"
        )
    gold_text = _as_text(gold, where, "answer")
    return QAItem(
        id=_as_text(item_id, where, "id"),
        question=_as_text(question, where, "question"),
        answers=_dedupe([gold_text, *aliases]),
        category="" if _is_missing(category) else _as_text(category, where, "category"),
    )


def _load_csv(path: Path) -> list[QAItem]:
    items = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise ValueError(f"{path} is empty; {_FORMATS_HELP}")
        columns = {name.strip().lower(): name for name in reader.fieldnames if name is not None}
        missing = [c for c in ("question", "value") if c not in columns]
        if missing:
            raise ValueError(
                f"{path}: CSV is missing column(s) {missing}; found columns "
                f"{list(reader.fieldnames)}, expected 'question' and 'value' (gold answer), "
                "optional 'aliases' ('|'-separated), 'id', 'category'. Rename the columns."
            )
        for k, row in enumerate(reader):
            where = f"{path}, line {reader.line_num}"
            cells = {key: row.get(name) for key, name in columns.items()}
            item_id = cells.get("id")
            items.append(
                _make_item(
                    where,
                    f"q{k:04d}" if _is_missing(item_id) else item_id,
                    cells["question"],
                    cells["value"],
                    _split_aliases(cells.get("aliases"), where),
                    cells.get("category"),
                )
            )
    return items


def _load_jsonl(path: Path) -> list[QAItem]:
    items = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"{where}: invalid JSON ({e.msg}); each line must be one JSON object"
                ) from e
            if not isinstance(obj, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            if not any(key in obj for key in ("value", "answer", "answers")):
                raise ValueError(
                    f"{where}: no answer; found keys {sorted(obj)}, expected 'question' and one "
                    "of 'value', 'answer', 'answers' (a list, gold first)"
                )
            aliases = _split_aliases(obj.get("answers"), where)
            if "value" in obj or "answer" in obj:
                gold = obj.get("value", obj.get("answer"))
            else:
                gold = aliases[0] if aliases else None
            aliases += _split_aliases(obj.get("aliases"), where)
            items.append(
                _make_item(
                    where,
                    obj.get("id", f"q{len(items):04d}"),
                    obj.get("question"),
                    gold,
                    aliases,
                    obj.get("category"),
                )
            )
    return items


def _check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ValueError(
            f"unsupported question file extension {path.suffix!r} ({path}); {_FORMATS_HELP}"
        )
    return suffix


def load_questions(path: str | Path) -> list[QAItem]:
    """Read questions from a ``.csv`` or ``.jsonl`` file.

    CSV: a header row with ``question`` and ``value`` (the gold answer), optionally ``aliases``
    (``|``-separated), ``id`` and ``category``; other columns are ignored, header names are matched
    case-insensitively. JSON lines: one object per line with ``question`` and the answer as
    ``value`` or ``answer`` (a string) and/or ``answers`` (a list, gold first, or a ``|``-separated
    string); optional ``aliases``, ``id``, ``category``. Items without an id get ``q0000``,
    ``q0001``, ... in file order. Empty cells, JSON null and ``nan`` count as missing.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown extension, missing columns, an empty/NaN question or answer (the
            message names the line), duplicate ids, or a file without questions.
    """
    path = Path(path)
    suffix = _check_format(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"question file {path} does not exist; {_FORMATS_HELP}, or generate questions "
            "offline with factual_qa()"
        )
    items = _load_csv(path) if suffix == ".csv" else _load_jsonl(path)
    if not items:
        raise ValueError(f"{path} contains no questions; {_FORMATS_HELP}")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{path}: duplicate id {item.id!r}; ids must be unique")
        seen.add(item.id)
    return items


def save_questions(items: Sequence[QAItem], path: str | Path) -> Path:
    """Write ``items`` to ``path`` (``.csv`` or ``.jsonl``, chosen by the extension) in the format
    :func:`load_questions` reads; parent folders are created. Returns the path.

    CSV columns: ``id,question,value,aliases,category`` with the aliases joined by ``|``.
    JSON lines: ``{"id", "question", "answers": [gold, *aliases], "category"}``.
    """
    path = Path(path)
    suffix = _check_format(path)
    if not items:
        raise ValueError("no items to save; pass at least one QAItem")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        for item in items:
            if any("|" in a for a in item.answers[1:]):
                raise ValueError(
                    f"item {item.id!r}: an alias contains '|', the CSV alias separator; "
                    "save as .jsonl instead"
                )
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "question", "value", "aliases", "category"])
            for item in items:
                writer.writerow(
                    [item.id, item.question, item.gold, "|".join(item.answers[1:]), item.category]
                )
    else:
        with path.open("w", encoding="utf-8") as f:
            for item in items:
                record = {
                    "id": item.id,
                    "question": item.question,
                    "answers": list(item.answers),
                    "category": item.category,
                }
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Offline factual questions
# ---------------------------------------------------------------------------------------------

#: Categories of :func:`factual_qa`.
CATEGORIES: tuple[str, ...] = (
    "capital",
    "country_of_capital",
    "currency",
    "element_symbol",
    "element_name",
    "atomic_number",
)

# ISO 4217 fund codes (units of account next to a country's currency, e.g. USN, CHE).
_FUND_CODES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})

# Other accepted names of capitals: renamed cities, English exonyms and the other seats of
# government of countries whose data lists one capital.
_CAPITAL_ALIASES: dict[str, tuple[str, ...]] = {
    "Nur-Sultan": ("Astana",),
    "Kyiv": ("Kiev",),
    "Naypyidaw": ("Nay Pyi Taw", "Naypyitaw"),
    "Washington D.C.": ("Washington",),
    "Ulaanbaatar": ("Ulan Bator",),
    "Bern": ("Berne",),
    "Hagåtña": ("Agana",),
    "City of Victoria": ("Victoria",),
    "City of San Marino": ("San Marino",),
    "Sucre": ("La Paz",),
    "Pretoria": ("Cape Town", "Bloemfontein"),
    "Lobamba": ("Mbabane",),
    "Colombo": ("Sri Jayawardenepura Kotte",),
}

# Common English names of currencies whose ISO 4217 name is worded differently.
# (A response containing the ISO name, e.g. "Japanese yen" for "Yen", matches without an alias.)
_CURRENCY_ALIASES: dict[str, tuple[str, ...]] = {
    "US Dollar": ("United States dollar", "American dollar"),
    "Pound Sterling": ("British pound", "sterling"),
    "Yuan Renminbi": ("yuan", "renminbi"),
    "New Israeli Sheqel": ("shekel",),
    "Russian Ruble": ("Russian rouble",),
    "Rial Omani": ("Omani rial",),
    "Peso Uruguayo": ("Uruguayan peso",),
    "CFA Franc BCEAO": ("CFA franc",),
    "CFA Franc BEAC": ("CFA franc",),
    "CFP Franc": ("Pacific franc",),
    "Bolívar Soberano": ("bolivar",),
}

# British spellings of element names (periodictable uses the IUPAC/American ones).
_ELEMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "Aluminum": ("Aluminium",),
    "Cesium": ("Caesium",),
    "Sulfur": ("Sulphur",),
}

# Letters that Unicode decomposition leaves alone but readers write with a plain Latin letter.
_TRANSLIT = str.maketrans(
    {"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def _fold(text: str) -> str:
    """``text`` without diacritics (NFKD, combining marks dropped), case kept."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        mapped = ch.lower().translate(_TRANSLIT)
        if mapped == ch.lower():
            out.append(ch)
        else:
            out.append(mapped if ch.islower() else mapped.capitalize())
    return "".join(out)


_SAINT = re.compile(r"\b(Saint|St\.?)(?= )")


def _with_variants(names: Iterable[str]) -> tuple[str, ...]:
    """Names, each followed by its diacritic-free spelling and its "Saint"/"St." swap when those
    differ; duplicates dropped."""
    out = []
    for name in names:
        name = name.strip()
        if name:
            swapped = _SAINT.sub(lambda m: "St." if m.group(1) == "Saint" else "Saint", name)
            out += [name, _fold(name), swapped, _fold(swapped)]
    return _dedupe(out)


_ARTICLE_FIRST = ("United ", "Republic ", "Democratic ", "Federated ", "Holy ", "Isle ")
_ARTICLE_LAST = (" Republic", " Islands", " Lands", " Emirates")
_ARTICLE_NAMES = frozenset({"Netherlands", "Philippines", "Maldives", "Comoros"})


def _in_sentence(name: str) -> str:
    """A country name as it reads inside a question ("the United Kingdom", "France")."""
    if name.startswith("The "):
        return "the " + name[4:]
    if name in _ARTICLE_NAMES or name.startswith(_ARTICLE_FIRST) or name.endswith(_ARTICLE_LAST):
        return "the " + name
    return name


@dataclass(frozen=True)
class _Country:
    name: str
    names: tuple[str, ...]
    capital: str | None
    currency: str | None


def _capital_of(info: dict[str, Any]) -> tuple[str, ...] | None:
    cap = info.get("capital")
    if isinstance(cap, str):
        return (cap.strip(),) if cap.strip() else None
    if isinstance(cap, list):
        caps = tuple(c.strip() for c in cap if isinstance(c, str) and c.strip())
        return caps or None
    return None


def _currencies_of(info: dict[str, Any]) -> tuple[str, ...] | None:
    import pycountry

    codes = info.get("currencies") or []
    current = tuple(
        c for c in codes if c not in _FUND_CODES and pycountry.currencies.get(alpha_3=c) is not None
    )
    return current or None


def _agreed(values: Iterable[tuple[str, ...] | None]) -> str | None:
    """The value all entries give when it is one single item; None when missing or ambiguous."""
    found = {v for v in values if v is not None}
    if len(found) != 1:
        return None
    (value,) = found
    if len(value) != 1 or "/" in value[0]:
        return None
    return value[0]


@functools.cache
def _countries() -> tuple[_Country, ...]:
    """Countries and territories of countryinfo that have a current ISO 3166 code, one per code.

    Several countryinfo entries can share a code (e.g. Burma/Myanmar): their capitals and currencies
    must agree, else that fact is dropped. A country is also dropped for a fact when it has several
    capitals or several current (non-fund) currencies, or only withdrawn ISO 4217 codes.
    """
    import countryinfo
    import pycountry

    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in countryinfo.all_countries():
        info = entry.info()
        code = (info.get("ISO") or {}).get("alpha3")
        if code and pycountry.countries.get(alpha_3=code) is not None:
            groups.setdefault(code, []).append(info)
    out = []
    for code, infos in sorted(groups.items()):
        iso = pycountry.countries.get(alpha_3=code)
        iso_names = [getattr(iso, key, None) for key in ("common_name", "name", "official_name")]
        infos.sort(key=lambda i: ("," in i["name"], i["name"] not in iso_names, i["name"]))
        alternates = []
        for info in infos:
            for alt in info.get("altSpellings") or []:
                alt = alt.strip()
                # Latin-script spellings only; ISO alpha-2 codes collide with English words.
                if alt and alt != iso.alpha_2 and _fold(alt).isascii():
                    alternates.append(alt)
        names = [i["name"] for i in infos] + [n for n in iso_names if n] + alternates
        out.append(
            _Country(
                name=next((n for n in names if "," not in n and not n.isupper()), names[0]),
                names=_with_variants(names),
                capital=_agreed(_capital_of(i) for i in infos),
                currency=_agreed(_currencies_of(i) for i in infos),
            )
        )
    return tuple(out)


def _capital_facts() -> list[tuple[str, tuple[str, ...]]]:
    return [
        (
            f"What is the capital of {_in_sentence(c.name)}?",
            _with_variants([c.capital, *_CAPITAL_ALIASES.get(c.capital, ())]),
        )
        for c in _countries()
        if c.capital is not None
    ]


def _country_of_capital_facts() -> list[tuple[str, tuple[str, ...]]]:
    with_capital = [c for c in _countries() if c.capital is not None]
    counts: dict[str, int] = {}
    for c in with_capital:
        key = normalize_answer(c.capital)
        counts[key] = counts.get(key, 0) + 1
    # "or territory": the data include dependent territories (Guam, Greenland, ...).
    return [
        (f"{c.capital} is the capital of which country or territory?", c.names)
        for c in with_capital
        if counts[normalize_answer(c.capital)] == 1
    ]


def _currency_facts() -> list[tuple[str, tuple[str, ...]]]:
    import pycountry

    facts = []
    for c in _countries():
        if c.currency is None:
            continue
        name = pycountry.currencies.get(alpha_3=c.currency).name
        answers = _with_variants([name, *_CURRENCY_ALIASES.get(name, ()), c.currency])
        facts.append((f"What is the currency of {_in_sentence(c.name)}?", answers))
    return facts


def _elements() -> list[tuple[int, str, str]]:
    import periodictable

    # Element 0 of periodictable is the neutron.
    return [(e.number, e.symbol, e.name.capitalize()) for e in periodictable.elements if e.number]


def _element_symbol_facts() -> list[tuple[str, tuple[str, ...]]]:
    return [(f"What is the chemical symbol of {name}?", (sym,)) for _, sym, name in _elements()]


def _element_name_facts() -> list[tuple[str, tuple[str, ...]]]:
    return [
        (f"Which chemical element has the symbol {sym}?", (name, *_ELEMENT_ALIASES.get(name, ())))
        for _, sym, name in _elements()
    ]


def _atomic_number_facts() -> list[tuple[str, tuple[str, ...]]]:
    return [(f"What is the atomic number of {name}?", (str(z),)) for z, _, name in _elements()]


_FACTS: dict[str, Callable[[], list[tuple[str, tuple[str, ...]]]]] = {
    "capital": _capital_facts,
    "country_of_capital": _country_of_capital_facts,
    "currency": _currency_facts,
    "element_symbol": _element_symbol_facts,
    "element_name": _element_name_facts,
    "atomic_number": _atomic_number_facts,
}


@functools.cache
def _pool(category: str) -> tuple[QAItem, ...]:
    """All items of a category sorted by question; the id is the position in that order, so it
    names the same fact for every seed."""
    facts = sorted(dict(_FACTS[category]()).items())
    return tuple(
        QAItem(id=f"{category}-{k:04d}", question=q, answers=a, category=category)
        for k, (q, a) in enumerate(facts)
    )


def factual_qa(
    n: int | None = 100,
    seed: int | np.random.Generator = 0,
    categories: Sequence[str] | None = None,
) -> list[QAItem]:
    """``n`` distinct factual questions generated offline, mixed evenly over ``categories``.

    Categories (:data:`CATEGORIES`): ``capital`` ("What is the capital of France?" → Paris),
    ``country_of_capital`` ("Paris is the capital of which country or territory?" → France and its
    other names), ``currency`` (ISO 4217 name, common English names and the ISO code),
    ``element_symbol`` (→ "Au"), ``element_name`` (→ "Gold", British spellings too) and
    ``atomic_number`` (→ "79", digits). Facts come from countryinfo (capitals, currency codes,
    alternative country names), pycountry (current ISO 3166 countries, ISO 4217 currency names) and
    periodictable. Every answer tuple holds the gold answer first, then the plain-letter spelling of
    names with diacritics ("Bogotá", "Bogota"), the "Saint"/"St." swap, and a small table of
    renamed cities and other seats of government (Astana, Kiev, La Paz, Cape Town, ...).
    ``country_of_capital`` asks for a "country or territory" because the data include dependent
    territories (Guam, Greenland, ...).

    Skipped as ambiguous: places with several listed capitals or several current currencies,
    entries whose duplicates disagree (e.g. two Palestine entries with different capitals),
    currencies known only by a withdrawn ISO 4217 code, and for ``country_of_capital`` capitals
    shared by two places. The data are those of the installed packages and can be dated.

    Each category's questions are shuffled with the seed, the category order too, and items are
    taken round-robin (a category that runs out is skipped), so any prefix is balanced.

    Args:
        n: number of questions, at least 1 and at most the number available; None takes every
            available question (in the seeded order).
        seed: int or numpy Generator driving both shuffles.
        categories: subset of :data:`CATEGORIES`; None means all.

    Returns:
        list of :class:`QAItem` with ids like ``capital-0007`` (stable across seeds).
    """
    if isinstance(categories, str):
        categories = (categories,)
    cats = CATEGORIES if categories is None else tuple(dict.fromkeys(categories))
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown or not cats:
        raise ValueError(f"unknown or no categories {list(unknown)}; choose from {CATEGORIES}")
    pools = {c: _pool(c) for c in cats}
    available = sum(len(p) for p in pools.values())
    if n is None:
        n = available
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer or None (all), got {n!r}")
    if n > available:
        raise ValueError(
            f"factual_qa can make at most {available} distinct questions for categories "
            f"{list(cats)}, got n={n}; lower n or add categories"
        )
    rng = np.random.default_rng(seed)
    queues = [[pools[c][i] for i in rng.permutation(len(pools[c]))] for c in cats]
    queues = [queues[i] for i in rng.permutation(len(cats))]
    items: list[QAItem] = []
    for row in range(max(len(q) for q in queues)):
        items += [q[row] for q in queues if row < len(q)]
        if len(items) >= n:
            break
    return items[:n]


# ---------------------------------------------------------------------------------------------
# Prompt and answer cleaning
# ---------------------------------------------------------------------------------------------

#: Instruction appended to every question ([PAPER D.1]; GSM8K uses "...return only the result").
ANSWER_SUFFIX = "Answer concisely and return only the name."


def answer_prompt(question: str, suffix: str = ANSWER_SUFFIX) -> str:
    """``"{question} {suffix}"``, the prompt sent to the answering model (no suffix when empty)."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError("answer_prompt got an empty question; pass the question text")
    return f"{question.strip()} {suffix.strip()}".strip()


# Chat-template tokens: Llama-2 [INST]/<<SYS>>, ChatML <|...|> (with the role name after
# <|im_start|>), Llama-3 headers, sentence-piece <s></s>. Replaced by a line break, so that what
# follows an end-of-turn token is dropped with the rest of the lines.
_CHAT_MARKERS = re.compile(
    r"<\|start_header_id\|>[^<]*<\|end_header_id\|>"
    r"|<\|im_start\|>(?:system|user|assistant)?"
    r"|<\|[^<>|\s]*\|>"
    r"|</?s>"
    r"|\[/?INST\]"
    r"|<</?SYS>>"
)
_LABEL = re.compile(r"^(?:final answer|answer|a)\s*[:：]\s*", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»*"
_INITIALISM = re.compile(r"(?:\b[A-Za-z]\.){2,}$")


def clean_answer(text: str, question: str | None = None) -> str:
    """The answer part of a model reply, as the paper cleans LLaMA outputs ([PAPER D.1]).

    Steps: chat-template tokens (``[INST]``, ``[/INST]``, ``<|im_end|>``, ...) become line breaks;
    an echoed ``question`` and :data:`ANSWER_SUFFIX` are removed (case-insensitive); ``#`` is
    dropped; the first non-empty line is kept; then, until nothing changes, surrounding whitespace,
    quotes and ``*`` are stripped, a leading ``Answer:``/``A:`` label is removed and one final
    period is dropped (kept after initialisms such as "D.C."). Returns ``""`` when nothing is
    left; callers decide what an empty answer means.
    """
    text = _CHAT_MARKERS.sub("\n", text)
    for echo in (question, ANSWER_SUFFIX):
        if echo and echo.strip():
            text = re.sub(re.escape(echo.strip()), "\n", text, flags=re.IGNORECASE)
    text = text.replace("#", "")
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    previous = None
    while line != previous:
        previous = line
        line = _LABEL.sub("", line.strip().strip(_QUOTES).strip())
        if line.endswith(".") and not _INITIALISM.search(line):
            line = line[:-1]
    return line


# ---------------------------------------------------------------------------------------------
# Correctness
# ---------------------------------------------------------------------------------------------

_ARTICLES = frozenset({"a", "an", "the"})


def normalize_answer(text: str) -> str:
    """Lower-case ``text``, remove diacritics (NFKD; also ł ø æ œ ß đ ð þ ı), turn dashes,
    connectors and slashes into spaces, delete other punctuation and symbols (so "D.C." → "dc",
    "N'Djamena" → "ndjamena"), drop the articles a/an/the and collapse whitespace."""
    chars = []
    for ch in _fold(text.lower()).lower():
        cat = unicodedata.category(ch)
        if cat in ("Pd", "Pc") or ch in "/\\" or ch.isspace():
            chars.append(" ")
        elif cat[0] not in "PS":
            chars.append(ch)
    return " ".join(t for t in "".join(chars).split() if t not in _ARTICLES)


def _is_short(alias: str) -> bool:
    """Aliases matched case-sensitively in the raw response: up to 2 characters (chemical symbols),
    digits (atomic numbers), and upper-case codes of up to 4 letters (EUR, USA, ALL)."""
    return len(alias) <= 2 or alias.isdigit() or (len(alias) <= 4 and alias.isupper())


def _short_pattern(alias: str) -> re.Pattern[str]:
    # Whole word; a digit alias must not be part of a decimal number (6 in "6.5" or "0.6").
    return re.compile(rf"(?<!\w)(?<!\d\.){re.escape(alias)}(?!\w)(?!\.\d)")


def is_correct(response: str, answers: str | Sequence[str], question: str | None = None) -> bool:
    """Whether ``response`` gives one of ``answers`` (gold and aliases), by normalised matching.

    An alias matches when (1) ``normalize_answer(response) == normalize_answer(alias)``, or (2) for
    a normal alias, its normalised form occurs in the normalised response as a whole-word token
    sequence ("The capital of France is Paris." matches "Paris", "Parisian" does not), or (2') for
    a short alias (up to 2 characters, digits, or an upper-case code of up to 4 letters: chemical
    symbols, atomic numbers, ISO codes) it occurs as a whole word with the same case in the
    original response ("Au" matches "The symbol is Au.", the word "a" or "au" inside a sentence
    does not, "6" does not match "16").

    With ``question``, an alias that also occurs in the question must occur in the response more
    often than in the question for (2)/(2'): an echoed question is not an answer ("The capital of
    Luxembourg is Brussels" does not answer "Luxembourg"; "... is Luxembourg" does).

    Limitations: negations and hedges are not understood ("not Paris", "Paris or Lyon" count as
    correct); an alias inside a longer different name counts ("Guinea" in "Equatorial Guinea");
    numbers written as words do not match digits; the pronoun "I" matches iodine's symbol. Use
    :class:`LLMJudge` where these matter.
    """
    if isinstance(answers, str):
        answers = (answers,)
    response_norm = normalize_answer(response)
    padded = f" {response_norm} "
    question_padded = f" {normalize_answer(question)} " if question else " "
    for alias in answers:
        alias = alias.strip()
        if not alias:
            continue
        alias_norm = normalize_answer(alias)
        if alias_norm and response_norm == alias_norm:
            return True
        if _is_short(alias):
            pattern = _short_pattern(alias)
            echoed = len(pattern.findall(question)) if question else 0
            if len(pattern.findall(response)) > echoed:
                return True
        elif alias_norm:
            needle = f" {alias_norm} "
            if _count(padded, needle) > _count(question_padded, needle):
                return True
    return False


def _count(haystack: str, needle: str) -> int:
    """Occurrences of the space-delimited ``needle`` in ``haystack``, overlaps allowed (the
    delimiting spaces are shared between neighbours)."""
    count, start = 0, haystack.find(needle)
    while start >= 0:
        count += 1
        start = haystack.find(needle, start + 1)
    return count


#: The paper's judge prompt ([PAPER] evaluation; GPT-3.5 at temperature 0).
JUDGE_PROMPT = (
    "Are the following two answers to my question Q semantically equivalent?\n\n"
    "Q: {question}\nA1: {gold}\nA2: {answer}\n\n"
    'Please answer with a single word, either "Yes" or "No".'
)

_FIRST_WORD = re.compile(r"[^\W\d_]+")


def _verdict(reply: str) -> bool | None:
    match = _FIRST_WORD.search(_CHAT_MARKERS.sub(" ", reply))
    word = match.group(0).lower() if match else ""
    return True if word == "yes" else False if word == "no" else None


@dataclass
class LLMJudge:
    """Correctness by asking a model whether an answer is equivalent to the gold answer.

    The reply's first word decides: "yes" → True, "no" → False (any case, punctuation after it
    ignored); anything else, including an empty reply, → None, which callers should treat as
    "unknown" (the paper's code turns it into NaN).

    Attributes:
        backend: the judging model (:class:`~entropykit_llm_uq.base.Backend`).
        temperature: sampling temperature; the paper judges greedily (0).
        max_new_tokens: reply length limit; one word needs few tokens.
        seed: generation seed passed to the backend.
        prompt_template: judge prompt with ``{question}``, ``{gold}`` and ``{answer}`` fields.
    """

    backend: Backend
    temperature: float = 0.0
    max_new_tokens: int = 4
    seed: int = 0
    prompt_template: str = JUDGE_PROMPT

    def __post_init__(self) -> None:
        if not hasattr(self.backend, "generate"):
            raise ValueError(
                f"backend {self.backend!r} has no generate(); pass an entropykit_llm_uq Backend"
            )
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be finite and >= 0, got {self.temperature}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        try:
            self.prompt_template.format(question="", gold="", answer="")
        except (KeyError, IndexError) as e:
            raise ValueError(
                f"prompt_template has an unknown field {e}; use only {{question}}, {{gold}}, "
                "{answer} (double other braces)"
            ) from e

    def prompt(self, question: str, gold: str, answer: str) -> str:
        """The judge prompt for one comparison."""
        return self.prompt_template.format(question=question, gold=gold, answer=answer)

    def __call__(self, question: str, gold: str, answer: str) -> bool | None:
        """Whether ``answer`` is equivalent to ``gold`` for ``question``; None when the reply is
        neither yes nor no."""
        return self.judge_many([(question, gold, answer)])[0]

    def judge_many(self, items: Iterable[tuple[str, str, str]]) -> list[bool | None]:
        """Judge many ``(question, gold, answer)`` triples with one ``generate`` call."""
        prompts = [self.prompt(*triple) for triple in items]
        if not prompts:
            return []
        replies = self.backend.generate(
            prompts,
            n=1,
            temperature=self.temperature,
            max_new_tokens=self.max_new_tokens,
            seed=self.seed,
        )
        if len(replies) != len(prompts) or any(len(r) < 1 for r in replies):
            raise ValueError(
                f"backend returned {len(replies)} reply lists for {len(prompts)} prompts (each "
                "needs at least one reply); check the backend's generate()"
            )
        return [_verdict(r[0]) for r in replies]


#: A correctness labeller: ``(item, response) -> True/False``, or None when it cannot decide.
Correctness: TypeAlias = Callable[[QAItem, str], bool | None]


def match_correctness(item: QAItem, response: str) -> bool:
    """The default :data:`Correctness`: :func:`is_correct` against all of ``item.answers``,
    not counting aliases that only echo the question."""
    return is_correct(response, item.answers, item.question)


def judge_correctness(judge: LLMJudge) -> Correctness:
    """A :data:`Correctness` that asks ``judge`` about ``(item.question, item.gold, response)``.
    For many responses at once, :meth:`LLMJudge.judge_many` makes one batched call instead."""

    def correctness(item: QAItem, response: str) -> bool | None:
        return judge(item.question, item.gold, response)

    return correctness
