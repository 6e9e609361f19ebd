"""The TAT-QA report: EM and F1 with bootstrap CIs, per answer type, scale accuracy, parse failures,
latency and cost per model × strategy; the published anchors as context; and a sentence per row on where
it fails, computed from its numbers. JSON, Markdown, a predictions CSV and terminal lines.

Scores come from :mod:`harness.tasks.tatqa.metric` (the paper's EM and numeracy-aware F1); costs from
:mod:`harness.economics`, like the sentiment report. Cases are typed once (:class:`TatqaCase`), rows are built as
:class:`TatqaRow`, and every output reads a :class:`TatqaReport` (:mod:`harness.tasks.tatqa.rows`), never
``report["key"]``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import economics
from harness.report.rows import Cost, Latency
from harness.report.text import provenance_caveats
from harness.tasks.tatqa.data import ANSWER_TYPES, Question
from harness.tasks.tatqa.metric import score
from harness.tasks.tatqa.rows import LATENCY_KEYS, EmAnchor, GroupScore, TatqaCase, TatqaReport, TatqaRow

SCHEMA_VERSION = 1


def _percentile(values: Sequence[float], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if values else None


def _row(pair: tuple[str, str], items: Sequence[TatqaCase], raw: Sequence[Mapping[str, Any]],
         by_index: Mapping[str, Question], *, expected: int, seed: int, resamples: int, machine: Any,
         prices: Any) -> TatqaRow:
    scores = score([by_index[c.example_id] for c in items], [c.pred for c in items], resamples=resamples, seed=seed)
    timed = [c for c in items if c.latency_s is not None]
    sources = sorted({c.latency_source for c in timed})
    errors = sum(1 for c in items if c.error)
    overall = GroupScore.of(scores.overall)
    return TatqaRow(
        model=pair[0], strategy=pair[1], n=len(items), expected=expected,
        em=overall.em, em_ci95=overall.em_ci95, f1=overall.f1, f1_ci95=overall.f1_ci95,
        per_type={t: GroupScore.of(g) for t, g in scores.per_type.items()},
        per_source={t: GroupScore.of(g) for t, g in scores.per_source.items()},
        scale_accuracy=scores.scale_accuracy, parse_failures=scores.parse_failures - errors, errors=errors,
        latency=Latency(source="+".join(sources) if sources else "none",
                        p50_s=_percentile([c.latency_s for c in timed], 50),  # type: ignore[misc]
                        p95_s=_percentile([c.latency_s for c in timed], 95),  # type: ignore[misc]
                        batch_size=max(c.batch_size for c in items),
                        batch1_s=next((c.batch1_latency_s for c in items if c.batch1_latency_s is not None), None),
                        keys=LATENCY_KEYS),
        tokens={"input": sum(c.input_tokens or 0 for c in items), "output": sum(c.output_tokens or 0 for c in items)},
        cost=Cost.from_json(economics.row_cost(raw, machine=machine, prices=prices, reference=None)),
        provenance=items[0].provenance,
        items={c.example_id: [round(s.em, 3), round(s.f1, 3)] for c, s in zip(items, scores.items)},
    )


def build_report(meta: Mapping[str, Any], questions: Sequence[Question], cases: Sequence[Mapping[str, Any]], *,
                 pair_order: Sequence[tuple[str, str]], expected: Mapping[tuple[str, str], int], root: Path,
                 seed: int, resamples: int, machine: Any, prices: Any = None, **_: Any) -> dict[str, Any]:
    from harness.provenance import git_sha, package_versions

    by_index = {q.uid: q for q in questions}
    grouped: dict[tuple[str, str], list[tuple[TatqaCase, Mapping[str, Any]]]] = defaultdict(list)
    for raw in cases:
        case = TatqaCase.from_json(raw)
        grouped[(case.model, case.strategy)].append((case, raw))
    order = list(pair_order) + sorted(set(grouped) - set(pair_order))
    rows = []
    for pair in order:
        found = sorted(grouped.get(pair, []), key=lambda found: found[0].index)
        if found:
            rows.append(_row(pair, [c for c, _ in found], [raw for _, raw in found], by_index,
                             expected=expected.get(pair, len(found)), seed=seed, resamples=resamples,
                             machine=machine, prices=prices))
    partial = [f"{m} · {s}" for (m, s), n in expected.items() if len(grouped.get((m, s), [])) < n]
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(root), "packages": package_versions(), "partial": partial, **meta,
        "rows": [r.to_json() for r in rows], "findings": findings(rows, TatqaReport.from_json(meta).anchors_em),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def findings(rows: Sequence[TatqaRow], anchors: Sequence[EmAnchor]) -> list[str]:
    """One sentence per row on where it fails, from its own numbers (never a fixed text)."""
    gpt4 = next((a.em for a in anchors if a.name.startswith("GPT-4")), None)
    out = []
    for row in rows:
        n = row.n
        types = sorted(row.per_type.items(), key=lambda kv: (kv[1].em, -kv[1].n))
        worst = ", ".join(f"{t} EM {_pct(g.em)} % of {g.n}" for t, g in types[:2])
        zero = [t for t, g in types if g.em == 0]
        parts = [f"{row.model} · {row.strategy}: EM {_pct(row.em)} % "
                 f"[{_pct(row.em_ci95[0])}, {_pct(row.em_ci95[1])}] on {n} questions"]
        if gpt4 is not None:
            hi = 100 * row.em_ci95[1]
            parts.append(f"below GPT-4's published {gpt4} even at the upper end of its CI" if hi < gpt4
                         else f"its CI reaches GPT-4's published {gpt4}")
        parts.append(f"weakest types: {worst}" + (f" (no exact match at all on {', '.join(zero)})" if zero else ""))
        failed = row.parse_failures + row.errors
        parts.append(f"{failed} of {n} replies ({_pct(failed / n)} %) had no parsable 'Answer: ... | Scale: ...' line"
                     + (f" ({row.errors} calls failed)" if row.errors else ""))
        parts.append(f"scale right on {_pct(row.scale_accuracy)} %")
        out.append("; ".join(parts) + ".")
    return out


def _ci(value: float, ci95: tuple[float, float]) -> str:
    lo, hi = ci95
    return f"{_pct(value)} [{_pct(lo)}, {_pct(hi)}]"


def _latency(row: TatqaRow) -> str:
    lat = row.latency
    if lat.p50_s is None:
        return "n/a"
    text = f"{lat.p50_s:.2f} / {lat.p95_s:.2f} s ({lat.source}, batch {lat.batch_size})"
    return text + (f"; alone {lat.batch1_s:.2f} s" if lat.batch1_s else "")


def _cost(row: TatqaRow) -> str:
    cost = row.cost
    if cost.per_1k_usd is not None:
        return f"${cost.per_1k_usd:.4f} ({cost.basis or ''})"
    return str(cost.note or "n/a")


def leaderboard(report: TatqaReport) -> list[list[str]]:
    head = ["model", "strategy", "n", "EM % [95% CI]", "F1 % [95% CI]"] + [f"EM {t}" for t in ANSWER_TYPES] + \
           ["scale acc.", "parse fail.", "latency p50 / p95", "$ per 1k"]
    body = []
    for r in report.rows:
        per = [f"{_pct(r.per_type[t].em)} (n={r.per_type[t].n})" if t in r.per_type else "-" for t in ANSWER_TYPES]
        body.append([r.model, r.strategy, f"{r.n}/{r.expected}", _ci(r.em, r.em_ci95), _ci(r.f1, r.f1_ci95)] + per +
                    [_pct(r.scale_accuracy), f"{r.parse_failures}" + (f" (+{r.errors} errors)" if r.errors else ""),
                     _latency(r), _cost(r)])
    return [head] + body


def per_type_table(report: TatqaReport) -> list[list[str]]:
    head = ["model", "strategy", "answer type", "n", "EM % [95% CI]", "F1 % [95% CI]"]
    return [head] + [[r.model, r.strategy, t, str(g.n), _ci(g.em, g.em_ci95), _ci(g.f1, g.f1_ci95)]
                     for r in report.rows for t, g in r.per_type.items()]


def header_lines(report: TatqaReport) -> list[str]:
    data, split = report.data, report.split
    per = ", ".join(f"{t} {split.per_type_evaluated[t]}/{data.per_type[t]}" for t in ANSWER_TYPES)
    lines = [f"data: TAT-QA {data.file} ({data.directory}, sha256 {data.file_sha256[:12]}, {data.licence}): "
             f"{data.questions} questions from {data.contexts} contexts, {data.skipped} unusable skipped",
             f"evaluated {split.n_evaluated} of {split.n_total} test_gold questions ({split.method}; seed "
             f"{split.subset_seed}; per type {per}); --harness-task-option tatqa.subset=all runs every question",
             f"few-shot pool: {data.pool} ({data.pool_questions} questions, never test): "
             + ", ".join(report.few_shot_examples),
             "published EM anchors on the TAT-QA test set (other models, the leaderboard's 1,669 questions; context, "
             "not a paired comparison): " + "; ".join(f"{a.name} {a.em}" for a in report.anchors_em)]
    lines += provenance_caveats((f"{r.model} · {r.strategy}", r.provenance) for r in report.rows)
    for name, reason in report.unavailable.items():
        lines.append(f"not run: {name}: {reason}")
    if report.partial:
        lines.append(f"PARTIAL: fewer cases than expected for {', '.join(report.partial)}")
    return lines


def text_table(table: Sequence[Sequence[str]]) -> list[str]:
    from harness.report import text_table as table_lines

    return table_lines(table)


def terminal_lines(report: Mapping[str, Any]) -> list[str]:
    typed = TatqaReport.from_json(report)
    return header_lines(typed) + text_table(leaderboard(typed)) + ["where it fails:"] + \
        ["  " + f for f in typed.findings]


def markdown(report: Mapping[str, Any]) -> str:
    from harness.report.markdown import markdown_table

    typed = TatqaReport.from_json(report)
    out = [f"# {typed.task} leaderboard", ""]
    out += [f"> {line}" for line in header_lines(typed)]
    out += ["", "EM and F1 in % (the TAT-QA paper's metrics: exact match after normalisation and numeracy-aware "
                "bag-of-words F1, numbers compared after applying the scale, so a right number at the wrong scale "
                "scores 0); 95 % bootstrap CIs over questions.", ""]
    out += markdown_table(leaderboard(typed))
    out += ["", "## Per answer type", ""] + markdown_table(per_type_table(typed))
    out += ["", "## Where it fails (computed from the numbers above)", ""] + [f"- {f}" for f in typed.findings]
    out += ["", "## Where each row comes from", ""]
    out += [f"- **{r.model} · {r.strategy}**: {r.provenance}" for r in typed.rows]
    out += ["", f"Generated {typed.created_at} at git {typed.git_sha or 'unknown'}; template "
                f"{typed.template_version}; bootstrap {typed.bootstrap_resamples} resamples.", ""]
    return "\n".join(out)


def predictions_csv(cases: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "strategy", "uid", "gold", "parsed", "reply", "error"])
    for c in map(TatqaCase.from_json, cases):
        parsed = "" if c.pred is None else f"{c.pred.text} | {c.pred.scale or 'none'}"
        writer.writerow([c.model, c.strategy, c.example_id, c.gold, parsed, c.reply, c.error or ""])
    return buffer.getvalue()


def write(report: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], directory: Path) -> dict[str, Path]:
    from harness.files import atomic_write_text

    stem = TatqaReport.from_json(report).task
    json_path, markdown_path, csv_path = (Path(directory) / f"{stem}{end}"
                                          for end in (".json", ".md", "_predictions.csv"))
    atomic_write_text(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(markdown_path, markdown(report))
    atomic_write_text(csv_path, predictions_csv(cases))
    return {"json": json_path, "markdown": markdown_path, "csv": csv_path}
