"""Trusting what a cassette replays: a reseal says when, why and how (and every report replaying it says so),
``python -m harness cassettes`` judges each cassette by its own task only, and a request that is not in its
cassette because an option changed every prompt of the pair names that option, its recorded value, this run's
and the fix.

Cassettes are recorded through the real path (OpenAIChat, vcrpy, the harness's persister) from a real HTTP
server on 127.0.0.1 (tests/faultserver.py): no network, no key.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, refused, run_python, run_suite
from faultserver import FaultServer
from harness import HarnessError
from harness.cassettes import (RESEALED_KEY, SEAL_KEY, cassette_path, not_recorded, read_cassette, replay_caveat,
                               reseal, write_cassette)
from harness.models.base import Request
from harness.models.openai_chat import OpenAIChat
from harness.prompts import DEFAULT_SHOTS_PER_LABEL, select_shots
from harness.report.text import caveat_lines
from harness.tasks.fpb.data import LABELS, Example
from harness.tasks.fpb.prompts import render

MODEL, TASK = "openai:trust-model", "trust-task"
WHY = "restored from git after a merge conflict (test)"
SENTENCES = ["Sales rose 10 % .", "Profit fell sharply .", "The board met on Tuesday ."]
TRAIN = [Example(f"t{i}", f"Train sentence {i} {word} .", label) for i, (word, label) in enumerate(
    [("rose", "positive"), ("grew", "positive"), ("increased", "positive"), ("fell", "negative"), ("loss", "negative"),
     ("down", "negative"), ("met", "neutral"), ("said", "neutral"), ("held", "neutral")])]


def _model(root: Path, mode: str, url: str, seed: int = 0) -> OpenAIChat:
    return OpenAIChat(MODEL, task=TASK, template_version="v1", cassette_dir=root, record_mode=mode, base_url=url,
                      concurrency=2, seed=seed, test_fingerprint="sha256:trust-test")


def _requests(strategy: str = "zero_shot", per_label: int = DEFAULT_SHOTS_PER_LABEL) -> list[Request]:
    shots = select_shots(TRAIN, LABELS, per_label=per_label, seed=1) if strategy == "few_shot" else ()
    return [Request(Example(f"e{i}", s, "positive"), render(strategy, s, shots=shots), LABELS)
            for i, s in enumerate(SENTENCES)]


def _record(root: Path, requests: list[Request], seed: int = 0) -> Path:
    with pytest.MonkeyPatch.context() as patch, FaultServer() as server:
        patch.setenv("OPENAI_API_KEY", "local-" + "trust-server")
        _model(root, "once", server.url, seed).predict(requests)
    return cassette_path(root, TASK, MODEL, requests[0].prompt.strategy)


def _replay(root: Path, requests: list[Request], seed: int = 0) -> tuple[OpenAIChat, list[Any]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        model = _model(root, "none", "http://127.0.0.1:9/v1", seed)
        return model, model.predict(requests)


def _unseal(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data["metadata"].pop(SEAL_KEY)
    path.write_text(json.dumps(data, indent=4) + "\n")
    return data


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A zero_shot cassette recorded through the real path."""
    return _record(tmp_path_factory.mktemp("recorded"), _requests())


def _copy(recorded: Path, root: Path) -> Path:
    path = cassette_path(root, TASK, MODEL, "zero_shot")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(recorded.read_bytes())
    return path


# -- a reseal records when, why and how -------------------------------------------------------------------------
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reseal_without_a_reason_is_refused_before_the_file_is_touched(tmp_path, recorded, reason):
    path = _copy(recorded, tmp_path)
    _unseal(path)
    before = path.read_bytes()
    refused(lambda: reseal(path, reason), "reason", "--reseal", "--reason")
    assert path.read_bytes() == before
    cli = run_python("-m", "harness", "cassettes", "--reseal", str(path), *(["--reason", reason] if reason else []))
    assert cli.returncode == 2 and "expected a reason" in cli.stderr and cli.stdout == "", cli
    assert path.read_bytes() == before and "Traceback" not in cli.stderr


