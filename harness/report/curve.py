"""The learning curve beside a report: read it, and draw it only when it was measured on the report's task,
data file and split (otherwise a note says which run it belongs to)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from harness.report.run import Report, RunReport

LEARNING_CURVE = "learning_curve.json"
CURVE_SPLIT_KEYS = ("method", "seed", "test_fingerprint")


def _curve_run(curve: Mapping[str, Any]) -> str:
    split, data = curve.get("split") or {}, curve.get("data") or {}
    return (f"{curve.get('task', 'fpb-sentiment')} on {data.get('file', 'unknown data')}, split {split.get('method')} "
            f"seed {split.get('seed')} (test {split.get('test_fingerprint')}), measured {curve.get('created_at', '?')}")


def curve_mismatch(report: Report, curve: Mapping[str, Any]) -> str | None:
    """Why a learning curve does not belong to this report (task, data file or split differ), or None."""
    report = RunReport.of(report)
    split, theirs = report.split.to_json(), curve.get("split") or {}
    problems = [f"{key} {theirs.get(key)} ≠ {split.get(key)}" for key in CURVE_SPLIT_KEYS
                if theirs.get(key) != split.get(key)]
    mine, data = report.data, curve.get("data") or {}
    mine_file = mine.file or None
    if data.get("file") != mine_file:
        problems.append(f"data {data.get('file')} ≠ {mine_file}")
    elif data.get("file_sha256") and mine.file_sha256 and data["file_sha256"] != mine.file_sha256:
        problems.append("data file contents differ (sha256)")
    if curve.get("task", "fpb-sentiment") != report.task:
        problems.append(f"task {curve.get('task', 'fpb-sentiment')} ≠ {report.task}")
    return "; ".join(problems) or None


def read_learning_curve(report: Report, directory: Path) -> tuple[dict[str, Any] | None, str | None]:
    """This run's learning curve from ``directory`` (the report's own folder, never the package's), and a
    note: which run a curve belongs to when it is not this one's, or how to measure one."""
    path = directory / LEARNING_CURVE
    try:
        curve = json.loads(path.read_text())
    except OSError:
        return None, ("No learning curve for this run: `python -m finetune sentiment --learning-curve` measures one "
                      f"and writes {LEARNING_CURVE} beside this report.")
    except ValueError as exc:
        return None, f"{path.name} beside this report is not valid JSON ({exc}): not drawn."
    why = curve_mismatch(report, curve)
    if why:
        return None, (f"Not drawn: the {LEARNING_CURVE} beside this report belongs to another run "
                      f"({_curve_run(curve)}); this run differs in {why}.")
    return curve, f"Measured for this task, data and split ({_curve_run(curve)})."
