"""The report as one self-contained HTML file: inline CSS, inline SVG plots (matplotlib), plain inline JS,
no network. Rendered from the jinja2 templates in ``harness/templates/`` (autoescape on).

Order: the verdict's top block (the answer to "fine-tune or prompt?" in one sentence, then the best row of each
kind of alternative in brief), the plots (weighted F1 with CI per row; quality against $ per 1k and against
latency with the Pareto front; break-even against monthly volume), the leaderboard and the paired comparisons,
the verdict in full (one sentence per fine-tuned row and serious alternative), costs and payback, latency
distributions, confusion matrices, the learning curve (only when measured on this task, data and split),
companion tables, an error browser (misclassified sentences with every row's raw reply), the run's metadata,
and last, collapsed, the rows that did not run.

The file holds test-set sentences (Financial PhraseBank, CC BY-NC-SA): it is written under ``reports/``,
which is not committed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Any, Mapping, Sequence

from harness import humanize
from harness.report import plots
from harness.report.curve import LearningCurve
from harness.report.rows import Row
from harness.report.run import Report, RunReport, Training
from harness.report.tables import Payoff, comparison_table, cost_table, leaderboard, mde_cell, payoff
from harness.report.text import cost_lines, header_lines, not_run_items
from harness.report.verdict import IN_FULL, alternative_kind, verdict
from harness.results import CaseResult
from harness.secrets_scan import redact

MAX_REPLY = 1500
NUMERIC_LEADERBOARD = (2, 4, 5)
NUMERIC_COSTS = (2, 3, 4, 5)


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _markup(text: str):
    from markupsafe import Markup

    return Markup(text)


def _table(rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> dict[str, Any]:
    return {"head": [str(c) for c in rows[0]], "rows": [[str(c) for c in r] for r in rows[1:]],
            "numeric": list(numeric)}


def _plot(plot: plots.Plot, plot_id: str, title: str, caption: str = "") -> dict[str, Any]:
    return {"id": plot_id, "title": title, "svg": _markup(plot.svg) if plot.svg else None, "note": plot.note,
            "caption": caption}


def _tuned_names(report: RunReport) -> set[str]:
    return {c.a for c in report.comparisons}


def summary_plots(report: Report) -> list[dict[str, Any]]:
    """The plots under the verdict: F1 per row, quality vs $ and vs latency, and one break-even per tuned row."""
    report = RunReport.of(report)
    ran, tuned = list(report.rows), _tuned_names(report)
    out = [
        _plot(plots.f1_bars(ran, tuned), "plot-f1", "Weighted F1 per row",
              "Points: weighted F1; bars: 95% bootstrap CI. Overlapping bars are not a test: see the paired "
              "comparisons below."),
        _plot(plots.quality_vs_cost(ran, tuned), "plot-cost", "Quality against cost",
              "Dashed: the Pareto front (no row is at least as good and as cheap)."),
        _plot(plots.quality_vs_latency(ran, tuned), "plot-latency", "Quality against latency",
              "A local row's latency is per item at its batch size; an API row's is per call."),
    ]
    econ = report.economics
    by_name = {r.name: r for r in ran}
    for i, name in enumerate(sorted(tuned)):
        if name not in by_name:
            continue
        others = [r for r in ran if r.name != name and alternative_kind(r.model)]
        training = econ.training.get(by_name[name].model) or Training()
        plot = plots.break_even(by_name[name], training.usd, others, econ.monthly_volume,
                                colors=plots.colors_for(ran, tuned))
        out.append(_plot(plot, f"plot-break-even-{i}", f"Break-even: {name}",
                         "First month's total cost: training plus serving for the fine-tuned row, serving alone for "
                         "each other row. Dots: break-even volume. Dotted: the monthly volume assumed in the tables."))
    return out


def _confusion(row: Row) -> dict[str, Any]:
    conf = row.confusion
    top = max((v for r in conf["matrix"] for v in r), default=1) or 1
    return {"name": row.name, "columns": conf["columns"],
            "rows": [{"label": label, "cells": [{"value": v, "alpha": f"{v / top * 0.8:.2f}"} for v in counts]}
                     for label, counts in zip(conf["labels"], conf["matrix"])]}


def _latencies(report: RunReport, cases: Sequence[CaseResult]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {r.name: [] for r in report.rows}
    for c in cases:
        if c.latency_s:
            out.setdefault(" · ".join(c.row), []).append(float(c.latency_s))
    return out


def _browser_data(report: RunReport, cases: Sequence[CaseResult], texts: Mapping[str, str]) -> dict[str, Any]:
    names = [r.name for r in report.rows]
    by_item: dict[str, dict[str, Any]] = {}
    for c in sorted(cases, key=lambda c: c.index):
        item = by_item.setdefault(c.example_id, {"id": c.example_id, "text": texts.get(c.example_id, ""),
                                                 "gold": c.gold, "r": {}})
        item["r"][" · ".join(c.row)] = [c.pred, redact(c.error or c.reply or "")[:MAX_REPLY]]  # no key-like text
    wrong = [i for i in by_item.values() if any(p != i["gold"] for p, _ in i["r"].values())]
    return {"rows": names, "items": wrong}


def _payoff(report: RunReport) -> Payoff:
    """The payoff with each break-even grid as a template table."""
    paid = payoff(report)
    return replace(paid, pairs=tuple(replace(p, sensitivity=_table(p.sensitivity) if p.sensitivity else None)
                                     for p in paid.pairs))


def _script_json(value: Any) -> Any:
    """JSON for a ``<script type="application/json">`` block: no sentence can close the element."""
    return _markup(json.dumps(value, ensure_ascii=False).replace("</", "<\\/"))


def _run_line(report: RunReport) -> str:
    data, split = report.data, report.split
    parts = [f"{split.n_evaluated} test items from {data.file}", f"split {split.method} seed {split.seed}",
             f"bootstrap {report.bootstrap_resamples} resamples"]
    if report.prices:
        parts.append(f"API prices as of {report.prices.as_of}")
    machine = report.economics.machine
    if machine:
        parts.append(f"local time at ${machine.dollars_per_hour:g}/h")
    return " · ".join(parts)


def _run_meta(report: RunReport) -> list[list[Any]]:
    data, split = report.data, report.split
    return [["key", "value"], ["created", report.created_at], ["git sha", report.git_sha or "unknown"],
            ["task", f"{report.task} v{report.task_version}"], ["template", report.template_version],
            ["data", f"{data.file} sha256 {str(data.file_sha256)[:16]} ({data.source})"],
            ["split", f"{split.method} seed {split.seed}, test fingerprint {split.test_fingerprint}"],
            ["bootstrap resamples", report.bootstrap_resamples], ["record mode", report.record_mode],
            ["python", report.python]] + \
        [[f"package {k}", v or "not installed"] for k, v in report.packages.items()]


def context(report: Report, cases: Sequence[CaseResult | Mapping[str, Any]], texts: Mapping[str, str],
            learning_curve: LearningCurve | Mapping[str, Any] | None = None, curve_note: str | None = None) -> dict[str, Any]:
    """Everything the template shows, computed here so the template only lays it out."""
    report, cases = RunReport.of(report), [CaseResult.of(c) for c in cases]
    ran = list(report.rows)
    return {
        "task": report.task,
        "notice": report.notice,
        "partial": report.partial_rows,
        "verdict": verdict(report),
        "in_full_title": IN_FULL,
        "run_line": _run_line(report),
        "plots": summary_plots(report),
        "leaderboard": _table(leaderboard(report), NUMERIC_LEADERBOARD),
        "comparisons": _table(comparison_table(report)) if report.comparisons else None,
        "mde": mde_cell(report),
        "costs": _table(cost_table(report), NUMERIC_COSTS),
        "payoff": _payoff(report),
        "latency": _plot(plots.latency_boxes(_latencies(report, cases)), "plot-latency-dist", ""),
        "confusions": [_confusion(r) for r in ran],
        "learning_curve": _plot(plots.learning_curve(learning_curve), "plot-learning-curve", "")
        if learning_curve else None,
        "curve_note": curve_note,
        "companions": [{"task": c.task, "title": c.title, "notes": c.notes, "table": _table(c.table)}
                       for c in report.companions if not c.not_run],
        "browser": _script_json(_browser_data(report, cases, texts)),
        "meta_lines": header_lines(report, not_run=False) + cost_lines(report),
        "run_meta": _table(_run_meta(report)),
        "provenance": [{"name": r.name, "text": r.provenance} for r in ran],
        "not_run": [{"name": name, "reason": reason} for name, reason in not_run_items(report)],
        "machine": report.economics.machine,
        "usd": humanize.usd,
    }


def render(report: Report, cases: Sequence[CaseResult | Mapping[str, Any]], texts: Mapping[str, str],
           learning_curve: LearningCurve | Mapping[str, Any] | None = None, *, curve_note: str | None = None) -> str:
    """The whole page. ``learning_curve`` is drawn as given: :func:`harness.report.curve.read_learning_curve`
    decides whether a curve belongs to the run (``curve_note`` says why one is or is not shown)."""
    return _environment().get_template("report.html.j2").render(
        **context(report, cases, texts, learning_curve, curve_note))