def test_a_reason_holding_a_key_is_refused(tmp_path, recorded):
    path = _copy(recorded, tmp_path)
    _unseal(path)
    before = path.read_bytes()
    key = "sk" + "-proj-" + "Q7x" * 16
    message = refused(lambda: reseal(path, f"restored, key {key}"), "looks like a secret")
    assert key not in message and path.read_bytes() == before


def test_a_reason_without_reseal_is_refused():
    cli = run_python("-m", "harness", "cassettes", "--reason", WHY)
    assert cli.returncode == 2 and "expected it with --reseal" in cli.stderr and cli.stdout == "", cli


def test_a_reseal_records_when_why_and_by_what_command(tmp_path, recorded):
    path = _copy(recorded, tmp_path)
    _unseal(path)
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cli = run_python("-m", "harness", "cassettes", "--reseal", str(path), "--reason", f"  {WHY}\n")
    assert cli.returncode == 0, cli
    (entry,) = read_cassette(path).metadata[RESEALED_KEY]
    assert entry["reason"] == WHY and "not sealed" in entry["before"]
    assert entry["command"] == f"python -m harness cassettes --reseal {path} --reason '{WHY}'"
    at = dt.datetime.fromisoformat(entry["at"])
    assert at.utcoffset() == dt.timedelta(0) and started <= at <= dt.datetime.now(dt.timezone.utc)
    assert f"recorded in it: cassette resealed on {entry['at'][:10]}: {WHY}" in cli.stdout
    listed = run_python("-m", "harness", "cassettes", "--dir", str(tmp_path))
    assert listed.stdout.rstrip().endswith(f"\tcassette resealed on {entry['at'][:10]}: {WHY}"), listed
    _unseal(path)
    second = reseal(path, "second look")  # a later reseal adds to the record, oldest first
    assert [e["reason"] for e in read_cassette(path).metadata[RESEALED_KEY]] == [WHY, "second look"]
    assert str(second).endswith("second look") and "harness.recording.reseal(" in \
        read_cassette(path).metadata[RESEALED_KEY][1]["command"]


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m.pop(RESEALED_KEY), "metadata field 'harness_resealed' is None"),
    (lambda m: m[RESEALED_KEY][0].update(reason="recorded live"), "metadata field 'harness_resealed'"),
    (lambda m: (m.pop(RESEALED_KEY), m[SEAL_KEY]["metadata"].pop(RESEALED_KEY)), "its seal does not match itself"),
])
def test_the_reseal_record_is_sealed_with_the_rest(tmp_path, recorded, edit, expected):
    path = _copy(recorded, tmp_path)
    _unseal(path)
    reseal(path, WHY)
    data = json.loads(path.read_text())
    edit(data["metadata"])
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="edited after recording") as caught:
        read_cassette(path)
    assert expected in str(caught.value)


def test_a_cassette_never_resealed_keeps_its_seal_and_says_nothing(tmp_path, recorded):
    path = _copy(recorded, tmp_path)
    assert RESEALED_KEY not in read_cassette(path).metadata and replay_caveat(path) == ""
    assert RESEALED_KEY not in json.loads(path.read_text())["metadata"][SEAL_KEY]["metadata"]
    model, replies = _replay(tmp_path, _requests())
    assert "resealed" not in model.provenance and all(r.error is None for r in replies)
    for shipped in sorted((ROOT / "cassettes").rglob("*.json")):
        assert replay_caveat(shipped) == "", shipped


def test_replaying_a_resealed_cassette_says_when_and_why(tmp_path, recorded):
    path = _copy(recorded, tmp_path)
    _unseal(path)
    reseal(path, WHY)
    day = read_cassette(path).metadata[RESEALED_KEY][0]["at"][:10]
    model, replies = _replay(tmp_path, _requests())
    assert all(r.error is None for r in replies)
    assert model.provenance.endswith(f" via the OpenAI API protocol (http://127.0.0.1:9/v1); cassette resealed on {day}: {WHY}")
    report = {"rows": [{"model": MODEL, "strategy": "zero_shot", "provenance": model.provenance},
                       {"model": "tfidf-logreg", "strategy": "classifier", "provenance": "scikit-learn"}]}
    assert caveat_lines(report) == [f"caveat: {MODEL} · zero_shot: cassette resealed on {day}: {WHY}"]


