"""TAT-QA task: hand-computed metric cases per answer type, the strict parser, the loader on the real files
and on malformed ones, prompt rendering, and properties of EM / F1 (hypothesis)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_python
from harness import HarnessError
from harness.tasks.tatqa import data as tatqa_data
from harness.tasks.tatqa import (ANSWER_TYPES, SCALES, TEMPLATE_VERSION, Context, Paragraph, ParsedAnswer,
                                 Question, em_f1, format_answer, load_tatqa, parse_reply, render,
                                 render_context, render_table, score, select_shots, training_messages)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parent.parent


def reply(text: str, scale: str = "") -> ParsedAnswer:
    parsed = parse_reply(f"Answer: {text} | Scale: {scale or 'none'}")
    assert parsed is not None
    return parsed


def em_f1_of(answer, answer_type: str, scale: str, text: str, pred_scale: str = "") -> tuple[float, float]:
    return em_f1(answer, answer_type, scale, reply(text, pred_scale))


# -- metric: hand-computed cases per answer type ----------------------------------------------------------------
@pytest.mark.parametrize("text, pred_scale, expected", [
    ("1496.5", "million", (1, 1)),
    ("$1,496.5", "million", (1, 1)),
    ("1496500", "thousand", (1, 1)),          # the same value in absolute units
    ("1,496.5", "thousand", (0, 0)),          # scale mismatch on a number: 0
    ("1496.5", "", (0, 0)),                   # no scale: 1496.5 != 1,496,500,000
    ("1496.4", "million", (0, 0)),
])
def test_span_number(text, pred_scale, expected):
    assert em_f1_of(("$1,496.5",), "span", "million", text, pred_scale) == expected


def test_span_text_exact_partial_and_scale():
    assert em_f1_of(("fixed-price type",), "span", "", "Fixed-price type.") == (1, 1)
    # gold {sale, of, business} (articles dropped), pred {sale, of, business, units}: P 3/4, R 1, F1 6/7
    assert em_f1_of(("the sale of the business",), "span", "", "sale of business units") == (0, 0.86)
    # a wrong scale on a text span costs its token: gold {between, 10, and, 20, million}, pred lacks million:
    # P 1, R 4/5, F1 8/9
    assert em_f1_of(("between 10 and 20",), "span", "million", "between 10 and 20") == (0, 0.89)
    assert em_f1_of(("between 10 and 20",), "span", "million", "between 10 and 20", "million") == (1, 1)
    # a gold span holding ';' is compared with the whole answer text, not split
    assert em_f1_of(("fees; tax consultations",), "span", "", "fees; tax consultations") == (1, 1)


def test_multi_span_is_order_free_with_partial_f1():
    gold = ("fixed-price type", "cost-plus type", "time-and-material type")
    assert em_f1_of(gold, "multi-span", "", "time-and-material type; fixed-price type; cost-plus type") == (1, 1)
    # gold tokens {fixedprice, type, costplus, timeandmaterial}, pred {fixedprice, type, costplus}: F1 6/7
    assert em_f1_of(gold, "multi-span", "", "fixed-price type; cost-plus type") == (0, 0.86)
    # all the words in one span is not the same answer (EM), but the same bag of tokens (F1)
    assert em_f1_of(gold, "multi-span", "", "fixed-price type, cost-plus type, time-and-material type") == (0, 1)
    assert em_f1_of(("2019", "2018"), "multi-span", "", "2018; 2019") == (1, 1)
    assert em_f1_of(("$1.2", "(3.1)"), "multi-span", "million", "-3.1; 1.2", "million") == (1, 1)
    assert em_f1_of(("$1.2", "(3.1)"), "multi-span", "million", "-3.1; 1.2", "billion") == (0, 0)


@pytest.mark.parametrize("gold, scale, text, pred_scale, expected", [
    (-12.6, "million", "-12.6", "million", 1),
    (-12.6, "million", "(12.6)", "million", 1),
    (-12.6, "million", "-12.60", "million", 1),
    (-12.6, "million", "12.6", "million", 0),
    (-12.6, "million", "-12.6", "thousand", 0),     # scale mismatch
    (1234.5, "", "1,234.5", "", 1),
    (1.2, "", "$1.2", "", 1),
    (-3.1, "thousand", "(3.1)", "thousand", 1),
    (12, "percent", "12%", "", 1),                  # a % sign is a percentage whatever the scale
    (12, "percent", "12", "percent", 1),
    (12, "percent", "12", "", 0),
    (23.42, "percent", "23.4187", "percent", 1),    # both rounded to 2 decimals in the stated scale
    (23.42, "percent", "23.4", "percent", 0),
    (23.42, "percent", "0.2342", "", 1),            # a bare number also counts in its raw value
    (23.42, "percent", "0.2342", "percent", 0),
    (5, "", "5.004", "", 1),
])
def test_arithmetic(gold, scale, text, pred_scale, expected):
    assert em_f1_of(gold, "arithmetic", scale, text, pred_scale) == (expected, expected)  # F1 is EM here


def test_arithmetic_f1_equals_em_even_when_tokens_overlap():
    assert em_f1_of(1496.5, "arithmetic", "", "1496.5 or 1202.9") == (0, 0)


@pytest.mark.parametrize("text, pred_scale, expected", [
    ("3", "", 1), ("3.0", "", 1), ("three", "", 0), ("3", "million", 0), ("4", "", 0)])
def test_count(text, pred_scale, expected):
    assert em_f1_of("3", "count", "", text, pred_scale) == (expected, expected)


def test_parse_failure_scores_zero():
    assert em_f1(("x",), "span", "", None) == (0, 0)


def test_float_gold_is_never_read_in_scientific_notation():
    assert em_f1_of(0.00001, "arithmetic", "", "0") == (1, 1)  # rounds to 0.00, as the reply does
    assert em_f1_of(12345678.91, "arithmetic", "thousand", "12345678.91", "thousand") == (1, 1)


# -- parser ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("Answer: 1496.5 | Scale: million", ParsedAnswer("1496.5", ("1496.5",), "million")),
    ("Answer: a; b | Scale: none", ParsedAnswer("a; b", ("a", "b"), "")),
    ("final answer: -12.6 | scale: Percent.", ParsedAnswer("-12.6", ("-12.6",), "percent")),
    ("**Answer:** 7 | Scale: none", ParsedAnswer("7", ("7",), "")),
    ("The change is 44.1 - 56.7 = -12.6.\nAnswer: 3 | Scale: none\nAnswer: -12.6 | Scale: million",
     ParsedAnswer("-12.6", ("-12.6",), "million")),      # the last answer line decides
    ("Answer: a | b | Scale: thousand", ParsedAnswer("a | b", ("a | b",), "thousand")),
])
def test_parser_reads_the_answer_line(text, expected):
    assert parse_reply(text) == expected


@pytest.mark.parametrize("text", [
    None, "", "garbage", "1496.5 million",
    "Answer: 12",                          # missing scale: never guessed
    "Answer: 12 | Scale:",                 # empty scale
    "Answer: 12 | Scale: dollars",         # unknown scale
    "Answer:  | Scale: none",              # empty answer
    "Answer: ; ; | Scale: none",
    "Scale: million",
    "Answer: 12 | Scale: million\nAnswer: 13",   # the last answer line has no scale
])
def test_parser_fails_rather_than_guesses(text):
    assert parse_reply(text) is None


def test_parser_on_a_100_kb_reply():
    noise = ("Answer: | Scale " * 7000)[:100_000]
    assert parse_reply(noise) is None
    assert parse_reply(noise + "\nAnswer: 5 | Scale: none") == ParsedAnswer("5", ("5",), "")
    long = "x" * 100_000
    assert parse_reply(f"Answer: {long} | Scale: none") == ParsedAnswer(long, (long,), "")


# -- loader ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir() -> Path:
    try:
        return tatqa_data.tatqa_dir()
    except HarnessError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def dev(data_dir):
    return load_tatqa("dev", data_dir)


@pytest.fixture(scope="module")
def test_gold(data_dir):
    return load_tatqa("test_gold", data_dir)


def test_real_files_counts_and_provenance(data_dir, dev, test_gold):
    # PROVENANCE.md: dev 278 contexts / 1,668 questions (701 / 217 / 718 / 32), test_gold 277 / 1,663
    assert (dev.contexts, test_gold.contexts) == (278, 277)
    assert dev.counts() == {"span": 701, "multi-span": 216, "arithmetic": 718, "count": 32}
    assert test_gold.counts() == {"span": 714, "multi-span": 210, "arithmetic": 699, "count": 40}
    # one dev multi-span gold holds an empty span: skipped and reported, not repaired silently
    assert [s.uid for s in dev.skipped] == ["d47306cf-e276-4836-a827-ebebdc47e078"]
    assert "multi-span" in dev.skipped[0].reason
    assert test_gold.skipped == ()
    assert not {q.uid for q in dev.questions} & {q.uid for q in test_gold.questions}
    provenance = data_dir / "PROVENANCE.md"
    if provenance.is_file():
        recorded = re.findall(r"\| (tatqa_dataset_\w+)\.json \|.*\| ([0-9a-f]{64}) \|", provenance.read_text())
        assert {name: sha for name, sha in recorded} == {
            "tatqa_dataset_dev": tatqa_data.SHA256["dev"], "tatqa_dataset_test_gold": tatqa_data.SHA256["test_gold"]}
    assert (dev.sha256, test_gold.sha256) == (tatqa_data.SHA256["dev"], tatqa_data.SHA256["test_gold"])
    first = dev.questions[0]
    assert first.context.paragraphs == tuple(sorted(first.context.paragraphs, key=lambda p: p.order))


def test_every_real_gold_round_trips_through_format_parse_and_metric(dev, test_gold):
    for q in dev.questions + test_gold.questions:
        assert em_f1(q.answer, q.answer_type, q.scale, parse_reply(format_answer(q))) == (1, 1), q.uid


def write_split(folder: Path, contexts, name: str = "tatqa_dataset_dev.json") -> Path:
    (folder / name).write_text(json.dumps(contexts), encoding="utf-8")
    return folder


def context(*questions, paragraphs=None) -> dict:
    return {"table": {"uid": "t1", "table": [["", "2019"], ["Sales", "$1,496.5"], ["", ""]]},
            "paragraphs": paragraphs or [{"uid": "p2", "order": 2, "text": "Second."},
                                         {"uid": "p1", "order": 1, "text": "First  paragraph."}],
            "questions": list(questions)}


def question(uid: str, **changes) -> dict:
    return {"uid": uid, "order": 1, "question": "What were sales in 2019?", "answer": ["$1,496.5"],
            "derivation": "", "answer_type": "span", "answer_from": "table", "rel_paragraphs": [],
            "req_comparison": False, "scale": "million", **changes}


def test_unusable_questions_are_counted_not_dropped(tmp_path):
    write_split(tmp_path, [context(
        question("ok"), question("ok"), question("kind", answer_type="date"), question("scale", scale="lakh"),
        question("arith", answer_type="arithmetic", answer="12.6"),
        question("count", answer_type="count", answer="three"),
        question("empty", answer=[]), question("two", answer=["a", "b"]), question("blank", question="  "),
        question("fine", answer_type="arithmetic", answer=-12.6),
    )])
    split = load_tatqa("dev", tmp_path, verify=False)
    assert [q.uid for q in split.questions] == ["ok", "fine"]
    reasons = {s.uid: s.reason for s in split.skipped}
    assert set(reasons) == {"ok", "kind", "scale", "arith", "count", "empty", "two", "blank"}
    assert reasons["ok"] == "repeated uid" and "date" in reasons["kind"] and "lakh" in reasons["scale"]
    assert "2 skipped" not in split.describe() and "8 skipped" in split.describe()


@pytest.mark.parametrize("content, message", [
    (b"{not json", "expected TAT-QA JSON"),
    (b"\xff\xfe[]", "expected TAT-QA JSON"),
    (b"{}", "expected a non-empty JSON list"),
    (b"[]", "expected a non-empty JSON list"),
    (json.dumps([{"questions": []}]).encode(), "expected an object with table, paragraphs and questions"),
    (json.dumps([{"table": {"table": "x"}, "paragraphs": [], "questions": []}]).encode(), "table.table"),
    (json.dumps([{"table": {"table": []}, "paragraphs": [{"order": 1}], "questions": []}]).encode(), "paragraphs"),
])
def test_malformed_file_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "tatqa_dataset_dev.json").write_bytes(content)
    with pytest.raises(HarnessError, match=message) as error:
        load_tatqa("dev", tmp_path, verify=False)
    assert "tatqa_dataset_dev.json" in str(error.value)


def test_sha256_mismatch_missing_file_and_folder(tmp_path, monkeypatch):
    write_split(tmp_path, [context(question("ok"))])
    with pytest.raises(HarnessError, match="sha256 mismatch: expected 8da095a8.*got [0-9a-f]{64}"):
        load_tatqa("dev", tmp_path)
    with pytest.raises(HarnessError, match="tatqa_dataset_test_gold.json"):
        load_tatqa("test_gold", tmp_path)
    with pytest.raises(HarnessError, match="unknown TAT-QA split 'train'"):
        load_tatqa("train", tmp_path)
    monkeypatch.setenv("TATQA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(HarnessError, match=r"\$TATQA_DIR .*nowhere.*does not exist"):
        load_tatqa("dev")
    monkeypatch.setenv("TATQA_DIR", str(tmp_path))
    assert [q.uid for q in load_tatqa("dev", verify=False).questions] == ["ok"]


# -- prompts -----------------------------------------------------------------------------------------------------
def test_context_linearisation(tmp_path):
    write_split(tmp_path, [context(question("ok", question="What  were\nsales?"))])
    q = load_tatqa("dev", tmp_path, verify=False).questions[0]
    assert render_context(q) == ("Table:\n|  | 2019 |\n| Sales | $1,496.5 |\n\n"
                                 "Text:\nFirst paragraph.\nSecond.\n\nQuestion: What were sales?")
    assert render_table([["a|b", " x \n y "], ["", ""]]) == "| a/b | x y |"


def test_prompts_and_shots(dev, test_gold):
    q = test_gold.questions[0]
    zero, cot = render("zero_shot", q), render("cot", q)
    assert [m["role"] for m in zero.messages] == ["system", "user"] and not zero.classify
    assert "Answer: <answer> | Scale: <scale>" in zero.messages[0]["content"]
    assert "step by step" in cot.messages[0]["content"] and cot.max_new_tokens > zero.max_new_tokens
    for paragraph in q.context.paragraphs:  # every paragraph is shown, not only the relevant ones
        assert " ".join(paragraph.text.split()) in zero.messages[1]["content"]
    shots = select_shots(dev, seed=5768)
    assert shots == select_shots(dev, seed=5768) != select_shots(dev, seed=1)
    assert sorted(s.answer_type for s in shots) == sorted(ANSWER_TYPES)
    few = render("few_shot", q, shots=shots)
    assert [m["role"] for m in few.messages] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert few.messages[2]["content"] == format_answer(shots[0])
    with pytest.raises(HarnessError, match="from dev"):
        select_shots(test_gold, seed=5768)
    with pytest.raises(HarnessError, match="share the question's context"):
        render("few_shot", shots[0], shots=shots)
    with pytest.raises(HarnessError, match="few_shot needs examples"):
        render("few_shot", q)
    assert training_messages(q)[-1] == {"role": "assistant", "content": format_answer(q)}
    assert re.fullmatch(r"tatqa-[0-9a-f]{8}", TEMPLATE_VERSION)


# -- aggregate ---------------------------------------------------------------------------------------------------
CTX = Context("t", (("a", "b"),), (Paragraph("p", 1, "text"),))


def make(uid: str, answer, answer_type: str, scale: str = "", source: str = "table") -> Question:
    return Question(uid, 1, "q?", answer, answer_type, source, scale, "", CTX)


def test_score_per_type_and_overall():
    questions = [make("s", ("fixed-price type",), "span", source="text"),
                 make("m", ("x", "y"), "multi-span", source="text"),
                 make("a", -12.6, "arithmetic", "million"),
                 make("c", "3", "count")]
    predictions = [reply("fixed-price type"), reply("x"), reply("-12.6", "thousand"), None]
    result = score(questions, predictions, resamples=200, seed=1)
    # items: span (1, 1); multi-span {x} vs {x, y}: (0, 2/3 -> 0.67); arithmetic, wrong scale: (0, 0); unparsed
    assert [(i.em, i.f1) for i in result.items] == [(1, 1), (0, 0.67), (0, 0), (0, 0)]
    assert (result.overall.n, result.overall.em, result.overall.f1) == (4, 0.25, pytest.approx(1.67 / 4))
    assert {k: (g.n, g.em, g.f1) for k, g in result.per_type.items()} == {
        "span": (1, 1, 1), "multi-span": (1, 0, 0.67), "arithmetic": (1, 0, 0), "count": (1, 0, 0)}
    assert {k: g.n for k, g in result.per_source.items()} == {"table": 2, "text": 2}
    assert result.parse_failures == 1 and result.scale_accuracy == 0.5
    low, high = result.overall.f1_ci
    assert 0 <= low <= result.overall.f1 <= high <= 1 and low < high
    with pytest.raises(ValueError, match="one prediction per question"):
        score(questions, predictions[:3])


def test_module_is_import_light():
    code = ("import sys, harness.tasks.tatqa; "
            "print(sorted(m for m in ('torch', 'transformers', 'pytest', 'scipy', 'pandas') if m in sys.modules))")
    out = run_python("-c", code, check=True)
    assert out.stdout.strip() == "[]"


# -- properties --------------------------------------------------------------------------------------------------
words = st.text(alphabet="abcdefghij-,.'$%()", min_size=1, max_size=8)
numbers = st.one_of(st.integers(-10**9, 10**9),
                    st.floats(-1e7, 1e7, allow_nan=False).map(lambda x: round(x, 3)))
spans = st.one_of(st.lists(words, min_size=1, max_size=4).map(" ".join), numbers.map(str),
                  numbers.map(lambda x: f"${x:,}"), st.integers(0, 10**6).map(lambda x: f"({x:,})"))


@st.composite
def golds(draw) -> Question:
    kind = draw(st.sampled_from(ANSWER_TYPES))
    scale = draw(st.sampled_from(SCALES))
    if kind == "arithmetic":
        answer = draw(numbers)
    elif kind == "count":
        answer = str(draw(st.integers(0, 50)))
    else:
        answer = tuple(draw(st.lists(spans.filter(lambda s: s.strip(" ;") and ";" not in s),
                                     min_size=1 if kind == "span" else 2, max_size=1 if kind == "span" else 4)))
    return make("g", answer, kind, scale)


@FAST
@given(golds(), st.text(max_size=60), st.sampled_from(("none", "thousand", "million", "billion", "percent")))
def test_em_at_most_f1_both_in_unit_interval(gold, text, scale):
    em, f1 = em_f1(gold.answer, gold.answer_type, gold.scale, parse_reply(f"Answer: {text} | Scale: {scale}"))
    assert 0 <= em <= f1 <= 1


@FAST
@given(golds())
def test_a_prediction_equal_to_gold_scores_one(gold):
    assert em_f1(gold.answer, gold.answer_type, gold.scale, parse_reply(format_answer(gold))) == (1, 1)
