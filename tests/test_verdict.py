"""The verdict block and the human numbers it is written in: every format says the answer first, in words a
finance lead reads without a calculator, and never prints an empty sentence or e-notation."""

import json
import math
import re
from pathlib import Path

import pytest

from harness import humanize
from harness import report as report_mod

TUNED = "adapter:fpb-sentiment-smollm2-135m"


@pytest.mark.parametrize(("value", "text"), [
    (0.0000057, "$0.0000057"), (0.000596, "$0.0006"), (0.00238, "$0.0024"), (0.002, "$0.002"), (0.5, "$0.5"),
    (3.0312, "$3.03"), (12.5, "$12.50"), (1234.4, "$1 234"), (0, "$0"), (None, "n/a"),
])
def test_money_has_two_or_three_significant_digits_and_no_e_notation(value, text):
    assert humanize.usd(value) == text


@pytest.mark.parametrize(("ratio", "text"), [
    (1 / 2912, "2 900× cheaper"), (0.000596, "1 700× cheaper"), (1 / 84.3, "84× cheaper"), (3.24, "3.2× dearer"),
    (1.01, "about the same"), (None, "n/a"),
])
def test_ratios_read_as_times_cheaper_or_dearer(ratio, text):
    assert humanize.cost_factor(ratio) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.00042, "0.42 ms"), (0.045, "45 ms"), (0.459, "459 ms"), (1.23, "1.2 s"), (84, "1 min 24 s"), (None, "n/a"),
])
def test_times_in_ms_or_s(seconds, text):
    assert humanize.duration(seconds) == text


@pytest.mark.parametrize(("p", "text"), [(0.41, "0.41"), (0.032, "0.03"), (0.00031, "0.0003"), (1.2e-7, "< 0.0001"),
                                         (1.0, "1.00")])
def test_p_values_without_e_notation(p, text):
    assert humanize.p_value(p) == text


def test_no_magnitude_prints_in_e_notation():
    for exponent in range(-12, 13):
        for mantissa in (1.0, 2.5, 9.99):
            v = mantissa * 10.0 ** exponent
            for text in (humanize.usd(v), humanize.number(v), humanize.cost_factor(v), humanize.duration(v),
                         humanize.p_value(min(v, 1.0)), humanize.requests(v), humanize.months(v)):
                assert not re.search(r"\de[+-]?\d", text) and "nan" not in text.lower(), (v, text)


# -- the verdict ----------------------------------------------------------------------------------------------

def _row(model, strategy, f1, per_1k, basis="billed", p50=0.4):
    return {"model": model, "strategy": strategy, "n": 453, "expected": 453, "weighted_f1": f1,
            "weighted_f1_ci95": [f1 - 0.03, f1 + 0.03], "accuracy": f1, "macro_f1": f1, "parse_failures": 0,
            "errors": 0, "latency": {"p50_s": p50, "p95_s": p50, "source": "local", "batch_size": 1},
            "cost": {"per_1k_usd": per_1k, "per_call_usd": None if per_1k is None else per_1k / 1000,
                     "basis": basis if per_1k is not None else None, "note": "price unknown", "dollars_per_hour": 0.0816},
            "pareto": {"cost": None, "latency": None}}


def _comparison(b, diff, p, verdict):
    return {"a": f"{TUNED} · zero_shot", "b": b, "n": 453, "f1_difference": diff,
            "f1_difference_ci95": [diff - 0.02, diff + 0.02], "mcnemar_p": p, "p_holm": min(1.0, 3 * p),
            "verdict": verdict, "only_a_correct": 20, "only_b_correct": 5, "mde_accuracy": 0.04}


def _report(rows, comparisons, versus=(), **extra):
    return {"task": "fpb-sentiment", "rows": rows, "comparisons": comparisons,
            "economics": {"versus": list(versus), "monthly_volume": 100_000, "training": {}},
            "split": {"method": "published", "seed": 5768}, "unavailable": {}, **extra}


