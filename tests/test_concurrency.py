"""Concurrency: ``-n 2`` and ``-n 4`` (pytest-xdist) write the same report as a serial run, on the fast rows
(tfidf floor, published replies, replayed API cassettes: 5 pairs over up to 4 workers). Only timing and run metadata may differ."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import run_suite

pytestmark = pytest.mark.slow  # three suite runs (serial, -n 2, -n 4)

FAST_ROWS = "tfidf-logreg,published-gpt-4,openai:smollm2-135m-instruct-q4_1"  # 5 pairs: more than 4 workers
RUN_METADATA = {"created_at", "git_sha", "python", "packages", "economics"}
"""When and where the run happened, and $ figures derived from measured machine time."""
ROW_TIMING = {"latency", "pareto"}


def _comparable(report: dict) -> dict:
    out = {k: v for k, v in report.items() if k not in RUN_METADATA}
    rows = []
    for row in report["rows"]:
        row = {k: v for k, v in row.items() if k not in ROW_TIMING}
        if row.get("cost", {}).get("basis") == "machine time":  # local rows: priced by the wall clock
            row.pop("cost")
        rows.append(row)
    out["rows"] = rows
    return out


def _cases(folder) -> list[dict]:
    text = (folder / "fpb-sentiment_predictions.csv").read_text(encoding="utf-8")
    return [{k: v for k, v in r.items() if k not in ("latency_s", "cost_usd")} for r in csv.DictReader(io.StringIO(text))]


def test_two_and_four_workers_write_the_serial_report(fpb_dir, predictions_dir, tmp_path):
    args = [f"--harness-models={FAST_ROWS}", "--harness-limit=40", "--harness-bootstrap=200"]
    env = {"FPB_DIR": str(fpb_dir)}
    reports = {}
    for name, extra in (("serial", []), ("n2", ["-n", "2"]), ("n4", ["-n", "4"])):
        result = run_suite(*args, *extra, f"--harness-report-dir={tmp_path / name}", env=env)
        assert result.returncode == 0, (name, result.stdout[-3000:])
        reports[name] = json.loads((tmp_path / name / "fpb-sentiment.json").read_text())
    serial = _comparable(reports["serial"])
    assert len(serial["rows"]) == 5 and all(row["n"] == 40 for row in serial["rows"])
    assert serial["partial"] == []
    for name in ("n2", "n4"):
        assert _comparable(reports[name]) == serial, name
        assert _cases(tmp_path / name) == _cases(tmp_path / "serial"), name
    assert len(_cases(tmp_path / "serial")) == 200
