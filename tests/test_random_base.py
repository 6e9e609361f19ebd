"""Random-weight models of a real shape (speed and memory only): written by ``python -m finetune random-base``,
trained on like any base, and refused by the harness as a quality row (an F1 from random weights is no result)."""

import json
import os
import subprocess
import sys

from harness.example import Example
from harness.models import ModelContext, unavailable
from harness.models.random_base import NOTE, random_weights
from test_classification_task import LABELS, rows, write_csv

SUITE = ("from harness import ClassificationTask\nTASK = ClassificationTask(name='rbtask', data='data.csv', text='body', "
         f"label='team', labels={LABELS!r}, instruction='Route it.', seed=1)\n")


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "finetune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_MLFLOW": "off"})


def test_a_random_base_trains_but_is_never_scored(tmp_path):
    out = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert random_weights(tmp_path / "tiny")["shape"] == "tiny"
    again = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny"), cwd=tmp_path)
    assert again.returncode == 2 and "is not empty" in again.stderr
    # another tokenizer, e.g. where SmolLM2's GGUF is not installed: the written folder's own one will do
    mine = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny2"), "--tokenizer", str(tmp_path / "tiny"),
                cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr[-2000:]
    assert (tmp_path / "tiny2" / "tokenizer.json").read_bytes() == (tmp_path / "tiny" / "tokenizer.json").read_bytes()
    missing = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny3"), "--tokenizer", str(tmp_path / "no"),
                   cwd=tmp_path)
    assert missing.returncode == 2 and f"--tokenizer={tmp_path / 'no'}: expected a folder" in missing.stderr

    write_csv(tmp_path / "data.csv", rows())
    (tmp_path / "test_rbtask.py").write_text(SUITE)
    trained = _run("test_rbtask.py", "--base", str(tmp_path / "tiny"), "--max-steps", "1", "--batch-size", "2",
                   "--val-fraction", "0", "--output-dir", "adapters/rb", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    card = json.loads((tmp_path / "adapters" / "rb" / "adapter_card.json").read_text())
    assert card["random_weights"] is True and card["note"] == NOTE

    ctx = ModelContext(train=(), test=(Example("x", "y", "billing"),), seed=1, task="rbtask",
                       template_version=card["template_version"], adapters_dir=tmp_path / "adapters")
    assert NOTE in unavailable("adapter:rb", ctx) and "not a result" in unavailable("adapter:rb", ctx)
    assert NOTE in unavailable(f"hf:{tmp_path / 'tiny'}", ctx)
