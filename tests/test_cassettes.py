"""Record and replay through a real HTTP server on 127.0.0.1 (a scripted one: the model is not the point)."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import HarnessError
from harness.cassettes import DIGEST_KEY, canonical_digest, cassette_path, private_body, read_cassette
from harness.tasks.fpb.data import LABELS, Example
from harness.models import ModelContext, unavailable
from harness.models.base import Request
from harness.models.openai_chat import OpenAIChat
from harness.tasks.fpb.prompts import render

ROOT = Path(__file__).resolve().parent.parent
FAKE_KEY = "sk-" + "test" + "A" * 24  # built at run time, so no key-shaped literal sits in the repo
SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"Bearer\s+[A-Za-z0-9._-]{8,}", re.IGNORECASE),
    re.compile(r'"(authorization|api-key|cookie|set-cookie|openai-organization|openai-project)"', re.IGNORECASE),
    re.compile(r"\borg-[A-Za-z0-9]{16,}"),
    re.compile(r"\bproj_[A-Za-z0-9]{16,}"),
]


class _Scripted(BaseHTTPRequestHandler):
    calls: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).calls.append({"body": body, "auth": self.headers.get("authorization")})
        sentence = body["messages"][-1]["content"]
        answer = "negative" if "fell" in sentence else "positive"
        payload = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"] + "-2026-01-01",
            "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("set-cookie", "session=abc123secretcookie")
        self.send_header("openai-organization", "org-AAAAAAAAAAAAAAAAAAAAAAAA")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Scripted.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


EXAMPLES = [Example(f"e{i}", text, label) for i, (text, label) in enumerate([
    ("Sales rose 10 % .", "positive"), ("Profit fell sharply .", "negative"), ("Margins rose .", "positive"),
])]


def _requests(strategy="zero_shot"):
    return [Request(e, render(strategy, e.text), LABELS) for e in EXAMPLES]


def _model(tmp_path, mode, base_url, **kw):
    return OpenAIChat("openai:gpt-4o-mini", task="t", template_version="v1", cassette_dir=tmp_path, record_mode=mode,
                      base_url=base_url, concurrency=2, **kw)


def test_record_then_replay_without_server_or_key(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    live = _model(tmp_path, "once", server).predict(_requests())
    assert [r.text for r in live] == ["positive", "negative", "positive"]
    assert all(r.latency_source == "live" for r in live)
    assert _Scripted.calls[0]["auth"] == f"Bearer {FAKE_KEY}"
    path = cassette_path(tmp_path, "t", "openai:gpt-4o-mini", "zero_shot")
    text = path.read_text()
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), pattern.pattern
    assert "Sales rose" not in text and "financial analyst" not in text  # prompts stored as digests only
    assert read_cassette(path).metadata["template_version"] == "v1"

    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = _model(tmp_path, "none", "http://127.0.0.1:9/v1").predict(_requests())  # nothing listens there
    assert [r.text for r in replayed] == [r.text for r in live]
    assert all(r.latency_source.startswith("recorded 20") for r in replayed)
    assert all(r.latency_s is not None and r.latency_s > 0 for r in replayed)
    assert replayed[0].input_tokens == 40 and replayed[0].extra["served_model"] == "gpt-4o-mini-2026-01-01"
    assert len(_Scripted.calls) == 3


def test_a_prompt_that_was_not_recorded_is_an_error_not_an_answer(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    _model(tmp_path, "once", server).predict(_requests()[:1])
    other = [Request(EXAMPLES[1], render("zero_shot", "An unrelated sentence ."), LABELS)]
    reply = _model(tmp_path, "none", server).predict(other)[0]
    assert reply.text == "" and "not in cassette" in reply.error and "never recorded" in reply.error
    assert "--harness-models=openai:gpt-4o-mini --harness-strategies=zero_shot --record-mode=new_episodes" in reply.error
    assert len(_Scripted.calls) == 1


def test_once_records_every_chunk_of_a_new_pair(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    model = _model(tmp_path, "once", server)
    model.predict(_requests()[:2])
    model.predict(_requests()[2:])
    assert read_cassette(cassette_path(tmp_path, "t", "openai:gpt-4o-mini", "zero_shot")).interactions == 3


def test_plain_prompts_are_opt_in(tmp_path, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    _model(tmp_path, "once", server, keep_prompts=True).predict(_requests()[:1])
    assert "Sales rose" in cassette_path(tmp_path, "t", "openai:gpt-4o-mini", "zero_shot").read_text()


def test_recording_without_a_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(HarnessError, match="OPENAI_API_KEY is not set"):
        _model(tmp_path, "once", "http://127.0.0.1:9/v1")


@pytest.mark.parametrize("content", ["{not json", '{"interactions": 3}', '{"interactions": [{"request": {}}]}'])
def test_corrupted_cassettes_are_clear_errors(tmp_path, content):
    path = cassette_path(tmp_path, "t", "openai:gpt-4o-mini", "zero_shot")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(HarnessError, match="re-record"):
        read_cassette(path)
    with pytest.raises(HarnessError, match="re-record"):
        _model(tmp_path, "none", "http://127.0.0.1:9/v1").predict(_requests()[:1])


def _ctx(tmp_path, **kw):
    return ModelContext(train=(), test=tuple(EXAMPLES), seed=1, task="t", template_version="v2", cassette_dir=tmp_path,
                        **kw)


def test_missing_stale_and_other_split_cassettes_are_reported(tmp_path, server, monkeypatch):
    reason = unavailable("openai:gpt-4o", _ctx(tmp_path), "zero_shot")
    assert reason.startswith("not recorded") and "--harness-models=openai:gpt-4o --record-mode=once" in reason
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    from harness.splits import fingerprint

    OpenAIChat("openai:gpt-4o", task="t", template_version="v1", cassette_dir=tmp_path, record_mode="once",
               base_url=server, test_fingerprint=fingerprint(EXAMPLES)).predict(_requests()[:1])
    assert unavailable("openai:gpt-4o", _ctx(tmp_path), "zero_shot").startswith("stale")
    assert unavailable("openai:gpt-4o", _ctx(tmp_path, record_mode="all"), "zero_shot") is None
    other = ModelContext(train=(), test=tuple(EXAMPLES[:2]), seed=1, task="t", template_version="v1", cassette_dir=tmp_path)
    assert "another test split" in unavailable("openai:gpt-4o", other, "zero_shot")


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_digest_ignores_key_order(body):
    forward = json.dumps(body)
    backward = json.dumps(dict(reversed(list(body.items()))))
    assert canonical_digest(forward) == canonical_digest(backward)


def test_private_body_keeps_parameters_and_the_digest_only():
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "secret deal"}], "max_tokens": 8})
    stored = json.loads(private_body(body))
    assert stored == {"model": "m", "max_tokens": 8, "n_messages": 1, DIGEST_KEY: canonical_digest(body)}
    assert canonical_digest(json.dumps(stored)) == canonical_digest(body)


def test_no_secrets_in_shipped_cassettes_or_reports():
    files = [p for folder in ("cassettes", "reports") for p in (ROOT / folder).rglob("*") if p.is_file()]
    found = [(str(p.relative_to(ROOT)), pattern.pattern) for p in files
             for pattern in SECRET_PATTERNS if pattern.search(p.read_text(errors="ignore"))]
    assert found == []
