"""Named endpoints: declared in pyproject.toml or on the command line, refused clearly before any case when wrong,
and one run calling several of them, each with its own key, price and cassettes (real HTTP servers on 127.0.0.1)."""

import contextlib
import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import HarnessError, endpoints
from harness.cassettes import cassette_path, read_cassette
from harness.models import ModelContext, build
from harness.models.base import Request
from harness.tasks.fpb.data import LABELS, Example
from harness.tasks import get_task
from harness.tasks.fpb.prompts import render
from tests.conftest import clear, refused

EXAMPLES = [Example(f"e{i}", text, label) for i, (text, label) in enumerate([
    ("Sales rose 10 % .", "positive"), ("Profit fell sharply .", "negative"), ("Margins were flat .", "neutral"),
])]


def _pyproject(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


# -- declaring ------------------------------------------------------------------------------------------------

def test_endpoints_come_from_pyproject_and_the_command_line(tmp_path):
    root = _pyproject(tmp_path, """
[tool.finetune-or-prompt.endpoints.groq]
base_url = "https://api.groq.com/openai/v1/"
key_env = "GROQ_API_KEY"
input_per_mtok = 0.05
output_per_mtok = 0.08
concurrency = 8

[tool.finetune-or-prompt.endpoints.local-vllm]
start = "vllm"
base_model = "smollm2-135m"
usd_per_hour = 1.5
""")
    found = endpoints.load(root, ["tserve=http://127.0.0.1:8000/v1,key_env=TSERVE_KEY"])
    groq, local, tserve = (found.by_name[n] for n in ("groq", "local-vllm", "tserve"))
    assert groq.base_url == "https://api.groq.com/openai/v1" and groq.key_env == "GROQ_API_KEY"
    assert groq.concurrency == 8 and groq.price.per_call(1_000_000, 1_000_000, None, 1) == pytest.approx(0.13)
    assert local.start == "vllm" and local.base_url is None and local.base_model == "smollm2-135m"
    assert local.price.per_call(None, None, 7.2, 2) == pytest.approx(1.5 * 7.2 / 3600 / 2)
    assert tserve.base_url == "http://127.0.0.1:8000/v1" and tserve.declared_in.startswith("--harness-endpoint")


def test_a_model_name_splits_at_its_last_at_sign():
    assert endpoints.split("gpt-4o@groq") == ("gpt-4o", "groq")
    assert endpoints.split("org/model@v2@local") == ("org/model@v2", "local")
    assert endpoints.split("gpt-4o") == ("gpt-4o", None)
    assert endpoints.split("fpb@merged-bf16") == ("fpb@merged-bf16", None)  # a GPU variant, not an endpoint


@pytest.mark.parametrize("option, words", [
    ("local", ("expected NAME=URL",)),
    ("local=ftp://host/v1", ("not an http(s) URL with a host", "ftp://host/v1")),
    ("local=http://127.0.0.1:99999/v1", ("bad port",)),
    ("local=http://127.0.0.1:8000/v1,key_env=sk-abcdefghijklmnop", ("the NAME of an environment variable",
                                                                    "never the key itself")),
    ("local=http://127.0.0.1:8000/v1,colour=red", ("unknown keys ['colour']",)),
    ("local=http://127.0.0.1:8000/v1,usd_per_hour=2,input_per_mtok=1", ("not both",)),
    ("local=http://127.0.0.1:8000/v1,input_per_mtok=1", ("both input_per_mtok and output_per_mtok",)),
    ("local=http://127.0.0.1:8000/v1,usd_per_hour=-1", ("usd_per_hour", "0 or more")),
    ("local=http://127.0.0.1:8000/v1,concurrency=0", ("at least 1",)),
    ("merged-bf16=http://127.0.0.1:8000/v1", ("endpoint name 'merged-bf16'",)),
    ("local=llamacpp", ("not an http(s) URL",)),
])
def test_a_bad_declaration_is_refused_with_what_was_expected(tmp_path, option, words):
    refused(lambda: endpoints.load(tmp_path, [option]), *words)


def test_a_name_declared_twice_is_refused(tmp_path):
    root = _pyproject(tmp_path, '[tool.finetune-or-prompt.endpoints.local]\nbase_url = "http://127.0.0.1:1/v1"\n')
    refused(lambda: endpoints.load(root, ["local=http://127.0.0.1:2/v1"]), "already declared in", "pyproject.toml")


def test_an_unknown_endpoint_names_the_declared_ones_and_how_to_declare_it(tmp_path):
    found = endpoints.load(tmp_path, ["a=http://127.0.0.1:1/v1"])
    refused(lambda: found.get("b", "openai:m@b"), "openai:m@b: unknown endpoint 'b'", "declared endpoints: ['a']",
            "[tool.finetune-or-prompt.endpoints.b]", "--harness-endpoint b=")


# -- calling several ------------------------------------------------------------------------------------------

class _Chat(BaseHTTPRequestHandler):
    """A chat-completions server on 127.0.0.1: subclasses say what a request is answered with
    (``completion(body)``); every body and its authorization header is kept in ``seen`` (one list per class)."""

    seen: list = []

    def completion(self, body: dict) -> dict:
        raise NotImplementedError

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append({"body": body, "auth": self.headers.get("authorization")})
        payload = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
                              **self.completion(body)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serving(handler: type[_Chat]):
    """``handler`` serving on a free port of 127.0.0.1: yields its base URL."""
    handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Answering(_Chat):
    """Answers every chat completion with ``answer``."""

    answer = "neutral"

    def completion(self, body: dict) -> dict:
        return {"choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": self.answer}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102}}


