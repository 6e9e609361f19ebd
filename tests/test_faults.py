"""API faults in live mode: the real OpenAIChat model, recording, against a real misbehaving server on 127.0.0.1.

Retries are bounded (the server counts the requests), a failed case is an error in its reply (never a
crash, never a label), and the cassette holds only successful interactions, written whole.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import run_suite
from faultserver import FaultServer
from harness import HarnessError
from harness.cassettes import cassette_path, read_cassette, use_cassette
from harness.tasks.fpb.data import LABELS, SAMPLE_DIR, SAMPLE_FILE, Example, load_fpb
from harness.models.base import Request
from harness.models.openai_chat import OpenAIChat
from harness.tasks.fpb.prompts import render
from harness.secrets_scan import scan_paths
from harness.splits import make_split

MAX_RETRIES = 2
FAULTY = Example("bad", "Sales rose 5 % MARK .", "positive")
CLEAN = Example("good", "Operating profit fell sharply .", "negative")


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "local-" + "fault-server")


def _model(tmp_path: Path, url: str, mode: str = "once", **kw) -> OpenAIChat:
    return OpenAIChat("openai:fault-model", task="t", template_version="v1", cassette_dir=tmp_path, record_mode=mode,
                      base_url=url, concurrency=2, max_retries=MAX_RETRIES, timeout_s=1.5, **kw)


def _requests(*examples: Example) -> list[Request]:
    return [Request(e, render("zero_shot", e.text), LABELS) for e in examples]


def _stored(tmp_path: Path) -> list[dict]:
    """The cassette's interactions, after checking it is whole, valid JSON (or absent: [])."""
    path = cassette_path(tmp_path, "t", "openai:fault-model", "zero_shot")
    if not path.exists():
        return []
    read_cassette(path)  # valid, and its seal matches
    assert not list(path.parent.glob(".*.tmp")), "a temporary file was left behind"
    return json.loads(path.read_text())["interactions"]


RETRIED = ["429", "500", "503", "timeout", "reset", "truncated"]
NOT_RETRIED = ["429-long", "400", "401", "malformed", "html", "bad_utf8", "no_choices"]


@pytest.mark.parametrize("fault", RETRIED + NOT_RETRIED)
def test_a_persistent_fault_is_that_cases_error_after_bounded_retries(tmp_path, fault):
    with FaultServer({"MARK": [fault]}, hang_s=5.0) as server:
        bad, good = _model(tmp_path, server.url).predict(_requests(FAULTY, CLEAN))
        seen = server.seen["MARK"]
    assert seen == (MAX_RETRIES + 1 if fault in RETRIED else 1)
    assert bad.error and bad.text == ""  # no usable reply, so no label: an error, counted apart from parse failures
    assert good.error is None and good.text == "negative"  # the other case of the batch is unharmed
    stored = _stored(tmp_path)
    assert [i["response"]["status"]["code"] for i in stored] == [200]  # only the success was recorded

    replay = _model(tmp_path, "http://127.0.0.1:9/v1", mode="none").predict(_requests(FAULTY, CLEAN))
    assert "not in cassette" in replay[0].error and replay[1].text == "negative"


def test_retry_after_is_honoured(tmp_path):
    with FaultServer({"MARK": ["429", "ok"]}) as server:
        (reply,) = _model(tmp_path, server.url).predict(_requests(FAULTY))
        first, second = server.times["MARK"]
    assert reply.error is None and reply.text == "positive"
    assert second - first >= 0.9  # the server said Retry-After: 1 (the SDK's own backoff starts at 0.5 s)


@pytest.mark.parametrize("faults", [["500", "503", "ok"], ["reset", "ok"], ["truncated", "ok"], ["timeout", "ok"]],
                         ids=lambda f: "-then-".join(f))
def test_a_transient_fault_recovers_and_only_the_answer_is_recorded(tmp_path, faults):
    with FaultServer({"MARK": faults}, hang_s=5.0) as server:
        bad, good = _model(tmp_path, server.url).predict(_requests(FAULTY, CLEAN))
        assert server.seen["MARK"] == len(faults)
    assert (bad.error, bad.text, good.text) == (None, "positive", "negative")
    assert len(_stored(tmp_path)) == 2
    replayed = _model(tmp_path, "http://127.0.0.1:9/v1", mode="none").predict(_requests(FAULTY, CLEAN))
    assert [r.text for r in replayed] == ["positive", "negative"]


@pytest.mark.parametrize("fault", ["empty", "null_content", "huge", "surrogate"])
def test_odd_but_successful_replies_are_recorded_as_replies(tmp_path, fault):
    with FaultServer({"MARK": [fault]}) as server:
        bad, _ = _model(tmp_path, server.url).predict(_requests(FAULTY, CLEAN))
    assert bad.error is None  # a reply came: parsing decides, and a reply without a label is a counted failure
    assert len(_stored(tmp_path)) == 2


