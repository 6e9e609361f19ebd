"""The verdict: the answer to "fine-tune or prompt?" first, as data (a headline, one sentence per fine-tuned row
and serious alternative, what is missing). Text and Markdown lay it out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import humanize
from harness.models.registry import Role, is_api, is_fine_tuned, kind_of
from harness.report.rows import Comparison, Row, Versus
from harness.report.run import Report, RunReport
from harness.report.tables import delta_cell

ALTERNATIVES = ("published LLM", "prompted API", "prompted local LLM", "TF-IDF floor")
LLM_ALTERNATIVES = ALTERNATIVES[:3]
PUBLISHED_REPLAY = "pytest suites -m {marker} --harness-models=published-gpt-4 --harness-strategies=published_zero_shot"
RECORD = "OPENAI_API_KEY=... pytest suites -m {marker} --harness-models=openai:gpt-4o-mini --record-mode=once"


def alternative_kind(model: str) -> str | None:
    """Which serious alternative to fine-tuning a row is, by its model's role: a published LLM's replies, a prompted
    LLM (behind an API, or run here), the classical floor; None for the rest (fine-tuned rows, unknown names)."""
    kind = kind_of(model)
    if kind is None or kind.fine_tuned:
        return None
    if kind.role is Role.PROMPTED:
        return "prompted API" if kind.api else "prompted local LLM"
    return "published LLM" if kind.role is Role.PUBLISHED_REPLIES else "TF-IDF floor"


def _label(row: Row, others: Sequence[Row]) -> str:
    """The model name, with its strategy only when the run has the model under several strategies."""
    strategies = {r.strategy for r in others if r.model == row.model}
    return row.model if len(strategies) == 1 else f"{row.model} ({row.strategy})"


def _verdict_words(c: Comparison) -> str:
    words = {"better": "significantly better", "worse": "significantly worse",
             "tied": "no significant difference"}[c.verdict]
    p, holm = humanize.p_value(c.mcnemar_p), humanize.p_value(c.p_holm)
    return (f"{words} (ΔF1 {delta_cell(c)}, McNemar p {_equals(p)}"
            + (f", Holm-adjusted {holm}" if holm != p else "") + ")")


def _equals(p: str) -> str:
    return p if p.startswith("<") else f"= {p}"


def _money_words(tuned: Row, other: Row, other_label: str) -> str:
    a, b = tuned.cost.per_1k_usd, other.cost.per_1k_usd
    if a is None and b is None:
        return "neither row has a price"
    if a is None:
        return f"no cost for the fine-tuned row; {other_label} {humanize.usd(b)} per 1k requests"
    if b is None:
        return f"{humanize.usd(a)} per 1k requests, {other_label} has no price"
    est = " estimated" if other.cost.basis == "estimated" else ""
    return f"{humanize.usd(a)} vs{est} {humanize.usd(b)} per 1k requests ({humanize.cost_factor(a / b if b else None)})"


def _payback_words(v: Versus | None) -> str:
    if not v:
        return "break-even not computed"
    note = str(v.break_even_note or "")
    if note.startswith("not computable: no cost for"):
        return "no break-even without a cost for both rows"
    if note.startswith("not computable"):
        return "break-even " + note
    n = v.break_even_requests
    if n is None:
        return "never pays back its training: it costs as much or more per request"
    text = f"pays back its {humanize.usd(v.training_usd)} training after {humanize.requests(n)} requests"
    months = v.payback_months
    if months is not None and months * 30 >= 1:
        text += f" ({humanize.months(months)} at {humanize.requests(v.monthly_volume)} requests a month)"
    return text


def _marker(report: RunReport) -> str:
    try:
        from harness.tasks import registry

        return registry()[report.task].marker
    except Exception:  # noqa: BLE001 - a report from another task set: the sentiment suite's marker
        return "sentiment"


def _missing_llm(report: RunReport) -> str:
    """What is missing when no prompted LLM row ran, and the one command that records (or replays) one."""
    for name, reason in report.unavailable.items():
        if is_api(name.partition(" · ")[0]) and "record with: " in reason:
            return (f"No prompted LLM row ran, so fine-tuning is compared with no LLM ({name}: not recorded). "
                    f"Record it with: {reason.split('record with: ', 1)[1]}")
    if report.split.method == "published" and report.task == "fpb-sentiment":
        return ("No prompted LLM row ran, so fine-tuning is compared with no LLM. Replay the published GPT-4 "
                f"replies (no API key) with: {PUBLISHED_REPLAY.format(marker=_marker(report))}")
    return ("No prompted LLM row ran, so fine-tuning is compared with no LLM. Record one with: "
            f"{RECORD.format(marker=_marker(report))}")


def verdicts(report: Report) -> dict[str, Any]:
    """The answer first: a headline, one sentence per fine-tuned row and serious alternative, and what is
    missing. ``{"headline": str, "sentences": [{"tuned", "other", "kind", "verdict", "text"}], "missing": [str]}``."""
    report = RunReport.of(report)
    ran = list(report.rows)
    by_name = {r.name: r for r in ran}
    versus = report.versus()
    pairs = [c for c in report.comparisons if c.a in by_name]
    tuned = list(dict.fromkeys(c.a for c in pairs))
    order = {kind: i for i, kind in enumerate(ALTERNATIVES)}
    sentences = []
    for t in tuned:
        mine = [(c, by_name[c.b]) for c in pairs
                if c.a == t and c.b in by_name and alternative_kind(by_name[c.b].model)]
        mine.sort(key=lambda cb: (order[alternative_kind(cb[1].model)], -cb[1].weighted_f1))  # type: ignore[index]
        for c, b in mine:
            a = by_name[t]
            other = _label(b, ran)
            text = (f"{_label(a, ran)}: weighted F1 {a.weighted_f1:.3f} vs {other} {b.weighted_f1:.3f}, "
                    f"{_verdict_words(c)}; {_money_words(a, b, other)}; {_payback_words(versus.get((t, c.b)))}.")
            sentences.append({"tuned": t, "other": c.b, "kind": alternative_kind(b.model), "verdict": c.verdict,
                              "text": text})
    missing = []
    alone = [r.name for r in ran if is_fine_tuned(r.model)] if not tuned else []
    if alone:  # a fine-tuned row ran, but no other row beside it: nothing to compare
        missing.append(f"{', '.join(alone)} ran with no other row to compare it with. Add an alternative to "
                       f"--harness-models={','.join(by_name[a].model for a in alone)},...: a prompted LLM "
                       "(openai:<model>, replayed from cassettes) or, for a classification task, tfidf-logreg")
    elif not tuned:
        ready = [f"{r.name} ({alternative_kind(r.model)})" for r in ran if alternative_kind(r.model)]
        against = f" The alternatives that ran: {', '.join(ready)}." if ready else ""
        missing.append("No fine-tuned row ran, so this run cannot answer fine-tune or prompt. Add one with: "
                       f"pytest suites -m {_marker(report)} --harness-models=adapter:fpb-sentiment-smollm2-135m"
                       + against if report.task == "fpb-sentiment" else
                       "No fine-tuned row ran, so this run cannot answer fine-tune or prompt: add an adapter:<folder> "
                       "model to --harness-models." + against)
    if not any(alternative_kind(r.model) in LLM_ALTERNATIVES for r in ran):
        missing.append(_missing_llm(report))
    splits = report.across_splits
    across = [] if splits is None else (
        [f"Across {len(splits.splits)} splits ({Path(splits.file).name}): {line}" for line in splits.lines]
        + ([splits.note] if splits.note else []))
    headline = (f"No answer yet: {', '.join(alone)} ran, but no other row to compare it with." if alone
                else _headline(tuned, sentences, by_name))
    return {"headline": headline, "sentences": sentences, "missing": missing,
            "across_splits": across}


def _headline(tuned: Sequence[str], sentences: Sequence[Mapping[str, Any]], by_name: Mapping[str, Row]) -> str:
    """One sentence answering the title's question for the best fine-tuned row against the LLM rows."""
    if not tuned:
        return "No answer yet: no fine-tuned row ran."
    best = max(tuned, key=lambda t: by_name[t].weighted_f1)
    llm = [by_name[s["other"]] for s in sentences
           if s["tuned"] == best and s["kind"] in LLM_ALTERNATIVES]
    verdict = {s["other"]: s["verdict"] for s in sentences if s["tuned"] == best}
    if not llm:
        return f"No answer yet: {best} ran, but no prompted LLM row to compare it with."
    own = by_name[best].cost.per_call_usd
    prices = [r.cost.per_call_usd for r in llm]
    cheaper = own is not None and all(p is not None and own < p for p in prices)
    cheapest = min((p for p in prices if p is not None), default=None)
    saving = (f" and is {humanize.cost_factor(own / cheapest)} per request than the cheapest of them"
              if cheaper and cheapest else "")
    worse = [r for r in llm if verdict[r.name] == "worse"]
    model = by_name[best].model
    if worse:
        top = max(worse, key=lambda r: r.weighted_f1)
        return (f"Prompt, if quality comes first: {top.model} is significantly better than {model}"
                + (f", which is {humanize.cost_factor(own / top.cost.per_call_usd)}"
                   if own and top.cost.per_call_usd else "") + ".")
    if all(verdict[r.name] == "better" for r in llm):
        return f"Fine-tune: {model} is significantly better than every prompted LLM that ran{saving}."
    if cheaper:
        return (f"Fine-tune: {model} is as good as every prompted LLM that ran (no significant difference against "
                f"some){saving}.")
    return f"No clear winner: {model} is not significantly different from some prompted LLMs and is not cheaper."