@pytest.fixture
def two_servers():
    with contextlib.ExitStack() as stack:
        handlers = [type(f"Answers{answer}", (_Answering,), {"answer": answer}) for answer in ("positive", "negative")]
        yield [(stack.enter_context(_serving(handler)), handler) for handler in handlers]


def _context(tmp_path, mode, declared, models):
    return ModelContext(train=(), test=tuple(EXAMPLES), seed=0, task="t", template_version="v1",
                        cassette_dir=tmp_path / "cassettes", record_mode=mode, endpoints=endpoints.load(tmp_path, declared))


def _requests():
    return [Request(e, render("zero_shot", e.text), LABELS) for e in EXAMPLES]


def test_one_run_calls_two_endpoints_each_with_its_key_price_and_cassettes(tmp_path, two_servers, monkeypatch):
    (a_url, a), (b_url, b) = two_servers
    monkeypatch.setenv("A_KEY", "key-for-endpoint-a")
    monkeypatch.setenv("B_KEY", "key-for-endpoint-b")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    declared = [f"a={a_url},key_env=A_KEY,input_per_mtok=1,output_per_mtok=2", f"b={b_url},key_env=B_KEY"]
    models = ["openai:same-model@a", "openai:same-model@b"]
    ctx = _context(tmp_path, "once", declared, models)
    live = {name: build(name, ctx).predict(_requests()) for name in models}
    assert [r.text for r in live["openai:same-model@a"]] == ["positive"] * 3
    assert [r.text for r in live["openai:same-model@b"]] == ["negative"] * 3
    assert {c["auth"] for c in a.seen} == {"Bearer key-for-endpoint-a"}
    assert {c["auth"] for c in b.seen} == {"Bearer key-for-endpoint-b"}
    assert {c["body"]["model"] for c in a.seen + b.seen} == {"same-model"}  # the endpoint is not sent as the model
    assert live["openai:same-model@a"][0].extra["cost_usd"] == pytest.approx((100 * 1 + 2 * 2) / 1e6)
    assert live["openai:same-model@b"][0].extra["cost_usd"] is None  # no declared price: unknown, never the table's

    paths = {name: cassette_path(tmp_path / "cassettes", "t", name, "zero_shot") for name in models}
    assert len(set(paths.values())) == 2 and all(p.is_file() for p in paths.values())
    assert read_cassette(paths["openai:same-model@a"]).metadata["endpoint"] == f"a at {a_url}"

    for var in ("A_KEY", "B_KEY"):  # replay needs neither server nor key
        monkeypatch.delenv(var)
    ctx = _context(tmp_path, "none", ["a=http://127.0.0.1:9/v1", "b=http://127.0.0.1:9/v1"], models)
    replayed = {name: [r.text for r in build(name, ctx).predict(_requests())] for name in models}
    assert replayed == {name: [r.text for r in replies] for name, replies in live.items()}
    assert len(a.seen) == len(b.seen) == 3


def test_recording_without_the_endpoints_key_variable_is_refused_before_a_call(tmp_path, two_servers, monkeypatch):
    (a_url, a), _ = two_servers
    monkeypatch.delenv("A_KEY", raising=False)
    ctx = _context(tmp_path, "once", [f"a={a_url},key_env=A_KEY"], ["openai:m@a"])
    refused(lambda: build("openai:m@a", ctx), "endpoint 'a'", "got $A_KEY not set", "export A_KEY=")
    assert a.seen == []


