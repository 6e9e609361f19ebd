"""A team's own project, as a new user would set it up: the harness installed from a built wheel into a fresh
virtual environment outside this checkout, a labelled CSV of the test's own making (support tickets, not FPB
text), a ten-line suite declaring the task, an ``openai:`` model recorded from a real OpenAI-compatible server
on 127.0.0.1 and replayed with the server gone, an adapter trained with ``python -m finetune`` on that task
and evaluated as one more row; the replay passes without pytest-recording, with it installed, and with ``-n 2``.

The fresh environment gets the wheel with ``--no-deps``; its dependencies (torch, transformers, ...) come from
this environment's site-packages through a ``.pth`` line, so the test needs no multi-GB download. The package
itself, its entry point and its data files come from the wheel only: the checkout is never on its path.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT
from test_server_integration import SERVED, serving_smollm2

pytestmark = [pytest.mark.server, pytest.mark.slow]
TASK = "tickets"
LABELS = ("billing", "outage", "feature")
SUITE = '''import pytest

from harness import ClassificationTask

TASK = ClassificationTask(
    name="tickets", data="data/tickets.csv", text="body", label="team", labels=["billing", "outage", "feature"],
    instruction="Route the customer support ticket to the team that handles it.", text_name="Ticket", seed=3,
)
pytestmark = pytest.mark.harness_task(TASK)


def test_tickets(harness_case):
    assert harness_case["error"] is None, harness_case["error"]
'''


def write_tickets(path: Path, n_per_template: int = 4) -> int:
    """Generated support tickets (three teams); no row repeats another's text."""
    rng = random.Random(11)
    products = ["router", "mobile app", "web dashboard", "invoice portal", "desktop client", "sync service"]
    months = ["January", "March", "May", "July", "September", "November"]
    templates = {
        "billing": ["I was charged twice for my {p} subscription in {m}.", "The {m} invoice for the {p} is wrong.",
                    "Please refund the {p} fee you took in {m}; I had cancelled."],
        "outage": ["The {p} has been down since {m} and nothing loads.", "Since the {m} update the {p} crashes.",
                   "Nobody on our team can log in to the {p} since {m}."],
        "feature": ["Could the {p} export reports to spreadsheets? We asked in {m}.",
                    "Please add dark mode to the {p}; still missing in {m}.",
                    "We would like the {p} to show usage per user, a request from {m}."],
    }
    rows = [(t.format(p=p, m=months[i % len(months)]), label) for label, ts in templates.items() for t in ts
            for i, p in enumerate(rng.sample(products, n_per_template))]
    rng.shuffle(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "team"])
        writer.writerows(rows)
    return len(rows)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return out


