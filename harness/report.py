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

from harness import economics
from harness.compare import compare_rows, mcnemar_mde
from harness.metrics import score
from harness.pricing import MachinePrice, PriceTable, default_machine, load_machine_prices

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
                 root: Path, seed: int, resamples: int, machine: MachinePrice | None = None,
                 gpu_machine: MachinePrice | None = None, prices: PriceTable | None = None,
                 monthly_volume: int = economics.DEFAULT_MONTHLY_VOLUME) -> dict[str, Any]:
    if machine is None or gpu_machine is None:
        machines = load_machine_prices()
        machine = machine or default_machine("cpu", machines)
        gpu_machine = gpu_machine or default_machine("gpu", machines)
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for case in cases:
        grouped[(case["model"], case["strategy"])].append(case)
    order = list(pair_order) + sorted(set(grouped) - set(pair_order))
    reference = economics.reference_tokens({p: grouped[p] for p in order if grouped.get(p)})
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
                # local models, warm-up excluded: one request alone, and items per second at batch_size
                "batch1_s": next((c["batch1_latency_s"] for c in items if c.get("batch1_latency_s") is not None), None),
                "throughput_per_s": _throughput(items),
            },
            "tokens": {
                "input": sum(c["input_tokens"] or 0 for c in items),
                "output": sum(c["output_tokens"] or 0 for c in items),
                "cached_input": sum(c.get("cached_input_tokens") or 0 for c in items),
            },
            "cost": economics.row_cost(items, machine=machine, prices=prices, reference=reference),
            "provenance": items[0]["provenance"],
        })
    for row, by_cost, by_latency in zip(rows, economics.pareto(rows, lambda r: r["cost"]["per_1k_usd"]),
                                        economics.pareto(rows, lambda r: r["latency"]["p50_s"])):
        row["pareto"] = {"cost": by_cost, "latency": by_latency}
    targets = [pair for pair in order if any(c.get("fine_tuned") for c in grouped.get(pair, []))]
    comparisons = compare_rows({p: grouped[p] for p in order if grouped.get(p)}, targets, labels,
                               resamples=resamples, seed=seed)
    for c in comparisons:
        c["mde_accuracy"] = mcnemar_mde(c["n"], (c["only_a_correct"] + c["only_b_correct"]) / c["n"])
    partial = [f"{m} · {s}" for (m, s), n in expected.items() if len(grouped.get((m, s), [])) < n]
    n_items = max((r["n"] for r in rows), default=0)
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
        "mde": {"n": n_items, "alpha": 0.05, "power": 0.8, "method": "McNemar, Connor (1987) approximation",
                "accuracy_difference_at_discordant_rate": {
                    f"{rate:.2f}": mcnemar_mde(n_items, rate) for rate in (0.05, 0.10, 0.20)}},
        "economics": _economics(rows, targets, root, machine, gpu_machine, monthly_volume),
        "items": items_table(order, grouped, labels),
    }


def _economics(rows: Sequence[Mapping[str, Any]], targets: Sequence[tuple[str, str]], root: Path,
               machine: MachinePrice, gpu_machine: MachinePrice, monthly_volume: int) -> dict[str, Any]:
    """Training cost of each fine-tuned row and its economics against every other row."""
    cards = economics.read_cards({m for m, _ in targets}, economics.ADAPTERS_DIR)
    training = {m: economics.training_cost(cards.get(m), machine=machine, gpu_machine=gpu_machine)
                for m, _ in targets}
    by_pair = {(r["model"], r["strategy"]): r for r in rows}
    versus = [economics.versus(by_pair[t], other, training[t[0]], monthly_volume=monthly_volume)
              for t in targets if t in by_pair for other in rows if (other["model"], other["strategy"]) != t]
    return {
        "machine": {"name": machine.name, "dollars_per_hour": machine.dollars_per_hour, "kind": machine.kind,
                    "description": machine.description, "as_of": machine.as_of, "source": machine.source},
        "gpu_machine": {"name": gpu_machine.name, "dollars_per_hour": gpu_machine.dollars_per_hour,
                        "as_of": gpu_machine.as_of, "source": gpu_machine.source},
        "monthly_volume": monthly_volume,
        "training": training,
        "versus": versus,
    }


