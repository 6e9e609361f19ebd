"""The verdict: the answer to "fine-tune or prompt?" first, as data (a headline, one sentence per fine-tuned row
and serious alternative, what is missing). Text, Markdown and HTML lay it out as a top block of at most
:data:`TOP_LINES` lines (the headline, the best row of each kind of alternative in brief, a pointer) above the
verdict in full (every sentence, the results across splits, what is missing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import humanize
from harness.models.registry import Role, is_api, is_fine_tuned, kind_of
from harness.report.rows import Comparison, Row, Versus
from harness.report.run import Report, RunReport, SplitOutcome
from harness.report.tables import delta_cell

ALTERNATIVES = ("published LLM", "prompted API", "prompted local LLM", "TF-IDF floor")
LLM_ALTERNATIVES = ALTERNATIVES[:3]
TOP_LINES = 6  # the headline, one line per kind of alternative (or what is missing), the pointer to the rest
IN_FULL = "Verdict in full"
VERDICTS = ("better", "tied", "worse")
AGAINST = {"better": "better than", "tied": "tied with", "worse": "worse than"}
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


def _brief(a: Row, b: Row, label: str, c: Comparison, v: Versus | None) -> str:
    """The sentence in brief, for the top block: the scores, the verdict, and what is known of cost and payback."""
    words = {"better": "significantly better", "worse": "significantly worse",
             "tied": "no significant difference"}[c.verdict]
    text = f"weighted F1 {a.weighted_f1:.3f} vs {label} {b.weighted_f1:.3f}, {words} (ΔF1 {c.f1_difference:+.3f})"
    own, other = a.cost.per_1k_usd, b.cost.per_1k_usd
    if own is not None and other:
        text += f", {humanize.cost_factor(own / other)}"
    if v and v.computable:
        n = v.break_even_requests
        text += ", never pays back its training" if n is None else f", pays back after {humanize.requests(n)} requests"
    return text + "."


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


@dataclass(frozen=True)
class Sentence:
    """A fine-tuned row (``tuned``) against one serious alternative (``other``, of ``kind``): the paired
    ``verdict``, in full (``text``) and in brief for the top block (``brief``)."""

    tuned: str
    other: str
    kind: str
    verdict: str
    text: str
    brief: str


@dataclass(frozen=True)
class Line:
    """One line of a verdict block, and its tone: a paired verdict ("better", "tied", "worse"), "splits" for a
    result across splits, "missing" for a gap (the HTML report colours by it)."""

    text: str
    tone: str


@dataclass(frozen=True)
class Verdict:
    """The verdict as laid out: the top block (``headline``, at most ``TOP_LINES - 2`` lines in ``top``, the
    pointer ``more``) above the verdict in full (``in_full``: every sentence, the results across splits, and the
    gaps the top block had no room for), and the parts it is made of (``sentences``, ``missing``,
    ``across_splits``)."""

    headline: str
    sentences: tuple[Sentence, ...] = ()
    missing: tuple[str, ...] = ()
    across_splits: tuple[str, ...] = ()
    top: tuple[Line, ...] = ()
    more: str | None = None
    in_full: tuple[Line, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"headline": self.headline, "sentences": [asdict(s) for s in self.sentences],
                "missing": list(self.missing), "across_splits": list(self.across_splits),
                "top": [asdict(t) for t in self.top], "more": self.more, "in_full": [asdict(t) for t in self.in_full]}


def verdicts(report: Report) -> dict[str, Any]:
    """:func:`verdict` as JSON: ``{"headline": str, "sentences": [{"tuned", "other", "kind", "verdict", "text",
    "brief"}], "missing": [str], "across_splits": [str], "top": [{"text", "tone"}], "more": str | None,
    "in_full": [{"text", "tone"}]}``."""
    return verdict(report).to_json()


def verdict(report: Report) -> Verdict:
    """The answer first: a headline, one sentence per fine-tuned row and serious alternative, and what is
    missing; laid out as a top block above the verdict in full."""
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
            sentences.append(Sentence(tuned=t, other=c.b, kind=str(alternative_kind(b.model)), verdict=c.verdict,
                                      text=text, brief=_brief(a, b, other, c, versus.get((t, c.b)))))
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
    best = max(tuned, key=lambda t: by_name[t].weighted_f1) if tuned else None
    headline = (f"No answer yet: {', '.join(alone)} ran, but no other row to compare it with." if alone
                else _headline(best, sentences, by_name, ran, () if splits is None else splits.outcomes))
    return _laid_out(Verdict(headline=headline, sentences=tuple(sentences), missing=tuple(missing),
                             across_splits=tuple(across)), best, len(splits.splits) if splits else 0)


def _laid_out(v: Verdict, best: str | None, n_splits: int) -> Verdict:
    """The top block (the best row of each kind of alternative against the best fine-tuned row, in brief, then
    what is missing while there is room) and the pointer to the verdict in full (everything else, in full)."""
    kinds: dict[str, list[Sentence]] = {}
    for s in v.sentences:
        if s.tuned == best:
            kinds.setdefault(s.kind, []).append(s)  # sentences come best row first within a kind
    top = [Line(f"{kind[0].upper()}{kind[1:]}{f' (best of {len(ss)})' if len(ss) > 1 else ''}: {ss[0].brief}",
                ss[0].verdict) for kind, ss in kinds.items()]
    room = TOP_LINES - 2 - len(top)  # the headline and the pointer take two
    top += [Line(m, "missing") for m in v.missing[:room]]
    rest = v.missing[room:]
    in_full = ([Line(s.text, s.verdict) for s in v.sentences] + [Line(t, "splits") for t in v.across_splits]
               + [Line(m, "missing") for m in rest])
    parts = [f"{_count(len(v.sentences), 'comparison')} in full (ΔF1 with its CI, McNemar p, $ per 1k requests, "
             "break-even)" if v.sentences else "",
             f"{_count(len(v.across_splits), 'result')} across {n_splits} splits" if v.across_splits else "",
             f"{_count(len(rest), 'note')} on what is missing" if rest else ""]
    more = f'More in "{IN_FULL}" below: ' + "; ".join(p for p in parts if p) + "." if in_full else None
    return replace(v, top=tuple(top), more=more, in_full=tuple(in_full))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _headline(best: str | None, sentences: Sequence[Sentence], by_name: Mapping[str, Row],
              ran: Sequence[Row], outcomes: Sequence[SplitOutcome]) -> str:
    """One sentence answering the title's question for the best fine-tuned row against the LLM rows, and, when a
    saved across-splits report covers this split, how that row fared against them on the other splits."""
    if best is None:
        return "No answer yet: no fine-tuned row ran."
    llm = [by_name[s.other] for s in sentences if s.tuned == best and s.kind in LLM_ALTERNATIVES]
    said = {s.other: s.verdict for s in sentences if s.tuned == best}
    if not llm:
        return f"No answer yet: {best} ran, but no prompted LLM row to compare it with."
    across = _across_words(best, llm, ran, outcomes)
    here = " on this split" if across else ""
    own = by_name[best].cost.per_call_usd
    prices = [r.cost.per_call_usd for r in llm]
    cheaper = own is not None and all(p is not None and own < p for p in prices)
    cheapest = min((p for p in prices if p is not None), default=None)
    saving = (f" and is {humanize.cost_factor(own / cheapest)} per request than the cheapest of them"
              if cheaper and cheapest else "")
    worse = [r for r in llm if said[r.name] == "worse"]
    model = by_name[best].model
    if worse:
        top = max(worse, key=lambda r: r.weighted_f1)
        text = (f"Prompt, if quality comes first: {top.model} is significantly better than {model}{here}"
                + (f", which is {humanize.cost_factor(own / top.cost.per_call_usd)}"
                   if own and top.cost.per_call_usd else ""))
    elif all(said[r.name] == "better" for r in llm):
        text = f"Fine-tune: {model} is significantly better than every prompted LLM that ran{here}{saving}"
    elif cheaper:
        text = (f"Fine-tune: {model} is as good as every prompted LLM that ran{here} (no significant difference "
                f"against some){saving}")
    else:
        text = f"No clear winner{here}: {model} is not significantly different from some prompted LLMs and " + \
            _unpriced_words(own, llm)
    return text + (f"; across splits, {across}" if across else "") + "."


def _unpriced_words(own: float | None, llm: Sequence[Row]) -> str:
    """"is not cheaper", unless it is cheaper than every LLM row with a price and the others have none: then that."""
    priced = [r.cost.per_call_usd for r in llm if r.cost.per_call_usd is not None]
    unpriced = list(dict.fromkeys(r.model for r in llm if r.cost.per_call_usd is None))
    if own is None or not priced or not unpriced or not all(own < p for p in priced):
        return "is not cheaper"
    return (f"is {humanize.cost_factor(own / min(priced))} per request than the cheapest of them with a price "
            f"({', '.join(unpriced)} {'has' if len(unpriced) == 1 else 'have'} none)")


def _across_words(best: str, llm: Sequence[Row], ran: Sequence[Row], outcomes: Sequence[SplitOutcome]) -> str:
    """How ``best`` fared against the LLM rows on every split they both ran on (two or more): each pair whose
    verdict changed from split to split ("better than published-gpt-4 on 2 of 3 splits, tied on one (published
    seed 78516)"); when none changed, the pairs with one verdict on all their splits; "" when none ran on two."""
    rows = {r.name: r for r in llm}
    seen = [(_label(rows[o.b], ran), o.verdicts) for o in outcomes
            if o.a == best and o.b in rows and len(o.verdicts) > 1]
    changed = [_changed_words(label, per_split) for label, per_split in seen if len(set(per_split.values())) > 1]
    if changed:
        return "; ".join(changed)
    same: dict[tuple[str, int], list[str]] = {}
    for label, per_split in seen:
        same.setdefault((next(iter(per_split.values())), len(per_split)), []).append(label)
    return "; ".join(f"{AGAINST.get(got, got)} {' and '.join(labels)} on all {n} splits"
                     for (got, n), labels in same.items())


def _changed_words(label: str, per_split: Mapping[str, str]) -> str:
    """"better than X on 2 of 3 splits, tied on one (published seed 78516)": the commonest verdict first."""
    counts = Counter(per_split.values())
    rank = sorted(counts, key=lambda v: (-counts[v], VERDICTS.index(v) if v in VERDICTS else len(VERDICTS)))
    first, rest = rank[0], rank[1:]
    text = f"{AGAINST.get(first, first)} {label} on {counts[first]} of {len(per_split)} splits"
    for v in rest:
        where = ", ".join(split for split, got in per_split.items() if got == v)
        text += f", {v} on {'one' if counts[v] == 1 else counts[v]} ({where})"
    return text