def _versus(tuned, other, training_usd=0.055):
    from harness import economics
    from harness.report.rows import Row
    from harness.report.run import Training

    return economics.versus(Row.from_json(tuned), Row.from_json(other), Training(usd=training_usd),
                            monthly_volume=100_000)


def _default_like():
    rows = [_row(TUNED, "zero_shot", 0.974, 0.002, "machine time", 0.03),
            _row("published-gpt-4", "published_zero_shot", 0.926, 3.03, "estimated", None),
            _row("openai:gpt-4o-mini", "zero_shot", 0.960, 0.05),
            _row("tfidf-logreg", "supervised", 0.856, 0.00001, "machine time", 0.0004),
            _row("smollm2-135m", "zero_shot", 0.188, 0.01, "machine time")]
    comparisons = [_comparison("published-gpt-4 · published_zero_shot", 0.047, 0.0003, "better"),
                   _comparison("openai:gpt-4o-mini · zero_shot", 0.014, 0.21, "tied"),
                   _comparison("tfidf-logreg · supervised", 0.118, 1e-9, "better"),
                   _comparison("smollm2-135m · zero_shot", 0.786, 1e-30, "better")]
    versus = [_versus(rows[0], other) for other in rows[1:]]
    return _report(rows, comparisons, versus)


def test_one_sentence_per_serious_alternative_with_the_numbers_that_decide():
    v = report_mod.verdicts(_default_like())
    assert [s["other"] for s in v["sentences"]] == [  # published LLMs, prompted API rows, prompted local rows, the floor
        "published-gpt-4 · published_zero_shot", "openai:gpt-4o-mini · zero_shot", "smollm2-135m · zero_shot",
        "tfidf-logreg · supervised"]
    assert [s["kind"] for s in v["sentences"]] == ["published LLM", "prompted API", "prompted local LLM", "TF-IDF floor"]
    gpt4 = v["sentences"][0]["text"]
    assert gpt4 == (f"{TUNED}: weighted F1 0.974 vs published-gpt-4 0.926, significantly better (ΔF1 +0.047 "
                    "[+0.027, +0.067], McNemar p = 0.0003, Holm-adjusted 0.0009); $0.002 vs estimated $3.03 per 1k "
                    "requests (1 500× cheaper); pays back its $0.055 training after 19 requests.")
    assert "no significant difference" in v["sentences"][1]["text"] and "after 1 100 requests" in v["sentences"][1]["text"]
    assert "never pays back" in v["sentences"][3]["text"] and "vs tfidf-logreg 0.856" in v["sentences"][3]["text"]
    assert v["headline"].startswith("Fine-tune: adapter") and "as good as every prompted LLM" in v["headline"]
    assert v["missing"] == []


def test_without_a_prompted_llm_the_verdict_says_what_is_missing_and_the_command():
    rows = [_row(TUNED, "zero_shot", 0.97, 0.002, "machine time"), _row("tfidf-logreg", "supervised", 0.86, 0.00001)]
    report = _report(rows, [_comparison("tfidf-logreg · supervised", 0.11, 1e-6, "better")])
    v = report_mod.verdicts(report)
    (missing,) = v["missing"]
    assert missing.startswith("No prompted LLM row ran")
    assert "--harness-models=published-gpt-4 --harness-strategies=published_zero_shot" in missing
    assert v["headline"] == f"No answer yet: {TUNED} · zero_shot ran, but no prompted LLM row to compare it with."
    report["unavailable"] = {"openai:gpt-4o": "not recorded (no x.json); record with: OPENAI_API_KEY=... pytest suites "
                                              "-m sentiment --harness-models=openai:gpt-4o --record-mode=once"}
    (missing,) = report_mod.verdicts(report)["missing"]
    assert missing.endswith("--harness-models=openai:gpt-4o --record-mode=once")


def test_without_a_fine_tuned_row_the_verdict_says_how_to_add_one():
    v = report_mod.verdicts(_report([_row("published-gpt-4", "published_zero_shot", 0.93, 3.0)], []))
    assert v["sentences"] == [] and v["headline"] == "No answer yet: no fine-tuned row ran."
    assert "--harness-models=adapter:fpb-sentiment-smollm2-135m" in v["missing"][0]