def items_table(order: Sequence[tuple[str, str]], grouped: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
                labels: Sequence[str]) -> dict[str, Any]:
    """Per-item gold and predictions as label codes keyed by example id (no text): for paired tests later.

    ``gold`` and each row's string hold one character per id: the label's index in ``labels``, ``x`` for
    a parse failure or error, ``-`` where the row has no case for that item.
    """
    index: dict[str, int] = {}
    gold: dict[str, str] = {}
    for cases in grouped.values():
        for c in cases:
            index.setdefault(c["example_id"], c["index"])
            gold[c["example_id"]] = c["gold"]
    ids = sorted(index, key=lambda i: (index[i], i))
    code = {label: str(i) for i, label in enumerate(labels)}

    def letters(values: Mapping[str, str | None]) -> str:
        return "".join(code.get(values[i], "x") if i in values else "-" for i in ids)

    preds = {}
    for pair in order:
        if grouped.get(pair):
            preds[" · ".join(pair)] = letters({c["example_id"]: (None if c["error"] else c["pred"]) for c in grouped[pair]})
    return {"labels": list(labels), "ids": ids, "gold": letters(gold), "preds": preds}


def decode_items(items: Mapping[str, Any], row: str) -> dict[str, tuple[str, str | None]]:
    """``{example_id: (gold, pred)}`` for one row of an :func:`items_table`; pred None = parse failure."""
    labels = items["labels"]
    out = {}
    for i, g, p in zip(items["ids"], items["gold"], items["preds"].get(row, "")):
        if p != "-" and g != "-":
            out[i] = (labels[int(g)], None if p == "x" else labels[int(p)])
    return out


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


def _throughput(items: Sequence[Mapping[str, Any]]) -> float | None:
    """Items per second of a local model's batches (each item carries its share of its batch's time)."""
    shares = [c["latency_s"] for c in items if c["latency_source"] == "local" and c["latency_s"] is not None]
    return len(shares) / sum(shares) if shares and sum(shares) > 0 else None


def _latency(row: Mapping[str, Any]) -> str:
    lat = row["latency"]
    if lat["p50_s"] is None:
        return "n/a"
    ms = lambda s: f"{s * 1000:.0f}" if s >= 0.01 else f"{s * 1000:.2g}"  # noqa: E731
    text = f"{ms(lat['p50_s'])} / {ms(lat['p95_s'])} ms ({lat['source']}, batch {lat['batch_size']})"
    if lat.get("batch1_s") is not None and lat.get("throughput_per_s"):
        text += f"; alone {ms(lat['batch1_s'])} ms, {lat['throughput_per_s']:.1f}/s at batch {lat['batch_size']}"
    return text


def _failures(row: Mapping[str, Any]) -> str:
    """Parse failures, with calls that produced no reply at all (errors) shown apart."""
    errors = row["errors"]
    return f"{row['parse_failures']}" + (f" (+{errors} errors)" if errors else "")


BASIS_MARK = {"billed": "billed", "machine time": "time", "estimated": "est."}


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:.2g}" if 0 < value < 0.001 else f"${value:,.4f}" if value < 100 else f"${value:,.0f}"


def _dollars(row: Mapping[str, Any]) -> str:
    cost = row["cost"]
    if cost["per_1k_usd"] is None:
        return "price unknown" if str(cost["note"]).startswith("price unknown") else "n/a"
    return f"{_usd(cost['per_1k_usd'])} ({BASIS_MARK.get(cost.get('basis'), cost.get('basis'))})"


def _front(row: Mapping[str, Any]) -> str:
    marks = []
    for key in ("cost", "latency"):
        value = (row.get("pareto") or {}).get(key)
        marks.append("-" if value is None else "yes" if value == "frontier" else "no")
    return " / ".join(marks)


def leaderboard(report: Mapping[str, Any]) -> list[list[str]]:
    header = ["model", "strategy", "n", "weighted F1 [95% CI]", "accuracy", "macro F1", "parse failures",
              "latency p50 / p95", "$ per 1k", "Pareto $ / p50"]
    table = [header]
    for row in sorted(report["rows"], key=lambda r: -r["weighted_f1"]):
        n = f"{row['n']}" if row["n"] == row["expected"] else f"{row['n']}/{row['expected']}"
        table.append([row["model"], row["strategy"], n, _ci(row), f"{row['accuracy']:.3f}", f"{row['macro_f1']:.3f}",
                      _failures(row), _latency(row), _dollars(row), _front(row)])
    return table


