"""The benchmark suite run as a user runs it: a fresh pytest process, real data, real models."""

import csv
import io
import json

import pytest
from sklearn.metrics import f1_score

from conftest import run_suite
from harness.tasks.fpb.data import load_fpb

VOLATILE = {"latency", "pareto"}
"""Timing, and what is derived from it (Pareto ranks on latency)."""


def _rows(report):
    rows = []
    for row in report["rows"]:
        row = {k: v for k, v in row.items() if k not in VOLATILE}
        if row.get("cost", {}).get("basis") == "machine time":  # local rows are priced by the wall clock
            row.pop("cost")
        rows.append(row)
    return rows


def _first_label_of_first_line(reply):
    """The recomputation in the data's PROVENANCE.md, written independently of harness.parsing."""
    first_line = next(line for line in reply.splitlines() if line.strip()).lower()
    hits = sorted((first_line.find(w), w) for w in ("positive", "negative", "neutral") if w in first_line)
    return hits[0][1] if hits else "unparsed"


@pytest.mark.slow
def test_published_gpt4_row_matches_an_independent_recomputation(fpb_dir, predictions_dir, tmp_path):
    result = run_suite("--harness-models=published-gpt-4,published-gpt-3.5-turbo", f"--harness-report-dir={tmp_path}",
                       env={"FPB_DIR": str(fpb_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    gold_by_text = {e.text: e.label for e in load_fpb(fpb_dir / "Sentences_AllAgree.txt").examples}
    for model, prefix in (("published-gpt-4", "gpt4_"), ("published-gpt-3.5-turbo", "chatgpt_")):
        (path,) = predictions_dir.glob(f"{prefix}FPB-sentiment-analysis-allagree_5768_*.csv")
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        gold = [gold_by_text[r["original_sent"].strip()] for r in rows]
        pred = [_first_label_of_first_line(r["text_output"]) for r in rows]
        expected = f1_score(gold, pred, labels=["positive", "negative", "neutral"], average="weighted")
        (row,) = [r for r in report["rows"] if r["model"] == model]
        assert row["n"] == 453
        assert round(row["weighted_f1"], 4) == round(expected, 4)
        assert "Shah & Chava 2023" in row["provenance"]
    assert report["split"]["test_fingerprint"].startswith("sha256:")
    assert report["notice"] is None


@pytest.mark.slow
def test_xdist_run_writes_the_same_report_as_a_serial_run(fpb_dir, tmp_path):
    args = ["--harness-models=tfidf-logreg,smollm2-135m,published-gpt-4", "--harness-strategies=supervised,zero_shot,few_shot,published_zero_shot",
            "--harness-limit=24", "--harness-batch-size=8", "--harness-bootstrap=200"]
    env = {"FPB_DIR": str(fpb_dir)}
    serial = run_suite(*args, f"--harness-report-dir={tmp_path / 'serial'}", env=env)
    assert serial.returncode == 0, serial.stdout[-3000:]
    parallel = run_suite(*args, "-n", "2", f"--harness-report-dir={tmp_path / 'xdist'}", env=env)
    assert parallel.returncode == 0, parallel.stdout[-3000:]
    a = json.loads((tmp_path / "serial" / "fpb-sentiment.json").read_text())
    b = json.loads((tmp_path / "xdist" / "fpb-sentiment.json").read_text())
    assert len(a["rows"]) == 4 and all(r["n"] == 24 for r in a["rows"])
    assert _rows(a) == _rows(b)
    assert a["split"] == b["split"]
    csv_a = (tmp_path / "serial" / "fpb-sentiment_predictions.csv").read_text()
    csv_b = (tmp_path / "xdist" / "fpb-sentiment_predictions.csv").read_text()
    strip = lambda text: [{k: v for k, v in r.items() if k != "latency_s"} for r in csv.DictReader(io.StringIO(text))]  # noqa: E731
    assert len(strip(csv_a)) == 4 * 24
    assert strip(csv_a) == strip(csv_b)


@pytest.mark.slow
def test_without_data_the_run_uses_the_flagged_sample(tmp_path):
    result = run_suite("--harness-models=tfidf-logreg", f"--harness-report-dir={tmp_path}", env={"FPB_DIR": ""})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "SAMPLE DATA" in result.stdout
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    assert report["data"]["is_sample"] and report["notice"].startswith("SAMPLE DATA")
    assert "SAMPLE DATA" in (tmp_path / "fpb-sentiment.md").read_text()


@pytest.mark.slow
def test_published_rows_are_not_run_on_another_split(fpb_dir, tmp_path):
    result = run_suite("--harness-models=tfidf-logreg,published-gpt-4", "--harness-split=stratified",
                       f"--harness-report-dir={tmp_path}", env={"FPB_DIR": str(fpb_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "not run: published-gpt-4: published replies exist only for the published AllAgree split" in result.stdout
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    assert [r["model"] for r in report["rows"]] == ["tfidf-logreg"]


@pytest.mark.slow
def test_bad_options_give_clear_errors(fpb_dir, tmp_path):
    env = {"FPB_DIR": str(fpb_dir)}
    unknown = run_suite("--harness-models=gpt-5-turbo-max", env=env)
    assert unknown.returncode != 0
    assert "unknown model 'gpt-5-turbo-max': expected one of" in unknown.stdout
    too_many = run_suite("--harness-models=tfidf-logreg", "--harness-limit=5000", env=env)
    assert too_many.returncode != 0
    assert "the test split has only 453 examples" in too_many.stdout
    wrong_dir = run_suite(env={"FPB_DIR": str(tmp_path)})
    assert wrong_dir.returncode != 0
    assert "Sentences_AllAgree.txt" in wrong_dir.stdout and "not found" in wrong_dir.stdout