def test_a_fine_tuned_row_alone_is_named_not_called_missing():
    v = report_mod.verdicts(_report([_row(TUNED, "zero_shot", 0.97, 0.002, "machine time")], []))
    assert v["headline"] == f"No answer yet: {TUNED} · zero_shot ran, but no other row to compare it with."
    assert v["missing"][0].startswith(f"{TUNED} · zero_shot ran with no other row to compare it with")
    assert f"--harness-models={TUNED},...: a prompted LLM (openai:<model>" in v["missing"][0]
    assert not any("No fine-tuned row ran" in m for m in v["missing"])


def test_a_worse_fine_tuned_row_says_prompt():
    rows = [_row(TUNED, "zero_shot", 0.90, 0.002, "machine time"), _row("openai:gpt-4o", "zero_shot", 0.95, 2.0)]
    report = _report(rows, [_comparison("openai:gpt-4o · zero_shot", -0.05, 0.001, "worse")])
    headline = report_mod.verdicts(report)["headline"]
    assert headline == f"Prompt, if quality comes first: openai:gpt-4o is significantly better than {TUNED}, which is 1 000× cheaper."


def test_terminal_lines_fit_140_columns():
    report = _default_like()
    lines = report_mod.verdict_lines(report)
    assert lines[0].startswith("VERDICT: Fine-tune") and all(len(line) <= 140 for line in lines)
    for row in report["rows"]:
        row["latency"].update(batch1_s=None, throughput_per_s=None)
    board = report_mod.leaderboard_lines(report)
    assert all(len(line) <= 140 for line in board) and "published-gpt-4 · published_zero_shot" in board[4]
    comparisons = report_mod.comparison_lines(report)
    assert all(len(line) <= 140 for line in comparisons) and "1 500× cheaper" in "\n".join(comparisons)
    report.update(unavailable={"openai:gpt-4o": "not recorded; record with: OPENAI_API_KEY=... pytest suites -m sentiment "
                                                "--harness-models=openai:gpt-4o --record-mode=once " + "x" * 60},
                  data={"file": "f", "source": "s", "directory": "d", "examples": 1, "duplicate_lines": 0,
                        "conflicting_sentences_removed": 0},
                  split={"method": "published", "seed": 5768, "n_train": 1, "n_test": 453, "n_evaluated": 453,
                         "test_fingerprint": "x", "leaked_removed_from_train": 0, "repeats_removed_from_train": 0})
    everything = report_mod.terminal_lines(report)
    assert everything[0].startswith("VERDICT:") and everything[-2].startswith("not run: openai:gpt-4o")
    assert all(len(line) <= 140 for line in everything)
    wide = report_mod.text_table([["a" * 120, "b" * 60], ["x", "y"]], max_width=100)
    assert all(len(line) <= 100 for line in wide) and "…" in wide[0]


@pytest.mark.parametrize("n", [2, 20, 60, 453])
def test_minimum_detectable_difference_never_prints_an_empty_sentence(n):
    from harness.compare import mcnemar_mde

    mde = {"n": n, "accuracy_difference_at_discordant_rate": {
        f"{rate:.2f}": mcnemar_mde(n, rate) for rate in (0.05, 0.10, 0.20)}}
    (line,) = report_mod.cost_lines({"rows": [], "mde": mde})
    assert not re.search(r":\s*$|:\s{2,}|\(\s*\)", line) and "discordant" in line
    if all(v is None for v in mde["accuracy_difference_at_discordant_rate"].values()):
        assert "none: with" in line and "evaluate more items" in line
    else:
        assert re.search(r"0\.\d{3} when \d+% of items are discordant", line)


