"""Run history, in pytest-benchmark's style: every run saved as ``runs/NNNN_<name>.json``, compared later.

* :func:`save` allocates the next number atomically (``os.open`` with ``O_CREAT | O_EXCL`` on a
  reservation file ``.NNNN``), so two runs finishing at once never take the same number or clobber
  each other's file; the run file itself is written to a temp file and renamed.
* :func:`default_name` is ``<commit>_<UTC date>_<time>[_uncommitted-changes]``, as pytest-benchmark
  names its autosaves; ``--harness-save NAME`` gives another.
* :func:`find` resolves ``--harness-compare[=N]``: no value = the newest run saved before this one; a
  number = that run; anything else = the newest run whose name contains it.
* :func:`diff` compares two reports row by row, paired on the items both evaluated (the ``items``
  table of the report: label codes keyed by example id, no text).

A saved run is the report JSON itself (aggregates, label codes, no sentence text).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from harness import HarnessError
from harness.compare import compare
from harness.report import _atomic_write, decode_items

RUNS = "runs"
_RUN = re.compile(r"^(\d{4,})_(.+)\.json$")
_RESERVED = re.compile(r"^\.(\d{4,})$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def git_dirty(where: Path) -> bool:
    """Whether the checkout has uncommitted changes to tracked files (pytest-benchmark's marker)."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.stdout.strip())


def default_name(git_sha: str | None, dirty: bool, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{(git_sha or 'nogit')[:8]}_{now:%Y%m%d_%H%M%S}" + ("_uncommitted-changes" if dirty else "")


def _number(path: Path) -> int | None:
    for pattern in (_RUN, _RESERVED):
        match = pattern.match(path.name)
        if match:
            return int(match.group(1))
    return None


def runs(directory: Path) -> list[tuple[int, Path]]:
    """Saved runs, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _RUN.match(p.name))]
    return sorted(found)


def save(report: Mapping[str, Any], directory: Path, name: str) -> Path:
    """Write ``report`` as the next ``NNNN_<name>.json`` in ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    safe = _SAFE.sub("-", name).strip("-.") or "run"
    taken = [n for p in directory.iterdir() if (n := _number(p)) is not None]
    number = max(taken, default=0) + 1
    while True:
        try:
            fd = os.open(directory / f".{number:04d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # another run reserved it between our listing and now: take the next one
            number += 1
            continue
        os.close(fd)
        break
    path = directory / f"{number:04d}_{safe}.json"
    _atomic_write(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return path


def find(directory: Path, spec: str | None, *, before: Path | None = None) -> Path:
    """The saved run ``--harness-compare[=spec]`` names (see the module docstring)."""
    saved = [(n, p) for n, p in runs(directory) if before is None or p != before]
    if before is not None and _number(before) is not None:
        saved = [(n, p) for n, p in saved if n < _number(before)]  # only runs saved before this one
    if not saved:
        raise HarnessError(f"--harness-compare: no earlier run saved in {directory}; every run is saved there, "
                           "so run the suite once more and compare then")
    if spec in (None, "", "latest", "last"):
        return saved[-1][1]
    if spec.isdigit():
        for n, p in saved:
            if n == int(spec):
                return p
        raise HarnessError(f"--harness-compare={spec}: no run {int(spec):04d} in {directory}; saved runs are "
                           f"{', '.join(p.name for _, p in saved[-5:])} (last 5)")
    matches = [p for _, p in saved if spec in p.name]
    if not matches:
        raise HarnessError(f"--harness-compare={spec}: no saved run in {directory} has {spec!r} in its name; "
                           "pass a run number (e.g. --harness-compare=3) or leave the value out for the previous run")
    return matches[-1]


def load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: cannot read a saved run ({exc}); expected a report JSON written by the harness") from None


def diff(current: Mapping[str, Any], previous: Mapping[str, Any], *, resamples: int, seed: int) -> list[dict[str, Any]]:
    """Each row of ``current`` against the same row of ``previous``: F1 then and now, the paired ΔF1
    with its bootstrap CI and McNemar's p on the shared items, and the parse-failure and cost change."""
    old_rows = {(r["model"], r["strategy"]): r for r in previous.get("rows", [])}
    labels = current["items"]["labels"] if current.get("items") else []
    out = []
    for row in current["rows"]:
        key = (row["model"], row["strategy"])
        name = " · ".join(key)
        old = old_rows.get(key)
        entry: dict[str, Any] = {"row": name, "now": row["weighted_f1"], "then": old["weighted_f1"] if old else None,
                                 "parse_failures_now": row["parse_failures"],
                                 "parse_failures_then": old["parse_failures"] if old else None,
                                 "cost_per_1k_now": row["cost"]["per_1k_usd"],
                                 "cost_per_1k_then": old["cost"]["per_1k_usd"] if old else None}
        if old and current.get("items") and previous.get("items"):
            mine, theirs = decode_items(current["items"], name), decode_items(previous["items"], name)
            shared = [i for i in mine if i in theirs and mine[i][0] == theirs[i][0]]
            if len(shared) >= 2:
                result = compare([mine[i][0] for i in shared], [mine[i][1] for i in shared],
                                 [theirs[i][1] for i in shared], labels, resamples=resamples, seed=seed)
                entry.update(n_shared=len(shared), f1_difference=result["f1_difference"],
                             f1_difference_ci95=result["f1_difference_ci95"], mcnemar_p=result["mcnemar_p"])
        out.append(entry)
    return out


def diff_table(entries: list[dict[str, Any]]) -> list[list[str]]:
    table = [["row", "F1 then", "F1 now", "ΔF1 [95% CI] (paired)", "McNemar p", "parse failures", "$ per 1k"]]

    def num(v: Any, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    for e in entries:
        if "f1_difference" in e:
            low, high = e["f1_difference_ci95"]
            delta, p = f"{e['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}] n={e['n_shared']}", f"{e['mcnemar_p']:.2g}"
        else:
            delta, p = "new row" if e["then"] is None else "no shared items", "n/a"
        table.append([e["row"], num(e["then"], ".3f"), num(e["now"], ".3f"), delta, p,
                      f"{num(e['parse_failures_then'], 'd')} → {e['parse_failures_now']}",
                      f"{num(e['cost_per_1k_then'], '.4g')} → {num(e['cost_per_1k_now'], '.4g')}"])
    return table


def summary_markdown(report: Mapping[str, Any], *, saved: Path | None = None, previous: Path | None = None,
                     entries: list[dict[str, Any]] | None = None, gate_lines: list[str] | None = None) -> str:
    """A short Markdown summary for a pull-request comment: leaderboard, fine-tuned vs the rest, the change
    since an earlier run, and the gate's verdicts."""
    from harness import report as report_mod

    def table(rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + \
            ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows[1:]]

    board = [r[:4] + r[6:9] for r in report_mod.leaderboard(report)]
    out = [f"### {report['task']}: fine-tune or prompt?", ""]
    if report.get("notice"):
        out += [f"**{report['notice']}**", ""]
    if gate_lines:
        failed = [line for line in gate_lines if line.startswith("FAIL")]
        out += [f"**Quality gate: {'FAILED' if failed else 'passed'}**", "", "```"] + gate_lines + ["```", ""]
    out += table(board)
    if report.get("comparisons"):
        out += ["", "**Fine-tuned vs the rest** (paired on the same items)", ""] + table(report_mod.comparison_table(report))
    if entries is not None and previous is not None:
        out += ["", f"**Since run `{previous.name}`**", ""] + table(diff_table(entries))
    split = report["split"]
    out += ["", f"<sub>{split['n_evaluated']} test items, split {split['method']} seed {split['seed']} "
                f"({split['test_fingerprint']}), git {str(report.get('git_sha'))[:8]}"
                + (f", saved as `{saved.name}`" if saved else "") + "</sub>", ""]
    return "\n".join(out)
