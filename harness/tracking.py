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
from harness.models.card import AdapterCard
from harness.report.run import Report, RunReport
from harness.tracking_fields import (card_of, comparison_metrics, finetune_metrics, finetune_params, finetune_steps,
                                     leaderboard_note, metric_key, part, row_metrics, run_params, stated)

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


def log_run(report: Report, paths: Mapping[str, Path], *, store_dir: Path,
            run_name: str | None = None, experiment: str | None = None) -> Logged:
    """Log one benchmark run: a parent run with the run's parameters, tags and report files, and one child
    run per leaderboard row with its metrics. Raises on any failure (the caller keeps the report)."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

    report = RunReport.of(report)
    known = stated(report)
    uri = tracking_uri(store_dir)
    client = _client(uri)
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or report.task
    experiment_id = _experiment_id(client, name, store_dir)
    partial = report.partial_rows
    tags = {
        "harness.kind": "benchmark", "harness.partial": str(bool(partial)).lower(),
        "harness.partial_rows": ", ".join(partial) or None,
        "harness.sample_data": str(bool(part(known.data).is_sample)).lower(),
        "harness.notice": report.notice,
        "harness.not_run": "; ".join(f"{k}: {v}" for k, v in report.unavailable.items()) or None,
        "harness.created_at": known.created_at,
        "harness.artifacts_hold_fpb_text": str("html" in paths).lower(),
        MLFLOW_GIT_COMMIT: report.git_sha,
        MLFLOW_RUN_NOTE: leaderboard_note(report),
    }
    parent = client.create_run(experiment_id, run_name=run_name or f"{report.task} {report.created_at}".strip())
    parent_id = parent.info.run_id
    children: list[str] = []
    split = part(known.split)
    try:
        _log(client, parent_id, params=run_params(report), tags=tags,
             metrics={"rows": len(report.rows), "mde.n": part(known.mde).n})
        for key in RUN_ARTIFACTS:
            if key in paths and Path(paths[key]).is_file():
                client.log_artifact(parent_id, str(paths[key]), artifact_path="report")
        for row in report.rows:
            child = client.create_run(experiment_id, run_name=row.name, tags={MLFLOW_PARENT_RUN_ID: parent_id})
            children.append(child.info.run_id)
            metrics, vs_tags = comparison_metrics(report, row.name)
            shown_row = stated(row)
            latency, cost, pareto = part(shown_row.latency), part(shown_row.cost), part(shown_row.pareto)
            _log(client, child.info.run_id,
                 params={"model": row.model, "strategy": row.strategy, "task": known.task,
                         "template_version": known.template_version, "split.seed": split.seed,
                         "split.test_fingerprint": split.test_fingerprint, "latency.source": latency.source,
                         "batch_size": latency.batch_size, "cost.basis": cost.basis, "provenance": shown_row.provenance},
                 metrics=row_metrics(row) | metrics,
                 tags={"harness.kind": "benchmark-row", "harness.partial": str(row.name in partial).lower(),
                       "harness.cost_note": cost.note, "harness.pareto.cost": pareto.cost,
                       "harness.pareto.latency": pareto.latency, MLFLOW_GIT_COMMIT: report.git_sha, **vs_tags})
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


def log_finetune(card: AdapterCard | Mapping[str, Any], adapter_dir: Path, *, store_dir: Path,
                 log_weights: bool = False, run_name: str | None = None, experiment: str | None = None) -> Logged:
    """Log one fine-tuning job from its adapter card: parameters, metrics (validation loss at each evaluation,
    tokens/s, wall time, $), the card and the adapter's config as artifacts; the weights only when asked."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

    card = card_of(card)
    uri = tracking_uri(store_dir)
    client = _client(uri)
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"{card.task or 'finetune'}{FINETUNE_SUFFIX}"
    experiment_id = _experiment_id(client, name, store_dir)
    adapter_dir = Path(adapter_dir)
    run = client.create_run(experiment_id, run_name=run_name or f"{adapter_dir.name} {card.created_at}".strip())
    run_id = run.info.run_id
    try:
        _log(client, run_id, params=finetune_params(card, adapter_dir), metrics=finetune_metrics(card),
             steps=finetune_steps(card), tags={"harness.kind": "finetune", "harness.created_at": card.created_at,
                                               MLFLOW_GIT_COMMIT: card.extra.get("git_sha")})
        names = ADAPTER_ARTIFACTS + (WEIGHTS if log_weights else ())
        for file in names:
            if (adapter_dir / file).is_file():
                client.log_artifact(run_id, str(adapter_dir / file), artifact_path="adapter")
        if not (adapter_dir / ADAPTER_ARTIFACTS[0]).is_file():  # a card that was never written to the folder
            client.log_dict(run_id, card.to_json(), f"adapter/{ADAPTER_ARTIFACTS[0]}")
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


def track_run(switch: str, report: Report, paths: Mapping[str, Path], *, store_dir: Path) -> str | None:
    """The plugin's entry point: log the run when the switch says so; a line for the terminal (the run's
    place, or a warning when logging failed), None when logging is off."""
    if not enabled(switch):
        return None
    run_path = paths.get("run")
    return _safely("run", lambda: log_run(report, paths, store_dir=store_dir,
                                          run_name=Path(run_path).stem if run_path else None))


def track_finetune(switch: str, card: AdapterCard | Mapping[str, Any], adapter_dir: Path, *, store_dir: Path) -> str | None:
    """``python -m finetune``'s entry point, like :func:`track_run`."""
    if not enabled(switch):
        return None
    return _safely("fine-tuning job", lambda: log_finetune(card, adapter_dir, store_dir=store_dir))
