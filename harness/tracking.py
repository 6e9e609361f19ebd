"""Log benchmark runs and fine-tuning jobs to MLflow, the experiment tracker a team already runs.

Optional: ``pip install 'finetune-or-prompt[mlflow]'`` (``mlflow-skinny`` plus SQLAlchemy and Alembic for
MLflow's local SQLite store). MLflow is imported only when something is logged.

Where runs go: ``$MLFLOW_TRACKING_URI`` when set (a team's tracking server, ``http://host:5000``, or any
store MLflow accepts), else a local store beside the reports: ``sqlite:///<report dir>/mlflow.db`` with
artifacts under ``<report dir>/mlruns/``. Since MLflow 3.7 a SQLite database is MLflow's own default local
backend; the ``./mlruns`` file store is in maintenance mode and refused unless ``MLFLOW_ALLOW_FILE_STORE``
is set. The experiment is ``$MLFLOW_EXPERIMENT_NAME`` when set, else the task's name (``fpb-sentiment``
for runs, ``fpb-sentiment-finetune`` for fine-tuning jobs).

What each run holds (parameters, metrics, tags from a report) is :mod:`harness.tracking_fields`.

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
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.tracking_fields import comparison_metrics, leaderboard_note, metric_key, row_metrics, run_params

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
    p = [Param(metric_key(k), _str(v)) for k, v in params.items()]  # a None parameter is "null" (e.g. no --limit)
    t = [RunTag(k, _str(v, 7000)) for k, v in tags.items() if v is not None]
    m = [Metric(metric_key(k), n, now, 0) for k, v in metrics.items() if (n := _number(v)) is not None]
    m += [Metric(metric_key(k), n, now, step) for k, v, step in steps if (n := _number(v)) is not None]
    for i in range(0, max(len(p), len(t), len(m), 1), 100):  # MLflow takes at most 100 params and tags a batch
        client.log_batch(run_id, metrics=m[i:i + 100], params=p[i:i + 100], tags=t[i:i + 100])


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
        MLFLOW_RUN_NOTE: leaderboard_note(report),
    }
    parent = client.create_run(experiment_id, run_name=run_name or f"{report['task']} {report.get('created_at', '')}".strip())
    parent_id = parent.info.run_id
    children: list[str] = []
    try:
        _log(client, parent_id, params=run_params(report), tags=tags,
             metrics={"rows": len(report.get("rows", [])), "mde.n": (report.get("mde") or {}).get("n")})
        for key in RUN_ARTIFACTS:
            if key in paths and Path(paths[key]).is_file():
                client.log_artifact(parent_id, str(paths[key]), artifact_path="report")
        for row in report.get("rows", []):
            row_name = f"{row['model']} · {row['strategy']}"
            child = client.create_run(experiment_id, run_name=row_name, tags={MLFLOW_PARENT_RUN_ID: parent_id})
            children.append(child.info.run_id)
            metrics, vs_tags = comparison_metrics(report, row_name)
            pareto = row.get("pareto") or {}
            _log(client, child.info.run_id,
                 params={"model": row["model"], "strategy": row["strategy"], "task": report.get("task"),
                         "template_version": report.get("template_version"),
                         "split.seed": (report.get("split") or {}).get("seed"),
                         "split.test_fingerprint": (report.get("split") or {}).get("test_fingerprint"),
                         "latency.source": (row.get("latency") or {}).get("source"),
                         "batch_size": (row.get("latency") or {}).get("batch_size"),
                         "cost.basis": (row.get("cost") or {}).get("basis"), "provenance": row.get("provenance")},
                 metrics=row_metrics(row) | metrics,
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
