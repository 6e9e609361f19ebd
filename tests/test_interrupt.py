"""Interruption: Ctrl-C (SIGINT) or SIGTERM mid-run leaves a valid report, marked partial, holding every
case that finished; the cassette being recorded is valid JSON; report files are replaced whole."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, write_synthetic_fpb
from faultserver import FaultServer
from harness.cassettes import read_cassette

API = "openai:slow-model"
LIMIT = 80  # two chunks of the API model (64 + 16): the first finishes, the second is cut


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_leaves_a_valid_partial_report(tmp_path, signum):
    data = write_synthetic_fpb(tmp_path / "fpb", 400)
    reports, cassettes = tmp_path / "reports", tmp_path / "cassettes"
    with FaultServer(stall_after=LIMIT - 10, hang_s=3.0) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "suites", "-m", "sentiment", "-p", "no:cacheprovider",
             f"--harness-models=tfidf-logreg,{API}", f"--harness-limit={LIMIT}", "--harness-bootstrap=100",
             "--harness-api-concurrency=1", "--record-mode=once", f"--harness-cassette-dir={cassettes}",
             f"--harness-report-dir={reports}"],
            # a shell's background job starts with SIGINT ignored, and Python keeps it ignored: restore it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "FPB_DIR": str(data), "OPENAI_BASE_URL": server.url,
                 "OPENAI_API_KEY": "local-server"},
        )
        deadline = time.monotonic() + 300
        while server.total <= LIMIT - 10 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until the second chunk is in flight (its calls are held by the server)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signum)
        output, _ = process.communicate(timeout=600)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "KeyboardInterrupt" in output

    report = json.loads((reports / "fpb-sentiment.json").read_text())  # valid JSON, written whole
    assert report["partial"] == [f"{API} · zero_shot", f"{API} · few_shot", f"{API} · cot"]
    rows = {(r["model"], r["strategy"]): r for r in report["rows"]}
    assert rows[("tfidf-logreg", "supervised")]["n"] == LIMIT  # the pair that finished is whole
    assert (rows[(API, "zero_shot")]["n"], rows[(API, "zero_shot")]["expected"]) == (64, LIMIT)
    assert set(rows) == {("tfidf-logreg", "supervised"), (API, "zero_shot")}
    passed = int(re.search(r"(\d+) passed", output).group(1))
    assert sum(r["n"] for r in report["rows"]) == passed == LIMIT + 64  # every finished case is in the report
    with open(reports / "fpb-sentiment_predictions.csv", encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 1 + passed

    recorded = read_cassette(cassettes / "fpb-sentiment" / "openai-slow-model" / "zero_shot.json")
    assert 64 <= recorded.interactions <= LIMIT  # what was answered before the signal is kept, whole
    assert not list(cassettes.rglob(".*.tmp")) and not list(reports.glob(".*.tmp"))


def test_concurrent_report_writes_are_never_seen_half_written(tmp_path):
    from harness.files import atomic_write_text

    path = tmp_path / "fpb-sentiment.json"
    reports = [json.dumps({"run": run, "rows": [{"i": i, "text": "x" * 200} for i in range(2000)]}) for run in (1, 2)]
    atomic_write_text(path, reports[0])
    failures: list[str] = []
    stop = threading.Event()

    def write(text: str) -> None:
        for _ in range(15):
            atomic_write_text(path, text)

    def read() -> None:
        while not stop.is_set():
            try:
                json.loads(path.read_text())
            except ValueError as exc:
                failures.append(str(exc))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(text,)) for text in reports]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert failures == []
    assert json.loads(path.read_text())["run"] in (1, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["fpb-sentiment.json"]  # no temporary file left