def test_markdown_verdict_block_and_collapsed_not_run_section():
    report = _default_like()
    report["companions"] = [{"task": "fpb-slices", "title": "FPB agreement slices", "not_run": "not run in this session"}]
    report["unavailable"] = {"openai:gpt-4o": "not recorded"}
    block = report_mod.verdict_markdown(report)
    assert block[0] == "## Verdict" and block[2].startswith("**Fine-tune:") and block[4].startswith("- Published LLM: ")
    assert block.index("## Verdict in full") > 4 and f"- {report_mod.verdicts(report)['sentences'][0]['text']}" in block
    tail = report_mod.not_run_markdown(report)
    assert tail[1] == "<details><summary>Not run (2)</summary>" and "- openai:gpt-4o: not recorded" in tail
    assert math.isclose(len(report_mod.verdicts(report)["sentences"]), 4)


# -- the top block: the headline weighs the splits, one line per kind of alternative, the rest in full ----------

SPLITS = ("published seed 5768", "published seed 78516", "published seed 944601")
GPT4 = "published-gpt-4 · published_zero_shot"
ROOT = Path(__file__).resolve().parents[1]


def _across(*outcomes):
    return {"file": "reports/fpb-sentiment-splits.json", "splits": list(SPLITS), "lines": ["(in words)"],
            "outcomes": [{"a": f"{TUNED} · zero_shot", "b": b, "verdicts": dict(zip(SPLITS, v))} for b, v in outcomes]}


def test_a_tie_on_one_split_is_in_the_headline():
    report = _default_like()
    report["comparisons"][1]["verdict"] = "better"  # on this split, better than every prompted LLM
    assert report_mod.verdicts(report)["headline"] == (
        f"Fine-tune: {TUNED} is significantly better than every prompted LLM that ran and is 5× cheaper per request "
        "than the cheapest of them.")
    report["across_splits"] = _across((GPT4, ("better", "tied", "better")),
                                      ("openai:gpt-4o-mini · zero_shot", ("better", "better", "better")))
    assert report_mod.verdicts(report)["headline"] == (
        f"Fine-tune: {TUNED} is significantly better than every prompted LLM that ran on this split and is 5× cheaper "
        "per request than the cheapest of them; across splits, better than published-gpt-4 on 2 of 3 splits, tied on "
        "one (published seed 78516).")
    report["across_splits"] = _across((GPT4, ("better",) * 3), ("openai:gpt-4o-mini · zero_shot", ("better",) * 3),
                                      ("tfidf-logreg · supervised", ("better", "tied", "tied")))  # the floor: no LLM
    assert report_mod.verdicts(report)["headline"].endswith(
        "on this split and is 5× cheaper per request than the cheapest of them; across splits, better than "
        "published-gpt-4 and openai:gpt-4o-mini on all 3 splits.")
    report["across_splits"]["outcomes"] = [{"a": f"{TUNED} · zero_shot", "b": GPT4, "verdicts": {SPLITS[0]: "better"}}]
    assert "across splits" not in report_mod.verdicts(report)["headline"]  # ran on one split: nothing to weigh


def test_a_row_without_a_price_is_named_not_called_dearer():
    report = _default_like()
    report["rows"][2]["cost"] = {"per_1k_usd": None, "per_call_usd": None}  # openai:gpt-4o-mini, tied: no price
    assert report_mod.verdicts(report)["headline"] == (
        f"No clear winner: {TUNED} is not significantly different from some prompted LLMs and is 5× cheaper per "
        "request than the cheapest of them with a price (openai:gpt-4o-mini has none).")
    report["rows"][0]["cost"] = {"per_1k_usd": 1.0, "per_call_usd": 0.001}
    assert report_mod.verdicts(report)["headline"].endswith("prompted LLMs and is not cheaper.")


def _committed_default_run() -> dict:
    """The default run as the committed across-splits report holds it on split 5768 (rows, paired verdicts), with
    that report's verdicts across the three splits, read as a run does (:func:`summary_for`)."""
    from harness.across_splits import Combined, summary_for

    combined = Combined.from_json(json.loads((ROOT / "reports" / "fpb-sentiment-splits.json").read_text()))
    per_1k = {"adapter": 0.002, "published": 3.03, "tfidf": 0.00001, "smollm2": 0.01, "openai": None}
    rows = []
    for r in combined.rows:
        model, _, strategy = r.row.partition(" · ")
        rows.append(_row(model, strategy, r.splits[SPLITS[0]].weighted_f1,
                         next(v for k, v in per_1k.items() if model.startswith(k)), "machine time"))
    comparisons = [{**_comparison(c.b, s.f1_difference, s.p_holm, s.verdict), "p_holm": s.p_holm}
                   for c in combined.comparisons for s in [c.splits[SPLITS[0]]]]
    report = _report(rows, comparisons, [_versus(rows[-1], other) for other in rows[:-1]])
    report["across_splits"] = summary_for(report, ROOT / "reports")
    return report


