"""What a benchmark run logs to MLflow, read from its report: the run's parameters, each leaderboard row's
metrics (with the bounds of their 95 % CIs), a fine-tuned row's comparisons with the others, and the
leaderboard as the run's note. Plain functions of the report's JSON; :mod:`harness.tracking` logs them.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

_KEY = re.compile(r"[^A-Za-z0-9_.\-]+")


def metric_key(text: str) -> str:
    """A metric or parameter key MLflow accepts on every platform (no ':', '/', '·' or spaces)."""
    return _KEY.sub("_", text).strip("_.")[:200] or "_"


def run_params(report: Mapping[str, Any]) -> dict[str, Any]:
    """The parent run's parameters: task, data, split, models, prices, machine, packages."""
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


def row_metrics(row: Mapping[str, Any]) -> dict[str, Any]:
    """One leaderboard row's metrics (a None value is skipped when logged: unknown is not zero)."""
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


def comparison_metrics(report: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fine-tuned row's paired comparisons and economics against every other row, keyed by that row."""
    metrics, tags = {}, {}
    for c in report.get("comparisons") or []:
        if c.get("a") != name:
            continue
        other = metric_key(c["b"])
        low, high = c.get("f1_difference_ci95") or (None, None)
        metrics |= {f"vs.{other}.f1_difference": c.get("f1_difference"), f"vs.{other}.f1_difference_ci95_low": low,
                    f"vs.{other}.f1_difference_ci95_high": high, f"vs.{other}.mcnemar_p": c.get("mcnemar_p"),
                    f"vs.{other}.p_holm": c.get("p_holm")}
        tags[f"harness.vs.{other}"] = str(c.get("verdict", "")).upper()
    for v in (report.get("economics") or {}).get("versus") or []:
        if v.get("a") == name:
            other = metric_key(v["b"])
            metrics |= {f"vs.{other}.break_even_requests": v.get("break_even_requests"),
                        f"vs.{other}.payback_months": v.get("payback_months"),
                        f"vs.{other}.latency_ratio": v.get("latency_ratio"), f"vs.{other}.cost_ratio": v.get("cost_ratio")}
    return metrics, tags


def leaderboard_note(report: Mapping[str, Any]) -> str | None:
    """The run's note: the report's header lines and leaderboard as Markdown (None for another schema)."""
    from harness import report as report_mod

    try:
        lines = [f"> {line}" for line in report_mod.header_lines(report)]
        return "\n".join(lines + [""] + report_mod.markdown_table(report_mod.leaderboard(report)))
    except (KeyError, TypeError, ValueError):  # a report from another schema: the artifacts still say it all
        return None
