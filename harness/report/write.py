"""Writing a report's files: JSON, the per-example predictions CSV, Markdown and the self-contained HTML,
each atomically (temp file + rename)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.files import atomic_write_text
from harness.report import html
from harness.report.curve import read_learning_curve
from harness.report.markdown import markdown
from harness.report.run import Report, RunReport
from harness.results import CaseResult
from harness.secrets_scan import redact

CSV_FIELDS = ("model", "strategy", "index", "example_id", "gold", "pred", "correct", "latency_s",
              "latency_source", "batch_size", "input_tokens", "output_tokens", "cost_usd", "served_model",
              "system_fingerprint", "error", "reply")


def predictions_csv(cases: Iterable[CaseResult | Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for case in sorted(map(CaseResult.of, cases), key=lambda c: (c.model, c.strategy, c.index)):
        writer.writerow({**case.to_json(), "reply": redact(case.reply or ""),  # no key-like text leaves the run
                         "error": redact(case.error) if case.error else None, "correct": case.pred == case.gold})
    return out.getvalue()


def write(report: Report, cases: Iterable[CaseResult | Mapping[str, Any]], directory: Path,
          texts: Mapping[str, str] | None = None) -> dict[str, Path]:
    """JSON, predictions CSV, Markdown and the self-contained HTML (which holds the test sentences in
    ``texts``, like the CSV: both stay out of git). A ``learning_curve.json`` in ``directory`` is drawn
    when it was measured on this run's task, data and split (:func:`read_learning_curve`)."""
    cases = [CaseResult.of(c) for c in cases]
    report = RunReport.of(report)
    stem = report.task
    paths = {
        "json": directory / f"{stem}.json",
        "csv": directory / f"{stem}_predictions.csv",
        "markdown": directory / f"{stem}.md",
        "html": directory / f"{stem}.html",
    }
    curve, curve_note = read_learning_curve(report, directory)
    atomic_write_text(paths["json"], json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(paths["csv"], predictions_csv(cases))
    atomic_write_text(paths["markdown"], markdown(report, curve_note, curve))
    atomic_write_text(paths["html"], html.render(report, cases, texts or {}, curve, curve_note=curve_note))
    return paths

