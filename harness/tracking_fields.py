"""What a benchmark run logs to MLflow, read from its report: the run's parameters, each leaderboard row's
metrics (with the bounds of their 95 % CIs), a fine-tuned row's comparisons with the others, and the
leaderboard as the run's note; and what a fine-tuning job logs, read from its adapter card. Plain functions of
the typed report (:class:`~harness.report.run.RunReport`, or its JSON read once) and of the
:class:`~harness.models.card.AdapterCard`; :mod:`harness.tracking` logs them.

A value the JSON did not hold is logged as unknown (None), never as the typed record's default (a TAT-QA row
has no weighted F1: absent, not 0; a report without ``data.agreement`` logs null, not "n/a"): the fields are
read through :func:`stated`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from harness.models.card import AdapterCard
from harness.record import Record
from harness.report.rows import Row
from harness.report.run import Report, RunReport

_KEY = re.compile(r"[^A-Za-z0-9_.\-]+")


def metric_key(text: str) -> str:
    """A metric or parameter key MLflow accepts on every platform (no ':', '/', '·' or spaces)."""
    return _KEY.sub("_", text).strip("_.")[:200] or "_"


class Stated:
    """A record's fields as its JSON stated them: a field whose key the JSON did not hold reads None (not the
    field's default), and so does every field of a nested record that was absent. A record built in code (no
    remembered keys) states every field."""

    def __init__(self, record: Record | None, strict: bool = False) -> None:
        self._record, self._strict = record, strict

    def __getattr__(self, name: str) -> Any:
        record = self._record
        if record is None or (self._strict and name not in record.keys):
            value = None
        else:
            value = getattr(record, name)
        return Stated(value, self._strict) if isinstance(value, Record) else value


def stated(record: Record) -> Any:
    """``record``'s fields, None where its JSON did not hold them (see :class:`Stated`)."""
    return Stated(record, strict=bool(record.keys))


def part(value: Stated | None) -> Any:
    """A nested record's stated fields; every field None when the record itself was absent (or null)."""
    return value if isinstance(value, Stated) else Stated(None)


def run_params(report: Report) -> dict[str, Any]:
    """The parent run's parameters: task, data, split, models, prices, machine, packages."""
    report = RunReport.of(report)
    known = stated(report)
    data, split, econ = part(known.data), part(known.split), part(known.economics)
    machine = part(econ.machine)
    params = {
        "task": known.task, "task_version": known.task_version,
        "template_version": known.template_version, "schema_version": known.schema_version,
        "git_sha": known.git_sha,
        "data.source": data.source, "data.file": data.file, "data.file_sha256": data.file_sha256,
        "data.agreement": data.agreement, "data.examples": data.examples,
        "data.is_sample": data.is_sample,
        "split.method": split.method, "split.seed": split.seed, "split.n_train": split.n_train,
        "split.n_test": split.n_test, "split.n_evaluated": split.n_evaluated,
        "split.limit": split.limit, "split.test_fingerprint": split.test_fingerprint,
        "models": ",".join(report.models),
        "rows": ",".join(row.name for row in report.rows),
        "few_shot_examples": ",".join(report.few_shot_examples),
        "record_mode": known.record_mode, "bootstrap_resamples": known.bootstrap_resamples,
        "prices.as_of": part(known.prices).as_of,
        "machine": machine.name, "machine.dollars_per_hour": machine.dollars_per_hour,
        "monthly_volume": econ.monthly_volume, "python": known.python,
    }
    params.update({f"package.{k}": v for k, v in report.packages.items()})
    return params


def row_metrics(row: Row | Mapping[str, Any]) -> dict[str, Any]:
    """One leaderboard row's metrics (a None value is skipped when logged: unknown is not zero)."""
    row = row if isinstance(row, Row) else Row.from_json(row)
    known = stated(row)
    lat, cost, tokens = part(known.latency), part(known.cost), known.tokens or {}
    f1_low, f1_high = known.weighted_f1_ci95 or (None, None)
    acc_low, acc_high = known.accuracy_ci95 or (None, None)
    n = known.n or 0
    failures = known.parse_failures
    metrics = {
        "n": n, "expected": known.expected,
        "weighted_f1": known.weighted_f1, "weighted_f1_ci95_low": f1_low, "weighted_f1_ci95_high": f1_high,
        "accuracy": known.accuracy, "accuracy_ci95_low": acc_low, "accuracy_ci95_high": acc_high,
        "macro_f1": known.macro_f1, "weighted_precision": known.weighted_precision,
        "weighted_recall": known.weighted_recall,
        "parse_failures": failures, "errors": known.errors,
        "parse_failure_rate": failures / n if n and failures is not None else None,
        "latency_p50_s": lat.p50_s, "latency_p95_s": lat.p95_s, "latency_batch1_s": lat.batch1_s,
        "throughput_per_s": lat.throughput_per_s,
        "cost_per_call_usd": cost.per_call_usd, "cost_per_1k_usd": cost.per_1k_usd,
        "cost_total_usd": cost.total_usd,
        # API rows only: a local row has no billed tokens, and 0 would read as a measurement
        "tokens_input": tokens.get("input") or None, "tokens_output": tokens.get("output") or None,
    }
    qa = row.extra  # a question-answering row (TAT-QA): exact match and numeracy-aware F1, per question type
    for key in ("em", "f1"):
        if qa.get(key) is not None:
            low, high = qa.get(f"{key}_ci95") or (None, None)
            metrics |= {key: qa[key], f"{key}_ci95_low": low, f"{key}_ci95_high": high}
    if qa.get("scale_accuracy") is not None:
        metrics["scale_accuracy"] = qa["scale_accuracy"]
    for kind, group in (qa.get("per_type") or {}).items():
        metrics |= {f"{kind}.{name}": group.get(name) for name in ("n", "em", "f1")}
    for label, scores in (known.per_class or {}).items():
        for name in ("precision", "recall", "f1", "support"):
            metrics[f"{label}.{name}"] = scores.get(name)
    return metrics


