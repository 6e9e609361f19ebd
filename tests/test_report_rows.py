"""The report's typed records read every report JSON and write it back byte-identical; the one Markdown table
helper escapes what would break a table; the one atomic writer leaves a whole 0644 file or the old one."""

import json
import os
import stat

import pytest

from conftest import ROOT
from harness import files
from harness.gate import BaselineRow
from harness.pricing import load_prices
from harness.report import build_report, markdown_table
from harness.report.rows import Comparison, DataInfo, Row, SplitInfo, Versus, comparisons_of, rows_of, versus_of
from test_html_report import LABELS, ROWS, _cases, _meta


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


@pytest.fixture(scope="module")
def built() -> dict:
    """A report as a run builds it (five rows, a fine-tuned one among them), kept small to build in seconds."""
    meta = _meta(limit=None, test_repeats_kept=0)
    meta["data"] = {**meta["data"], "notes": ["made for the test"], "agreement": "AllAgree"}
    report = build_report(meta, _cases(n=80), labels=LABELS, pair_order=[r[:2] for r in ROWS], expected={},
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