def cost_table(report: Mapping[str, Any]) -> list[list[str]]:
    """$ per call, per 1k requests and in total, with how each was obtained."""
    table = [["model", "strategy", "$ per call", "$ per 1k", "$ total", "calls", "how"]]
    for row in report["rows"]:
        cost = row["cost"]
        table.append([row["model"], row["strategy"], _usd(cost["per_call_usd"]), _usd(cost["per_1k_usd"]),
                      _usd(cost["total_usd"]), str(cost.get("calls") or row["n"]), str(cost.get("note") or "")])
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


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}×"


def comparison_table(report: Mapping[str, Any]) -> list[list[str]]:
    """Fine-tuned rows vs every other row: paired F1 difference, McNemar p (Holm), verdict, and the money."""
    econ = {(v["a"], v["b"]): v for v in (report.get("economics") or {}).get("versus", [])}
    volume = (report.get("economics") or {}).get("monthly_volume", economics.DEFAULT_MONTHLY_VOLUME)
    table = [["fine-tuned", "vs", "ΔF1 [95% CI]", "McNemar p (Holm)", "verdict", "latency ×", "cost ×",
              "break-even", f"payback @{economics.format_requests(volume)}/mo"]]
    previous = None
    for c in report.get("comparisons", []):
        low, high = c["f1_difference_ci95"]
        e = econ.get((c["a"], c["b"]), {})
        computable = e.get("break_even_note", "").startswith("not computable")
        table.append([
            c["a"] if c["a"] != previous else "", c["b"], f"{c['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}]",
            f"{c['mcnemar_p']:.2g} ({c['p_holm']:.2g})", c["verdict"].upper(), _ratio(e.get("latency_ratio")),
            _ratio(e.get("cost_ratio")),
            "n/a" if computable or not e else economics.format_requests(e.get("break_even_requests")) + " req",
            "n/a" if computable or not e else economics.format_months(e.get("payback_months")),
        ])
        previous = c["a"]
    return table


def comparison_lines(report: Mapping[str, Any]) -> list[str]:
    """The comparison table as aligned terminal lines (none when the run has no fine-tuned row)."""
    if not report.get("comparisons"):
        return []
    return text_table(comparison_table(report))


def cost_lines(report: Mapping[str, Any]) -> list[str]:
    """One line: how local time and training are priced, and the smallest difference this test set detects."""
    lines = []
    econ = report.get("economics") or {}
    machine = econ.get("machine")
    if machine:
        lines.append(f"costs: local rows = measured time × ${machine['dollars_per_hour']:g}/h ({machine['name']}, "
                     f"as of {machine['as_of']}; --harness-dollars-per-hour to change)"
                     + ("; est. = tokens estimated from another row (see the Markdown report)"
                        if any(r["cost"].get("basis") == "estimated" for r in report["rows"]) else ""))
    mde = report.get("mde") or {}
    at = mde.get("accuracy_difference_at_discordant_rate") or {}
    if at and mde.get("n"):
        parts = ", ".join(f"{v:.3f} at {float(k):.0%}" for k, v in at.items() if v is not None)
        lines.append(f"minimum detectable accuracy difference (McNemar, α=0.05, power 0.8, n={mde['n']}): {parts} "
                     "discordant items")
    return lines


def _md_table(table: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])] + \
        ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in table[1:]]


def economics_markdown(report: Mapping[str, Any]) -> list[str]:
    econ = report.get("economics") or {}
    out = ["", "## Cost per row", ""]
    machine = econ.get("machine")
    if machine:
        out += [f"Local rows are priced as measured time × **${machine['dollars_per_hour']:g}/h**: "
                f"{machine['description']} ({machine['source']}, as of {machine['as_of']}). Latency of a local "
                "row is its batch's time divided by the batch size (the batch size is in the leaderboard).", ""]
    out += _md_table(cost_table(report))
    if not econ.get("training"):
        return out
    out += ["", "## Does fine-tuning pay off?", ""]
    for model, t in econ["training"].items():
        out.append(f"- **{model}** training cost: {_usd(t.get('usd'))} ({t.get('note')})")
    out += ["", f"Break-even: requests after which training + serving the fine-tuned row costs less than the "
                f"other row's cost per request; payback at {econ['monthly_volume']:,} requests per month "
                "(`--harness-monthly-volume`).", ""]
    for v in econ.get("versus", []):
        out.append(f"- {v['a']} vs {v['b']}: {v.get('break_even_note')}" +
                   (f", payback {economics.format_months(v['payback_months'])}" if v.get("payback_months") else ""))
        sens = v.get("sensitivity")
        if sens:
            head = ["machine $/h \\ API price"] + [f"×{a:g}" for a in sens["api_price_factor"]]
            grid = [[f"${h:.4g}"] + [economics.format_requests(n) for n in cells]
                    for h, cells in zip(sens["dollars_per_hour"], sens["break_even_requests"])]
            out += ["", "  break-even requests (sensitivity):", ""] + ["  " + line for line in _md_table([head] + grid)] + [""]
    return out


