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
import textwrap
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from harness import economics, humanize
from harness.compare import compare_rows, mcnemar_mde
from harness.metrics import score
from harness.models.registry import Role, is_api, is_fine_tuned, kind_of
from harness.pricing import MachinePrice, PriceTable, default_machine, load_machine_prices
from harness.secrets_scan import redact

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
        "economics": _economics(rows, targets, Path(meta.get("adapters_dir") or Path(root) / "adapters"), machine,
                                gpu_machine, monthly_volume),
        "items": items_table(order, grouped, labels),
    }


def _economics(rows: Sequence[Mapping[str, Any]], targets: Sequence[tuple[str, str]], adapters_dir: Path,
               machine: MachinePrice, gpu_machine: MachinePrice, monthly_volume: int) -> dict[str, Any]:
    """Training cost of each fine-tuned row (its card, found in the run's adapters folder) and its economics
    against every other row."""
    cards = economics.read_cards({m for m, _ in targets}, adapters_dir)
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


FILE_MODE = 0o644


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over ``path``; the file ends up 0644
    (mkstemp makes 0600, unreadable when the reports are served from a shared machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
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
        writer.writerow({**case, "reply": redact(case.get("reply") or ""),  # no key-like text leaves the run
                         "error": redact(case["error"]) if case.get("error") else None,
                         "correct": case["pred"] == case["gold"]})
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
    text = (f"{humanize.duration(lat['p50_s'])} / {humanize.duration(lat['p95_s'])} "
            f"({lat['source']}, batch {lat['batch_size']})")
    if lat.get("batch1_s") is not None and lat.get("throughput_per_s"):
        text += (f"; alone {humanize.duration(lat['batch1_s'])}, {humanize.number(lat['throughput_per_s'])}/s "
                 f"at batch {lat['batch_size']}")
    return text


def _failures(row: Mapping[str, Any]) -> str:
    """Parse failures, with calls that produced no reply at all (errors) shown apart."""
    errors = row["errors"]
    return f"{row['parse_failures']}" + (f" (+{errors} errors)" if errors else "")


BASIS_MARK = {"billed": "billed", "machine time": "time", "estimated": "est."}


def _usd(value: float | None) -> str:
    return humanize.usd(value)


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


def _n(row: Mapping[str, Any]) -> str:
    return f"{row['n']}" if row["n"] == row["expected"] else f"{row['n']}/{row['expected']}"


def leaderboard(report: Mapping[str, Any], *, compact: bool = False) -> list[list[str]]:
    """Rows best first. The full table's column order is read by other modules (history, tfns): keep it.
    ``compact``: the terminal's narrower table (one row-name column, no accuracy / macro F1, p50 only)."""
    ranked = sorted(report["rows"], key=lambda r: -r["weighted_f1"])
    if compact:
        return [["row", "n", "weighted F1 [95% CI]", "parse fail", "p50", "$ per 1k", "Pareto $/p50"]] + [
            [row_name(r), _n(r), _ci(r), _failures(r), humanize.duration(r["latency"]["p50_s"]), _dollars(r),
             _front(r)] for r in ranked]
    header = ["model", "strategy", "n", "weighted F1 [95% CI]", "accuracy", "macro F1", "parse failures",
              "latency p50 / p95", "$ per 1k", "Pareto $ / p50"]
    table = [header]
    for row in ranked:
        table.append([row["model"], row["strategy"], _n(row), _ci(row), f"{row['accuracy']:.3f}", f"{row['macro_f1']:.3f}",
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


TERMINAL_WIDTH = 140


def _clip(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[:max(1, width - 1)] + "…"


def text_table(table: Sequence[Sequence[str]], max_width: int | None = None) -> list[str]:
    """Aligned columns; with ``max_width`` the widest column is clipped (with …) until a line fits."""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    if max_width is not None:
        while sum(widths) + 2 * (len(widths) - 1) > max_width and max(widths) > 8:
            widest = widths.index(max(widths))
            widths[widest] -= sum(widths) + 2 * (len(widths) - 1) - max_width
            widths[widest] = max(8, widths[widest])
    lines = ["  ".join(_clip(cell, w).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def leaderboard_lines(report: Mapping[str, Any], width: int = TERMINAL_WIDTH) -> list[str]:
    """The terminal's leaderboard: the compact table, at most ``width`` columns (details are in the Markdown)."""
    return text_table(leaderboard(report, compact=True), max_width=width)


def header_lines(report: Mapping[str, Any], *, not_run: bool = True) -> list[str]:
    """Data, split and price lines; with ``not_run`` also one line per model or pair that did not run
    (the reports show those in a collapsed section at the end instead: :func:`not_run_lines`)."""
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
    if not_run:
        lines += not_run_lines(report)
    if report.get("partial"):
        lines.append(f"PARTIAL: fewer cases than expected for {', '.join(report['partial'])}")
    return lines


def not_run_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per model or model · strategy that was asked for but could not run, with why."""
    return [f"not run: {name}: {reason}" for name, reason in (report.get("unavailable") or {}).items()]


def _not_run_items(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, reason) of every row and companion table that did not run."""
    items = list((report.get("unavailable") or {}).items())
    items += [(c.get("title") or c["task"], c["not_run"]) for c in report.get("companions") or [] if c.get("not_run")]
    return items


def comparison_table(report: Mapping[str, Any]) -> list[list[str]]:
    """Fine-tuned rows vs every other row: paired F1 difference, McNemar p (Holm), verdict, and the money."""
    econ = {(v["a"], v["b"]): v for v in (report.get("economics") or {}).get("versus", [])}
    volume = (report.get("economics") or {}).get("monthly_volume", economics.DEFAULT_MONTHLY_VOLUME)
    table = [["fine-tuned", "vs", "ΔF1 [95% CI]", "McNemar p (Holm)", "verdict", "latency", "cost",
              "break-even", f"payback at {humanize.requests(volume)}/month"]]
    previous = None
    for c in report.get("comparisons", []):
        e = econ.get((c["a"], c["b"]), {})
        computable = bool(e) and not e.get("break_even_note", "").startswith("not computable")
        table.append([
            c["a"] if c["a"] != previous else "", c["b"], _delta(c), _p(c), c["verdict"].upper(),
            humanize.speed_factor(e.get("latency_ratio")), humanize.cost_factor(e.get("cost_ratio")),
            humanize.requests(e.get("break_even_requests")) + (" requests" if e.get("break_even_requests") else "")
            if computable else "n/a",
            humanize.months(e.get("payback_months")) if computable else "n/a",
        ])
        previous = c["a"]
    return table


def _delta(c: Mapping[str, Any]) -> str:
    low, high = c["f1_difference_ci95"]
    return f"{c['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _p(c: Mapping[str, Any]) -> str:
    return f"{humanize.p_value(c['mcnemar_p'])} ({humanize.p_value(c['p_holm'])})"


def comparison_lines(report: Mapping[str, Any], width: int = TERMINAL_WIDTH) -> list[str]:
    """The comparison table as aligned terminal lines, at most ``width`` wide (none without a fine-tuned row):
    a line naming each fine-tuned row, then the rows it was compared with: ΔF1, p, verdict, cost and
    break-even (latency and payback are in the Markdown)."""
    if not report.get("comparisons"):
        return []
    full = comparison_table(report)
    lines = text_table([["vs"] + [full[0][i] for i in (2, 3, 4, 6, 7)]]
                       + [[r[1]] + [r[i] for i in (2, 3, 4, 6, 7)] for r in full[1:]], max_width=width)
    out = lines[:2]
    for row, line in zip(full[1:], lines[2:]):
        if row[0]:
            out.append(f"{row[0]} against:")
        out.append(line)
    return out


def wrap(lines: Iterable[str], width: int = TERMINAL_WIDTH) -> list[str]:
    """Lines longer than ``width`` wrapped at spaces, continuation lines indented by two."""
    out: list[str] = []
    for line in lines:
        out += textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False,
                             break_long_words=False) or [""]
    return out


def terminal_lines(report: Mapping[str, Any], width: int = TERMINAL_WIDTH) -> list[str]:
    """Everything the terminal shows for a task, at most ``width`` columns (detail is in the Markdown): the
    verdict first, then data / split / costs, the compact leaderboard, the comparisons, and last the rows
    that did not run. Lines to colour start with "VERDICT", "PARTIAL" or "!!!"."""
    sections = [verdict_lines(report, width), wrap(header_lines(report, not_run=False) + cost_lines(report), width),
                leaderboard_lines(report, width), comparison_lines(report, width), wrap(not_run_lines(report), width)]
    return [line for i, section in enumerate(s for s in sections if s) for line in ([""] if i else []) + section]


def _mde_sentence(mde: Mapping[str, Any]) -> str | None:
    """The smallest accuracy difference McNemar's test detects at this n, in words; says so when none is."""
    at = mde.get("accuracy_difference_at_discordant_rate") or {}
    if not at or not mde.get("n"):
        return None
    head = f"minimum detectable accuracy difference (McNemar, α=0.05, power 0.8, n={mde['n']}): "
    found = [f"{v:.3f} when {float(k):.0%} of items are discordant" for k, v in at.items() if v is not None]
    if not found:
        rates = ", ".join(f"{float(k):.0%}" for k in at)
        return head + (f"none: with {mde['n']} items no difference is detectable when {rates} of the items are "
                       "discordant; evaluate more items")
    missing = [f"{float(k):.0%}" for k, v in at.items() if v is None]
    return head + "; ".join(found) + (f" (none detectable at {', '.join(missing)})" if missing else "")


def cost_lines(report: Mapping[str, Any]) -> list[str]:
    """How local time and training are priced, and the smallest difference this test set detects."""
    lines = []
    econ = report.get("economics") or {}
    machine = econ.get("machine")
    if machine:
        lines.append(f"costs: local rows = measured time × ${machine['dollars_per_hour']:g}/h ({machine['name']}, "
                     f"as of {machine['as_of']}; --harness-dollars-per-hour to change)"
                     + ("; est. = tokens estimated from another row (see the Markdown report)"
                        if any(r["cost"].get("basis") == "estimated" for r in report["rows"]) else ""))
    sentence = _mde_sentence(report.get("mde") or {})
    if sentence:
        lines.append(sentence)
    return lines


# -- the verdict ----------------------------------------------------------------------------------------------

ALTERNATIVES = ("published LLM", "prompted API", "prompted local LLM", "TF-IDF floor")
LLM_ALTERNATIVES = ALTERNATIVES[:3]
PUBLISHED_REPLAY = "pytest suites -m {marker} --harness-models=published-gpt-4 --harness-strategies=published_zero_shot"
RECORD = "OPENAI_API_KEY=... pytest suites -m {marker} --harness-models=openai:gpt-4o-mini --record-mode=once"


def row_name(row: Mapping[str, Any]) -> str:
    return f"{row['model']} · {row['strategy']}"


def alternative_kind(model: str) -> str | None:
    """Which serious alternative to fine-tuning a row is, by its model's role: a published LLM's replies, a prompted
    LLM (behind an API, or run here), the classical floor; None for the rest (fine-tuned rows, unknown names)."""
    kind = kind_of(model)
    if kind is None or kind.fine_tuned:
        return None
    if kind.role is Role.PROMPTED:
        return "prompted API" if kind.api else "prompted local LLM"
    return "published LLM" if kind.role is Role.PUBLISHED_REPLIES else "TF-IDF floor"


def _label(row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """The model name, with its strategy only when the run has the model under several strategies."""
    strategies = {r["strategy"] for r in rows if r["model"] == row["model"]}
    return row["model"] if len(strategies) == 1 else f"{row['model']} ({row['strategy']})"


def _verdict_words(c: Mapping[str, Any]) -> str:
    words = {"better": "significantly better", "worse": "significantly worse",
             "tied": "no significant difference"}[c["verdict"]]
    p, holm = humanize.p_value(c["mcnemar_p"]), humanize.p_value(c["p_holm"])
    return (f"{words} (ΔF1 {_delta(c)}, McNemar p {_equals(p)}"
            + (f", Holm-adjusted {holm}" if holm != p else "") + ")")


def _equals(p: str) -> str:
    return p if p.startswith("<") else f"= {p}"


def _money_words(tuned: Mapping[str, Any], other: Mapping[str, Any], other_label: str) -> str:
    a, b = tuned["cost"]["per_1k_usd"], other["cost"]["per_1k_usd"]
    if a is None and b is None:
        return "neither row has a price"
    if a is None:
        return f"no cost for the fine-tuned row; {other_label} {humanize.usd(b)} per 1k requests"
    if b is None:
        return f"{humanize.usd(a)} per 1k requests, {other_label} has no price"
    est = " estimated" if other["cost"].get("basis") == "estimated" else ""
    return f"{humanize.usd(a)} vs{est} {humanize.usd(b)} per 1k requests ({humanize.cost_factor(a / b if b else None)})"


def _payback_words(v: Mapping[str, Any] | None) -> str:
    if not v:
        return "break-even not computed"
    note = str(v.get("break_even_note") or "")
    if note.startswith("not computable: no cost for"):
        return "no break-even without a cost for both rows"
    if note.startswith("not computable"):
        return "break-even " + note
    n = v.get("break_even_requests")
    if n is None:
        return "never pays back its training: it costs as much or more per request"
    text = f"pays back its {humanize.usd(v.get('training_usd'))} training after {humanize.requests(n)} requests"
    months = v.get("payback_months")
    if months is not None and months * 30 >= 1:
        text += f" ({humanize.months(months)} at {humanize.requests(v.get('monthly_volume'))} requests a month)"
    return text


def _marker(report: Mapping[str, Any]) -> str:
    try:
        from harness.tasks import registry

        return registry()[report["task"]].marker
    except Exception:  # noqa: BLE001 - a report from another task set: the sentiment suite's marker
        return "sentiment"


def _missing_llm(report: Mapping[str, Any]) -> str:
    """What is missing when no prompted LLM row ran, and the one command that records (or replays) one."""
    for name, reason in (report.get("unavailable") or {}).items():
        if is_api(name.partition(" · ")[0]) and "record with: " in reason:
            return (f"No prompted LLM row ran, so fine-tuning is compared with no LLM ({name}: not recorded). "
                    f"Record it with: {reason.split('record with: ', 1)[1]}")
    split = report.get("split") or {}
    if split.get("method") == "published" and report.get("task") == "fpb-sentiment":
        return ("No prompted LLM row ran, so fine-tuning is compared with no LLM. Replay the published GPT-4 "
                f"replies (no API key) with: {PUBLISHED_REPLAY.format(marker=_marker(report))}")
    return ("No prompted LLM row ran, so fine-tuning is compared with no LLM. Record one with: "
            f"{RECORD.format(marker=_marker(report))}")


def verdicts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The answer first: a headline, one sentence per fine-tuned row and serious alternative, and what is
    missing. ``{"headline": str, "sentences": [{"tuned", "other", "kind", "verdict", "text"}], "missing": [str]}``."""
    rows = report["rows"]
    by_name = {row_name(r): r for r in rows}
    versus = {(v["a"], v["b"]): v for v in (report.get("economics") or {}).get("versus", [])}
    tuned = list(dict.fromkeys(c["a"] for c in report.get("comparisons", []) if c["a"] in by_name))
    order = {kind: i for i, kind in enumerate(ALTERNATIVES)}
    sentences = []
    for t in tuned:
        mine = [c for c in report["comparisons"] if c["a"] == t and c["b"] in by_name
                and alternative_kind(by_name[c["b"]]["model"])]
        mine.sort(key=lambda c: (order[alternative_kind(by_name[c["b"]]["model"])], -by_name[c["b"]]["weighted_f1"]))
        for c in mine:
            a, b = by_name[t], by_name[c["b"]]
            kind = alternative_kind(b["model"])
            other = _label(b, rows)
            text = (f"{_label(a, rows)}: weighted F1 {a['weighted_f1']:.3f} vs {other} {b['weighted_f1']:.3f}, "
                    f"{_verdict_words(c)}; {_money_words(a, b, other)}; {_payback_words(versus.get((t, c['b'])))}.")
            sentences.append({"tuned": t, "other": c["b"], "kind": kind, "verdict": c["verdict"], "text": text})
    missing = []
    alone = [row_name(r) for r in rows if is_fine_tuned(r["model"])] if not tuned else []
    if alone:  # a fine-tuned row ran, but no other row beside it: nothing to compare
        missing.append(f"{', '.join(alone)} ran with no other row to compare it with. Add an alternative to "
                       f"--harness-models={','.join(by_name[a]['model'] for a in alone)},...: a prompted LLM "
                       "(openai:<model>, replayed from cassettes) or, for a classification task, tfidf-logreg")
    elif not tuned:
        missing.append("No fine-tuned row ran, so this run cannot answer fine-tune or prompt. Add one with: "
                       f"pytest suites -m {_marker(report)} --harness-models=adapter:fpb-sentiment-smollm2-135m"
                       if report.get("task") == "fpb-sentiment" else
                       "No fine-tuned row ran, so this run cannot answer fine-tune or prompt: add an adapter:<folder> "
                       "model to --harness-models.")
    if not any(alternative_kind(r["model"]) in LLM_ALTERNATIVES for r in rows):
        missing.append(_missing_llm(report))
    splits = report.get("across_splits") or {}
    across = [f"Across {len(splits.get('splits', []))} splits ({Path(splits['file']).name}): {line}"
              for line in splits.get("lines", [])] + ([splits["note"]] if splits.get("note") else [])
    headline = (f"No answer yet: {', '.join(alone)} ran, but no other row to compare it with." if alone
                else _headline(report, tuned, sentences, by_name))
    return {"headline": headline, "sentences": sentences, "missing": missing,
            "across_splits": across}


def _headline(report: Mapping[str, Any], tuned: Sequence[str], sentences: Sequence[Mapping[str, Any]],
              by_name: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence answering the title's question for the best fine-tuned row against the LLM rows."""
    if not tuned:
        return "No answer yet: no fine-tuned row ran."
    best = max(tuned, key=lambda t: by_name[t]["weighted_f1"])
    llm = [s for s in sentences if s["tuned"] == best and s["kind"] in LLM_ALTERNATIVES]
    if not llm:
        return f"No answer yet: {best} ran, but no prompted LLM row to compare it with."
    own = by_name[best]["cost"]["per_call_usd"]
    prices = [by_name[s["other"]]["cost"]["per_call_usd"] for s in llm]
    cheaper = own is not None and all(p is not None and own < p for p in prices)
    cheapest = min((p for p in prices if p is not None), default=None)
    saving = (f" and is {humanize.cost_factor(own / cheapest)} per request than the cheapest of them"
              if cheaper and cheapest else "")
    worse = [s for s in llm if s["verdict"] == "worse"]
    model = by_name[best]["model"]
    if worse:
        top = max(worse, key=lambda s: by_name[s["other"]]["weighted_f1"])
        return (f"Prompt, if quality comes first: {by_name[top['other']]['model']} is significantly better than "
                f"{model}" + (f", which is {humanize.cost_factor(own / by_name[top['other']]['cost']['per_call_usd'])}"
                              if own and by_name[top["other"]]["cost"]["per_call_usd"] else "") + ".")
    if all(s["verdict"] == "better" for s in llm):
        return f"Fine-tune: {model} is significantly better than every prompted LLM that ran{saving}."
    if cheaper:
        return (f"Fine-tune: {model} is as good as every prompted LLM that ran (no significant difference against "
                f"some){saving}.")
    return f"No clear winner: {model} is not significantly different from some prompted LLMs and is not cheaper."


def verdict_lines(report: Mapping[str, Any], width: int = TERMINAL_WIDTH) -> list[str]:
    """The verdict block for the terminal: the headline, then one wrapped bullet per sentence and per gap."""
    v = verdicts(report)
    lines = textwrap.wrap("VERDICT: " + v["headline"], width, subsequent_indent="  ")
    for text in [s["text"] for s in v["sentences"]] + v["across_splits"] + v["missing"]:
        lines += textwrap.wrap(text, width, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)
    return lines


def verdict_markdown(report: Mapping[str, Any], heading: str = "##") -> list[str]:
    """The verdict block as Markdown (for the report and for ``summary.md`` / a CI step summary)."""
    v = verdicts(report)
    out = [f"{heading} Verdict", "", f"**{v['headline']}**", ""]
    out += [f"- {s['text']}" for s in v["sentences"]] + [f"- {t}" for t in v["across_splits"]] + \
        [f"- {m}" for m in v["missing"]]
    return out + [""]


def not_run_markdown(report: Mapping[str, Any]) -> list[str]:
    """The rows and tables that did not run, collapsed (GitHub renders ``<details>``)."""
    items = _not_run_items(report)
    if not items:
        return []
    return ["", f"<details><summary>Not run ({len(items)})</summary>", ""] + \
        [f"- {name}: {reason}" for name, reason in items] + ["", "</details>", ""]


def _md_table(table: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])] + \
        ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in table[1:]]


def sensitivity_table(v: Mapping[str, Any]) -> list[list[str]] | None:
    """Break-even requests over machine $/h × API price factor, or None when the pair has no grid."""
    sens = v.get("sensitivity")
    if not sens:
        return None
    head = ["machine $/h \\ API price"] + [f"×{a:g}" for a in sens["api_price_factor"]]
    return [head] + [[humanize.usd(h)] + [humanize.requests(n) for n in cells]
                     for h, cells in zip(sens["dollars_per_hour"], sens["break_even_requests"])]


def payoff(report: Mapping[str, Any]) -> dict[str, Any]:
    """What "Does fine-tuning pay off?" says, as data: training costs, each pair's break-even, the grids."""
    econ = report.get("economics") or {}
    training = [{"model": m, "usd": humanize.usd(t.get("usd")), "note": t.get("note")}
                for m, t in (econ.get("training") or {}).items()]
    pairs = []
    for v in econ.get("versus", []):
        n = v.get("break_even_requests")
        pairs.append({"a": v["a"], "b": v["b"], "break_even": (f"{humanize.requests(n)} requests" if n is not None
                                                               else str(v.get("break_even_note"))),
                      "payback": humanize.months(v["payback_months"]) if v.get("payback_months") is not None else None,
                      "sensitivity": sensitivity_table(v)})
    return {"training": training, "pairs": pairs, "monthly_volume": humanize.requests(econ.get("monthly_volume"))}


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
    paid = payoff(report)
    out += ["", "## Does fine-tuning pay off?", ""]
    out += [f"- **{t['model']}** training cost: {t['usd']} ({t['note']})" for t in paid["training"]]
    out += ["", f"Break-even: requests after which training + serving the fine-tuned row costs less than the "
                f"other row's cost per request; payback at {paid['monthly_volume']} requests per month "
                "(`--harness-monthly-volume`).", ""]
    for pair in paid["pairs"]:
        out.append(f"- {pair['a']} vs {pair['b']}: {pair['break_even']}"
                   + (f", payback {pair['payback']}" if pair["payback"] else ""))
        if pair["sensitivity"]:
            out += ["", "  break-even requests (sensitivity):", ""] + \
                ["  " + line for line in _md_table(pair["sensitivity"])] + [""]
    return out


def markdown(report: Mapping[str, Any], learning_curve_note: str | None = None,
             learning_curve: Mapping[str, Any] | None = None) -> str:
    out = [f"# {report['task']}: fine-tune or prompt?", ""]
    if report.get("notice"):
        out += [f"> **{report['notice']}**", ""]
    out += verdict_markdown(report)
    out += [f"> {line}" for line in header_lines(report, not_run=False) if not line.startswith("!!!")]
    out += [f"> {line}" for line in cost_lines(report)]
    out += ["", "## Leaderboard", ""] + _md_table(leaderboard(report))
    if report.get("comparisons"):
        out += ["", "## Fine-tuned vs the rest (paired, same items)", ""]
        out += _md_table(comparison_table(report))
        out += ["", "latency and cost compare the fine-tuned row's p50 latency and $ per call with the other row's; a "
                    "local row's latency is per item at its batch size (leaderboard), an API row's is per call. "
                    "Break-even and payback: see *Does fine-tuning pay off?* below."]
        out += ["", "Minimum detectable accuracy difference at each pair's observed discordance (McNemar, α=0.05, "
                    "power 0.8): " + "; ".join(f"{c['b']}: {c['mde_accuracy']:.3f}" if c.get("mde_accuracy")
                                                 else f"{c['b']}: none at this n" for c in report["comparisons"])]
    out += ["", "## Pareto view (weighted F1 vs $ per 1k requests and vs p50 latency)", ""]
    out += _md_table([["model", "strategy", "vs $ per 1k", "vs p50 latency"]] +
                     [[r["model"], r["strategy"], str(r["pareto"]["cost"] or "n/a"), str(r["pareto"]["latency"] or "n/a")]
                      for r in report["rows"]])
    out += economics_markdown(report)
    if learning_curve_note:
        plotted = " Plotted in the HTML report." if learning_curve else ""
        out += ["", "## Learning curve", "", learning_curve_note + plotted]
        out += [""] + [f"- {line}" for line in (learning_curve or {}).get("answers") or []]
    for companion in report.get("companions") or []:
        if companion.get("not_run"):
            continue
        out += ["", f"## {companion['title']} ({companion['task']})", ""]
        out += [f"> {line}" for line in companion["notes"]] + [""] + _md_table(companion["table"])
    out += ["", "## Where each row comes from", ""]
    out += [f"- **{r['model']} · {r['strategy']}**: {r['provenance']}" for r in report["rows"]]
    out += ["", f"Generated {report['created_at']} at git {report['git_sha'] or 'unknown'}; "
                f"template {report['template_version']}; bootstrap {report['bootstrap_resamples']} resamples.", ""]
    out += not_run_markdown(report)
    return "\n".join(out)


# -- the learning curve ---------------------------------------------------------------------------------------

LEARNING_CURVE = "learning_curve.json"
CURVE_SPLIT_KEYS = ("method", "seed", "test_fingerprint")


def _curve_run(curve: Mapping[str, Any]) -> str:
    split, data = curve.get("split") or {}, curve.get("data") or {}
    return (f"{curve.get('task', 'fpb-sentiment')} on {data.get('file', 'unknown data')}, split {split.get('method')} "
            f"seed {split.get('seed')} (test {split.get('test_fingerprint')}), measured {curve.get('created_at', '?')}")


def curve_mismatch(report: Mapping[str, Any], curve: Mapping[str, Any]) -> str | None:
    """Why a learning curve does not belong to this report (task, data file or split differ), or None."""
    split, theirs = report.get("split") or {}, curve.get("split") or {}
    problems = [f"{key} {theirs.get(key)} ≠ {split.get(key)}" for key in CURVE_SPLIT_KEYS
                if theirs.get(key) != split.get(key)]
    mine, data = report.get("data") or {}, curve.get("data") or {}
    if data.get("file") != mine.get("file"):
        problems.append(f"data {data.get('file')} ≠ {mine.get('file')}")
    elif data.get("file_sha256") and mine.get("file_sha256") and data["file_sha256"] != mine["file_sha256"]:
        problems.append("data file contents differ (sha256)")
    if curve.get("task", "fpb-sentiment") != report.get("task"):
        problems.append(f"task {curve.get('task', 'fpb-sentiment')} ≠ {report.get('task')}")
    return "; ".join(problems) or None


def read_learning_curve(report: Mapping[str, Any], directory: Path) -> tuple[dict[str, Any] | None, str | None]:
    """This run's learning curve from ``directory`` (the report's own folder, never the package's), and a
    note: which run a curve belongs to when it is not this one's, or how to measure one."""
    path = directory / LEARNING_CURVE
    try:
        curve = json.loads(path.read_text())
    except OSError:
        return None, ("No learning curve for this run: `python -m finetune sentiment --learning-curve` measures one "
                      f"and writes {LEARNING_CURVE} beside this report.")
    except ValueError as exc:
        return None, f"{path.name} beside this report is not valid JSON ({exc}): not drawn."
    why = curve_mismatch(report, curve)
    if why:
        return None, (f"Not drawn: the {LEARNING_CURVE} beside this report belongs to another run "
                      f"({_curve_run(curve)}); this run differs in {why}.")
    return curve, f"Measured for this task, data and split ({_curve_run(curve)})."


def write(report: Mapping[str, Any], cases: Iterable[Mapping[str, Any]], directory: Path,
          texts: Mapping[str, str] | None = None) -> dict[str, Path]:
    """JSON, predictions CSV, Markdown and the self-contained HTML (which holds the test sentences in
    ``texts``, like the CSV: both stay out of git). A ``learning_curve.json`` in ``directory`` is drawn
    when it was measured on this run's task, data and split (:func:`read_learning_curve`)."""
    from harness import html_report

    cases = list(cases)
    stem = report["task"]
    paths = {
        "json": directory / f"{stem}.json",
        "csv": directory / f"{stem}_predictions.csv",
        "markdown": directory / f"{stem}.md",
        "html": directory / f"{stem}.html",
    }
    curve, curve_note = read_learning_curve(report, directory)
    _atomic_write(paths["json"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(paths["csv"], predictions_csv(cases))
    _atomic_write(paths["markdown"], markdown(report, curve_note, curve))
    _atomic_write(paths["html"], html_report.render(report, cases, texts or {}, curve, curve_note=curve_note))
    return paths
