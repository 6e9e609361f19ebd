"""The typed run report reads every report JSON the project has committed, and writes it back key for key:
the baseline, the across-splits report, the learning curve's and the distillation's split / data / rows, and a
full run report as the suite writes it. A case travels as a dictionary and is rebuilt once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import HarnessError
from harness.across_splits import Combined, markdown
from harness.baseline import Baseline
from harness.gate import validate_baseline
from harness.report import markdown as report_markdown
from harness.report.rows import DataInfo, Row, SplitInfo
from harness.report.run import AcrossSplits, Economics, Items, RunReport
from harness.results import CaseResult

ROOT = Path(__file__).resolve().parents[1]


def _read(path: str) -> dict:
    return json.loads((ROOT / path).read_text())


def _same(a: object, b: object) -> bool:
    """Equal, and in the same key order (the file written back is the same file)."""
    return json.dumps(a) == json.dumps(b)


def test_the_committed_baseline_reads_typed_and_round_trips():
    data = validate_baseline(_read("baselines/fpb-sentiment.json"))
    baseline = Baseline.from_json(data)
    assert _same(baseline.to_json(), data)
    assert baseline.task == "fpb-sentiment" and baseline.split.test_fingerprint == data["split"]["test_fingerprint"]
    name, row = next(iter(baseline.rows.items()))
    assert baseline.items.decode(name)  # per-item codes decode to (gold, pred) pairs
    assert row.weighted_f1 == data["rows"][name]["weighted_f1"]


def test_the_committed_across_splits_report_round_trips_and_renders_its_markdown():
    data = _read("reports/fpb-sentiment-splits.json")
    combined = Combined.from_json(data)
    assert _same(combined.to_json(), data)
    assert len(combined.splits) == 3 and all(c.combined for c in combined.comparisons)
    assert markdown(combined) == (ROOT / "reports/fpb-sentiment-splits.md").read_text()


@pytest.mark.parametrize("path", ["reports/learning_curve.json", "reports/distillation.json"])
def test_the_split_data_and_rows_of_committed_training_reports_read_typed(path):
    data = _read(path)
    assert _same(SplitInfo.from_json(data["split"]).to_json(), data["split"])
    assert _same(DataInfo.from_json(data["data"]).to_json(), data["data"])
    for row in data["rows"] + data.get("baselines", []):
        typed = Row.from_json(row)
        assert _same(typed.to_json(), row) and typed.weighted_f1 == row["weighted_f1"]


def _run_report() -> dict:
    """A report shaped as the suite writes it (every top-level key), small."""
    row = {"model": "adapter:a", "strategy": "zero_shot", "n": 2, "expected": 2, "weighted_f1": 1.0,
           "weighted_f1_ci95": [1.0, 1.0], "accuracy": 1.0, "accuracy_ci95": [1, 1], "macro_f1": 1.0,
           "weighted_precision": 1.0, "weighted_recall": 1.0, "parse_failures": 0, "errors": 0, "per_class": {},
           "confusion": {"labels": ["a", "b"], "columns": ["a", "b", "<unparsed>"], "matrix": [[1, 0, 0], [0, 1, 0]]},
           "latency": {"source": "local", "p50_s": 0.1, "p95_s": 0.2, "batch_size": 2, "batch1_s": None,
                       "throughput_per_s": 10.0},
           "tokens": {"input": 1, "output": 1, "cached_input": 0},
           "cost": {"total_usd": 0.0, "per_call_usd": 0.0, "per_1k_usd": 0.0, "basis": "machine time", "note": "n",
                    "calls": 2, "dollars_per_hour": 0.08},
           "provenance": "p", "pareto": {"cost": "frontier", "latency": "frontier"}}
    return {
        "schema_version": 1, "created_at": "2026-12-05T00:00:00+00:00", "git_sha": None, "python": "3.11.7",
        "packages": {"numpy": "2"}, "notice": None, "partial": [], "task": "fpb-sentiment", "task_version": 1,
        "template_version": "v1", "data": {"source": "env", "file": "f.txt", "examples": 2, "future_key": 1},
        "split": {"method": "published", "seed": 5768, "test_fingerprint": "sha256:x"}, "few_shot_examples": [],
        "bootstrap_resamples": 100, "models": ["adapter:a"], "unavailable": {"openai:x": "not recorded"},
        "record_mode": "none", "adapters_dir": "adapters", "device": "cpu",
        "prices": {"as_of": "2026-11-01", "unit": "USD per 1M tokens"}, "rows": [row], "comparisons": [],
        "mde": {"n": 2, "alpha": 0.05, "power": 0.8, "method": "m",
                "accuracy_difference_at_discordant_rate": {"0.05": None}},
        "economics": {"machine": {"name": "m", "dollars_per_hour": 0.08, "kind": "cpu", "description": "d",
                                  "as_of": "2026-11-01", "source": "s"},
                      "gpu_machine": {"name": "g", "dollars_per_hour": 1.0, "as_of": "2026-11-01", "source": "s"},
                      "monthly_volume": 100000,
                      "training": {"adapter:a": {"usd": 0.05, "machine_hours": 0.6, "dollars_per_hour": 0.08,
                                                 "note": "n"}},
                      "versus": []},
        "items": {"labels": ["a", "b"], "ids": ["x", "y"], "gold": "01", "preds": {"adapter:a · zero_shot": "01"}},
        "across_splits": {"file": "f-splits.json", "splits": ["s1", "s2"], "lines": ["l"],
                          "outcomes": [{"a": "adapter:a · zero_shot", "b": "m · s", "verdicts": {"s1": "better", "s2": "tied"}}]},
        "companions": [{"task": "tfns", "title": "TFNS", "not_run": "not run"},
                       {"task": "fpb-slices", "title": "slices", "notes": ["n"], "table": [["h"], ["c"]]}],
    }


def test_a_run_report_round_trips_key_for_key_with_keys_it_does_not_name():
    data = _run_report()
    report = RunReport.from_json(data)
    assert _same(report.to_json(), data)
    assert report.economics.machine.dollars_per_hour == 0.08 and report.economics.training["adapter:a"].usd == 0.05
    assert report.items.decode("adapter:a · zero_shot") == {"x": ("a", "a"), "y": ("b", "b")}
    assert report.data.extra == {"future_key": 1} and report.few_shot_examples == () and not report.extra
    assert [c.name for c in report.companions] == ["TFNS", "slices"] and report.across_splits.lines == ("l",)
    assert report.across_splits.outcomes[0].verdicts == {"s1": "better", "s2": "tied"}
    older = {"file": "f-splits.json", "splits": ["s1"], "lines": ["l"]}  # written before outcomes were kept
    assert _same(AcrossSplits.from_json(older).to_json(), older)
    assert RunReport.of(report) is report
    assert report_markdown(report) == report_markdown(data)  # the functions take either, the same way


def test_a_report_built_in_code_writes_only_what_it_holds():
    report = RunReport(task="t", rows=(Row(model="m", strategy="s"),), economics=Economics(monthly_volume=10))
    out = report.to_json()
    assert out["task"] == "t" and out["economics"]["monthly_volume"] == 10 and out["rows"][0]["model"] == "m"
    assert RunReport.from_json(out).to_json() == out
    assert Items(labels=("a",), ids=("x",), gold="0", preds={"r": "x"}).decode("r") == {"x": ("a", None)}


def test_a_partial_flag_reads_as_its_rows():
    assert RunReport.from_json({"partial": ["m · s"]}).partial_rows == ["m · s"]
    assert RunReport.from_json({"partial": True}).partial_rows == ["(unnamed rows)"]
    assert RunReport.from_json({"partial": True}).to_json() == {"partial": True}


def _case(**extra) -> dict:
    return {"task": "t", "model": "m", "strategy": "s", "index": 0, "example_id": "x", "gold": "a", "pred": "a",
            "reply": "a", "latency_s": 0.1, "latency_source": "local", "batch_size": 1, "input_tokens": None,
            "output_tokens": None, "error": None, "provenance": "p", **extra}


def test_a_case_is_rebuilt_from_the_dictionary_it_travelled_as():
    case = CaseResult.from_json(_case(fine_tuned=True, correct=True))  # a key it does not name is ignored
    assert case.fine_tuned and case.row == ("m", "s") and CaseResult.of(case) is case
    assert CaseResult.from_json(case.to_json()) == case and case.to_dict() == case.to_json()


def test_a_case_missing_a_field_names_it():
    data = _case()
    del data["gold"]
    with pytest.raises(HarnessError, match="lacks gold"):
        CaseResult.from_json(data)