def test_recording_new_episodes_after_faults_keeps_the_old_interactions(tmp_path):
    with FaultServer() as server:
        _model(tmp_path, server.url).predict(_requests(CLEAN))
    with FaultServer({"MARK": ["500"]}) as server:
        replies = _model(tmp_path, server.url, mode="new_episodes").predict(_requests(FAULTY, CLEAN))
    assert replies[0].error and replies[1].text == "negative"
    assert len(_stored(tmp_path)) == 1


def test_a_failed_write_leaves_the_previous_cassette_whole(tmp_path, monkeypatch):
    with FaultServer() as server:
        _model(tmp_path, server.url).predict(_requests(CLEAN))
        before = cassette_path(tmp_path, "t", "openai:fault-model", "zero_shot").read_bytes()

        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("harness.files.os.replace", disk_full)
        with pytest.raises(OSError, match="No space left"):
            _model(tmp_path, server.url, mode="new_episodes").predict(_requests(FAULTY))
    assert cassette_path(tmp_path, "t", "openai:fault-model", "zero_shot").read_bytes() == before
    assert len(_stored(tmp_path)) == 1


def test_unknown_record_mode_is_refused(tmp_path):
    with pytest.raises(HarnessError, match="--record-mode=sometimes"):
        use_cassette(tmp_path / "x.json", record_mode="sometimes")


def _sample_test_sentences(n: int) -> list[str]:
    split = make_split(load_fpb(SAMPLE_DIR / SAMPLE_FILE).examples, seed=5768)
    return [e.text for e in split.test[:n]]


@pytest.mark.slow
def test_faults_in_a_suite_run_are_counted_errors_in_the_report(tmp_path):
    """The real CLI, recording from the fault server: failures are errors in the report, the rest is scored."""
    s = _sample_test_sentences(6)
    plan = {s[0]: ["500"], s[1]: ["malformed"], s[2]: ["503", "ok"], s[3]: ["empty"], s[4]: ["huge"], s[5]: ["401"]}
    key = "sk" + "-proj-" + "k3Y" * 16  # key-shaped, built at run time; the server echoes it in its 401
    cassettes, reports = tmp_path / "cassettes", tmp_path / "reports"
    args = ["--harness-models=openai:fault-model", "--harness-strategies=zero_shot", "--harness-limit=6",
            f"--harness-cassette-dir={cassettes}", "--harness-bootstrap=100", "--harness-api-concurrency=2"]
    with FaultServer(plan) as server:
        result = run_suite(*args, "--record-mode=once", f"--harness-report-dir={reports}",
                           env={"FPB_DIR": "", "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": key})
        seen = dict(server.seen)
    assert result.returncode == 1, result.stdout[-3000:]  # three items failed: their calls got no reply
    assert "Traceback" not in result.stdout and key not in result.stdout + result.stderr
    assert seen == {s[0]: 5, s[1]: 1, s[2]: 2, s[3]: 1, s[4]: 1, s[5]: 1}  # the SDK's 4 retries, then it gives up

    report = json.loads((reports / "fpb-sentiment.json").read_text())
    (row,) = report["rows"]
    assert (row["n"], row["errors"], row["parse_failures"]) == (6, 3, 1)
    with open(reports / "fpb-sentiment_predictions.csv", newline="") as handle:
        cases = {r["index"]: r for r in csv.DictReader(handle)}
    assert "InternalServerError (HTTP 500)" in cases["0"]["error"] and cases["0"]["pred"] == ""
    assert "malformed JSON" in cases["1"]["error"] and cases["1"]["pred"] == ""
    assert cases["2"]["error"] == "" and cases["2"]["pred"] in LABELS
    assert cases["3"]["error"] == "" and cases["3"]["pred"] == ""  # an empty reply: a parse failure
    assert cases["4"]["pred"] in LABELS and len(cases["4"]["reply"]) <= 4000
    assert "AuthenticationError (HTTP 401)" in cases["5"]["error"] and "<redacted>" in cases["5"]["error"]
    assert scan_paths([reports, cassettes])[0] == []  # no key, token, id or cookie in anything written

    path = cassettes / "fpb-sentiment" / "openai-fault-model" / "zero_shot.json"
    assert read_cassette(path).interactions == 3
    replay = run_suite(*args, f"--harness-report-dir={tmp_path / 'replay'}",
                       env={"FPB_DIR": "", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": ""})
    again = json.loads((tmp_path / "replay" / "fpb-sentiment.json").read_text())["rows"][0]
    assert (again["n"], again["errors"], again["parse_failures"]) == (6, 3, 1), replay.stdout[-2000:]
    assert again["weighted_f1"] == row["weighted_f1"]
