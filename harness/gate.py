"""The CI quality gate: a committed baseline and a non-inferiority check of a run against it.

A baseline (``python -m harness baseline reports/fpb-sentiment.json``, written to ``baselines/``) holds
aggregates only: per row the weighted F1 and its CI, accuracy, parse failures, errors and cost, plus
per-item label codes keyed by example id (no sentence text), so the check can be *paired* on the items
both runs evaluated.

A row FAILS when

* it is worse than its baseline beyond the non-inferiority margin *with statistical support*: on the
  shared items, the one-sided 95 % upper bound of ΔF1 = F1(now) − F1(baseline) (paired bootstrap,
  the same resampled items for both) is below ``-margin``; McNemar's exact p on per-item correctness
  is shown beside it;
* its parse-failure rate exceeds the baseline's by more than ``parse_slack`` (absolute);
* its billed or estimated API cost per 1k requests exceeds the baseline's by more than ``cost_slack``
  (relative). Local rows' cost is measured time, which depends on the machine, so it is not gated.

Rows missing on either side are reported, never failed: the gate judges what both runs measured.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness import HarnessError
from harness.compare import compare
from harness.metrics import bootstrap_ci, coded_weighted_f1, encode
from harness.report import _atomic_write, decode_items

BASELINE_VERSION = 1
DEFAULT_MARGIN = 0.02
DEFAULT_PARSE_SLACK = 0.02
DEFAULT_COST_SLACK = 0.10
GATED_COST = ("billed", "estimated")


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


def baseline_from_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Aggregates and per-item label codes of a report; no sentence text."""
    items = report.get("items")
    if not items:
        raise HarnessError("this report has no per-item table (items): expected a report written by this version "
                           "of the harness; re-run the suite, then write the baseline from its report")
    rows = {}
    for r in report["rows"]:
        name = f"{r['model']} · {r['strategy']}"
        rows[name] = {"n": r["n"], "weighted_f1": r["weighted_f1"], "weighted_f1_ci95": r["weighted_f1_ci95"],
                      "accuracy": r["accuracy"], "parse_failures": r["parse_failures"], "errors": r["errors"],
                      "cost_per_1k_usd": r["cost"]["per_1k_usd"], "cost_basis": r["cost"].get("basis"),
                      "preds": items["preds"].get(name, "")}
    return {
        "baseline_version": BASELINE_VERSION,
        "task": report["task"], "task_version": report.get("task_version"),
        "template_version": report.get("template_version"),
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "from_report_created_at": report.get("created_at"), "git_sha": report.get("git_sha"),
        "split": {k: report["split"].get(k) for k in ("method", "seed", "n_test", "n_evaluated", "test_fingerprint")},
        "data_file_sha256": report.get("data", {}).get("file_sha256"),
        "labels": items["labels"], "ids": items["ids"], "gold": items["gold"],
        "rows": rows,
    }


def write_baseline(report_path: Path, out_path: Path) -> Path:
    try:
        report = json.loads(Path(report_path).read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{report_path}: cannot read the report ({exc}); expected the JSON a suite run writes, "
                           "e.g. reports/fpb-sentiment.json") from None
    _atomic_write(Path(out_path), json.dumps(baseline_from_report(report), indent=1, ensure_ascii=False) + "\n")
    return Path(out_path)


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HarnessError(f"--harness-gate={path}: no baseline there; write one with: python -m harness baseline "
                           f"reports/fpb-sentiment.json --out {path}") from None
    except (OSError, ValueError) as exc:
        raise HarnessError(f"--harness-gate={path}: cannot read the baseline ({exc})") from None
    if data.get("baseline_version") != BASELINE_VERSION:
        raise HarnessError(f"{path}: baseline_version {data.get('baseline_version')!r}, expected {BASELINE_VERSION}; "
                           "re-write it with python -m harness baseline")
    return data