def markdown(report: Mapping[str, Any]) -> str:
    table = leaderboard(report)
    out = [f"# {report['task']} leaderboard", ""]
    out += [f"> {line}" for line in header_lines(report) + cost_lines(report)]
    out += [""] + _md_table(table)
    if report.get("comparisons"):
        out += ["", "## Fine-tuned vs the rest (paired, same items)", ""]
        out += _md_table(comparison_table(report))
        out += ["", "latency × and cost × are the fine-tuned row's p50 latency and $ per call over the other row's; a "
                    "local row's latency is per item at its batch size (leaderboard), an API row's is per call. "
                    "Break-even and payback: see *Does fine-tuning pay off?* below."]
        out += ["", "Minimum detectable accuracy difference at each pair's observed discordance (McNemar, α=0.05, "
                    "power 0.8): " + "; ".join(f"{c['b']}: {c['mde_accuracy']:.3f}" if c.get("mde_accuracy")
                                                 else f"{c['b']}: n/a" for c in report["comparisons"])]
    out += ["", "## Pareto view (weighted F1 vs $ per 1k requests and vs p50 latency)", ""]
    out += _md_table([["model", "strategy", "vs $ per 1k", "vs p50 latency"]] +
                     [[r["model"], r["strategy"], str(r["pareto"]["cost"] or "n/a"), str(r["pareto"]["latency"] or "n/a")]
                      for r in report["rows"]])
    out += economics_markdown(report)
    for companion in report.get("companions") or []:
        out += ["", f"## {companion['title']} ({companion['task']})", ""]
        if companion.get("not_run"):
            out.append(companion["not_run"])
            continue
        out += [f"> {line}" for line in companion["notes"]] + [""] + _md_table(companion["table"])
    out += ["", "## Where each row comes from", ""]
    out += [f"- **{r['model']} · {r['strategy']}**: {r['provenance']}" for r in report["rows"]]
    out += ["", f"Generated {report['created_at']} at git {report['git_sha'] or 'unknown'}; "
                f"template {report['template_version']}; bootstrap {report['bootstrap_resamples']} resamples.", ""]
    return "\n".join(out)


LEARNING_CURVE = "learning_curve.json"


def write(report: Mapping[str, Any], cases: Iterable[Mapping[str, Any]], directory: Path,
          texts: Mapping[str, str] | None = None) -> dict[str, Path]:
    """JSON, predictions CSV, Markdown and the self-contained HTML (which holds the test sentences in
    ``texts``, like the CSV: both stay out of git). A ``learning_curve.json`` in ``directory`` (else the
    repository's ``reports/``, where ``python -m finetune sentiment --learning-curve`` writes it) is drawn."""
    from harness import html_report

    cases = list(cases)
    stem = report["task"]
    paths = {
        "json": directory / f"{stem}.json",
        "csv": directory / f"{stem}_predictions.csv",
        "markdown": directory / f"{stem}.md",
        "html": directory / f"{stem}.html",
    }
    _atomic_write(paths["json"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(paths["csv"], predictions_csv(cases))
    _atomic_write(paths["markdown"], markdown(report))
    curve = None
    for where in (directory, Path(__file__).resolve().parent.parent / "reports"):  # this run's, else the committed one
        try:
            curve = json.loads((where / LEARNING_CURVE).read_text())
            break
        except (OSError, ValueError):
            continue
    _atomic_write(paths["html"], html_report.render(report, cases, texts or {}, curve))
    return paths
