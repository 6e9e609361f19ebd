"""The CI quality gate: a committed baseline and a non-inferiority check of a run against it.

A baseline (``python -m harness baseline reports/fpb-sentiment.json``, written to ``baselines/``) holds
aggregates only: per row the weighted F1 and its CI, accuracy, parse failures, errors and cost, plus
per-item label codes keyed by example id (no sentence text), so the check can be *paired* on the items
both runs evaluated. It is written only from a complete run: a partial (interrupted) or limited
(``--harness-limit``) report is refused.

The gate REFUSES to pass (one ``FAIL`` line each, with the fix) when

* the run is of another task, or of another test split (its test fingerprint differs from the baseline's);
* the baseline or the run is partial (``partial`` names rows that got fewer cases than expected), or
  limited (``--harness-limit``: it evaluated only part of its test split, ``split.limit`` / ``n_evaluated``);
* a baseline row is missing from the run (the missing rows are named), or a row was compared on fewer
  items than the baseline holds for it (how many, and some missing ids): a gate judges every row and every
  item of its baseline, never a handful of shared ones.

A row FAILS when

* it is worse than its baseline beyond the non-inferiority margin *with statistical support*: on the
  shared items, the one-sided 95 % upper bound of ΔF1 = F1(now) − F1(baseline) (paired bootstrap,
  the same resampled items for both) is below ``-margin``; McNemar's exact p on per-item correctness
  is shown beside it;
* its parse-failure rate exceeds the baseline's by more than ``parse_slack`` (absolute);
* its billed or estimated API cost per 1k requests exceeds the baseline's by more than ``cost_slack``
  (relative). Local rows' cost is measured time, which depends on the machine, so it is not gated.

Rows the baseline does not hold are reported (``SKIP``), never failed. A baseline file that is not a
regular file, not UTF-8 JSON, or malformed (a missing field, a wrong type, codes that do not fit its ids)
gives a HarnessError naming the file and the field (:func:`validate_baseline`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness import HarnessError, files
from harness.baseline import BASELINE_VERSION, Baseline, BaselineRow
from harness.baseline_check import check_stated_numbers
from harness.compare import compare
from harness.files import atomic_write_text, describe, field_error, need
from harness.history import check_codes, validate_items, validate_report
from harness.metrics import bootstrap_ci, coded_weighted_f1, encode
from harness.report.rows import Row, SplitInfo
from harness.report.run import Items, Report, RunReport

DEFAULT_MARGIN = 0.02
DEFAULT_PARSE_SLACK = 0.02
DEFAULT_COST_SLACK = 0.10
GATED_COST = ("billed", "estimated")
DEFAULT_REPORT = "reports/fpb-sentiment.json"
MIN_ITEMS = 2
"""A baseline row must hold at least this many items: a paired comparison needs two."""


@dataclass(frozen=True)
class Check:
    row: str
    status: str
    """``PASS``, ``FAIL`` or ``SKIP``."""
    message: str


@dataclass(frozen=True)
class GateResult:
    baseline: str
    margin: float
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(c.status == "FAIL" for c in self.checks)

    def lines(self) -> list[str]:
        width = max((len(c.row) for c in self.checks), default=0)
        return [f"{c.status} {c.row.ljust(width)}  {c.message}" for c in self.checks]


def _held(gold: str, preds: str) -> int:
    """How many items a row holds: both a gold code and a prediction (or a counted failure)."""
    return sum(1 for g, p in zip(gold, preds) if g != "-" and p != "-")


def _partial_rows(value: Any) -> list[str]:
    """The rows a ``partial`` flag names (a list of row names; ``true`` for an unnamed partial run)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return ["(unnamed rows)"] if value else []


