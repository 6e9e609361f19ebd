"""The report for the terminal: aligned tables clipped to a width, the data / split / cost lines, the
verdict's top block and the verdict in full, wrapped lines."""

from __future__ import annotations

import textwrap
from typing import Iterable, Sequence

from harness.recording.format import RESEALED_WORDS
from harness.report.run import Mde, Report, RunReport
from harness.report.tables import comparison_table, leaderboard
from harness.report.verdict import IN_FULL, verdict

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


def leaderboard_lines(report: Report, width: int = TERMINAL_WIDTH) -> list[str]:
    """The terminal's leaderboard: the compact table, at most ``width`` columns (details are in the Markdown)."""
    return text_table(leaderboard(report, compact=True), max_width=width)


def header_lines(report: Report, *, not_run: bool = True) -> list[str]:
    """Data, split and price lines; with ``not_run`` also one line per model or pair that did not run
    (the reports show those in a collapsed section at the end instead: :func:`not_run_lines`)."""
    report = RunReport.of(report)
    data, split = report.data, report.split
    lines = []
    if report.notice:
        lines.append(f"!!! {report.notice} !!!")
    dropped = data.exact_repeats_dropped  # a declared task drops exact repeats before splitting
    lines.append(
        f"data: {data.file} ({data.source}: {data.directory}), {data.examples} examples, "
        f"{data.duplicate_lines} duplicate lines kept, "
        + (f"{dropped} exact repeats (same text and label) dropped, " if dropped else "")
        + f"{data.conflicting_sentences_removed} conflicting sentences removed"
    )
    lines.append(
        f"split: {split.method} seed {split.seed}: {split.n_train} train / {split.n_test} test "
        f"(evaluated {split.n_evaluated}), test fingerprint {split.test_fingerprint}, "
        f"{split.leaked_removed_from_train} leaked + {split.repeats_removed_from_train} repeated items removed from "
        "train"
    )
    if report.prices:
        lines.append(f"prices: USD per 1M tokens as of {report.prices.as_of} (harness/prices.toml); "
                     "recorded latencies are replayed from cassettes and labelled with their recording date")
    lines += caveat_lines(report)
    if not_run:
        lines += not_run_lines(report)
    if report.partial:
        lines.append(f"PARTIAL: fewer cases than expected for {', '.join(report.partial_rows)}")
    return lines


def caveat_lines(report: Report) -> list[str]:
    """One line per row replayed from a resealed cassette: when and why, as its provenance says."""
    return provenance_caveats((r.name, r.provenance) for r in RunReport.of(report).rows)


def provenance_caveats(rows: Iterable[tuple[str, str]]) -> list[str]:
    """``caveat: ROW: cassette resealed on DATE: REASON`` for each (row name, provenance) that says so."""
    return [f"caveat: {name}: {provenance[provenance.index(RESEALED_WORDS):]}"
            for name, provenance in rows if RESEALED_WORDS in provenance]


def not_run_lines(report: Report) -> list[str]:
    """One line per model or model · strategy that was asked for but could not run, with why."""
    return [f"not run: {name}: {reason}" for name, reason in RunReport.of(report).unavailable.items()]


def not_run_items(report: Report) -> list[tuple[str, str]]:
    """(name, reason) of every row and companion table that did not run."""
    report = RunReport.of(report)
    items = list(report.unavailable.items())
    items += [(c.name, c.not_run) for c in report.companions if c.not_run]
    return items


def comparison_lines(report: Report, width: int = TERMINAL_WIDTH) -> list[str]:
    """The comparison table as aligned terminal lines, at most ``width`` wide (none without a fine-tuned row):
    a line naming each fine-tuned row, then the rows it was compared with: ΔF1, p, verdict, cost and
    break-even (latency and payback are in the Markdown)."""
    report = RunReport.of(report)
    if not report.comparisons:
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


def terminal_lines(report: Report, width: int = TERMINAL_WIDTH) -> list[str]:
    """Everything the terminal shows for a task, at most ``width`` columns (detail is in the Markdown): the
    verdict's top block first, then data / split / costs, the compact leaderboard, the comparisons, the verdict
    in full, and last the rows that did not run. Lines to colour start with "VERDICT", "PARTIAL" or "!!!"."""
    report = RunReport.of(report)
    sections = [verdict_lines(report, width), wrap(header_lines(report, not_run=False) + cost_lines(report), width),
                leaderboard_lines(report, width), comparison_lines(report, width), verdict_in_full_lines(report, width),
                wrap(not_run_lines(report), width)]
    return [line for i, section in enumerate(s for s in sections if s) for line in ([""] if i else []) + section]


def _mde_sentence(mde: Mde) -> str | None:
    """The smallest accuracy difference McNemar's test detects at this n, in words; says so when none is."""
    at = mde.accuracy_difference_at_discordant_rate or {}
    if not at or not mde.n:
        return None
    head = f"minimum detectable accuracy difference (McNemar, α=0.05, power 0.8, n={mde.n}): "
    found = [f"{v:.3f} when {float(k):.0%} of items are discordant" for k, v in at.items() if v is not None]
    if not found:
        rates = ", ".join(f"{float(k):.0%}" for k in at)
        return head + (f"none: with {mde.n} items no difference is detectable when {rates} of the items are "
                       "discordant; evaluate more items")
    missing = [f"{float(k):.0%}" for k, v in at.items() if v is None]
    return head + "; ".join(found) + (f" (none detectable at {', '.join(missing)})" if missing else "")


def cost_lines(report: Report) -> list[str]:
    """How local time and training are priced, and the smallest difference this test set detects."""
    report = RunReport.of(report)
    lines = []
    machine = report.economics.machine
    if machine:
        lines.append(f"costs: local rows = measured time × ${machine.dollars_per_hour:g}/h ({machine.name}, "
                     f"as of {machine.as_of}; --harness-dollars-per-hour to change)"
                     + ("; est. = tokens estimated from another row (see the Markdown report)"
                        if any(r.cost.basis == "estimated" for r in report.rows) else ""))
    sentence = _mde_sentence(report.mde)
    if sentence:
        lines.append(sentence)
    return lines


def _bullets(texts: Iterable[str], width: int) -> list[str]:
    return [line for text in texts for line in textwrap.wrap(text, width, initial_indent="- ", subsequent_indent="  ",
                                                            break_on_hyphens=False)]


def verdict_lines(report: Report, width: int = TERMINAL_WIDTH) -> list[str]:
    """The verdict's top block for the terminal: the headline, one wrapped bullet per kind of alternative (its
    best row in brief) or gap, and the pointer to the verdict in full (:func:`verdict_in_full_lines`)."""
    v = verdict(report)
    lines = textwrap.wrap("VERDICT: " + v.headline, width, subsequent_indent="  ")
    lines += _bullets([t.text for t in v.top], width)
    return lines + (wrap([v.more], width) if v.more else [])


def verdict_in_full_lines(report: Report, width: int = TERMINAL_WIDTH) -> list[str]:
    """The verdict in full: one wrapped bullet per sentence, result across splits and gap not in the top block."""
    in_full = verdict(report).in_full
    return [f"{IN_FULL.lower()}:"] + _bullets([t.text for t in in_full], width) if in_full else []

