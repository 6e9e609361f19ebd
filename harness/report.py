"""Turning case results into the report: JSON, a per-example CSV, a Markdown leaderboard, a terminal table.

Knows nothing of pytest or of models: it takes case dictionaries (as they rode on ``user_properties``)
and the run's metadata. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import platform
import subprocess
import tempfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from harness.compare import compare_rows
from harness.metrics import score

SCHEMA_VERSION = 1
SAMPLE_NOTICE = "SAMPLE DATA: these numbers come from the project's synthetic sample, not Financial PhraseBank; they are not comparable to published FPB results"
PACKAGES = ("finetune-or-prompt", "torch", "transformers", "scikit-learn", "scipy", "numpy", "pandas", "pytest")
CSV_FIELDS = ("model", "strategy", "index", "example_id", "gold", "pred", "correct", "latency_s",
              "latency_source", "batch_size", "input_tokens", "output_tokens", "cost_usd", "served_model",
              "system_fingerprint", "error", "reply")


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _git_sha(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def build_report(meta: Mapping[str, Any], cases: Iterable[Mapping[str, Any]], *, labels: Sequence[str],
                 pair_order: Sequence[tuple[str, str]], expected: Mapping[tuple[str, str], int],
                 root: Path, seed: int, resamples: int) -> dict[str, Any]:
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for case in cases:
        grouped[(case["model"], case["strategy"])].append(case)
    order = list(pair_order) + sorted(set(grouped) - set(pair_order))
    rows = []
    for pair in order:
        items = sorted(grouped.get(pair, []), key=lambda c: c["index"])
        if not items:
            continue
        scores = score([c["gold"] for c in items], [c["pred"] for c in items], labels, resamples=resamples, seed=seed)
        latencies = [c["latency_s"] for c in items if c["latency_s"] is not None]
        sources = sorted({c["latency_source"] for c in items if c["latency_s"] is not None})
        rows.append({
            "model": pair[0],
            "strategy": pair[1],
            "n": scores.n,
            "expected": expected.get(pair, scores.n),
            "weighted_f1": scores.weighted_f1,
            "weighted_f1_ci95": list(scores.weighted_f1_ci),
            "accuracy": scores.accuracy,
            "accuracy_ci95": list(scores.accuracy_ci),
            "macro_f1": scores.macro_f1,
            "weighted_precision": scores.weighted_precision,
            "weighted_recall": scores.weighted_recall,
            # a reply that names no label (or two); calls that produced no reply are counted as errors
            "parse_failures": scores.parse_failures - sum(1 for c in items if c["error"]),
            "errors": sum(1 for c in items if c["error"]),
            "per_class": scores.per_class,
            "confusion": {"labels": list(labels), "columns": list(labels) + ["<unparsed>"], "matrix": scores.confusion},
            "latency": {
                "source": "+".join(sources) if sources else "none",
                "p50_s": _percentile(latencies, 50),
                "p95_s": _percentile(latencies, 95),
                "batch_size": max(c["batch_size"] for c in items),
            },
            "tokens": {
                "input": sum(c["input_tokens"] or 0 for c in items),
                "output": sum(c["output_tokens"] or 0 for c in items),
                "cached_input": sum(c.get("cached_input_tokens") or 0 for c in items),
            },
            "cost": _cost(items),
            "provenance": items[0]["provenance"],
        })
    targets = [pair for pair in order if any(c.get("fine_tuned") for c in grouped.get(pair, []))]
    comparisons = compare_rows({p: grouped[p] for p in order if grouped.get(p)}, targets, labels,
                               resamples=resamples, seed=seed)
    partial = [f"{m} · {s}" for (m, s), n in expected.items() if len(grouped.get((m, s), [])) < n]
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": _git_sha(root),
        "python": platform.python_version(),
        "packages": _versions(),
        "notice": SAMPLE_NOTICE if meta.get("data", {}).get("is_sample") else None,
        "partial": partial,
        **meta,
        "rows": rows,
        "comparisons": comparisons,
    }


def _cost(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """API cost at the price table's prices; "price unknown" (never $0) when any call has no price."""
    costs = [c.get("cost_usd") for c in items]
    if all(c.get("kind") != "api" for c in items):
        return {"total_usd": None, "per_call_usd": None, "per_1k_usd": None, "note": "not billed per token"}
    if not costs or any(cost is None for cost in costs):
        priced = sum(cost is not None for cost in costs)
        return {"total_usd": None, "per_call_usd": None, "per_1k_usd": None,
                "note": "price unknown" if priced == 0 else f"price unknown for {len(costs) - priced} calls"}
    total = float(sum(costs))
    return {"total_usd": total, "per_call_usd": total / len(costs), "per_1k_usd": 1000 * total / len(costs), "note": None}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def predictions_csv(cases: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for case in sorted(cases, key=lambda c: (c["model"], c["strategy"], c["index"])):
        writer.writerow({**case, "correct": case["pred"] == case["gold"]})
    return out.getvalue()


def _ci(row: Mapping[str, Any]) -> str:
    low, high = row["weighted_f1_ci95"]
    return f"{row['weighted_f1']:.3f} [{low:.3f}, {high:.3f}]"


def _latency(row: Mapping[str, Any]) -> str:
    lat = row["latency"]
    if lat["p50_s"] is None:
        return "n/a"
    return f"{lat['p50_s'] * 1000:.0f} / {lat['p95_s'] * 1000:.0f} ms ({lat['source']}, batch {lat['batch_size']})"


def _failures(row: Mapping[str, Any]) -> str:
    """Parse failures, with calls that produced no reply at all (errors) shown apart."""
    errors = row["errors"]
    return f"{row['parse_failures']}" + (f" (+{errors} errors)" if errors else "")


def _dollars(row: Mapping[str, Any]) -> str:
    cost = row["cost"]
    if cost["per_1k_usd"] is None:
        return "n/a" if cost["note"] == "not billed per token" else str(cost["note"])
    return f"${cost['per_1k_usd']:.4f}"


def leaderboard(report: Mapping[str, Any]) -> list[list[str]]:
    header = ["model", "strategy", "n", "weighted F1 [95% CI]", "accuracy", "macro F1", "parse failures",
              "latency p50 / p95", "$ per 1k"]
    table = [header]
    for row in sorted(report["rows"], key=lambda r: -r["weighted_f1"]):
        n = f"{row['n']}" if row["n"] == row["expected"] else f"{row['n']}/{row['expected']}"
        table.append([row["model"], row["strategy"], n, _ci(row), f"{row['accuracy']:.3f}", f"{row['macro_f1']:.3f}",
                      _failures(row), _latency(row), _dollars(row)])
    return table


def text_table(table: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def header_lines(report: Mapping[str, Any]) -> list[str]:
    data, split = report["data"], report["split"]
    lines = []
    if report.get("notice"):
        lines.append(f"!!! {report['notice']} !!!")
    lines.append(
        f"data: {data['file']} ({data['source']}: {data['directory']}), {data['examples']} examples, "
        f"{data['duplicate_lines']} duplicate lines kept, {data['conflicting_sentences_removed']} conflicting sentences removed"
    )
    lines.append(
        f"split: {split['method']} seed {split['seed']}: {split['n_train']} train / {split['n_test']} test "
        f"(evaluated {split['n_evaluated']}), test fingerprint {split['test_fingerprint']}, "
        f"{split['leaked_removed_from_train']} leaked + {split['repeats_removed_from_train']} repeated items removed from train"
    )
    if report.get("prices"):
        lines.append(f"prices: USD per 1M tokens as of {report['prices']['as_of']} (harness/prices.toml); "
                     "recorded latencies are replayed from cassettes and labelled with their recording date")
    for name, reason in report.get("unavailable", {}).items():
        lines.append(f"not run: {name}: {reason}")
    if report.get("partial"):
        lines.append(f"PARTIAL: fewer cases than expected for {', '.join(report['partial'])}")
    return lines


def comparison_lines(report: Mapping[str, Any]) -> list[str]:
    """Fine-tuned rows against every other row: F1 difference with CI, McNemar p (Holm), verdict."""
    lines = []
    for c in report.get("comparisons", []):
        low, high = c["f1_difference_ci95"]
        lines.append(
            f"{c['a']} vs {c['b']}: weighted F1 {c['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}], "
            f"McNemar p={c['mcnemar_p']:.3g} (Holm {c['p_holm']:.3g}), {c['only_a_correct']} vs "
            f"{c['only_b_correct']} items only one got right, n={c['n']}: {c['verdict'].upper()}"
        )
    return lines


def markdown(report: Mapping[str, Any]) -> str:
    table = leaderboard(report)
    out = [f"# {report['task']} leaderboard", ""]
    out += [f"> {line}" for line in header_lines(report)]
    out += ["", "| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    out += ["| " + " | ".join(r) + " |" for r in table[1:]]
    if report.get("comparisons"):
        out += ["", "## Fine-tuned vs the rest (paired, same items)", ""]
        out += [f"- {line}" for line in comparison_lines(report)]
    out += ["", "## Where each row comes from", ""]
    out += [f"- **{r['model']} · {r['strategy']}**: {r['provenance']}" for r in report["rows"]]
    out += ["", f"Generated {report['created_at']} at git {report['git_sha'] or 'unknown'}; "
                f"template {report['template_version']}; bootstrap {report['bootstrap_resamples']} resamples.", ""]
    return "\n".join(out)


def write(report: Mapping[str, Any], cases: Iterable[Mapping[str, Any]], directory: Path) -> dict[str, Path]:
    stem = report["task"]
    paths = {
        "json": directory / f"{stem}.json",
        "csv": directory / f"{stem}_predictions.csv",
        "markdown": directory / f"{stem}.md",
    }
    _atomic_write(paths["json"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(paths["csv"], predictions_csv(cases))
    _atomic_write(paths["markdown"], markdown(report))
    return paths