# -- writing a baseline ---------------------------------------------------------------------------------------
def _report_for_baseline(report: Any, source: str) -> dict[str, Any]:
    """A report that a baseline may be written from: well-formed, with its items table, split and no
    partial rows."""
    fix = "write the baseline from the report JSON of a complete suite run, e.g. " + DEFAULT_REPORT
    validate_report(report, path=source, what="report", fix=fix, items_required=True)
    for i, row in enumerate(report["rows"]):
        need(row, "n", "a count (an integer >= 0)", field=f"rows[{i}].n", path=source, what="report", fix=fix)
        need(row, "errors", "a count (an integer >= 0)", field=f"rows[{i}].errors", path=source, what="report",
             fix=fix)
    split = need(report, "split", "an object", field="split", path=source, what="report", fix=fix)
    need(split, "test_fingerprint", "a non-empty string", field="split.test_fingerprint", path=source, what="report",
         fix=fix)
    partial = _partial_rows(report.get("partial"))
    if partial:
        raise HarnessError(f"report {source}: expected a complete run, got a partial one (fewer cases than expected "
                           f"for {', '.join(partial)}); fix: run the suite to the end, then write the baseline from "
                           "its report")
    limited = SplitInfo.from_json(split)
    if limited.limited:
        raise HarnessError(f"report {source}: expected a run of the whole test split, got a limited one "
                           f"({limited.evaluated}): a gate on it would judge only those items; fix: run the suite "
                           "without --harness-limit, then write the baseline from its report")
    return report


def baseline_from_report(report: Report, rows: Sequence[str] | None = None, *,
                         source: str = "(in memory)") -> dict[str, Any]:
    """Aggregates and per-item label codes of a complete report; no sentence text. ``rows`` (names
    ``model · strategy``) keeps only those rows, for a CI job that gates a subset."""
    raw = _report_for_baseline(report.to_json() if isinstance(report, RunReport) else report, source)
    report = RunReport.of(raw)
    items = report.items or Items()
    by_name = {r.name: r for r in report.rows}
    chosen = list(by_name) if rows is None else list(dict.fromkeys(rows))
    unknown = [name for name in chosen if name not in by_name]
    if unknown or not chosen:
        raise HarnessError(f"report {source}: expected rows {', '.join(chosen) or '(at least one)'}, got "
                           f"{', '.join(by_name) or 'no rows'}; fix: name rows as 'model · strategy', as the report "
                           "does")
    out = {}
    for name in chosen:
        r = by_name[name]
        preds = items.preds.get(name)
        if preds is None or _held(items.gold, preds) < MIN_ITEMS:
            raise HarnessError(f"report {source}: row {name}: expected per-item predictions for at least {MIN_ITEMS} "
                               f"items in items.preds, got {0 if preds is None else _held(items.gold, preds)}; "
                               "fix: write the baseline from a report of a complete run")
        out[name] = BaselineRow.from_row(r, preds).to_json()
    split = report.split.to_json()
    return {
        "baseline_version": BASELINE_VERSION,
        "task": report.task, "task_version": report.task_version,
        "template_version": report.template_version,
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "from_report_created_at": report.created_at or None, "git_sha": report.git_sha,
        "partial": [],  # a partial report is refused above; the gate refuses a baseline whose flag names rows
        "split": {k: split.get(k) for k in ("method", "seed", "n_test", "n_evaluated", "test_fingerprint")},
        "data_file_sha256": report.data.file_sha256 if isinstance(raw.get("data"), dict) else None,
        "labels": list(items.labels), "ids": list(items.ids), "gold": items.gold,
        "rows": out,
    }