def _ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with this project's wheel (not editable), its dependencies from ours."""
    base = tmp_path_factory.mktemp("fresh")
    wheels = base / "wheels"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
              str(ROOT)], ROOT, dict(os.environ)))
    (wheel,) = wheels.glob("finetune_or_prompt-*.whl")
    env_dir = base / "venv"
    _ok(_run([sys.executable, "-m", "venv", str(env_dir)], base, dict(os.environ)))
    python = env_dir / "bin" / "python"
    site = Path(_ok(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base,
                         dict(os.environ))).strip())
    (site / "dependencies_from_the_test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _ok(_run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], base, dict(os.environ)))
    return env_dir


@pytest.fixture(scope="module")
def project(tmp_path_factory, venv) -> Path:
    folder = tmp_path_factory.mktemp("their_repo")
    write_tickets(folder / "data" / "tickets.csv")
    (folder / "suites").mkdir()
    (folder / "suites" / "test_tickets.py").write_text(SUITE)
    (folder / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FPB_DIR", "OPENAI_BASE_URL", "OPENAI_API_KEY")}
    return {**env, "HF_HUB_OFFLINE": "1", "HARNESS_MLFLOW": "off", **extra}


def _pytest(venv: Path, project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return _run([str(venv / "bin" / "python"), "-m", "pytest", "suites", "-p", "no:cacheprovider", *args], project,
                env or _env())


MODELS = f"--harness-models=tfidf-logreg,smollm2-135m,openai:{SERVED}"
COMMON = ("--harness-strategies=supervised,zero_shot", "--harness-bootstrap=200", "--harness-api-concurrency=1")


def _no_recording_plugin(venv: Path) -> tuple[str, ...]:
    """Arguments that make sure pytest-recording is not in the run (it may be installed beside us)."""
    probe = _run([str(venv / "bin" / "python"), "-c", "import pytest_recording"], venv, _env())
    return ("-p", "no:recording") if probe.returncode == 0 else ()


@pytest.fixture(scope="module")
def recorded(project, venv, tmp_path_factory):
    """Their suite run once against the live local server (--record-mode=once), then the server stopped."""
    with serving_smollm2(tmp_path_factory.mktemp("serve")) as (url, _process):
        out = _pytest(venv, project, MODELS, *COMMON, "--record-mode=once", *_no_recording_plugin(venv),
                      env=_env(OPENAI_BASE_URL=url, OPENAI_API_KEY="local-server"))
    return _ok(out)


def test_the_wheel_is_what_runs(venv, project):
    out = _ok(_run([str(venv / "bin" / "python"), "-c", "import harness, finetune; print(harness.__file__); "
                    "print(finetune.__file__)"], project, _env()))
    assert str(ROOT) not in out and "site-packages" in out


def test_their_suite_records_and_writes_reports_under_their_root(recorded, project):
    assert "tickets leaderboard" in recorded
    report = json.loads((project / "reports" / f"{TASK}.json").read_text())
    rows = {(r["model"], r["strategy"]): r for r in report["rows"]}
    assert set(rows) == {("tfidf-logreg", "supervised"), ("smollm2-135m", "zero_shot"), (f"openai:{SERVED}", "zero_shot")}
    assert report["items"]["labels"] == list(LABELS)
    assert all(r["n"] == report["split"]["n_test"] for r in rows.values())
    assert report["split"]["method"].startswith("stratified") and report["split"]["seed"] == 3
    cassette = project / "cassettes" / TASK / f"openai-{SERVED}" / "zero_shot.json"
    meta = json.loads(cassette.read_text())["metadata"]
    assert meta["task"] == TASK and meta["template_version"].startswith(f"{TASK}-")
    assert (project / "reports" / f"{TASK}.html").is_file() and (project / "reports" / "summary.md").is_file()
    assert list((project / "reports" / "runs").glob("*.json"))


@pytest.fixture(scope="module")
def adapter(recorded, project, venv) -> Path:
    """A few-step adapter trained on their task by ``python -m finetune <their suite file>``."""
    out = _run([str(venv / "bin" / "python"), "-m", "finetune", "suites/test_tickets.py", "--max-steps", "2",
                "--batch-size", "2", "--val-fraction", "0", "--mlflow", "off"], project, _env(), timeout=900)
    _ok(out)
    return project / "adapters" / f"{TASK}-smollm2-135m"


def test_finetune_trains_their_task_and_never_overwrites(adapter, project, venv):
    card = json.loads((adapter / "adapter_card.json").read_text())
    report = json.loads((project / "reports" / f"{TASK}.json").read_text())
    assert card["task"] == TASK and card["steps"] == 2
    assert card["template_version"] == report["template_version"]  # the trained prompt is the evaluated prompt
    assert card["train_example_ids"] and not set(card["train_example_ids"]) & set(report["items"]["ids"])
    again = _run([str(venv / "bin" / "python"), "-m", "finetune", "suites/test_tickets.py", "--max-steps", "1"],
                 project, _env())
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert json.loads((adapter / "adapter_card.json").read_text()) == card


@pytest.mark.parametrize("variant", ["plain", "pytest-recording", "xdist"])
def test_replay_with_the_adapter_row(variant, adapter, project, venv):
    if variant == "pytest-recording" and importlib.util.find_spec("pytest_recording") is None:
        _ok(_run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", "pytest-recording"],
                 project, _env()))
    extra = {"plain": _no_recording_plugin(venv), "pytest-recording": (), "xdist": ("-n", "2")}[variant]
    report_dir = project / f"reports-{variant}"
    out = _ok(_pytest(venv, project, MODELS + f",adapter:{TASK}-smollm2-135m", *COMMON, *extra,
                      f"--harness-report-dir={report_dir}", env=_env(OPENAI_API_KEY="")))
    if variant == "pytest-recording":  # its --record-mode is the one in use: both plugins in one session
        assert "VCR.py record mode" in _ok(_pytest(venv, project, "--help"))
    report = json.loads((report_dir / f"{TASK}.json").read_text())
    rows = {(r["model"], r["strategy"]): r for r in report["rows"]}
    assert (f"adapter:{TASK}-smollm2-135m", "zero_shot") in rows and (f"openai:{SERVED}", "zero_shot") in rows
    assert rows[(f"openai:{SERVED}", "zero_shot")]["latency"]["source"].startswith("recorded")
    assert not report.get("partial")
    assert {c["b"] for c in report["comparisons"] if c["a"] == f"adapter:{TASK}-smollm2-135m · zero_shot"} == {
        "tfidf-logreg · supervised", "smollm2-135m · zero_shot", f"openai:{SERVED} · zero_shot"}
    assert "tickets leaderboard" in out
