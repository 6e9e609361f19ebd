"""Log benchmark runs and fine-tuning jobs to MLflow, the experiment tracker a team already runs.

Optional: ``pip install 'finetune-or-prompt[mlflow]'`` (``mlflow-skinny`` plus SQLAlchemy and Alembic for
MLflow's local SQLite store). MLflow is imported only when something is logged.

Where runs go: ``$MLFLOW_TRACKING_URI`` when set (a team's tracking server, ``http://host:5000``, or any
store MLflow accepts), else a local store beside the reports: ``sqlite:///<report dir>/mlflow.db`` with
artifacts under ``<report dir>/mlruns/``. Since MLflow 3.7 a SQLite database is MLflow's own default local
backend; the ``./mlruns`` file store is in maintenance mode and refused unless ``MLFLOW_ALLOW_FILE_STORE``
is set. The experiment is ``$MLFLOW_EXPERIMENT_NAME`` when set, else the task's name (``fpb-sentiment``
for runs, ``fpb-sentiment-finetune`` for fine-tuning jobs).

A benchmark run is one parent run (parameters, tags, the report files as artifacts) with one child run per
leaderboard row (the row's metrics, with the bounds of their 95 % CIs), so MLflow's run table compares rows
and the same row across runs. A fine-tuning job is one run: the adapter card's parameters and metrics, the
card as an artifact.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError

MODES = ("auto", "off", "on")
MODE_ENV = "HARNESS_MLFLOW"
"""Default of ``--harness-mlflow`` / ``python -m finetune --mlflow`` (tests set it to ``off``)."""
INSTALL = "pip install 'finetune-or-prompt[mlflow]'"
STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlruns"
FINETUNE_SUFFIX = "-finetune"

# What a run logs as artifacts, from the report's paths. Not the predictions CSV: it is the whole labelled
# test split of Financial PhraseBank (CC BY-NC-SA) with every raw reply, i.e. a copy of the licensed data on
# whatever server the team points MLFLOW_TRACKING_URI at; its per-item content without the text is in the
# JSON's "items" (label codes keyed by example id). The HTML does hold the sentences that some row got wrong
# (its error browser) and is logged because it is the decision report: the run is tagged
# harness.artifacts_hold_fpb_text=true so a shared server's admins can find it.
RUN_ARTIFACTS = ("json", "markdown", "html", "summary")
ADAPTER_ARTIFACTS = ("adapter_card.json", "adapter_config.json", "README.md")
"""Logged from an adapter folder; the weights only with ``log_weights=True``."""
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def mode(value: str) -> str:
    """``argparse`` type of the ``auto`` / ``off`` / ``on`` switch: ``on`` without MLflow is an error now,
    at the start of the run, not after it."""
    if value not in MODES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(MODES)} (the option or ${MODE_ENV}); got {value!r}")
    if value == "on" and not available():
        raise argparse.ArgumentTypeError(f"MLflow logging was asked for (on) but mlflow is not installed: {INSTALL}")
    return value


def available() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def enabled(value: str) -> bool:
    return value == "on" or (value == "auto" and available())


def default_mode() -> str:
    return os.environ.get(MODE_ENV) or "auto"


@dataclass(frozen=True)
class Logged:
    """Where a run landed: for the terminal line and for tests."""

    tracking_uri: str
    experiment: str
    run_id: str
    children: tuple[str, ...] = ()

    def line(self, what: str = "run") -> str:
        rows = f" (+{len(self.children)} row runs)" if self.children else ""
        return f"mlflow: {what} logged to {shown(self.tracking_uri)}, experiment {self.experiment!r}, run {self.run_id}{rows}"


def tracking_uri(store_dir: Path) -> str:
    """``$MLFLOW_TRACKING_URI``, else the local SQLite store in ``store_dir``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(store_dir) / STORE_FILE).resolve()}"


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise HarnessError(f"MLflow logging needs mlflow: {INSTALL} ({exc})") from None
    if urllib.parse.urlsplit(uri).scheme == "sqlite" and importlib.util.find_spec("sqlalchemy") is None:
        raise HarnessError(f"MLflow's local store {uri} needs SQLAlchemy and Alembic: {INSTALL}, or set "
                           "MLFLOW_TRACKING_URI to a tracking server")
    _check_reachable(uri)
    return MlflowClient(tracking_uri=uri)


