"""Sealed cassettes: what is recorded is sealed, and an edited, unsealed, duplicated or secret-bearing cassette
is refused before any answer is replayed; ``python -m harness cassettes --reseal`` seals without changing
an answer; ``python -m harness cassettes`` judges each cassette by its own task's template.

Cassettes here are recorded through the real path (OpenAIChat, vcrpy, the harness's persister) from a real
HTTP server on 127.0.0.1 whose replies are scripted (the model is not the point). Key-shaped values are
assembled at run time, never written as literals.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import Ran, run_python
from harness import HarnessError
from harness.cassettes import (LEGACY_SEAL_KEY, RESEALED_KEY, SEAL_KEY, SEALED_METADATA, cassette_path,
                               interactions_digest, read_cassette, reseal, write_cassette)
from harness.models.base import Request
from harness.models.openai_chat import OpenAIChat
from harness.secrets_scan import REDACTED, redact, scan_paths
from harness.tasks.fpb.data import LABELS, Example
from harness.tasks.fpb.prompts import render

ROOT = Path(__file__).resolve().parent.parent
MODEL, TASK, STRATEGY = "openai:seal-model", "seal-task", "zero_shot"
NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens there: replay needs no server
KEY = "sk" + "-proj-" + "Q7x" * 16  # what a real project key looks like
SENTENCES = ["Sales rose 10 % .", "Profit fell sharply .", "The board met on Tuesday .", "Margins grew .",
             "Output was down 3 % ."]
LEAK = "LEAKY"
WHY = "restored from git: the test's own recording"
"""A sentence holding this makes the server quote the key in its reply, as a careless proxy or model might."""


class _Scripted(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        sentence = body["messages"][-1]["content"]
        answer = "negative" if ("fell" in sentence or "down" in sentence) else "positive"
        if LEAK in sentence:
            answer += f" (debug: Authorization: Bearer {KEY})"
        payload = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"] + "-2026",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 40 + len(sentence), "completion_tokens": 1, "total_tokens": 41 + len(sentence)},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


class _Server:
    def __enter__(self) -> str:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _requests(sentences: list[str] = SENTENCES) -> list[Request]:
    return [Request(Example(f"e{i}", s, "positive"), render(STRATEGY, s), LABELS) for i, s in enumerate(sentences)]


def _model(root: Path, mode: str, url: str) -> OpenAIChat:
    return OpenAIChat(MODEL, task=TASK, template_version="v1", cassette_dir=root, record_mode=mode, base_url=url,
                      concurrency=2, test_fingerprint="sha256:seal-test")


def _path(root: Path) -> Path:
    return cassette_path(root, TASK, MODEL, STRATEGY)


def _record(root: Path, sentences: list[str] = SENTENCES, mode: str = "once") -> list[Any]:
    with pytest.MonkeyPatch.context() as patch, _Server() as url:
        patch.setenv("OPENAI_API_KEY", KEY)
        return _model(root, mode, url).predict(_requests(sentences))


def _replay(root: Path, sentences: list[str] = SENTENCES) -> list[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        return _model(root, "none", NOWHERE).predict(_requests(sentences))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[str, list[Any]]:
    """The text of a cassette recorded through the real path, and the live replies."""
    root = tmp_path_factory.mktemp("recorded")
    live = _record(root)
    return _path(root).read_text(encoding="utf-8"), live


def _place(root: Path, data: dict[str, Any] | str) -> Path:
    path = _path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
    return path


def _body(interaction: dict[str, Any]) -> dict[str, Any]:
    return json.loads(interaction["response"]["body"]["string"])


def _set_body(interaction: dict[str, Any], body: dict[str, Any]) -> None:
    interaction["response"]["body"]["string"] = json.dumps(body)


def _unsealed(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["metadata"].pop(SEAL_KEY)
    return data


# -- recording writes sealed cassettes ---------------------------------------------------------------------
def test_recording_writes_a_sealed_cassette_that_replays(tmp_path, recorded):
    text, live = recorded
    data = json.loads(text)
    seal = data["metadata"][SEAL_KEY]
    assert seal["format"] == 2 and len(seal["interactions"]) == len(SENTENCES) == len(data["interactions"])
    assert {k: seal["metadata"][k] for k in ("task", "model", "strategy", "template_version", "test_fingerprint")} == {
        "task": TASK, "model": MODEL, "strategy": STRATEGY, "template_version": "v1",
        "test_fingerprint": "sha256:seal-test"}
    _place(tmp_path, text)
    assert read_cassette(_path(tmp_path)).interactions == len(SENTENCES)
    replayed = _replay(tmp_path)
    assert [r.text for r in replayed] == [r.text for r in live] == ["positive", "negative", "positive", "positive",
                                                                   "negative"]
    assert [r.input_tokens for r in replayed] == [r.input_tokens for r in live]


def test_new_episodes_and_all_keep_one_sealed_answer_per_request(tmp_path):
    _record(tmp_path, SENTENCES[:2])
    _record(tmp_path, SENTENCES, mode="new_episodes")
    assert read_cassette(_path(tmp_path)).interactions == len(SENTENCES)
    _record(tmp_path, SENTENCES[:3], mode="all")  # re-records 3 requests already stored: no duplicates
    info = read_cassette(_path(tmp_path))
    assert info.interactions == len(SENTENCES) and info.exact_duplicates == 0
    assert [r.text for r in _replay(tmp_path)][:2] == ["positive", "negative"]


def test_record_mode_all_in_chunks_keeps_every_chunk(tmp_path):
    with pytest.MonkeyPatch.context() as patch, _Server() as url:
        patch.setenv("OPENAI_API_KEY", KEY)
        model = _model(tmp_path, "all", url)
        model.predict(_requests(SENTENCES[:2]))  # the benchmark sends a pair in chunks, each its own cassette use
        model.predict(_requests(SENTENCES[2:]))
    assert read_cassette(_path(tmp_path)).interactions == len(SENTENCES)
    assert [r.text for r in _replay(tmp_path)] == ["positive", "negative", "positive", "positive", "negative"]


def test_record_mode_all_records_over_a_cassette_that_fails_its_check(tmp_path, recorded, caplog):
    data = json.loads(recorded[0])
    _set_body(data["interactions"][0], {**_body(data["interactions"][0]), "model": "edited"})
    _place(tmp_path, data)
    with pytest.raises(HarnessError, match="edited after recording"):
        _replay(tmp_path)
    _record(tmp_path, mode="all")  # the fix the message gives
    assert "records it again from scratch" in caplog.text
    assert read_cassette(_path(tmp_path)).interactions == len(SENTENCES)
    assert [r.text for r in _replay(tmp_path)] == [r.text for r in recorded[1]]


# -- every edit is refused: property test ------------------------------------------------------------------
Edit = Callable[[dict[str, Any], st.DataObject], str]
HEX = "0123456789abcdef"


def _index(data: dict[str, Any], draw: st.DataObject) -> int:
    return draw.draw(st.integers(0, len(data["interactions"]) - 1), label="interaction")


def _reply_text(data, draw):
    i = _index(data, draw)
    body = _body(data["interactions"][i])
    old = body["choices"][0]["message"]["content"]
    body["choices"][0]["message"]["content"] = draw.draw(st.text(max_size=12).filter(lambda t: t != old))
    _set_body(data["interactions"][i], body)
    return f"reply text of {i}"


def _token_count(data, draw):
    i = _index(data, draw)
    body = _body(data["interactions"][i])
    field = draw.draw(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]))
    body["usage"][field] = draw.draw(st.integers(0, 10**6).filter(lambda n: n != body["usage"][field]))
    _set_body(data["interactions"][i], body)
    return f"{field} of {i}"


def _served_model(data, draw):
    i = _index(data, draw)
    body = _body(data["interactions"][i])
    body["model"] = draw.draw(st.text(min_size=1, max_size=10).filter(lambda t: t != body["model"]))
    _set_body(data["interactions"][i], body)
    return f"served model of {i}"


def _request_digest(data, draw):
    i = _index(data, draw)
    request = data["interactions"][i]["request"]
    body = json.loads(request["body"])
    old = body["harness_body_sha256"]
    body["harness_body_sha256"] = draw.draw(st.text(HEX, min_size=64, max_size=64).filter(lambda t: t != old))
    request["body"] = json.dumps(body)
    return f"request digest of {i}"


def _status(data, draw):
    i = _index(data, draw)
    data["interactions"][i]["response"]["status"]["code"] = draw.draw(st.sampled_from([201, 202, 204, 206]))
    return f"status of {i}"


def _latency(data, draw):
    i = _index(data, draw)
    headers = data["interactions"][i]["response"]["headers"]
    old = headers["x-harness-latency-s"]
    headers["x-harness-latency-s"] = [draw.draw(st.floats(0, 1e4).map(lambda f: f"{f:.6f}").filter(lambda v: [v] != old))]
    return f"recorded latency of {i}"


def _metadata(data, draw):
    field = draw.draw(st.sampled_from(SEALED_METADATA))
    old = data["metadata"].get(field)
    data["metadata"][field] = draw.draw(st.text(max_size=12).filter(lambda t: t != old))
    return f"metadata {field}"


def _drop(data, draw):
    i = _index(data, draw)
    del data["interactions"][i]
    return f"dropped {i}"


def _duplicate(data, draw):
    i = _index(data, draw)
    at = draw.draw(st.integers(0, len(data["interactions"])))
    data["interactions"].insert(at, copy.deepcopy(data["interactions"][i]))
    return f"duplicated {i} at {at}"


def _conflicting_duplicate(data, draw):
    i = _index(data, draw)
    twin = copy.deepcopy(data["interactions"][i])
    body = _body(twin)
    body["choices"][0]["message"]["content"] = "neutral" if body["choices"][0]["message"]["content"] != "neutral" else "positive"
    _set_body(twin, body)
    data["interactions"].append(twin)
    return f"conflicting copy of {i}"


def _swap(data, draw):
    i = _index(data, draw)
    j = draw.draw(st.integers(0, len(data["interactions"]) - 1).filter(lambda n: n != i))
    items = data["interactions"]
    items[i], items[j] = items[j], items[i]
    return f"swapped {i} and {j}"


def _seal_digest(data, draw):
    seal = data["metadata"].get(SEAL_KEY)
    if seal is None:
        return "no seal to edit"
    where = draw.draw(st.sampled_from(["sha256", "interactions"]))
    if where == "sha256":
        seal["sha256"] = draw.draw(st.text(HEX, min_size=64, max_size=64).filter(lambda t: t != seal["sha256"]))
    else:
        # the seal's own list: an earlier edit may have added interactions the seal does not list
        i = draw.draw(st.integers(0, len(seal["interactions"]) - 1), label="sealed interaction")
        seal["interactions"][i] = draw.draw(st.text(HEX, min_size=64, max_size=64).filter(lambda t: t != seal["interactions"][i]))
    return f"seal {where}"


def _no_seal(data, draw):
    data["metadata"].pop(SEAL_KEY, None)
    return "seal removed"


EDITS: dict[str, Edit] = {f.__name__.strip("_"): f for f in (
    _reply_text, _token_count, _served_model, _request_digest, _status, _latency, _metadata, _drop, _duplicate,
    _conflicting_duplicate, _swap, _seal_digest, _no_seal)}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=3), draw=st.data())
def test_every_edit_of_a_recorded_cassette_is_refused_on_replay(recorded, edits, draw):
    original = json.loads(recorded[0])
    data = copy.deepcopy(original)
    done = [EDITS[name](data, draw) for name in edits]
    assume(data != original)  # two edits that undo each other (swap i, j twice) leave nothing to refuse
    with tempfile.TemporaryDirectory() as folder:
        path = _place(Path(folder), data)
        with pytest.raises(HarnessError) as refused:
            read_cassette(path)
        message = str(refused.value)
        assert str(path) in message, done
        assert "Fix:" in message and ("--record-mode=all" in message or "--reseal" in message), done
        with pytest.raises(HarnessError):  # the real replay path refuses it too: no answer comes back
            _replay(Path(folder))


def test_a_reformatted_cassette_is_not_an_edit(tmp_path, recorded):
    path = _place(tmp_path, json.dumps(json.loads(recorded[0]), sort_keys=True))  # key order and layout only
    assert read_cassette(path).interactions == len(SENTENCES)
    assert [r.text for r in _replay(tmp_path)] == [r.text for r in recorded[1]]


def _edit_reply_2(data):
    _set_body(data["interactions"][2], {**_body(data["interactions"][2]), "usage": {"prompt_tokens": 1}})


def _drop_2(data):
    del data["interactions"][2]


def _copy_0_to_3(data):
    data["interactions"].insert(3, copy.deepcopy(data["interactions"][0]))


def _retemplate(data):
    data["metadata"]["template_version"] = "v2"


def _reseal_by_hand(data):
    data["metadata"][SEAL_KEY]["interactions"][1] = "0" * 64


@pytest.mark.parametrize("edit, expected", [
    (_edit_reply_2, "interaction 2 (request digest"), (_drop_2, "interaction 2 of the 5 sealed was removed"),
    (_copy_0_to_3, "interaction 3 was added after sealing (a copy of interaction 0)"),
    (_retemplate, "metadata field 'template_version' is 'v2', sealed as 'v1'"),
    (_reseal_by_hand, "its seal does not match itself"),
])
def test_the_message_says_what_was_edited(tmp_path, recorded, edit, expected):
    data = json.loads(recorded[0])
    edit(data)
    path = _place(tmp_path, data)
    with pytest.raises(HarnessError, match="edited after recording") as refused:
        read_cassette(path)
    assert expected in str(refused.value)


# -- unsealed, old seal, conflicting duplicates ---------------------------------------------------------------
def test_an_unsealed_cassette_is_refused_with_the_reseal_and_record_commands(tmp_path, recorded):
    path = _place(tmp_path, _unsealed(json.loads(recorded[0])))
    with pytest.raises(HarnessError) as refused:
        read_cassette(path)
    message = str(refused.value)
    assert f"cassette {path}" in message and "not sealed" in message
    assert f"python -m harness cassettes --reseal {path}" in message
    assert f"--harness-models={MODEL} --harness-strategies={STRATEGY} --record-mode=all" in message
    with pytest.raises(HarnessError, match="not sealed"):
        _replay(tmp_path)


def test_a_cassette_with_only_the_old_seal_is_refused_then_resealed(tmp_path, recorded):
    data = _unsealed(json.loads(recorded[0]))
    data["metadata"][LEGACY_SEAL_KEY] = interactions_digest(data["interactions"])
    path = _place(tmp_path, data)
    with pytest.raises(HarnessError, match=f"only the first, optional seal '{LEGACY_SEAL_KEY}'"):
        read_cassette(path)
    result = reseal(path, WHY)
    assert result.changed and "not sealed" in result.before
    assert LEGACY_SEAL_KEY not in read_cassette(path).metadata
    assert [r.text for r in _replay(tmp_path)] == [r.text for r in recorded[1]]


def test_conflicting_duplicates_are_refused_on_replay_and_by_reseal(tmp_path, recorded):
    data = _unsealed(json.loads(recorded[0]))
    twin = copy.deepcopy(data["interactions"][1])
    flipped = "neutral" if _body(twin)["choices"][0]["message"]["content"] != "neutral" else "positive"
    _set_body(twin, {**_body(twin), "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": flipped}}]})
    data["interactions"].append(twin)
    path = _place(tmp_path, data)
    for attempt in (read_cassette, lambda p: reseal(p, WHY)):
        with pytest.raises(HarnessError, match="conflicting duplicates: interactions 1 and 5 are the same request"):
            attempt(path)
    assert json.loads(path.read_text()) == data  # reseal wrote nothing
    with pytest.raises(HarnessError, match="conflicting duplicates"):
        _replay(tmp_path)


def test_reseal_keeps_every_answer_and_collapses_exact_duplicates(tmp_path, recorded):
    original = json.loads(recorded[0])
    data = _unsealed(original)
    data["interactions"].insert(3, copy.deepcopy(data["interactions"][0]))  # an exact duplicate
    path = _place(tmp_path, data)
    result = reseal(path, WHY)
    assert result.changed and result.collapsed == 1 and result.interactions == len(SENTENCES)
    resealed = json.loads(path.read_text())
    assert resealed["interactions"] == original["interactions"]  # byte for byte, in order, the copy removed
    assert {k: v for k, v in resealed["metadata"].items() if k not in (SEAL_KEY, RESEALED_KEY)} == \
        {k: v for k, v in original["metadata"].items() if k != SEAL_KEY}
    assert [r.text for r in _replay(tmp_path)] == [r.text for r in recorded[1]]
    assert str(reseal(path, WHY)).endswith("already sealed, unchanged (5 interactions)")
    assert len(read_cassette(path).metadata[RESEALED_KEY]) == 1  # a reseal that changes nothing records nothing


def test_reseal_round_trip_of_a_shipped_cassette_changes_no_answer(tmp_path):
    shipped = ROOT / "cassettes" / "tatqa" / "openai-smollm2-135m-instruct-q4_1" / "cot.json"
    data = json.loads(shipped.read_text())
    path = tmp_path / "cot.json"
    path.write_text(json.dumps(_unsealed(data), indent=4) + "\n")
    reseal(path, WHY)
    resealed = json.loads(path.read_text())
    assert resealed["interactions"] == data["interactions"]
    record = resealed["metadata"].pop(RESEALED_KEY)
    assert [e["reason"] for e in record] == [WHY]
    seal, shipped_seal = resealed["metadata"].pop(SEAL_KEY), data["metadata"][SEAL_KEY]
    assert resealed["metadata"] == {k: v for k, v in data["metadata"].items() if k != SEAL_KEY}  # nothing else differs
    assert seal["interactions"] == shipped_seal["interactions"] and seal["metadata"].pop(RESEALED_KEY) == record
    assert seal["metadata"] == shipped_seal["metadata"]


def test_every_shipped_cassette_is_sealed():
    shipped = sorted((ROOT / "cassettes").rglob("*.json"))
    assert len(shipped) >= 6
    for path in shipped:
        info = read_cassette(path)
        assert info.metadata[SEAL_KEY]["format"] == 2 and LEGACY_SEAL_KEY not in info.metadata


def _cli(*args: str) -> Ran:
    return run_python("-m", "harness", "cassettes", *args, timeout=120)


def test_the_reseal_command(tmp_path, recorded):
    good = _place(tmp_path / "good", _unsealed(json.loads(recorded[0])))
    first = _cli("--reseal", str(tmp_path / "good"), "--reason", WHY)
    assert first.returncode == 0, first.stderr
    assert f"{good}: sealed (5 interactions); before: it is not sealed" in first.stdout
    assert "already sealed, unchanged" in _cli("--reseal", str(good), "--reason", WHY).stdout
    data = _unsealed(json.loads(recorded[0]))
    data["interactions"].append({**copy.deepcopy(data["interactions"][0]), "response": data["interactions"][1]["response"]})
    bad = _place(tmp_path / "bad", data)
    refused = _cli("--reseal", str(bad), str(tmp_path / "missing"), "--reason", WHY)
    assert refused.returncode == 2 and "conflicting duplicates" in refused.stderr and "not found" in refused.stderr
    assert "Traceback" not in refused.stderr


# -- secrets -----------------------------------------------------------------------------------------------
def test_a_key_planted_in_a_request_header_is_refused_on_replay(tmp_path, recorded):
    data = json.loads(recorded[0])
    data["interactions"][3]["request"]["headers"]["authorization"] = ["Bearer " + KEY]  # headers are not sealed
    path = _place(tmp_path, data)
    with pytest.raises(HarnessError, match="secret") as refused:
        _replay(tmp_path)
    message = str(refused.value)
    assert str(path) in message and "python -m harness scan" in message and KEY not in message and KEY[:12] not in message
    with pytest.raises(HarnessError, match="secret"):
        reseal(path, WHY)  # resealing does not launder a key


def test_a_key_planted_in_a_reply_body_is_refused_on_replay(tmp_path, recorded):
    data = json.loads(recorded[0])
    body = _body(data["interactions"][0])
    body["choices"][0]["message"]["content"] = f"positive {KEY}"
    _set_body(data["interactions"][0], body)
    _place(tmp_path, data)
    with pytest.raises(HarnessError, match="api key"):
        _replay(tmp_path)


def test_a_key_in_a_reply_is_redacted_from_the_prediction_and_never_stored(tmp_path):
    sentences = [f"Sales rose {LEAK} .", "Profit fell ."]
    live = _record(tmp_path, sentences)
    assert KEY not in live[0].text and live[0].text.startswith("positive (debug: Authorization: ")
    assert REDACTED in live[0].text
    text = _path(tmp_path).read_text()
    assert KEY not in text and KEY[:12] not in text
    assert scan_paths([tmp_path]) == ([], 1)  # the stored reply was redacted before it was written
    replayed = _replay(tmp_path, sentences)
    assert [r.text for r in replayed] == [r.text for r in live]


@pytest.mark.parametrize("text, expected", [
    (f"the key is {KEY}.", f"the key is {REDACTED}."),
    ("Authorization: Bearer " + "abcdefgh12345678", f"Authorization: {REDACTED}"),
    ("org" + "-" + "A1" * 12 + " and proj" + "_" + "B2" * 12, f"{REDACTED} and {REDACTED}"),
    ("Set-Cookie: session=" + "c5" * 10 + "; Path=/", f"{REDACTED}; Path=/"),
])
def test_redact_replaces_key_like_strings(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", ["positive", "negative", "risk-free rate sk-short", "org-chart", "", "Bearer"])
def test_redact_leaves_ordinary_replies_alone(text):
    assert redact(text) is text


# -- python -m harness cassettes: each cassette judged by its own task ----------------------------------------
def test_the_tatqa_cassettes_are_current():
    from harness.tasks import get_task

    listed = _cli("--dir", str(ROOT / "cassettes" / "tatqa"))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.endswith("\tcurrent") for line in lines), listed.stdout
    assert get_task("tatqa").template_version == read_cassette(
        ROOT / "cassettes" / "tatqa" / "openai-smollm2-135m-instruct-q4_1" / "cot.json").metadata["template_version"]
    assert _cli("--dir", str(ROOT / "cassettes" / "tatqa"), "--unused").stdout == ""


def _own_task_cassette(root: Path, recorded_text: str, task: str, template: str) -> Path:
    data = _unsealed(json.loads(recorded_text))
    data["metadata"].update(task=task, template_version=template)
    return write_cassette(root / task / "openai-seal-model" / "zero_shot.json", data["interactions"], data["metadata"])


def test_a_task_that_is_not_built_in_is_never_called_stale(tmp_path, recorded):
    _own_task_cassette(tmp_path, recorded[0], "tickets-triage", "tickets-v3")
    listed = _cli("--dir", str(tmp_path))
    assert listed.returncode == 0
    assert "task tickets-triage: not a built-in task, pass --suite FILE" in listed.stdout and "STALE" not in listed.stdout
    assert _cli("--dir", str(tmp_path), "--unused").stdout == ""
    suite = tmp_path / "test_tickets.py"
    suite.write_text("from harness.tasks import Task\n"
                     "class Tickets(Task):\n"
                     "    name, marker, template_version = 'tickets-triage', 'tickets', 'tickets-v3'\n"
                     "    def load(self, config): ...\n"
                     "    def request(self, data, strategy, index): ...\n"
                     "    def parse(self, data, index, reply): ...\n"
                     "TASK = Tickets()\n")
    assert _cli("--dir", str(tmp_path), "--suite", str(suite)).stdout.rstrip().endswith("\tcurrent")
    suite.write_text(suite.read_text().replace("tickets-v3", "tickets-v4"))
    stale = _cli("--dir", str(tmp_path), "--suite", str(suite), "--unused")
    assert "STALE (task tickets-triage: template tickets-v3, now tickets-v4)" in stale.stdout


def test_the_listing_marks_a_refused_cassette_and_exits_1(tmp_path, recorded):
    shutil.copytree(ROOT / "cassettes" / "tatqa", tmp_path / "tatqa")
    _place(tmp_path, _unsealed(json.loads(recorded[0])))
    listed = _cli("--dir", str(tmp_path))
    assert listed.returncode == 1 and "REFUSED" in listed.stdout and "--reseal" in listed.stdout
    assert listed.stdout.count("\tcurrent") == 3 and "Traceback" not in listed.stderr


def test_the_seal_check_is_cached_by_content_not_by_path_alone(tmp_path, recorded):
    path = _place(tmp_path, recorded[0])
    assert read_cassette(path).interactions == len(SENTENCES)
    data = json.loads(recorded[0])
    _set_body(data["interactions"][0], {**_body(data["interactions"][0]), "created": 2})
    _place(tmp_path, data)  # same path, same size class, new content: checked again, refused
    os.utime(path, (0, 0))
    with pytest.raises(HarnessError, match="edited after recording"):
        read_cassette(path)


def test_a_pipe_where_a_cassette_should_be_is_an_error_not_a_hang(tmp_path):
    path = _path(tmp_path)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(HarnessError, match="expected a regular file"):
        read_cassette(path)
    with pytest.raises(HarnessError, match="expected a regular file"):
        reseal(path, WHY)
    with pytest.raises(HarnessError, match="expected a regular file"):
        _replay(tmp_path)
