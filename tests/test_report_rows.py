"""The report's typed records read every report JSON and write it back byte-identical; the one Markdown table
helper escapes what would break a table; the one atomic writer leaves a whole 0644 file or the old one."""

import json
import os
import stat

import numpy as np
import pytest

from conftest import ROOT
from harness import files
from harness.gate import BaselineRow
from harness.pricing import load_prices
from harness.report import build_report, markdown_table
from harness.report.rows import Comparison, DataInfo, Row, SplitInfo, Versus, comparisons_of, rows_of, versus_of


def _dumps(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def round_trip(report: dict) -> dict:
    """``report`` with its rows, comparisons, data and split read as records and written back."""
    out = {**report, "rows": [Row.from_json(r).to_json() for r in report["rows"]],
           "comparisons": [Comparison.from_json(c).to_json() for c in report.get("comparisons") or []]}
    if report.get("economics"):
        out["economics"] = {**report["economics"],
                            "versus": [Versus.from_json(v).to_json() for v in report["economics"]["versus"]]}
    for key, record in (("data", DataInfo), ("split", SplitInfo)):
        if key in report:
            out[key] = record.from_json(report[key]).to_json()
    return out


def _run_reports() -> list:
    found = []
    for path in sorted((ROOT / "reports").glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "schema_version" in data and isinstance(data.get("rows"), list):
            found.append(path)
    return found


@pytest.mark.parametrize("path", _run_reports(), ids=lambda p: p.name)
def test_committed_run_reports_round_trip_byte_identical(path):
    report = json.loads(path.read_text())
    assert _dumps(round_trip(report)) == _dumps(report)


def test_committed_baseline_round_trips_byte_identical():
    baseline = json.loads((ROOT / "baselines" / "fpb-sentiment.json").read_text())
    rows = {name: BaselineRow.from_json(r).to_json() for name, r in baseline["rows"].items()}
    split = SplitInfo.from_json(baseline["split"]).to_json()
    assert _dumps({**baseline, "rows": rows, "split": split}) == json.dumps(baseline, indent=2, ensure_ascii=False)
    assert BaselineRow.from_json(baseline["rows"]["tfidf-logreg · supervised"]).n == 453


LABELS = ("positive", "negative", "neutral")
# (model, strategy, kind, share right, latency s, fine-tuned): the kinds of row a run holds
ROWS = (("adapter:fpb-sentiment-smollm2-135m", "zero_shot", "local", 0.9, 0.03, True),
        ("published-gpt-4", "published_zero_shot", "replayed", 0.85, None, False),
        ("tfidf-logreg", "supervised", "local", 0.8, 0.0004, False),
        ("openai:smollm2-135m-instruct-q4_1", "zero_shot", "api", 0.4, 0.4, False))


def _cases(n: int = 80) -> list[dict]:
    rng = np.random.default_rng(3)
    golds = rng.choice(LABELS, size=n)
    cases = []
    for model, strategy, kind, right, latency, tuned in ROWS:
        draws = rng.random(n)
        for i, gold in enumerate(golds):
            pred = str(gold) if draws[i] < right else None if draws[i] > 0.97 else LABELS[(LABELS.index(gold) + 1) % 3]
            cases.append({"task": "fpb-sentiment", "model": model, "strategy": strategy, "index": i,
                          "example_id": f"ex{i:03d}",
                          "gold": str(gold), "pred": pred, "reply": str(pred), "error": None,
                          "latency_s": None if latency is None else latency * (0.5 + draws[i]),
                          "latency_source": "none" if latency is None else "recorded" if kind == "api" else "local",
                          "kind": kind, "fine_tuned": tuned, "batch_size": 16 if kind == "local" else 1,
                          "input_tokens": 118 if kind == "api" else None, "output_tokens": 3 if kind == "api" else None,
                          "cost_usd": None, "provenance": f"made for the test: {model}"})
    return cases


@pytest.fixture(scope="module")
def built() -> dict:
    """A report as a run builds it (a fine-tuned row and the alternatives), with FPB's data and split fields."""
    meta = {"task": "fpb-sentiment", "task_version": 1, "template_version": "t", "bootstrap_resamples": 50,
            "record_mode": "none", "prices": {"as_of": load_prices().as_of}, "unavailable": {},
            "data": {"source": "env", "directory": "d", "is_sample": False, "notes": ["made for the test"],
                     "file": "Sentences_AllAgree.txt", "file_sha256": "0" * 64, "agreement": "AllAgree",
                     "examples": 2264, "duplicate_lines": 6, "conflicting_sentences_removed": 0},
            "split": {"method": "published", "seed": 5768, "n_train": 1806, "n_test": 453, "n_evaluated": 80,
                      "limit": 80, "test_fingerprint": "sha256:916ae3d31dfd61c6", "leaked_removed_from_train": 4,
                      "repeats_removed_from_train": 1, "test_repeats_kept": 0},
            "few_shot_examples": []}
    report = build_report(meta, _cases(), labels=LABELS, pair_order=[r[:2] for r in ROWS], expected={},
                          root=ROOT, seed=1, resamples=50, prices=load_prices())
    return json.loads(json.dumps(report))  # as read back from the file


def test_a_built_report_round_trips_byte_identical(built):
    assert built["comparisons"] and len(built["rows"]) == len(ROWS)
    assert _dumps(round_trip(built)) == _dumps(built)


def test_records_read_what_the_formatting_needs(built):
    rows = {r.name: r for r in rows_of(built)}
    tuned = rows["adapter:fpb-sentiment-smollm2-135m · zero_shot"]
    assert tuned.latency.source == "local" and tuned.cost.basis == "machine time" and tuned.pareto.cost is not None
    assert "dollars_per_hour" in tuned.cost.extra  # machine details ride along
    assert rows["openai:smollm2-135m-instruct-q4_1 · zero_shot"].cost.price_unknown
    assert {c.a for c in comparisons_of(built)} == {tuned.name}
    money = versus_of(built)[(tuned.name, "tfidf-logreg · supervised")]
    assert money.latency_ratio > 1 and money.computable and money.break_even_note.startswith("never")
    assert Row.from_json(tuned.to_json()) == tuned


def test_a_partial_row_reads_with_defaults_and_writes_only_its_keys():
    partial = {"model": "m", "strategy": "s", "n": 3, "weighted_f1": 0.5}
    row = Row.from_json(partial)
    assert row.latency.p50_s is None and row.cost.per_1k_usd is None and row.pareto.cost is None
    assert row.to_json() == partial


def test_data_info_defaults_are_what_a_task_without_fpb_counts_writes():
    written = DataInfo(source="declared", directory="d", file="x.csv", examples=10).to_json()
    assert written["agreement"] == "n/a" and written["duplicate_lines"] == 0
    assert written["conflicting_sentences_removed"] == 0 and written["notes"] == []


def test_markdown_table_escapes_pipes_and_flattens_line_breaks():
    assert markdown_table([["a|b", "c"], ["x | y", "two\nlines"], [1, None]]) == [
        "| a\\|b | c |", "|---|---|", "| x \\| y | two lines |", "| 1 | None |"]


def test_atomic_write_leaves_a_whole_readable_file_or_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "report.md"
    files.atomic_write_text(path, "first\n")
    assert path.read_text() == "first\n" and stat.S_IMODE(path.stat().st_mode) == 0o644
    files.atomic_write_bytes(path.with_suffix(".bin"), b"\x00\x01")
    assert path.with_suffix(".bin").read_bytes() == b"\x00\x01"

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_text(path, "second\n")
    assert path.read_text() == "first\n"
    assert sorted(os.listdir(path.parent)) == ["report.bin", "report.md"]  # no temp file left behind