def comparison_metrics(report: Report, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fine-tuned row's paired comparisons and economics against every other row, keyed by that row."""
    report = RunReport.of(report)
    metrics, tags = {}, {}
    for comparison in report.comparisons:
        if comparison.a != name:
            continue
        c, other = stated(comparison), metric_key(comparison.b)
        low, high = c.f1_difference_ci95 or (None, None)
        metrics |= {f"vs.{other}.f1_difference": c.f1_difference, f"vs.{other}.f1_difference_ci95_low": low,
                    f"vs.{other}.f1_difference_ci95_high": high, f"vs.{other}.mcnemar_p": c.mcnemar_p,
                    f"vs.{other}.p_holm": c.p_holm}
        tags[f"harness.vs.{other}"] = ("" if c.verdict is None else str(c.verdict)).upper()
    for v in report.economics.versus:
        if v.a == name:
            other = metric_key(v.b)
            metrics |= {f"vs.{other}.break_even_requests": v.break_even_requests,
                        f"vs.{other}.payback_months": v.payback_months,
                        f"vs.{other}.latency_ratio": v.latency_ratio, f"vs.{other}.cost_ratio": v.cost_ratio}
    return metrics, tags


def leaderboard_note(report: Report) -> str | None:
    """The run's note: the report's header lines and leaderboard as Markdown (None for another schema)."""
    from harness import report as report_mod

    try:
        lines = [f"> {line}" for line in report_mod.header_lines(report)]
        return "\n".join(lines + [""] + report_mod.markdown_table(report_mod.leaderboard(report)))
    except (KeyError, TypeError, ValueError):  # a report from another schema: the artifacts still say it all
        return None


FINETUNE_PARAMS = (
    "card_version", "base_model", "base_weights", "base_sha256", "task", "task_version", "template_version",
    "train_examples", "validation_examples", "train_data_sha256", "test_fingerprint", "data_source",
    "label_source", "split_seed", "split_method", "backend", "device", "shared_prefix_tokens", "group_by_length",
    "eval_every_used", "dollars_per_hour", "peak_memory_kind", "command")
FINETUNE_METRICS = (
    "steps", "epochs_run", "wall_seconds", "train_tokens_per_second", "peak_memory_gib", "gpu_hours",
    "machine_hours", "cost_usd", "loss_first", "loss_last", "best_eval_loss")


def card_of(card: AdapterCard | Mapping[str, Any]) -> AdapterCard:
    """``card`` typed: an AdapterCard as it is, a card's JSON dictionary read (and checked) once."""
    return card if isinstance(card, AdapterCard) else AdapterCard.from_json(card)


def finetune_params(card: AdapterCard | Mapping[str, Any], adapter_dir: Path) -> dict[str, Any]:
    """A fine-tuning job's parameters: the card's recipe, data, base and machine; a distilled run's teacher and
    a refit's validated source run (their plain values); the adapter's folder."""
    card = card_of(card)
    known = stated(card)
    params = {name: getattr(known, name) for name in FINETUNE_PARAMS}
    params |= {f"hp.{k}": v for k, v in card.hyperparameters.to_json().items()}
    refit = card.refit_of.to_json() if card.refit_of is not None else {}
    for nested, values in (("teacher", card.teacher or {}), ("refit_of", refit)):
        params |= {f"{nested}.{k}": v for k, v in values.items() if not isinstance(v, (list, dict))}
    params["adapter_dir"] = str(Path(adapter_dir).resolve())
    return params


def finetune_metrics(card: AdapterCard | Mapping[str, Any]) -> dict[str, Any]:
    """A fine-tuning job's metrics: steps, epochs, time, throughput, memory, compute and $, the losses."""
    known = stated(card_of(card))
    return {name: getattr(known, name) for name in FINETUNE_METRICS}


def finetune_steps(card: AdapterCard | Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """The validation loss at each evaluation, at its step (the interval used, else the one asked for, else 1)."""
    card = card_of(card)
    every = card.eval_every_used or card.hyperparameters.eval_every or 1
    return [("eval_loss", loss, every * (i + 1)) for i, loss in enumerate(card.eval_losses)]
