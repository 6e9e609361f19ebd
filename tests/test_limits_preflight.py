"""Trust II (issue 26): limited runs are never trusted as whole ones, and every path a run writes is checked
before the first case. Each case is a bad input and its clear error (what was expected, what came, the fix),
raised before anything runs, or a counted FAIL line of the gate. Synthetic data only (no FPB text)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import refused
from harness import gate
from harness.__main__ import main as harness_main
from harness.across_splits import load_runs
from harness.preflight import check_writable

LABELS = ["billing", "outage", "feature"]



def _f1(gold: str, codes: str) -> float:
    from harness.metrics import weighted_f1

    return weighted_f1([LABELS[int(g)] for g in gold], [LABELS[int(c)] for c in codes], LABELS)


def report(n: int = 30, n_test: int = 30, limit: int | None = None, seed: int = 1) -> dict:
    """A synthetic report of one row on ``n`` items of a ``n_test``-item test split (``limit``: --harness-limit)."""
    gold, codes = ("012" * n)[:n], ("012" * n)[:n - 1] + "0"
    return {
        "task": "tickets", "partial": [], "comparisons": [],
        "split": {"method": "stratified", "seed": seed, "n_test": n_test, "n_evaluated": n, "limit": limit,
                  "test_fingerprint": f"sha256:{seed:016d}"},
        "rows": [{"model": "m", "strategy": "s", "n": n, "weighted_f1": _f1(gold, codes), "weighted_f1_ci95": [0.5, 1],
                  "accuracy": 0.9, "parse_failures": 0, "errors": 0, "cost": {"per_1k_usd": 1.0, "basis": "billed"}}],
        "items": {"labels": LABELS, "ids": [f"id{i}" for i in range(n)], "gold": gold, "preds": {"m · s": codes}},
    }


# -- a limited run is never a baseline, never passes the gate, never sits beside a whole one ---------------------
def test_a_baseline_from_a_limited_run_is_refused_with_the_fix(tmp_path, capsys):
    refused(lambda: gate.baseline_from_report(report(10, 30, limit=10)), "limited", "10 of 30 test items",
            "--harness-limit 10", "without --harness-limit")
    path, out = tmp_path / "report.json", tmp_path / "baseline.json"
    path.write_text(json.dumps(report(10, 30, limit=10)))
    assert harness_main(["baseline", str(path), "--out", str(out)]) == 2
    assert "without --harness-limit" in capsys.readouterr().err and not out.exists()
    assert gate.baseline_from_report(report())["split"]["n_evaluated"] == 30  # a whole run is still a baseline


def test_a_limited_run_is_a_partial_one_for_the_gate():
    result = gate.check(report(30, 60, limit=30), gate.baseline_from_report(report(30, 30)), resamples=50)
    assert result.failed
    (run,) = [c for c in result.checks if c.row == "run"]
    assert run.status == "FAIL" and "partial" in run.message and "30 of 60 test items" in run.message
    assert "fix: run the suite without --harness-limit" in run.message


def test_a_limited_baseline_is_refused_by_the_gate():
    baseline = gate.baseline_from_report(report(30, 30))
    baseline["split"]["n_test"] = 453  # written by an older harness from a --harness-limit 30 run
    result = gate.check(report(30, 30), baseline, resamples=50)
    (line,) = [c for c in result.checks if c.row == "baseline"]
    assert result.failed and line.status == "FAIL" and "limited run (30 of 453 test items)" in line.message
    assert "without --harness-limit" in line.message


@pytest.mark.parametrize("sizes, parts", [
    (((30, 453, 30), (60, 453, None)), ("30 of 453 test items (--harness-limit 30)", "60 of 453")),
    (((30, 30, None), (60, 60, None)), ("30 of 30 test items", "60 of 60 test items")),
], ids=["limited", "different-n"])
def test_splits_refuses_runs_of_another_size_naming_each_report(tmp_path, sizes, parts):
    paths = []
    for seed, (n, n_test, limit) in enumerate(sizes, start=1):
        paths.append(tmp_path / f"seed-{seed}.json")
        paths[-1].write_text(json.dumps(report(n, n_test, limit, seed=seed)))
    refused(lambda: load_runs(paths), *map(str, paths), *parts, "without --harness-limit")
    assert harness_main(["splits", *map(str, paths), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out.json").exists()


# -- every path the session writes, before the first case ------------------------------------------------------
def test_a_report_folder_that_does_not_exist_yet_passes_and_is_not_made(tmp_path):
    check_writable(tmp_path / "a" / "b", ["tickets"], tmp_path / "c", "once")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["tickets.json", "tickets.md", "tickets.html", "tickets_predictions.csv",
                                  "summary.md", "other.json"])
def test_a_folder_where_a_report_file_goes_is_refused(tmp_path, name):
    (tmp_path / name).mkdir()
    refused(lambda: check_writable(tmp_path, ["tickets", "other"]), str(tmp_path / name), "a folder",
            "--harness-report-dir")


@pytest.mark.parametrize("where", ["reports", "reports/runs", "reports/x"])
def test_a_file_where_a_report_folder_goes_is_refused(tmp_path, where):
    if where != "reports":
        (tmp_path / "reports").mkdir()
    (tmp_path / where).write_text("not a folder\n")
    report_dir = tmp_path / ("reports/x/y" if where == "reports/x" else "reports")
    refused(lambda: check_writable(report_dir, ["tickets"]), "a file", str(tmp_path / where), "--harness-report-dir")


def test_a_cassette_folder_that_is_a_file_is_refused_only_when_recording(tmp_path):
    cassettes = tmp_path / "cassettes"
    cassettes.write_text("not a folder\n")
    check_writable(tmp_path / "reports", ["tickets"], cassettes, "none")  # replay only: nothing is written there
    for mode in ("once", "new_episodes", "all"):
        refused(lambda: check_writable(tmp_path / "reports", ["tickets"], cassettes, mode),
                f"--harness-cassette-dir={cassettes}", "a file", f"--record-mode={mode}", "paying")
    refused(lambda: check_writable(tmp_path / "reports", ["tickets"], cassettes / "sub", "once"),
            "a file", str(cassettes))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_report_folder_is_refused(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        refused(lambda: check_writable(folder / "new", ["tickets"]), "writable", str(folder))
    finally:
        folder.chmod(0o755)


# -- one run as a user would: refused before any case, nothing written or recorded --------------------------------
SUITE = ("import pytest\nfrom harness import ClassificationTask\n"
         "TASK = ClassificationTask(name='tickets', data='data.csv', text='body', label='team', "
         f"labels={LABELS!r}, instruction='Route it.')\npytestmark = pytest.mark.harness_task(TASK)\n"
         "def test_tickets(harness_case):\n    assert harness_case['error'] is None\n")


def _suite(tmp_path: Path) -> None:
    texts = {"billing": "I was charged twice for plan {i}.", "outage": "Service {i} has been down.",
             "feature": "Please add export option {i}."}
    lines = ["body,team"] + [f"{texts[label].format(i=i)},{label}" for i in range(10) for label in LABELS]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "test_tickets.py").write_text(SUITE)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["report-file-is-a-folder", "cassette-dir-is-a-file"])
def test_an_unwritable_path_stops_the_run_before_any_case(tmp_path, case):
    from conftest import run_pytest

    _suite(tmp_path)
    (tmp_path / "reports").mkdir()
    if case == "report-file-is-a-folder":
        (tmp_path / "reports" / "tickets.json").mkdir()
        args, parts = (), ("tickets.json", "a folder")
    else:
        (tmp_path / "cassettes").write_text("not a folder\n")
        args, parts = ("--record-mode=once",), ("--harness-cassette-dir", "a file", "--record-mode=once")
    ran = run_pytest("test_tickets.py", "--harness-models=tfidf-logreg", f"--rootdir={tmp_path}", *args,
                     cwd=tmp_path, env={"HARNESS_MLFLOW": "off"})
    output = ran.stdout + ran.stderr
    assert ran.returncode == 4 and all(p in output for p in parts), ran
    assert " passed" not in output and "Traceback" not in output
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == (
        ["tickets.json"] if case == "report-file-is-a-folder" else [])