def test_a_model_at_an_undeclared_endpoint_is_refused_before_any_case(tmp_path):
    from harness.benchmark import Benchmark, BenchmarkConfig
    from tests.conftest import write_synthetic_fpb

    data = write_synthetic_fpb(tmp_path / "fpb")
    config = BenchmarkConfig(data_dir=str(data), models=["tfidf-logreg", "openai:gpt-4o@nowhere"], root=str(tmp_path),
                             endpoints=("somewhere=http://127.0.0.1:1/v1",))
    with pytest.raises(HarnessError) as raised:
        Benchmark(config)
    clear(raised.value, "openai:gpt-4o@nowhere: unknown endpoint 'nowhere'", "declared endpoints: ['somewhere']")


# -- a served adapter ------------------------------------------------------------------------------------------

class _BiasHonouring(_Chat):
    """Answers one token: the biased token that this scripted 'model' prefers (the last one), with logprobs."""

    def completion(self, body: dict) -> dict:
        biased = sorted(body.get("logit_bias") or {}, key=int)
        token = type(self).decode(int(biased[-1])) if biased else "I think it is neutral"
        top = [{"token": type(self).decode(int(t)), "logprob": -0.1 * n} for n, t in enumerate(reversed(biased))]
        return {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": token},
                             "logprobs": {"content": [{"token": token, "logprob": 0.0, "top_logprobs": top}]}}],
                "usage": {"prompt_tokens": 80, "completion_tokens": 1, "total_tokens": 81}}


def test_a_served_adapter_asks_for_the_local_decision_rule_and_keeps_its_card(tmp_path, smollm2):
    from harness.models.served_adapter import LABEL_BIAS

    tokenizer = smollm2.tokenizer
    _BiasHonouring.decode = staticmethod(lambda token: tokenizer.decode([token]))
    with _serving(_BiasHonouring) as url:
        root = Path(__file__).resolve().parent.parent
        name = "adapter:fpb-sentiment-smollm2-135m@engine"
        ctx = ModelContext(train=(), test=tuple(EXAMPLES), seed=0, task="fpb-sentiment", template_version="v1",
                           cassette_dir=tmp_path, record_mode="all", adapters_dir=root / "adapters",
                           endpoints=endpoints.load(tmp_path, [f"engine={url}"]))
        with pytest.raises(HarnessError, match="trained on prompt template .* the prompts are now v1"):
            build(name, ctx)  # served, the card is still checked
        model = build(name, replace(ctx, template_version=get_task("fpb-sentiment").template_version))
        replies = model.predict(_requests())
    firsts = {tokenizer.encode(label, add_special_tokens=False)[0]: label for label in LABELS}
    body = _BiasHonouring.seen[0]["body"]
    assert body["model"] == "fpb-sentiment-smollm2-135m"  # the LoRA module's name on the server: the folder's
    assert body["max_tokens"] == 1 and body["logprobs"] is True and body["temperature"] == 0
    assert body["logit_bias"] == {str(t): LABEL_BIAS for t in sorted(firsts)}
    preferred = firsts[max(firsts)]
    assert [r.text for r in replies] == [preferred] * 3 and replies[0].scores[preferred] == 0.0
    assert model.kind == "api" and "LoRA r=" in model.provenance and "train examples" in model.provenance
    assert "served as 'fpb-sentiment-smollm2-135m' at endpoint engine" in model.provenance

    replayed = build(name, replace(ctx, record_mode="none", template_version=get_task("fpb-sentiment").template_version))
    again = replayed.predict(_requests())  # the server is gone
    assert [(r.text, r.error) for r in again] == [(r.text, None) for r in replies]


def test_a_started_endpoint_serves_one_base_and_says_which_when_it_cannot(tmp_path):
    from harness.serving.started import base_of

    root = Path(__file__).resolve().parent.parent / "adapters"
    adapters = {"a": root / "fpb-sentiment-smollm2-135m", "b": root / "tfns-sentiment-smollm2-135m"}
    started = endpoints.load(tmp_path, ["e=vllm"]).by_name["e"]
    assert base_of(started, adapters) == "smollm2-135m"
    refused(lambda: base_of(started, {}), "endpoint 'e'", "no adapter row and no base_model", "base_model =")
    other = endpoints.load(tmp_path, ["e=vllm,base_model=hf:other"]).by_name["e"]
    refused(lambda: base_of(other, adapters), "adapters trained on ['smollm2-135m']", "endpoint of their own base")