def write_baseline(report_path: Path, out_path: Path, rows: Sequence[str] | None = None, *,
                   overwrite: bool = False) -> Path:
    """Read a report (guarded reader), check it, write its baseline atomically (over one: ``overwrite``)."""
    baseline = baseline_from_report(files.read_json(report_path, what="report"), rows, source=str(report_path))
    out = Path(out_path)
    if out.is_dir():
        raise HarnessError(f"baseline {out}: expected a file path to write, got a folder; fix: pass --out "
                           f"{out / 'fpb-sentiment.json'}")
    if os.path.lexists(out) and not overwrite:
        raise HarnessError(f"baseline {out}: expected a new file, got an existing baseline; fix: pass --overwrite")
    try:
        atomic_write_text(out, json.dumps(baseline, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise HarnessError(f"baseline {out}: expected a writable path, got {type(exc).__name__}: "
                           f"{exc.strerror or exc}; fix: pass another --out (is one of its folders a file?)") from None
    return out


def subset(baseline: Mapping[str, Any], rows: Sequence[str], *, source: Any = "(in memory)") -> dict[str, Any]:
    """A copy of a (valid) baseline holding only ``rows``, for a CI job that runs a subset of the rows; an
    unknown row name is a HarnessError listing the baseline's rows."""
    validate_baseline(baseline, source)
    unknown = [name for name in rows if name not in baseline["rows"]]
    if unknown or not rows:
        raise HarnessError(f"baseline {source}: expected rows it holds, got {', '.join(unknown) or 'no rows'}; fix: "
                           f"pick among {', '.join(baseline['rows'])}")
    return {**baseline, "rows": {name: baseline["rows"][name] for name in dict.fromkeys(rows)}}


# -- reading a baseline ---------------------------------------------------------------------------------------
def load_baseline(path: Path) -> dict[str, Any]:
    """The baseline at ``path``: a regular UTF-8 JSON file, checked field by field and against its own codes."""
    if not os.path.lexists(path):
        raise HarnessError(f"--harness-gate={path}: expected a baseline file, got nothing at that path: no baseline "
                           f"there; write one with: python -m harness baseline {DEFAULT_REPORT} --out {path}")
    return check_stated_numbers(validate_baseline(files.read_json(path, what="baseline"), path), path,
                                f"python -m harness baseline {DEFAULT_REPORT} --out {path} --overwrite")


def validate_baseline(data: Any, path: Any = "(in memory)") -> dict[str, Any]:
    """``data`` when every field the gate reads has its type and the codes fit the ids; else a HarnessError
    naming ``path`` and the field."""
    what, fix = "baseline", f"write it again with: python -m harness baseline {DEFAULT_REPORT} --out {path} --overwrite"
    if not isinstance(data, dict):
        raise field_error(path, what, "(top level)", "a JSON object (a baseline)", describe(data), fix)
    version = need(data, "baseline_version", "an integer", field="baseline_version", path=path, what=what, fix=fix)
    if version != BASELINE_VERSION:
        raise field_error(path, what, "baseline_version", str(BASELINE_VERSION), describe(version), fix)
    need(data, "task", "a non-empty string", field="task", path=path, what=what, fix=fix)
    split = need(data, "split", "an object", field="split", path=path, what=what, fix=fix)
    need(split, "test_fingerprint", "a non-empty string", field="split.test_fingerprint", path=path, what=what, fix=fix)
    partial = data.get("partial")
    if partial is not None and not isinstance(partial, (list, bool)):
        raise field_error(path, what, "partial", "a list of row names (empty for a complete run)", describe(partial),
                          fix)
    validate_items(data, field="", path=path, what=what, fix=fix, preds=False)
    codes = "".join(str(i) for i in range(len(data["labels"])))
    rows = need(data, "rows", "an object", field="rows", path=path, what=what, fix=fix)
    if not rows:
        raise field_error(path, what, "rows", "at least one row", "an empty object (a gate on nothing)", fix)
    for name, row in rows.items():
        where = f"rows[{name!r}]"
        need(rows, name, "an object", field=where, path=path, what=what, fix=fix)
        for key in ("n", "parse_failures", "errors"):
            need(row, key, "a count (an integer >= 0)", field=f"{where}.{key}", path=path, what=what, fix=fix)
        need(row, "cost_per_1k_usd", "a number or null", field=f"{where}.cost_per_1k_usd", path=path, what=what,
             fix=fix)
        need(row, "cost_basis", "a string or null", field=f"{where}.cost_basis", path=path, what=what, fix=fix)
        preds = check_codes(row.get("preds"), len(data["ids"]), codes + "x-", field=f"{where}.preds", path=path,
                            what=what, fix=fix)
        if _held(data["gold"], preds) < MIN_ITEMS:
            raise field_error(path, what, f"{where}.preds", f"at least {MIN_ITEMS} evaluated items",
                              f"{_held(data['gold'], preds)}", fix)
    return data


def validate_limits(margin: float, parse_slack: float, cost_slack: float) -> None:
    """The gate's limits: finite and >= 0 (a NaN margin would let every row pass). The plugin can call this
    before the first case runs."""
    for option, value in (("--harness-gate-margin", margin), ("--harness-gate-parse-slack", parse_slack),
                          ("--harness-gate-cost-slack", cost_slack)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise HarnessError(f"{option}={value}: expected a finite number >= 0, got {value!r}; fix: e.g. "
                               f"{option}=0.02")
    if parse_slack > 1:
        raise HarnessError(f"--harness-gate-parse-slack={parse_slack}: expected a rate between 0 and 1, got "
                           f"{parse_slack}; fix: e.g. --harness-gate-parse-slack=0.02")


def _one_sided_upper(golds: np.ndarray, now: np.ndarray, then: np.ndarray, labels: Sequence[str], *,
                     resamples: int, seed: int) -> float:
    f1 = coded_weighted_f1(labels)
    if np.array_equal(now, then):
        return 0.0
    # the upper end of a two-sided 90 % interval is the one-sided 95 % upper bound
    return bootstrap_ci(lambda g, a, b: f1(g, a) - f1(g, b), golds, now, then, resamples=resamples, seed=seed,
                        level=0.90)[1]


def _split_text(split: SplitInfo) -> str:
    return f"{split.method} seed {split.seed}, {split.n_test} test items, fingerprint {split.test_fingerprint}"


def _refusals(report: RunReport, baseline: Baseline) -> list[Check]:
    """A task or split other than the baseline's: nothing can be compared."""
    if report.task != baseline.task:
        return [Check("task", "FAIL", f"expected a run of the baseline's task {baseline.task}, got a run of "
                                      f"{report.task}; fix: pass the task's own baseline to --harness-gate")]
    theirs, mine = baseline.split, report.split
    if mine.test_fingerprint != theirs.test_fingerprint:
        return [Check("split", "FAIL", f"expected the baseline's test split ({_split_text(theirs)}), got "
                                       f"{_split_text(mine)}; fix: run on the baseline's split (--harness-split, "
                                       "--harness-seed, --harness-agreement as it was written), or write a baseline "
                                       "from a complete run on this split")]
    return []


def _partial_checks(report: RunReport, baseline: Baseline) -> list[Check]:
    checks = []
    if _partial_rows(baseline.partial):
        checks.append(Check("baseline", "FAIL", "expected a baseline written from a complete run, got one from a "
                                                f"partial run (rows {', '.join(_partial_rows(baseline.partial))}); "
                                                "fix: write it again from a complete run's report"))
    if report.partial_rows:
        checks.append(Check("run", "FAIL", "expected a complete run, got a partial one (fewer cases than expected "
                                           f"for {', '.join(report.partial_rows)}); an interrupted run "
                                           "cannot pass the gate; fix: run the suite to the end"))
    if baseline.split.limited:
        checks.append(Check("baseline", "FAIL", "expected a baseline written from a complete run, got one from a "
                                                f"limited run ({baseline.split.evaluated}); fix: write it again from "
                                                "the report of a run without --harness-limit"))
    if report.split.limited:
        checks.append(Check("run", "FAIL", "expected a complete run, got a partial one (a limited run: "
                                           f"{report.split.evaluated}); a limited run cannot pass the gate; fix: "
                                           "run the suite without --harness-limit"))
    return checks


def _coverage(current: Mapping[str, Any], baseline: Baseline) -> list[Check]:
    """One FAIL naming every baseline row the run lacks, then one FAIL per such row."""
    missing = [name for name in baseline.rows if name not in current]
    if not missing:
        return []
    total = len(baseline.rows)
    summary = Check("rows", "FAIL", f"expected all {total} baseline rows, compared {total - len(missing)}: "
                                    f"{len(missing)} missing from this run ({', '.join(missing)}); fix: run them too "
                                    "(--harness-models / --harness-strategies), or gate against a baseline written "
                                    "with only the rows this job runs (python -m harness baseline REPORT --rows ...)")
    return [summary] + [Check(name, "FAIL", "in the baseline but not in this run") for name in missing]


def _row_check(row_name: str, row: Row, base: BaselineRow, mine: dict, theirs: dict,
               labels: Sequence[str], *, margin: float, parse_slack: float, cost_slack: float, resamples: int,
               seed: int) -> Check:
    shared = [i for i in theirs if i in mine]
    if any(mine[i][0] != theirs[i][0] for i in shared):
        return Check(row_name, "FAIL", "gold labels differ from the baseline's on the same example ids: the data "
                                       "changed; re-write the baseline")
    absent = [i for i in theirs if i not in mine]
    if absent:
        return Check(row_name, "FAIL", f"expected the {len(theirs)} items the baseline holds for this row, compared "
                                       f"{len(shared)}: {len(absent)} missing from this run (e.g. "
                                       f"{', '.join(absent[:3])}); fix: run the whole test split (no -k or "
                                       "--harness-limit), or write a baseline from such a run")
    golds = [mine[i][0] for i in shared]
    now_pred, then_pred = [mine[i][1] for i in shared], [theirs[i][1] for i in shared]
    paired = compare(golds, now_pred, then_pred, labels, resamples=resamples, seed=seed)
    upper = _one_sided_upper(encode(labels, golds), encode(labels, now_pred), encode(labels, then_pred),
                             labels, resamples=resamples, seed=seed)
    quality = (f"ΔF1 {paired['f1_difference']:+.3f} on {len(shared)} shared items (one-sided 95% upper bound "
               f"{upper:+.3f}, margin −{margin:g}; McNemar p={paired['mcnemar_p']:.2g})")
    problems = []
    if upper < -margin:
        problems.append("worse than baseline beyond the margin: " + quality)
    now_rate = row.parse_failures / max(1, row.n)
    then_rate = base.parse_failures / max(1, base.n)
    if now_rate > then_rate + parse_slack:
        problems.append(f"parse failures {row.parse_failures}/{row.n} ({now_rate:.1%}) > baseline "
                        f"{then_rate:.1%} + {parse_slack:.0%}")
    now_cost, then_cost = row.cost.per_1k_usd, base.cost_per_1k_usd
    if row.cost.basis in GATED_COST and now_cost is not None and then_cost is not None \
            and now_cost > then_cost * (1 + cost_slack):
        problems.append(f"cost ${now_cost:.4g}/1k > baseline ${then_cost:.4g}/1k + {cost_slack:.0%}")
    return Check(row_name, "FAIL", "; ".join(problems)) if problems else Check(row_name, "PASS", quality)


def _validate_run(report: Any) -> None:
    fix = "gate the report this version of the harness wrote for the run"
    validate_report(report, path="(this run)", what="report", fix=fix, items_required=True)
    for i, row in enumerate(report["rows"]):
        need(row, "n", "a count (an integer >= 0)", field=f"rows[{i}].n", path="(this run)", what="report", fix=fix)
    split = need(report, "split", "an object", field="split", path="(this run)", what="report", fix=fix)
    need(split, "test_fingerprint", "a non-empty string", field="split.test_fingerprint", path="(this run)",
         what="report", fix=fix)


def check(report: Report, baseline: Mapping[str, Any], *, name: str = "baseline",
          margin: float = DEFAULT_MARGIN, parse_slack: float = DEFAULT_PARSE_SLACK,
          cost_slack: float = DEFAULT_COST_SLACK, resamples: int = 1000, seed: int = 0) -> GateResult:
    """Every row of ``baseline`` against the same row of ``report`` (a RunReport or its JSON; see the module
    docstring). Raises HarnessError for a malformed baseline, report or limit; everything else is a ``Check``."""
    validate_limits(margin, parse_slack, cost_slack)
    validate_baseline(baseline, name)
    _validate_run(report.to_json() if isinstance(report, RunReport) else report)
    run, base = RunReport.of(report), Baseline.from_json(baseline)
    refused = _refusals(run, base)
    if refused:
        return GateResult(baseline=name, margin=margin, checks=tuple(refused))
    labels, items = list(base.labels), run.items or Items()
    if list(items.labels) != labels:
        return GateResult(baseline=name, margin=margin, checks=(Check(
            "labels", "FAIL", f"expected the baseline's labels {labels}, got {list(items.labels)}; fix: "
                              "re-write the baseline for this version of the task"),))
    current = {r.name: r for r in run.rows}
    checks = _partial_checks(run, base) + _coverage(current, base)
    for row_name, row in current.items():
        if row_name not in base.rows:
            checks.append(Check(row_name, "SKIP", "new row: not in the baseline"))
            continue
        checks.append(_row_check(row_name, row, base.rows[row_name], items.decode(row_name),
                                 base.items.decode(row_name), labels, margin=margin, parse_slack=parse_slack,
                                 cost_slack=cost_slack, resamples=resamples, seed=seed))
    return GateResult(baseline=name, margin=margin, checks=tuple(checks))
