"""``python -m harness splits``: one decision across splits, from each split's own report (numbers only)."""

import json
import re

import pytest

from harness import HarnessError
from harness.across_splits import combine, load_runs, markdown

ROW_KEYS = ("model", "strategy", "n", "weighted_f1", "weighted_f1_ci95")


def _report(tmp_path, seed, rows, comparisons, **extra):
    report = {"task": "fpb-sentiment", "partial": [], "split": {"method": "published", "seed": seed,
                                                                "test_fingerprint": f"sha256:{seed}"},
              "rows": [dict(zip(ROW_KEYS, r)) for r in rows],
              "comparisons": [{"a": a, "b": b, "n": 453, "f1_difference": d, "f1_difference_ci95": [d - 0.02, d + 0.02],
                               "p_holm": p, "verdict": v} for a, b, d, p, v in comparisons], **extra}
    path = tmp_path / f"seed-{seed}.json"
    path.write_text(json.dumps(report))
    return path


ADAPTER, GPT4 = "adapter:x · zero_shot", "published-gpt-4 · published_zero_shot"
ROWS = [("adapter:x", "zero_shot", 453, 0.97, [0.95, 0.98]), ("published-gpt-4", "published_zero_shot", 453, 0.93, [0.9, 0.95])]


def test_three_splits_give_mean_sd_and_a_combined_verdict(tmp_path):
    paths = [_report(tmp_path, s, ROWS, [(ADAPTER, GPT4, 0.04, 0.001, "better")]) for s in (5768, 78516, 944601)]
    combined = combine(load_runs(paths))
    row = next(r for r in combined["rows"] if r["row"] == GPT4)
    assert row["ran_on"] == 3 and row["mean"] == pytest.approx(0.93) and row["sd"] == pytest.approx(0.0)
    assert combined["comparisons"][0]["combined"] == "BETTER on all 3 splits"
    text = markdown(combined)
    assert "0.930 ± 0.000" in text and "BETTER ΔF1 +0.040 [+0.020, +0.060], p(Holm) 0.001" in text


def test_mixed_and_missing_splits_are_named(tmp_path):
    a = _report(tmp_path, 1, ROWS, [(ADAPTER, GPT4, 0.04, 0.001, "better")])
    b = _report(tmp_path, 2, ROWS, [(ADAPTER, GPT4, 0.01, 0.4, "tied")])
    c = _report(tmp_path, 3, ROWS[1:], [])
    verdict = combine(load_runs([a, b, c]))["comparisons"][0]["combined"]
    assert verdict == ("not consistent: better on published seed 1; tied on published seed 2; "
                       "not run on published seed 3")
    assert combine(load_runs([a, c]))["comparisons"][0]["combined"] == (
        "incomplete: better on published seed 1; not run on published seed 3")


@pytest.mark.parametrize("case, message", [
    ("one", "at least two splits"),
    ("same-split", "are the same test split"),
    ("partial", "a partial (interrupted) run"),
    ("other-task", "different tasks"),
    ("not-a-report", "expected a suite report JSON"),
])
def test_bad_inputs_are_refused(tmp_path, case, message):
    a = _report(tmp_path, 1, ROWS, [])
    b = {"one": None, "same-split": _report(tmp_path / "x", 1, ROWS, []) if (tmp_path / "x").mkdir() is None else None,
         "partial": _report(tmp_path, 2, ROWS, [], partial=["interrupted"]),
         "other-task": None, "not-a-report": tmp_path / "junk.json"}[case]
    if case == "other-task":
        b = _report(tmp_path, 3, ROWS, [])
        data = json.loads(b.read_text())
        b.write_text(json.dumps({**data, "task": "tfns"}))
    if case == "not-a-report":
        b.write_text("[1, 2]")
    with pytest.raises(HarnessError, match=re.escape(message)):
        load_runs([a] if b is None else [a, b])


def test_an_adapter_per_split_is_one_recipe_row_and_its_verdict_reaches_each_runs_verdict_block(tmp_path):
    from harness import report as report_mod
    from harness.across_splits import recipe_name, summary_for, write

    assert recipe_name("adapter:fpb-x-78516 · zero_shot", 78516) == "adapter:fpb-x · zero_shot"
    assert recipe_name("adapter:fpb-x-78516", 5768) == "adapter:fpb-x-78516"  # another split's adapter: its own row
    assert recipe_name("published-gpt-4-5768", 5768) == "published-gpt-4-5768"  # only adapters are per split
    paths = []
    for seed, name in ((5768, "adapter:x"), (78516, "adapter:x-78516"), (944601, "adapter:x-944601")):
        rows = [(name,) + ROWS[0][1:], ROWS[1]]
        paths.append(_report(tmp_path, seed, rows, [(f"{name} · zero_shot", GPT4, 0.04, 0.001, "better")]))
    combined = combine(load_runs(paths))
    assert [r["row"] for r in combined["rows"]] == [ADAPTER, GPT4]
    assert combined["rows"][0]["ran_on"] == 3
    (c,) = combined["comparisons"]
    assert c["combined"] == "BETTER on all 3 splits" and "mean weighted F1 0.970 ± 0.000 over 3" in c["text"]
    text = markdown(combined)
    assert "## Verdict across splits" in text and "adapter:x-78516 · zero_shot on published seed 78516" in text

    write(combined, tmp_path / "reports" / "fpb-sentiment-splits")
    run = json.loads(paths[1].read_text())
    summary = summary_for(run, tmp_path / "reports")
    assert summary["lines"] == [c["text"]]
    assert summary["outcomes"] == [{"a": "adapter:x-78516 · zero_shot", "b": GPT4, "verdicts": {  # as named in this run
        f"published seed {s}": "better" for s in (5768, 78516, 944601)}}]
    run["across_splits"] = summary
    run.update(rows=[], economics={})
    (line,) = report_mod.verdicts(run)["across_splits"]
    assert line.startswith("Across 3 splits (fpb-sentiment-splits.json): adapter:x · zero_shot vs published-gpt-4")
    other = dict(run, split={"method": "published", "seed": 1})
    assert summary_for(other, tmp_path / "reports") is None  # a split the saved report does not cover
    assert summary_for(run, tmp_path) is None  # no saved report there


def test_the_verdict_block_keeps_the_alternatives_and_folds_those_run_on_one_split(tmp_path):
    from harness.across_splits import summary_for, write

    base, api = ("smollm2-135m", "zero_shot", 453, 0.5, [0.4, 0.6]), ("openai:m", "cot", 453, 0.9, [0.8, 0.95])
    paths = []
    for seed in (5768, 78516):
        rows, comparisons = list(ROWS), [(ADAPTER, GPT4, 0.04, 0.001, "better")]
        if seed == 5768:  # a base model and an API row on the first split only
            rows += [base, api]
            comparisons += [(ADAPTER, "smollm2-135m · zero_shot", 0.4, 0.001, "better"),
                            (ADAPTER, "openai:m · cot", 0.07, 0.001, "better")]
        paths.append(_report(tmp_path, seed, rows, comparisons))
    write(combine(load_runs(paths)), tmp_path / "reports" / "fpb-sentiment-splits")
    lines = summary_for(json.loads(paths[0].read_text()), tmp_path / "reports")["lines"]
    assert len(lines) == 2, lines  # the local base model prompted is a prompted LLM: folded with the API row
    assert lines[0].startswith(f"{ADAPTER} vs {GPT4}: BETTER on all 2 splits")
    assert lines[1] == (f"{ADAPTER} vs smollm2-135m · zero_shot, openai:m · cot: not compared across splits (ran on "
                        "published seed 5768 only)")