def _check_reachable(uri: str, timeout: float = 5.0) -> None:
    """One quick request before logging to a server: the MLflow client retries a refused connection for
    about 4 minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 with backoff), too long to learn that a server is down.
    Any HTTP answer, even an error status, means something listens; MLflow's own retries then apply."""
    if not uri.startswith(("http://", "https://")):
        return
    parts = urllib.parse.urlsplit(uri)
    probe = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path.rstrip('/')}/health"  # no credentials
    try:
        urllib.request.urlopen(probe, timeout=timeout).close()  # noqa: S310 (the user's own server)
    except (urllib.error.HTTPError, http.client.HTTPException, ValueError):  # an answer, or a URI urllib can't
        return  # open: MLflow decides
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HarnessError(f"tracking server {shown(uri)} is not reachable ({reason})") from None


def shown(uri: str) -> str:
    """The URI without a user or password (``postgresql://user:secret@host/db``) for the terminal."""
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _experiment_id(client: Any, name: str, store_dir: Path | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = None
    if store_dir is not None and not os.environ.get("MLFLOW_TRACKING_URI"):
        artifacts = (Path(store_dir) / ARTIFACTS_DIR).resolve().as_uri()  # beside the store, not in the cwd
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except Exception:  # another run created it in between
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


_KEY = re.compile(r"[^A-Za-z0-9_.\-]+")


def _key(text: str) -> str:
    """A metric or parameter key MLflow accepts on every platform (no ':', '/', '·' or spaces)."""
    return _KEY.sub("_", text).strip("_.")[:200] or "_"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: not a measurement


def _str(value: Any, limit: int = 5000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log(client: Any, run_id: str, *, params: Mapping[str, Any] = {}, metrics: Mapping[str, Any] = {},
         tags: Mapping[str, Any] = {}, steps: Sequence[tuple[str, float, int]] = ()) -> None:
    """Parameters, tags and metrics in batches of MLflow's limits. A metric or tag that is None is skipped
    (unknown is not zero), and so is a metric that is not a number."""
    import time

    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    p = [Param(_key(k), _str(v)) for k, v in params.items()]  # a None parameter is "null" (e.g. no --limit)
    t = [RunTag(k, _str(v, 7000)) for k, v in tags.items() if v is not None]
    m = [Metric(_key(k), n, now, 0) for k, v in metrics.items() if (n := _number(v)) is not None]
    m += [Metric(_key(k), n, now, step) for k, v, step in steps if (n := _number(v)) is not None]
    for i in range(0, max(len(p), len(t), len(m), 1), 100):  # MLflow takes at most 100 params and tags a batch
        client.log_batch(run_id, metrics=m[i:i + 100], params=p[i:i + 100], tags=t[i:i + 100])


def _run_params(report: Mapping[str, Any]) -> dict[str, Any]:
    data, split = report.get("data", {}), report.get("split", {})
    econ = report.get("economics") or {}
    params = {
        "task": report.get("task"), "task_version": report.get("task_version"),
        "template_version": report.get("template_version"), "schema_version": report.get("schema_version"),
        "git_sha": report.get("git_sha"),
        "data.source": data.get("source"), "data.file": data.get("file"), "data.file_sha256": data.get("file_sha256"),
        "data.agreement": data.get("agreement"), "data.examples": data.get("examples"),
        "data.is_sample": data.get("is_sample"),
        "split.method": split.get("method"), "split.seed": split.get("seed"), "split.n_train": split.get("n_train"),
        "split.n_test": split.get("n_test"), "split.n_evaluated": split.get("n_evaluated"),
        "split.limit": split.get("limit"), "split.test_fingerprint": split.get("test_fingerprint"),
        "models": ",".join(report.get("models") or []),
        "rows": ",".join(f"{r['model']} · {r['strategy']}" for r in report.get("rows", [])),
        "few_shot_examples": ",".join(report.get("few_shot_examples") or []),
        "record_mode": report.get("record_mode"), "bootstrap_resamples": report.get("bootstrap_resamples"),
        "prices.as_of": (report.get("prices") or {}).get("as_of"),
        "machine": (econ.get("machine") or {}).get("name"),
        "machine.dollars_per_hour": (econ.get("machine") or {}).get("dollars_per_hour"),
        "monthly_volume": econ.get("monthly_volume"), "python": report.get("python"),
    }
    params.update({f"package.{k}": v for k, v in (report.get("packages") or {}).items()})
    return params


def _row_metrics(row: Mapping[str, Any]) -> dict[str, Any]:
    lat, cost, tokens = row.get("latency") or {}, row.get("cost") or {}, row.get("tokens") or {}
    f1_low, f1_high = row.get("weighted_f1_ci95") or (None, None)
    acc_low, acc_high = row.get("accuracy_ci95") or (None, None)
    n = row.get("n") or 0
    metrics = {
        "n": n, "expected": row.get("expected"),
        "weighted_f1": row.get("weighted_f1"), "weighted_f1_ci95_low": f1_low, "weighted_f1_ci95_high": f1_high,
        "accuracy": row.get("accuracy"), "accuracy_ci95_low": acc_low, "accuracy_ci95_high": acc_high,
        "macro_f1": row.get("macro_f1"), "weighted_precision": row.get("weighted_precision"),
        "weighted_recall": row.get("weighted_recall"),
        "parse_failures": row.get("parse_failures"), "errors": row.get("errors"),
        "parse_failure_rate": row["parse_failures"] / n if n and row.get("parse_failures") is not None else None,
        "latency_p50_s": lat.get("p50_s"), "latency_p95_s": lat.get("p95_s"), "latency_batch1_s": lat.get("batch1_s"),
        "throughput_per_s": lat.get("throughput_per_s"),
        "cost_per_call_usd": cost.get("per_call_usd"), "cost_per_1k_usd": cost.get("per_1k_usd"),
        "cost_total_usd": cost.get("total_usd"),
        # API rows only: a local row has no billed tokens, and 0 would read as a measurement
        "tokens_input": tokens.get("input") or None, "tokens_output": tokens.get("output") or None,
    }
    for key in ("em", "f1"):  # a question-answering row (TAT-QA): exact match and numeracy-aware F1
        if row.get(key) is not None:
            low, high = row.get(f"{key}_ci95") or (None, None)
            metrics |= {key: row[key], f"{key}_ci95_low": low, f"{key}_ci95_high": high}
    if row.get("scale_accuracy") is not None:
        metrics["scale_accuracy"] = row["scale_accuracy"]
    for kind, group in (row.get("per_type") or {}).items():
        metrics |= {f"{kind}.{name}": group.get(name) for name in ("n", "em", "f1")}
    for label, scores in (row.get("per_class") or {}).items():
        for name in ("precision", "recall", "f1", "support"):
            metrics[f"{label}.{name}"] = scores.get(name)
    return metrics


def _comparison_metrics(report: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fine-tuned row's paired comparisons and economics against every other row, keyed by that row."""
    metrics, tags = {}, {}
    for c in report.get("comparisons") or []:
        if c.get("a") != name:
            continue
        other = _key(c["b"])
        low, high = c.get("f1_difference_ci95") or (None, None)
        metrics |= {f"vs.{other}.f1_difference": c.get("f1_difference"), f"vs.{other}.f1_difference_ci95_low": low,
                    f"vs.{other}.f1_difference_ci95_high": high, f"vs.{other}.mcnemar_p": c.get("mcnemar_p"),
                    f"vs.{other}.p_holm": c.get("p_holm")}
        tags[f"harness.vs.{other}"] = str(c.get("verdict", "")).upper()
    for v in (report.get("economics") or {}).get("versus") or []:
        if v.get("a") == name:
            other = _key(v["b"])
            metrics |= {f"vs.{other}.break_even_requests": v.get("break_even_requests"),
                        f"vs.{other}.payback_months": v.get("payback_months"),
                        f"vs.{other}.latency_ratio": v.get("latency_ratio"), f"vs.{other}.cost_ratio": v.get("cost_ratio")}
    return metrics, tags


def _leaderboard_note(report: Mapping[str, Any]) -> str | None:
    from harness import report as report_mod

    try:
        lines = [f"> {line}" for line in report_mod.header_lines(report)]
        return "\n".join(lines + [""] + report_mod.markdown_table(report_mod.leaderboard(report)))
    except (KeyError, TypeError, ValueError):  # a report from another schema: the artifacts still say it all
        return None


def log_run(report: Mapping[str, Any], paths: Mapping[str, Path], *, store_dir: Path,
            run_name: str | None = None, experiment: str | None = None) -> Logged:
    """Log one benchmark run: a parent run with the run's parameters, tags and report files, and one child
    run per leaderboard row with its metrics. Raises on any failure (the caller keeps the report)."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

    uri = tracking_uri(store_dir)
    client = _client(uri)
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or report["task"]
    experiment_id = _experiment_id(client, name, store_dir)
    partial = list(report.get("partial") or [])
    tags = {
        "harness.kind": "benchmark", "harness.partial": str(bool(partial)).lower(),
        "harness.partial_rows": ", ".join(partial) or None,
        "harness.sample_data": str(bool((report.get("data") or {}).get("is_sample"))).lower(),
        "harness.notice": report.get("notice"),
        "harness.not_run": "; ".join(f"{k}: {v}" for k, v in (report.get("unavailable") or {}).items()) or None,
        "harness.created_at": report.get("created_at"),
        "harness.artifacts_hold_fpb_text": str("html" in paths).lower(),
        MLFLOW_GIT_COMMIT: report.get("git_sha"),
        MLFLOW_RUN_NOTE: _leaderboard_note(report),
    }
    parent = client.create_run(experiment_id, run_name=run_name or f"{report['task']} {report.get('created_at', '')}".strip())
    parent_id = parent.info.run_id
    children: list[str] = []
    try:
        _log(client, parent_id, params=_run_params(report), tags=tags,
             metrics={"rows": len(report.get("rows", [])), "mde.n": (report.get("mde") or {}).get("n")})
        for key in RUN_ARTIFACTS:
            if key in paths and Path(paths[key]).is_file():
                client.log_artifact(parent_id, str(paths[key]), artifact_path="report")
        for row in report.get("rows", []):
            row_name = f"{row['model']} · {row['strategy']}"
            child = client.create_run(experiment_id, run_name=row_name, tags={MLFLOW_PARENT_RUN_ID: parent_id})
            children.append(child.info.run_id)
            metrics, vs_tags = _comparison_metrics(report, row_name)
            pareto = row.get("pareto") or {}
            _log(client, child.info.run_id,
                 params={"model": row["model"], "strategy": row["strategy"], "task": report.get("task"),
                         "template_version": report.get("template_version"),
                         "split.seed": (report.get("split") or {}).get("seed"),
                         "split.test_fingerprint": (report.get("split") or {}).get("test_fingerprint"),
                         "latency.source": (row.get("latency") or {}).get("source"),
                         "batch_size": (row.get("latency") or {}).get("batch_size"),
                         "cost.basis": (row.get("cost") or {}).get("basis"), "provenance": row.get("provenance")},
                 metrics=_row_metrics(row) | metrics,
                 tags={"harness.kind": "benchmark-row", "harness.partial": str(row_name in partial).lower(),
                       "harness.cost_note": (row.get("cost") or {}).get("note"),
                       "harness.pareto.cost": pareto.get("cost"), "harness.pareto.latency": pareto.get("latency"),
                       MLFLOW_GIT_COMMIT: report.get("git_sha"), **vs_tags})
            client.set_terminated(child.info.run_id, "FINISHED")
    except BaseException:
        for run_id in children + [parent_id]:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # the store is what failed: nothing more to do here
                pass
        raise
    client.set_terminated(parent_id, "FINISHED")
    return Logged(uri, name, parent_id, tuple(children))


def log_finetune(card: Mapping[str, Any], adapter_dir: Path, *, store_dir: Path, log_weights: bool = False,
                 run_name: str | None = None, experiment: str | None = None) -> Logged:
    """Log one fine-tuning job from its adapter card: parameters, metrics (validation loss at each evaluation,
    tokens/s, wall time, $), the card and the adapter's config as artifacts; the weights only when asked."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

    uri = tracking_uri(store_dir)
    client = _client(uri)
    task = card.get("task") or "finetune"
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"{task}{FINETUNE_SUFFIX}"
    experiment_id = _experiment_id(client, name, store_dir)
    adapter_dir = Path(adapter_dir)
    params = {k: card.get(k) for k in (
        "card_version", "base_model", "base_weights", "base_sha256", "task", "task_version", "template_version",
        "train_examples", "validation_examples", "train_data_sha256", "test_fingerprint", "data_source",
        "label_source", "split_seed", "split_method", "backend", "device", "shared_prefix_tokens", "group_by_length",
        "eval_every_used", "dollars_per_hour", "peak_memory_kind", "command")}
    params |= {f"hp.{k}": v for k, v in (card.get("hyperparameters") or {}).items()}
    for nested in ("teacher", "refit_of"):  # a distilled run's teacher; a refit's validated source run
        params |= {f"{nested}.{k}": v for k, v in (card.get(nested) or {}).items() if not isinstance(v, (list, dict))}
    params["adapter_dir"] = str(adapter_dir.resolve())
    metrics = {k: card.get(k) for k in (
        "steps", "epochs_run", "wall_seconds", "train_tokens_per_second", "peak_memory_gib", "gpu_hours",
        "machine_hours", "cost_usd", "loss_first", "loss_last", "best_eval_loss")}
    every = card.get("eval_every_used") or (card.get("hyperparameters") or {}).get("eval_every") or 1
    steps = [("eval_loss", loss, every * (i + 1)) for i, loss in enumerate(card.get("eval_losses") or [])]
    run = client.create_run(experiment_id, run_name=run_name or f"{adapter_dir.name} {card.get('created_at', '')}".strip())
    run_id = run.info.run_id
    try:
        _log(client, run_id, params=params, metrics=metrics, steps=steps,
             tags={"harness.kind": "finetune", "harness.created_at": card.get("created_at"),
                   MLFLOW_GIT_COMMIT: card.get("git_sha")})
        names = ADAPTER_ARTIFACTS + (WEIGHTS if log_weights else ())
        for file in names:
            if (adapter_dir / file).is_file():
                client.log_artifact(run_id, str(adapter_dir / file), artifact_path="adapter")
        if not (adapter_dir / ADAPTER_ARTIFACTS[0]).is_file():  # a card that was never written to the folder
            client.log_dict(run_id, dict(card), f"adapter/{ADAPTER_ARTIFACTS[0]}")
    except BaseException:
        try:
            client.set_terminated(run_id, "FAILED")
        except Exception:
            pass
        raise
    client.set_terminated(run_id, "FINISHED")
    return Logged(uri, name, run_id)


def _safely(what: str, call: Any) -> str:
    try:
        logged = call()
    except Exception as exc:  # a tracking failure never loses the report or the adapter
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (f"WARNING: MLflow logging of this {what} failed, nothing was lost locally: {type(exc).__name__}: "
                f"{message[:400]}")
    return logged.line(what)


def track_run(switch: str, report: Mapping[str, Any], paths: Mapping[str, Path], *, store_dir: Path) -> str | None:
    """The plugin's entry point: log the run when the switch says so; a line for the terminal (the run's
    place, or a warning when logging failed), None when logging is off."""
    if not enabled(switch):
        return None
    run_path = paths.get("run")
    return _safely("run", lambda: log_run(report, paths, store_dir=store_dir,
                                          run_name=Path(run_path).stem if run_path else None))


def track_finetune(switch: str, card: Mapping[str, Any], adapter_dir: Path, *, store_dir: Path) -> str | None:
    """``python -m finetune``'s entry point, like :func:`track_run`."""
    if not enabled(switch):
        return None
    return _safely("fine-tuning job", lambda: log_finetune(card, adapter_dir, store_dir=store_dir))