def test_a_suite_run_replaying_a_resealed_cassette_says_so_in_every_report(tmp_path, fpb_dir):
    shipped = ROOT / "cassettes" / "fpb-sentiment" / "openai-smollm2-135m-instruct-q4_1" / "zero_shot.json"
    path = tmp_path / "cassettes" / shipped.relative_to(ROOT / "cassettes")
    path.parent.mkdir(parents=True)
    path.write_bytes(shipped.read_bytes())
    _unseal(path)
    reseal(path, WHY)
    caveat = f"cassette resealed on {read_cassette(path).metadata[RESEALED_KEY][0]['at'][:10]}: {WHY}"
    ran = run_suite("--harness-models=openai:smollm2-135m-instruct-q4_1", "--harness-strategies=zero_shot",
                    "--harness-limit=3", f"--harness-cassette-dir={tmp_path / 'cassettes'}",
                    f"--harness-report-dir={tmp_path / 'reports'}", env={"FPB_DIR": str(fpb_dir)})
    assert ran.returncode == 0, ran
    (row,) = json.loads((tmp_path / "reports" / "fpb-sentiment.json").read_text())["rows"]
    assert row["provenance"].endswith(f"; {caveat}")
    assert f"caveat: openai:smollm2-135m-instruct-q4_1 · zero_shot: {caveat}" in ran.stdout
    markdown = (tmp_path / "reports" / "fpb-sentiment.md").read_text()
    assert f"> caveat: openai:smollm2-135m-instruct-q4_1 · zero_shot: {caveat}" in markdown
    assert re.search(rf"- \*\*openai:smollm2-135m-instruct-q4_1 · zero_shot\*\*: .*; {re.escape(caveat)}", markdown)


# -- python -m harness cassettes: each cassette judged by its own task only ---------------------------------
def _listed(*args: str):
    return run_python("-m", "harness", "cassettes", *args, timeout=120)


def _task_cassette(recorded: Path, root: Path, folder: str, task: str, template: str) -> Path:
    data = json.loads(recorded.read_text())
    metadata = {**copy.deepcopy(data["metadata"]), "task": task, "template_version": template}
    return write_cassette(root / folder / "openai-trust-model" / "zero_shot.json", data["interactions"], metadata)


def test_a_cassette_in_another_tasks_folder_is_not_current(tmp_path, recorded):
    from harness.tasks import get_task

    fpb, tfns = get_task("fpb-sentiment"), get_task("tfns")
    assert fpb.template_version == tfns.template_version  # the two tasks share FPB's prompts: a template says nothing
    _task_cassette(recorded, tmp_path, "tfns", "fpb-sentiment", fpb.template_version)
    listed = _listed("--dir", str(tmp_path))
    assert listed.returncode == 0, listed
    assert "MISPLACED (recorded for task fpb-sentiment, found in task tfns's folder" in listed.stdout
    assert "current" not in listed.stdout and "MISPLACED" in _listed("--dir", str(tmp_path), "--unused").stdout
    _task_cassette(recorded, tmp_path / "own", "tfns", "tfns", tfns.template_version)
    assert _listed("--dir", str(tmp_path / "own")).stdout.rstrip().endswith("\tcurrent")


def test_a_task_named_like_a_built_in_marker_is_not_judged_by_that_task(tmp_path, recorded):
    from harness.tasks import get_task

    # "sentiment" is fpb-sentiment's marker, not a task: a project's own task of that name is not FPB's
    _task_cassette(recorded, tmp_path, "sentiment", "sentiment", get_task("fpb-sentiment").template_version)
    listed = _listed("--dir", str(tmp_path))
    assert listed.returncode == 0 and "task sentiment: not a built-in task, pass --suite FILE" in listed.stdout, listed
    assert "current" not in listed.stdout


