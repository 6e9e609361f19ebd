"""The report as Markdown: the verdict's top block, the data lines, the leaderboard, the comparisons, the verdict in
full, the costs and their payoff, the learning curve note, companion tables, provenance, and what did not run."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.report.curve import LearningCurve
from harness.report.run import Report, RunReport
from harness.report.tables import comparison_table, cost_table, leaderboard, mde_cell, payoff
from harness.report.text import cost_lines, header_lines, not_run_items
from harness.report.verdict import IN_FULL, verdict


def verdict_markdown(report: Report, heading: str = "##", *, in_full: bool = True) -> list[str]:
    """The verdict's top block as Markdown: the headline, one bullet per kind of alternative (or gap), the pointer;
    with ``in_full`` the verdict in full right after it (``summary.md`` / a CI step summary). The report puts the
    verdict in full after its comparisons instead (:func:`verdict_in_full_markdown`)."""
    v = verdict(report)
    out = [f"{heading} Verdict", "", f"**{v.headline}**", ""]
    if v.top:
        out += [f"- {t.text}" for t in v.top] + [""]
    if v.more:
        out += [v.more, ""]
    return out + (verdict_in_full_markdown(report, heading) if in_full else [])


def verdict_in_full_markdown(report: Report, heading: str = "##") -> list[str]:
    """Every sentence of the verdict, its results across splits and the gaps the top block has no room for."""
    in_full = verdict(report).in_full
    return [f"{heading} {IN_FULL}", ""] + [f"- {t.text}" for t in in_full] + [""] if in_full else []


def not_run_markdown(report: Report) -> list[str]:
    """The rows and tables that did not run, collapsed (GitHub renders ``<details>``)."""
    items = not_run_items(report)
    if not items:
        return []
    return ["", f"<details><summary>Not run ({len(items)})</summary>", ""] + \
        [f"- {name}: {reason}" for name, reason in items] + ["", "</details>", ""]


def markdown_cell(value: object) -> str:
    """One table cell: ``|`` escaped (it would end the cell), line breaks flattened to spaces (they would end
    the row)."""
    return " ".join(str(value).replace("|", "\\|").splitlines())


def markdown_table(table: Sequence[Sequence[object]]) -> list[str]:
    """A GitHub Markdown table, one line per row: the first row is the header, then the ``---`` rule."""
    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(markdown_cell(c) for c in cells) + " |"

    return [line(table[0]), "|" + "---|" * len(table[0])] + [line(r) for r in table[1:]]


def economics_markdown(report: Report) -> list[str]:
    report = RunReport.of(report)
    econ = report.economics
    out = ["", "## Cost per row", ""]
    machine = econ.machine
    if machine:
        out += [f"Local rows are priced as measured time × **${machine.dollars_per_hour:g}/h**: "
                f"{machine.description} ({machine.source}, as of {machine.as_of}). Latency of a local "
                "row is its batch's time divided by the batch size (the batch size is in the leaderboard).", ""]
    out += markdown_table(cost_table(report))
    if not econ.training:
        return out
    paid = payoff(report)
    out += ["", "## Does fine-tuning pay off?", ""]
    out += [f"- **{t.model}** training cost: {t.usd} ({t.note})" for t in paid.training]
    out += ["", f"Break-even: requests after which training + serving the fine-tuned row costs less than the "
                f"other row's cost per request; payback at {paid.monthly_volume} requests per month "
                "(`--harness-monthly-volume`).", ""]
    for pair in paid.pairs:
        out.append(f"- {pair.a} vs {pair.b}: {pair.break_even}" + (f", payback {pair.payback}" if pair.payback else ""))
        if pair.sensitivity:
            out += ["", "  break-even requests (sensitivity):", ""] + \
                ["  " + line for line in markdown_table(pair.sensitivity)] + [""]
    return out


def markdown(report: Report, learning_curve_note: str | None = None,
             learning_curve: LearningCurve | Mapping[str, Any] | None = None) -> str:
    report = RunReport.of(report)
    out = [f"# {report.task}: fine-tune or prompt?", ""]
    if report.notice:
        out += [f"> **{report.notice}**", ""]
    out += verdict_markdown(report, in_full=False)
    out += [f"> {line}" for line in header_lines(report, not_run=False) if not line.startswith("!!!")]
    out += [f"> {line}" for line in cost_lines(report)]
    out += ["", "## Leaderboard", ""] + markdown_table(leaderboard(report))
    if report.comparisons:
        out += ["", "## Fine-tuned vs the rest (paired, same items)", ""]
        out += markdown_table(comparison_table(report))
        out += ["", "latency and cost compare the fine-tuned row's p50 latency and $ per call with the other row's; a "
                    "local row's latency is per item at its batch size (leaderboard), an API row's is per call. "
                    "Break-even and payback: see *Does fine-tuning pay off?* below."]
        out += ["", "Minimum detectable accuracy difference at each pair's observed discordance (McNemar, α=0.05, "
                    "power 0.8): " + mde_cell(report)]
    in_full = verdict_in_full_markdown(report)
    if in_full:
        out += [""] + in_full[:-1]  # the next section opens with its blank line
    out += ["", "## Pareto view (weighted F1 vs $ per 1k requests and vs p50 latency)", ""]
    out += markdown_table([["model", "strategy", "vs $ per 1k", "vs p50 latency"]] +
                          [[r.model, r.strategy, str(r.pareto.cost or "n/a"), str(r.pareto.latency or "n/a")]
                           for r in report.rows])
    out += economics_markdown(report)
    if learning_curve_note:
        plotted = " Plotted in the HTML report." if learning_curve else ""
        out += ["", "## Learning curve", "", learning_curve_note + plotted]
        out += [""] + [f"- {line}" for line in (LearningCurve.of(learning_curve).answers if learning_curve else ())]
    for companion in report.companions:
        if companion.not_run:
            continue
        out += ["", f"## {companion.title} ({companion.task})", ""]
        out += [f"> {line}" for line in companion.notes] + [""] + markdown_table(companion.table)
    out += ["", "## Where each row comes from", ""]
    out += [f"- **{r.name}**: {r.provenance}" for r in report.rows]
    out += ["", f"Generated {report.created_at} at git {report.git_sha or 'unknown'}; "
                f"template {report.template_version}; bootstrap {report.bootstrap_resamples} resamples.", ""]
    out += not_run_markdown(report)
    return "\n".join(out)

