"""The report's tables as lists of text cells (the first list is the header): the leaderboard, the costs, the
paired comparisons and the break-even grids. Text, Markdown and HTML lay out the same cells.
"""

from __future__ import annotations

from typing import Any, Mapping

from harness import economics, humanize


def row_name(row: Mapping[str, Any]) -> str:
    return f"{row['model']} · {row['strategy']}"


def _ci(row: Mapping[str, Any]) -> str:
    low, high = row["weighted_f1_ci95"]
    return f"{row['weighted_f1']:.3f} [{low:.3f}, {high:.3f}]"


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
            c["a"] if c["a"] != previous else "", c["b"], delta_cell(c), _p(c), c["verdict"].upper(),
            humanize.speed_factor(e.get("latency_ratio")), humanize.cost_factor(e.get("cost_ratio")),
            humanize.requests(e.get("break_even_requests")) + (" requests" if e.get("break_even_requests") else "")
            if computable else "n/a",
            humanize.months(e.get("payback_months")) if computable else "n/a",
        ])
        previous = c["a"]
    return table


def delta_cell(c: Mapping[str, Any]) -> str:
    low, high = c["f1_difference_ci95"]
    return f"{c['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _p(c: Mapping[str, Any]) -> str:
    return f"{humanize.p_value(c['mcnemar_p'])} ({humanize.p_value(c['p_holm'])})"


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