def test_a_suite_file_without_a_task_is_an_error_not_ignored(tmp_path, recorded):
    _task_cassette(recorded, tmp_path, "tickets", "tickets", "tickets-v1")
    empty = tmp_path / "test_empty.py"
    empty.write_text("import harness\nLABELS = ('a', 'b')\n")
    listed = _listed("--dir", str(tmp_path), "--suite", str(empty))
    assert listed.returncode == 2 and listed.stdout == "" and "Traceback" not in listed.stderr, listed
    message = listed.stderr
    for part in (f"--suite {empty}", "expected a suite file that declares a task", "got no task", "fix:"):
        assert part in message, message
    ok = _listed("--dir", str(tmp_path), "--suite", str(ROOT / "suites" / "test_qa.py"))  # a built-in task, by marker
    assert ok.returncode == 0 and "not a built-in task" in ok.stdout, ok


def test_two_suites_declaring_one_task_with_two_templates_are_an_error(tmp_path):
    suite = ("from harness.tasks import Task\n"
             "class Tickets(Task):\n"
             "    name, marker, template_version = 'tickets', 'tickets', '{v}'\n"
             "    def load(self, config): ...\n"
             "    def request(self, data, strategy, index): ...\n"
             "    def parse(self, data, index, reply): ...\n"
             "TASK = Tickets()\n")
    for version in ("v1", "v2"):
        (tmp_path / f"test_{version}.py").write_text(suite.format(v=version))
    listed = _listed("--dir", str(tmp_path), "--suite", str(tmp_path / "test_v1.py"), "--suite", str(tmp_path / "test_v2.py"))
    assert listed.returncode == 2 and "task 'tickets' has template v2" in listed.stderr and "fix:" in listed.stderr, listed


# -- a prompt not in the cassette names the option that changed it ---------------------------------------------
@pytest.fixture(scope="module")
def few_shot(tmp_path_factory) -> Path:
    """The root of a few_shot cassette recorded with the default --harness-shots."""
    root = tmp_path_factory.mktemp("few_shot")
    _record(root, _requests("few_shot"))
    return root


def test_more_shots_than_recorded_names_harness_shots_and_the_fix(few_shot):
    _, replies = _replay(few_shot, _requests("few_shot", per_label=3))
    assert all(r.text == "" and r.error for r in replies)
    message = replies[0].error
    for part in ("not in cassette", "expected few-shot prompts with 6 examples (2 per label: recorded with "
                 "--harness-shots 2, the default)", "got 9 (3 per label: this run's --harness-shots 3)",
                 "fix: drop --harness-shots to replay the cassette",
                 f"--harness-models={MODEL} --harness-strategies=few_shot --harness-shots=3 --record-mode=new_episodes"):
        assert part in message, message
    assert [r.error is None for r in _replay(few_shot, _requests("few_shot"))[1]] == [True] * len(SENTENCES)


def test_a_cassette_recorded_with_more_shots_says_to_pass_them(tmp_path):
    _record(tmp_path, _requests("few_shot", per_label=3))
    _, replies = _replay(tmp_path, _requests("few_shot"))
    message = replies[0].error
    assert "recorded with --harness-shots 3" in message and "this run's --harness-shots 2, the default" in message
    assert "fix: pass --harness-shots 3 to replay the cassette" in message, message


def test_another_seed_names_harness_seed(recorded):
    _, replies = _replay(recorded.parents[2], _requests(), seed=7)
    message = replies[0].error
    for part in ("expected requests with the parameters it was recorded with: seed=0 (set by --harness-seed)",
                 "got seed=7", "fix: pass --harness-seed 0 to replay the cassette", "--harness-seed=7 --record-mode"):
        assert part in message, message


def test_a_request_never_recorded_says_so_without_blaming_an_option(recorded):
    other = [Request(Example("x", "Sales fell .", "negative"), render("zero_shot", "Sales fell ."), LABELS)]
    _, (reply,) = _replay(recorded.parents[2], other)
    assert "the prompt changed or was never recorded" in reply.error and "--harness-shots" not in reply.error
    assert "3 other request(s) of this shape" in reply.error and "--record-mode=new_episodes" in reply.error
    message = not_recorded(recorded.parent / "absent.json", {"messages": []})  # no cassette to compare with
    assert message.startswith(f"not in cassette {recorded.parent / 'absent.json'}: the prompt changed")