def _unwrapped(lines):
    """Terminal lines with their wrapped continuations joined back."""
    out = []
    for line in lines:
        if line.startswith("  ") and out:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return out


def test_the_default_run_says_its_answer_in_six_lines_and_everything_else_below():
    report = _committed_default_run()
    v = report_mod.verdicts(report)
    assert "better than published-gpt-4 on 2 of 3 splits, tied on one (published seed 78516)" in v["headline"]
    assert [t["text"].split(":")[0] for t in v["top"]] == [
        "Published LLM (best of 2)", "Prompted API (best of 3)", "Prompted local LLM (best of 3)", "TF-IDF floor"]
    assert v["top"][0]["text"].startswith("Published LLM (best of 2): weighted F1 0.974 vs published-gpt-4 0.926, "
                                          "significantly better (ΔF1 +0.047), 1 500× cheaper, pays back after")
    assert v["more"].startswith('More in "Verdict in full" below: 9 comparisons in full') and "4 results across 3" in v["more"]
    said = [s["text"] for s in v["sentences"]] + v["across_splits"] + v["missing"]  # all the verdict said before
    assert len(said) == 13 and [t["text"] for t in v["in_full"]] == said

    top = _unwrapped(report_mod.verdict_lines(report))
    assert len(top) <= report_mod.TOP_LINES == 6 and top[0].startswith("VERDICT: Fine-tune") and "78516" in top[0]
    terminal = _unwrapped(report_mod.terminal_lines(report))
    rest = terminal[terminal.index("verdict in full:") + 1:]
    assert [line[2:] for line in rest] == said  # below the comparisons, every sentence as the verdict says it

    text = report_mod.markdown(report).split("\n")
    block = text[text.index("## Verdict") + 1:text.index("## Leaderboard")]
    assert len([line for line in block if line and not line.startswith(">")]) <= 6
    rest = text[text.index("## Verdict in full") + 2:]
    assert rest[:len(said)] == [f"- {t}" for t in said]
    assert text.index("## Verdict in full") > text.index("## Fine-tuned vs the rest (paired, same items)")
    summary = report_mod.verdict_markdown(report, heading="####")  # summary.md: the top block, then in full
    assert summary[summary.index("#### Verdict in full") + 2:-1] == [f"- {t}" for t in said]


def test_what_is_missing_fills_the_top_block_when_there_is_room():
    rows = [_row(TUNED, "zero_shot", 0.97, 0.002, "machine time"), _row("tfidf-logreg", "supervised", 0.86, 0.00001)]
    v = report_mod.verdicts(_report(rows, [_comparison("tfidf-logreg · supervised", 0.11, 1e-6, "better")]))
    assert [t["tone"] for t in v["top"]] == ["better", "missing"] and v["top"][1]["text"] == v["missing"][0]
    assert [t["text"] for t in v["in_full"]] == [v["sentences"][0]["text"]]  # the gap is said once, at the top
    assert v["more"] == ('More in "Verdict in full" below: 1 comparison in full (ΔF1 with its CI, McNemar p, $ per '
                         "1k requests, break-even).")
    alone = report_mod.verdicts(_report([_row("published-gpt-4", "published_zero_shot", 0.93, 3.0)], []))
    assert alone["top"][0]["text"].startswith("No fine-tuned row ran") and alone["in_full"] == [] and alone["more"] is None
    assert report_mod.verdict_in_full_lines(_report([_row("published-gpt-4", "published_zero_shot", 0.93, 3.0)], [])) == []
