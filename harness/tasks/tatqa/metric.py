"""TAT-QA exact match and numeracy-aware F1, implemented here from the paper's definitions (Zhu et al. 2021:
exact match and DROP's numeracy-focused F1, with the answer's scale taken into account) and checked against
what the official ``tatqa_eval.py`` / ``tatqa_metric.py`` do (NExTplusplus/TAT-QA), read but not copied.

An answer is a list of spans (arithmetic and count golds are one span: the number). Each span becomes
tokens:

* **A number** (the whole span: ``1,234.5``, ``$1.2``, ``(3.1)`` = -3.1, ``-12.6``, ``12%``, ``1.5 million``)
  becomes one token, its value in absolute units: rounded to 2 decimals *in the stated scale*, then
  multiplied by the scale (thousand 1e3, million 1e6, billion 1e9, percent 0.01), so ``1,496.5`` + million
  and ``1496500`` + thousand are the same answer, and ``1496.5`` + thousand is not. A number written with
  ``%`` is a percentage whatever the scale (``12%`` = 0.12) and is not rounded. As in the official script,
  a single bare number with scale "" also counts in its raw value (``0.2342`` matches 23.42 percent).
* **Text** is lower-cased, split on white space; punctuation and symbols are removed from every token that is not a
  number, number tokens are normalised as above (without scale), the articles a / an / the are dropped;
  a non-empty scale is appended as one more token. So a wrong scale on a text span costs F1, not all of it.

**Exact match**: the bags (multisets) of span token sequences are equal: order-free for multi-span. A gold
that is a single span is compared with the reply's whole answer text (so a gold span containing ``;``
is not split). **F1**: DROP's bag-of-tokens F1 between the *sets* of tokens of all gold spans and all
predicted spans (the official script joins the spans into one bag; no per-span alignment), rounded to 2
decimals as the official script does; for arithmetic and count, F1 equals EM. Numbers therefore score 0
unless their value, after the scale, is right: a scale mismatch on a number scores 0.

Where this differs from the official script (deliberately, and rarely in practice): numbers are parsed as
decimals (no float round-half-even artefacts, no scientific notation), a number must be the whole span
(``12 million dollars`` is text) once surrounding quotes, backticks and trailing punctuation are cut (the
official script reads the gold "`70.07" as the token 7007), and EM compares the multiset of spans rather
than the sorted spans joined by spaces (the official EM can depend on letter case through sorting).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Sequence

from harness.tasks.tatqa.data import ANSWER_FROM, ANSWER_TYPES, Answer, ParsedAnswer, Question

SCALE_FACTOR: dict[str, Decimal] = {"": Decimal(1), "thousand": Decimal(1000), "million": Decimal(10) ** 6,
                                    "billion": Decimal(10) ** 9, "percent": Decimal("0.01")}
_WORD_FACTOR = {**SCALE_FACTOR, "hundred": Decimal(100)}
_NUMBER = re.compile(
    r"^(?P<sign>[-+\u2212])?\s*[$€£¥]?\s*(?P<open>\()?\s*[$€£¥]?\s*(?P<sign2>[-+\u2212])?\s*"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,40}(?:\.\d{1,40})?|\.\d{1,40})"
    r"\s*(?P<pct>%)?\s*(?P<close>\))?\s*(?P<pct2>%)?(?:\s+(?P<word>hundred|thousand|million|billion|percent))?$",
    re.IGNORECASE,
)
_ARTICLES = {"a", "an", "the"}
_QUOTES = "\"'`*_\u201c\u201d\u2018\u2019"
_TRAILING = ".,;:!?" + _QUOTES


def _core(text: str) -> str:
    """Without surrounding quotes, backticks, emphasis and trailing punctuation: "`70.07", "2019," -> number."""
    return text.strip().lstrip(_QUOTES).rstrip(_TRAILING).strip()
_CENT, _TEN_THOUSANDTH = Decimal("0.01"), Decimal("0.0001")


@dataclass(frozen=True)
class ItemScore:
    em: float
    f1: float
    scale_ok: bool
    parsed: bool


def parse_number(text: str) -> tuple[Decimal, bool] | None:
    """The value of a span that is wholly a number, and whether it was written with ``%``; else None."""
    m = _NUMBER.match(text.strip())
    if not m:
        return None
    sign, opened, sign2, digits, pct, closed, pct2, word = m.group(
        "sign", "open", "sign2", "digits", "pct", "close", "pct2", "word")
    if bool(opened) != bool(closed):
        return None
    value = Decimal(digits.replace(",", ""))
    if word:
        value *= _WORD_FACTOR[word.lower()]
    negative = bool(opened) ^ (sign in ("-", "\u2212")) ^ (sign2 in ("-", "\u2212"))
    return (-value if negative else value), bool(pct or pct2)


def number_token(value: Decimal, percent_sign: bool, scale: str, *, raw: bool = False) -> str:
    """The canonical token of a number: its value in absolute units, to 4 decimals, trailing zeros cut."""
    with localcontext() as ctx:
        ctx.prec = 80
        if percent_sign:
            value = value * SCALE_FACTOR["percent"]
        elif not raw:
            value = value.quantize(_CENT, rounding=ROUND_HALF_UP) * SCALE_FACTOR[scale]
        value = value.quantize(_TEN_THOUSANDTH, rounding=ROUND_HALF_UP)
        if value == 0:
            return "0"
        return format(value.normalize(), "f")


def _strip_punctuation(token: str) -> str:
    return "".join(ch for ch in token if not unicodedata.category(ch).startswith(("P", "S")))


def span_tokens(span: str, scale: str, *, raw: bool = False) -> tuple[str, ...]:
    number = parse_number(_core(span))
    if number is not None:
        return (number_token(*number, scale, raw=raw),)
    tokens = []
    for word in span.lower().split():
        inner = parse_number(_core(word))
        token = number_token(*inner, "") if inner is not None else _strip_punctuation(word)
        if token and token not in _ARTICLES:
            tokens.append(token)
    if scale:
        tokens.append(scale)
    return tuple(tokens)


def gold_spans(answer: Answer, answer_type: str) -> tuple[str, ...]:
    if isinstance(answer, tuple):
        return answer
    if isinstance(answer, float):
        return (format(Decimal(repr(answer)), "f"),)  # repr: the shortest exact text, never 1e-05
    return (str(answer).strip(),)


def _bag_f1(predicted: set[str], gold: set[str]) -> float:
    if not predicted and not gold:
        return 1.0
    common = len(predicted & gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def em_f1(answer: Answer, answer_type: str, scale: str, predicted: ParsedAnswer | None) -> tuple[float, float]:
    """Exact match and F1 of one reply against one gold answer; a parse failure (None) scores 0, 0."""
    if predicted is None:
        return 0.0, 0.0
    golds = gold_spans(answer, answer_type)
    spans = (predicted.text,) if len(golds) == 1 else predicted.spans
    gold_bag = Counter(span_tokens(s, scale) for s in golds)
    readings = [[span_tokens(s, predicted.scale) for s in spans]]
    if len(spans) == 1 and not predicted.scale and "%" not in spans[0] and parse_number(_core(spans[0])):
        readings.append([span_tokens(spans[0], "", raw=True)])  # a bare number also counts in its raw value
    gold_tokens = {t for tokens in gold_bag for t in tokens}
    best = (0.0, 0.0)
    for reading in readings:
        em = float(Counter(reading) == gold_bag)
        f1 = round(_bag_f1({t for tokens in reading for t in tokens}, gold_tokens), 2)
        best = max(best, (em, em if answer_type in ("arithmetic", "count") else f1))
    return best


def score_item(question: Question, predicted: ParsedAnswer | None) -> ItemScore:
    em, f1 = em_f1(question.answer, question.answer_type, question.scale, predicted)
    return ItemScore(em, f1, predicted is not None and predicted.scale == question.scale, predicted is not None)


@dataclass(frozen=True)
class GroupScores:
    n: int
    em: float
    f1: float
    em_ci: tuple[float, float]
    f1_ci: tuple[float, float]


@dataclass(frozen=True)
class QAScores:
    """EM and F1 (0..1) with bootstrap 95 % CIs, overall, per answer type and per answer source."""

    overall: GroupScores
    per_type: dict[str, GroupScores]
    per_source: dict[str, GroupScores]
    scale_accuracy: float
    """Share of all items whose reply parsed and named the gold scale (a parse failure is wrong)."""
    parse_failures: int
    items: tuple[ItemScore, ...]


def score(questions: Sequence[Question], predictions: Sequence[ParsedAnswer | None], *,
          resamples: int = 1000, seed: int = 0) -> QAScores:
    import numpy as np

    from harness.metrics import bootstrap_ci

    if len(questions) != len(predictions):
        raise ValueError(f"expected one prediction per question, got {len(predictions)} for {len(questions)}")
    if not questions:
        raise ValueError("cannot score zero questions")
    items = tuple(score_item(q, p) for q, p in zip(questions, predictions))

    def mean(values, axis=-1):
        return np.mean(values, axis=axis)

    def group(indices: list[int]) -> GroupScores:
        em = np.array([items[i].em for i in indices])
        f1 = np.array([items[i].f1 for i in indices])
        return GroupScores(
            len(indices), float(em.mean()), float(f1.mean()),
            bootstrap_ci(mean, em, resamples=resamples, seed=seed, vectorized=True),
            bootstrap_ci(mean, f1, resamples=resamples, seed=seed, vectorized=True))

    def by(attribute: str, keys: Sequence[str]) -> dict[str, GroupScores]:
        return {key: group(idx) for key in keys
                if (idx := [i for i, q in enumerate(questions) if getattr(q, attribute) == key])}

    return QAScores(
        overall=group(list(range(len(items)))),
        per_type=by("answer_type", ANSWER_TYPES),
        per_source=by("answer_from", ANSWER_FROM),
        scale_accuracy=sum(i.scale_ok for i in items) / len(items),
        parse_failures=sum(not i.parsed for i in items),
        items=items,
    )