def _one_sided_upper(golds: np.ndarray, now: np.ndarray, then: np.ndarray, labels: Sequence[str], *,
                     resamples: int, seed: int) -> float:
    f1 = coded_weighted_f1(labels)
    if np.array_equal(now, then):
        return 0.0
    # the upper end of a two-sided 90 % interval is the one-sided 95 % upper bound
    return bootstrap_ci(lambda g, a, b: f1(g, a) - f1(g, b), golds, now, then, resamples=resamples, seed=seed,
                        level=0.90)[1]


def check(report: Mapping[str, Any], baseline: Mapping[str, Any], *, name: str = "baseline",
          margin: float = DEFAULT_MARGIN, parse_slack: float = DEFAULT_PARSE_SLACK,
          cost_slack: float = DEFAULT_COST_SLACK, resamples: int = 1000, seed: int = 0) -> GateResult:
    if report["task"] != baseline["task"]:
        raise HarnessError(f"the baseline is for task {baseline['task']}, this run is {report['task']}: pass the "
                           "task's own baseline to --harness-gate")
    labels = baseline["labels"]
    base_items = {"labels": labels, "ids": baseline["ids"], "gold": baseline["gold"],
                  "preds": {k: v["preds"] for k, v in baseline["rows"].items()}}
    checks = []
    current = {f"{r['model']} · {r['strategy']}": r for r in report["rows"]}
    for row_name, row in current.items():
        base = baseline["rows"].get(row_name)
        if base is None:
            checks.append(Check(row_name, "SKIP", "new row: not in the baseline"))
            continue
        mine, theirs = decode_items(report["items"], row_name), decode_items(base_items, row_name)
        shared = [i for i in mine if i in theirs]
        if any(mine[i][0] != theirs[i][0] for i in shared):
            checks.append(Check(row_name, "FAIL", "gold labels differ from the baseline's on the same example ids: "
                                                  "the data changed; re-write the baseline"))
            continue
        problems = []
        if len(shared) < 2:
            checks.append(Check(row_name, "SKIP", f"only {len(shared)} items shared with the baseline (another split?)"))
            continue
        golds = [mine[i][0] for i in shared]
        now_pred, then_pred = [mine[i][1] for i in shared], [theirs[i][1] for i in shared]
        paired = compare(golds, now_pred, then_pred, labels, resamples=resamples, seed=seed)
        upper = _one_sided_upper(encode(labels, golds), encode(labels, now_pred), encode(labels, then_pred),
                                 labels, resamples=resamples, seed=seed)
        quality = (f"ΔF1 {paired['f1_difference']:+.3f} on {len(shared)} shared items (one-sided 95% upper bound "
                   f"{upper:+.3f}, margin −{margin:g}; McNemar p={paired['mcnemar_p']:.2g})")
        if upper < -margin:
            problems.append("worse than baseline beyond the margin: " + quality)
        now_rate = (row["parse_failures"]) / max(1, row["n"])
        then_rate = base["parse_failures"] / max(1, base["n"])
        if now_rate > then_rate + parse_slack:
            problems.append(f"parse failures {row['parse_failures']}/{row['n']} ({now_rate:.1%}) > baseline "
                            f"{then_rate:.1%} + {parse_slack:.0%}")
        now_cost, then_cost = row["cost"]["per_1k_usd"], base.get("cost_per_1k_usd")
        if row["cost"].get("basis") in GATED_COST and now_cost is not None and then_cost is not None \
                and now_cost > then_cost * (1 + cost_slack):
            problems.append(f"cost ${now_cost:.4g}/1k > baseline ${then_cost:.4g}/1k + {cost_slack:.0%}")
        checks.append(Check(row_name, "FAIL", "; ".join(problems)) if problems else Check(row_name, "PASS", quality))
    for row_name in baseline["rows"]:
        if row_name not in current:
            checks.append(Check(row_name, "SKIP", "in the baseline but not in this run"))
    return GateResult(baseline=name, margin=margin, checks=tuple(checks))
