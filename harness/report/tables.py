"""The report's tables as lists of text cells (the first list is the header): the leaderboard, the costs, the
paired comparisons and the break-even grids. Text, Markdown and HTML lay out the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from harness import humanize
from harness.report.rows import Comparison, Row, Versus
from harness.report.run import Report, RunReport


def row_name(row: Mapping[str, Any]) -> str:
    return f"{row['model']} · {row['strategy']}"


def ci_cell(row: Row) -> str:
    low, high = row.weighted_f1_ci95 or (float("nan"), float("nan"))
    return f"{row.weighted_f1:.3f} [{low:.3f}, {high:.3f}]"


def _latency(row: Row) -> str:
    lat = row.latency
    if lat.p50_s is None:
        return "n/a"
    text = f"{humanize.duration(lat.p50_s)} / {humanize.duration(lat.p95_s)} ({lat.source}, batch {lat.batch_size})"
    if lat.batch1_s is not None and lat.throughput_per_s:
        text += (f"; alone {humanize.duration(lat.batch1_s)}, {humanize.number(lat.throughput_per_s)}/s "
                 f"at batch {lat.batch_size}")
    return text


def _failures(row: Row) -> str:
    """Parse failures, with calls that produced no reply at all (errors) shown apart."""
    return f"{row.parse_failures}" + (f" (+{row.errors} errors)" if row.errors else "")


BASIS_MARK = {"billed": "billed", "machine time": "time", "estimated": "est."}


def _dollars(row: Row) -> str:
    cost = row.cost
    if cost.per_1k_usd is None:
        return "price unknown" if cost.price_unknown else "n/a"
    return f"{humanize.usd(cost.per_1k_usd)} ({BASIS_MARK.get(cost.basis, cost.basis)})"  # type: ignore[arg-type]


def _front(row: Row) -> str:
    marks = ["-" if value is None else "yes" if value == "frontier" else "no"
             for value in (row.pareto.cost, row.pareto.latency)]
    return " / ".join(marks)


def _n(row: Row) -> str:
    return f"{row.n}" if row.n == row.expected else f"{row.n}/{row.expected}"


def leaderboard(report: Report, *, compact: bool = False) -> list[list[str]]:
    """Rows best first. The full table's column order is read by other modules (history, tfns): keep it.
    ``compact``: the terminal's narrower table (one row-name column, no accuracy / macro F1, p50 only)."""
    ranked = sorted(RunReport.of(report).rows, key=lambda r: -r.weighted_f1)
    if compact:
        return [["row", "n", "weighted F1 [95% CI]", "parse fail", "p50", "$ per 1k", "Pareto $/p50"]] + [
            [r.name, _n(r), ci_cell(r), _failures(r), humanize.duration(r.latency.p50_s), _dollars(r), _front(r)]
            for r in ranked]
    header = ["model", "strategy", "n", "weighted F1 [95% CI]", "accuracy", "macro F1", "parse failures",
              "latency p50 / p95", "$ per 1k", "Pareto $ / p50"]
    return [header] + [[r.model, r.strategy, _n(r), ci_cell(r), f"{r.accuracy:.3f}", f"{r.macro_f1:.3f}",
                        _failures(r), _latency(r), _dollars(r), _front(r)] for r in ranked]


def cost_table(report: Report) -> list[list[str]]:
    """$ per call, per 1k requests and in total, with how each was obtained."""
    usd = humanize.usd
    return [["model", "strategy", "$ per call", "$ per 1k", "$ total", "calls", "how"]] + [
        [r.model, r.strategy, usd(r.cost.per_call_usd), usd(r.cost.per_1k_usd), usd(r.cost.total_usd),
         str(r.cost.calls or r.n), str(r.cost.note or "")] for r in RunReport.of(report).rows]


def comparison_table(report: Report) -> list[list[str]]:
    """Fine-tuned rows vs every other row: paired F1 difference, McNemar p (Holm), verdict, and the money."""
    report = RunReport.of(report)
    money = report.versus()
    volume = report.economics.monthly_volume
    table = [["fine-tuned", "vs", "ΔF1 [95% CI]", "McNemar p (Holm)", "verdict", "latency", "cost",
              "break-even", f"payback at {humanize.requests(volume)}/month"]]
    previous = None
    for c in report.comparisons:
        e = money.get((c.a, c.b)) or Versus(a=c.a, b=c.b)
        computable = (c.a, c.b) in money and e.computable
        table.append([
            c.a if c.a != previous else "", c.b, delta_cell(c), _p(c), c.verdict.upper(),
            humanize.speed_factor(e.latency_ratio), humanize.cost_factor(e.cost_ratio),
            humanize.requests(e.break_even_requests) + (" requests" if e.break_even_requests else "")
            if computable else "n/a",
            humanize.months(e.payback_months) if computable else "n/a",
        ])
        previous = c.a
    return table


def delta_cell(c: Comparison) -> str:
    low, high = c.f1_difference_ci95
    return f"{c.f1_difference:+.3f} [{low:+.3f}, {high:+.3f}]"


def _p(c: Comparison) -> str:
    return f"{humanize.p_value(c.mcnemar_p)} ({humanize.p_value(c.p_holm)})"


def mde_cell(report: Report) -> str:
    """The smallest accuracy difference McNemar detects at each pair's observed discordance, one per pair."""
    return "; ".join(f"{c.b}: {c.mde_accuracy:.3f}" if c.mde_accuracy else f"{c.b}: none at this n"
                     for c in RunReport.of(report).comparisons)


def sensitivity_table(v: Versus) -> list[list[str]] | None:
    """Break-even requests over machine $/h × API price factor, or None when the pair has no grid."""
    sens = v.sensitivity
    if not sens:
        return None
    head = ["machine $/h \\ API price"] + [f"×{a:g}" for a in sens["api_price_factor"]]
    return [head] + [[humanize.usd(h)] + [humanize.requests(n) for n in cells]
                     for h, cells in zip(sens["dollars_per_hour"], sens["break_even_requests"])]


@dataclass(frozen=True)
class TrainingCost:
    """One fine-tuned model's training cost, as text."""

    model: str
    usd: str
    note: str | None


@dataclass(frozen=True)
class Payback:
    """When a fine-tuned row (``a``) pays back its training against another row (``b``), as text, and the
    break-even grid (None when the pair has none)."""

    a: str
    b: str
    break_even: str
    payback: str | None
    sensitivity: Any


@dataclass(frozen=True)
class Payoff:
    """What "Does fine-tuning pay off?" says: training costs, each pair's break-even, the monthly volume."""

    training: tuple[TrainingCost, ...]
    pairs: tuple[Payback, ...]
    monthly_volume: str


def payoff(report: Report) -> Payoff:
    """What "Does fine-tuning pay off?" says, as data: training costs, each pair's break-even, the grids."""
    econ = RunReport.of(report).economics
    training = tuple(TrainingCost(m, humanize.usd(t.usd), t.note) for m, t in econ.training.items())
    pairs = []
    for v in econ.versus_by_pair().values():
        n = v.break_even_requests
        pairs.append(Payback(v.a, v.b, f"{humanize.requests(n)} requests" if n is not None else str(v.break_even_note),
                             humanize.months(v.payback_months) if v.payback_months is not None else None,
                             sensitivity_table(v)))
    return Payoff(training, tuple(pairs), humanize.requests(econ.monthly_volume))
