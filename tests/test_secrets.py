"""Secrets: the scanner finds every kind of credential, finds none in what is committed, and API keys never
reach error messages or logs. Key-shaped values are built here at run time, never written as literals."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import ROOT, Ran, run_python
from faultserver import FaultServer
from harness.tasks.fpb.data import LABELS, Example
from harness.models.base import Request
from harness.models.openai_chat import OpenAIChat
from harness.tasks.fpb.prompts import render
from harness.secrets_scan import PATTERNS, REDACTED, Finding, _mask, redact, scan_paths, scan_text


def _value(seed: str, n: int) -> str:
    return (seed * n)[:n]


SECRET_VALUES = {  # the part of each planted secret that must never be printed
    "api key": _value("a1", 32), "project api key": _value("Zx9", 48), "bearer token": _value("t0k", 24),
    "organization id": _value("O7", 24), "project id": _value("P3", 24), "cookie": _value("c5", 20),
    "cassette cookie header": _value("cf", 30), "cassette auth header": _value("Ba", 20),
}


def _planted() -> dict[str, str]:
    """One value of every kind, assembled from parts so that no key-shaped literal sits in the repository."""
    v = SECRET_VALUES
    return {
        "api key": "sk" + "-" + v["api key"],
        "project api key": "sk" + "-proj-" + v["project api key"],
        "bearer token": "Authorization: " + "Bear" + "er " + v["bearer token"],
        "organization id": "org" + "-" + v["organization id"],
        "project id": "proj" + "_" + v["project id"],
        "cookie": "Set-Cookie" + ": session=" + v["cookie"] + "; Path=/; HttpOnly",
        "cassette cookie header": json.dumps({"set-cookie": ["__cf_bm=" + v["cassette cookie header"]]}),
        "cassette auth header": json.dumps({"authorization": ["Basic " + v["cassette auth header"]]}),
    }


EXPECTED_KIND = {"api key": "api key", "project api key": "api key", "bearer token": "bearer token",
                 "organization id": "organization id", "project id": "project id", "cookie": "cookie",
                 "cassette cookie header": "secret header", "cassette auth header": "secret header"}
CONTAINERS = {
    "log line": "2026-11-22 12:00:00 INFO request failed: SECRET\n",
    "cassette json": json.dumps({"interactions": [{"response": {"body": {"string": "SECRET"}}}]}, indent=2) + "\n",
    "csv cell": 'model,reply\nopenai:m,"the reply quoted SECRET back"\n',
    "markdown": "# report\n\n> note: SECRET\n",
}


@pytest.mark.parametrize("container", list(CONTAINERS), ids=list(CONTAINERS))
@pytest.mark.parametrize("kind", list(EXPECTED_KIND), ids=list(EXPECTED_KIND))
def test_every_kind_is_found_in_every_kind_of_file(tmp_path, kind, container):
    secret = _planted()[kind]
    text = CONTAINERS[container].replace("SECRET", secret if container != "cassette json" else secret.replace('"', '\\"'))
    path = tmp_path / "planted.txt"
    path.write_text(text)
    findings, files = scan_paths([tmp_path])
    assert files == 1
    assert EXPECTED_KIND[kind] in {f.kind for f in findings}, (text, findings)
    expected_line = next(i for i, line in enumerate(text.splitlines(), 1) if SECRET_VALUES[kind][:8] in line)
    assert expected_line in {f.line for f in findings if f.kind == EXPECTED_KIND[kind]}
    for finding in findings:  # the report of a secret never repeats it
        assert SECRET_VALUES[kind] not in str(finding) and SECRET_VALUES[kind][:8] not in str(finding)


@pytest.mark.parametrize("text", [
    "replay-dummy-key-not-a-secret", "Authorization: Bearer <redacted>", "task-based sk-short", "org-chart",
    "proj_name = 3", "cookies and the cookie jar", "risk-free rate", "ask-price sk-", "Bearer",
])
def test_lookalikes_are_not_secrets(text):
    assert scan_text(text) == []


def test_committed_cassettes_and_reports_hold_no_secrets():
    tracked = subprocess.run(["git", "ls-files", "cassettes", "reports"], cwd=ROOT, capture_output=True, text=True)
    paths = [ROOT / p for p in tracked.stdout.split()] or [ROOT / "cassettes"]
    findings, files = scan_paths(paths)
    assert files >= 3 and findings == []


def _cli(*paths: str) -> Ran:
    return run_python("-m", "harness", "scan", *paths)


def test_scan_command(tmp_path):
    clean = _cli("cassettes")
    assert clean.returncode == 0 and "0 secret(s)" in clean.stdout
    (tmp_path / "leak.log").write_text("\n".join(_planted().values()))
    found = _cli(str(tmp_path))
    assert found.returncode == 1
    kinds_by_line = {}
    for line in found.stdout.splitlines():
        number, kind = line.split(":")[1:3]
        kinds_by_line.setdefault(int(number), set()).add(kind.strip())
    assert {line: EXPECTED_KIND[kind] in kinds_by_line.get(line, set())
            for line, kind in enumerate(_planted(), 1)} == {line: True for line in range(1, len(_planted()) + 1)}
    assert not any(value in found.stdout + found.stderr for value in SECRET_VALUES.values())
    missing = _cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_the_ci_script_scans_cassettes_before_the_tests():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("python -m harness scan cassettes") < script.index("pytest tests")


@pytest.mark.parametrize("fault", ["401", "reset", "500", "html"])
def test_the_key_never_reaches_errors_logs_or_cassettes(tmp_path, monkeypatch, caplog, fault):
    key = _planted()["project api key"]  # what a real project key looks like
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    example = Example("e", "Sales rose MARK .", "positive")
    with FaultServer({"MARK": [fault]}) as server:
        model = OpenAIChat("openai:m", task="t", template_version="v1", cassette_dir=tmp_path, record_mode="once",
                           base_url=server.url, max_retries=1, timeout_s=2)
        (reply,) = model.predict([Request(example, render("zero_shot", example.text), LABELS)])
        assert server.requests[0]["authorization"] == f"Bearer {key}"  # it was sent...
    assert reply.error
    assert key not in reply.error and key[:-4] not in reply.error  # ...but is not in the error
    assert key not in caplog.text and key[:12] not in caplog.text
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert key not in path.read_text()
    assert scan_paths([tmp_path])[0] == []


@pytest.mark.parametrize("container", list(CONTAINERS), ids=list(CONTAINERS))
@pytest.mark.parametrize("kind", list(EXPECTED_KIND), ids=list(EXPECTED_KIND))
def test_redact_removes_every_kind_from_every_kind_of_text(kind, container):
    secret = _planted()[kind]
    text = CONTAINERS[container].replace("SECRET", secret if container != "cassette json" else secret.replace('"', '\\"'))
    cleaned = redact(text)
    assert REDACTED in cleaned and SECRET_VALUES[kind] not in cleaned and SECRET_VALUES[kind][:8] not in cleaned
    assert scan_text(cleaned) == []
    assert redact(cleaned) == cleaned


def _full_scan(text: str) -> list[Finding]:
    """Every pattern over the whole text, without the trigger pre-check."""
    found = [Finding(Path("<text>"), text.count("\n", 0, m.start()) + 1, kind, _mask(m.group(0).strip()))
             for kind, pattern in PATTERNS.items() for m in pattern.finditer(text)]
    return sorted(found, key=lambda f: (f.line, f.kind))


@given(st.lists(st.sampled_from(["sk-", "sk-proj-", "Bearer ", "BEARER\t", "org-", "proj_", "Set-Cookie: a=",
                                 "cookie=", "__cf_bm=", "__Host-x=", '"authorization": ', "'API-KEY':", "\n", " ",
                                 "a1", "Zx9Q", "-_", "\u212a", "\u017f", "COO", "kie"]), max_size=30))
def test_the_trigger_precheck_finds_what_a_full_scan_finds(parts):
    text = "".join(parts)
    assert scan_text(text) == _full_scan(text)
