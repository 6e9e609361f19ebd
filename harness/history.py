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

from harness import HarnessError, humanize, files
from harness.compare import compare
from harness.files import atomic_write_text, describe, field_error, need
from harness.report.build import decode_items  # one decoder of the items table
from harness.report.markdown import markdown_table, not_run_markdown, verdict_markdown
from harness.report.run import Report, RunReport
from harness.report.tables import comparison_table, leaderboard

RUNS = "runs"
_RUN = re.compile(r"^(\d{4,})_(.+)\.json$")
_RESERVED = re.compile(r"^\.(\d{4,})$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
REPORT_FIX = "use a report JSON the harness wrote (reports/fpb-sentiment.json or reports/runs/NNNN_*.json), unedited"


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
    try:
        found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _RUN.match(p.name))]
    except OSError as exc:
        raise HarnessError(f"saved runs folder {directory}: expected a readable folder, got {type(exc).__name__}: "
                           f"{exc.strerror or exc}; fix: make it readable (chmod u+rx)") from None
    return sorted(found)


def save(report: Mapping[str, Any], directory: Path, name: str) -> Path:
    """Write ``report`` as the next ``NNNN_<name>.json`` in ``directory``; returns its path."""
    _runs_folder(directory)
    safe = _SAFE.sub("-", name).strip("-.") or "run"
    try:
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
        atomic_write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise HarnessError(f"saved runs folder {directory}: expected a writable folder, got {type(exc).__name__}: "
                           f"{exc.strerror or exc}; fix: make it writable, or pass --harness-report-dir=ANOTHER_DIR "
                           "(the report itself is already written)") from None
    return path


def _runs_folder(directory: Path) -> None:
    """Create the saved-runs folder, or a HarnessError saying what is in its place."""
    if directory.exists() and not directory.is_dir():
        raise HarnessError(f"saved runs folder {directory}: expected a folder, got a file; fix: move that file away, "
                           "or pass --harness-report-dir=ANOTHER_DIR (the report itself is already written)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"saved runs folder {directory}: expected a folder that can be created, got "
                           f"{type(exc).__name__}: {exc.strerror or exc} (is one of its parents a file?); fix: pass "
                           "--harness-report-dir=ANOTHER_DIR (the report itself is already written)") from None


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
    """A saved run, read through the guarded reader and checked field by field (see :func:`validate_report`)."""
    return validate_report(files.read_json(path, what="saved run"), path=path, what="saved run")


# -- the shape of a report ------------------------------------------------------------------------------------
def _name(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_codes(value: Any, n: int, allowed: str, *, field: str, path: Any, what: str, fix: str) -> str:
    """A string of one code per id: ``n`` characters, each in ``allowed``."""
    if not isinstance(value, str):
        raise field_error(path, what, field, f"a string of {n} label codes", describe(value), fix)
    if len(value) != n:
        raise field_error(path, what, field, f"one code per id ({n} characters)", f"{len(value)} characters", fix)
    bad = next((i for i, c in enumerate(value) if c not in allowed), None)
    if bad is not None:
        raise field_error(path, what, field, f"only the codes {allowed!r}", f"{value[bad]!r} at position {bad}", fix)
    return value


def validate_items(items: Any, *, field: str, path: Any, what: str, fix: str, preds: bool = True) -> None:
    """The per-item table (``labels``, ``ids``, ``gold``, and ``preds`` unless ``preds=False``)."""
    if not isinstance(items, dict):
        raise field_error(path, what, field or "(top level)", "an object", describe(items), fix)
    labels = need(items, "labels", "a list", field=_name(field, "labels"), path=path, what=what, fix=fix)
    names_ok = all(isinstance(x, str) and x for x in labels) and len(set(labels)) == len(labels)
    if not 1 <= len(labels) <= 10 or not names_ok:
        raise field_error(path, what, _name(field, "labels"), "1 to 10 distinct label names",
                          f"{describe(labels)}: {labels!r}"[:200], fix)
    ids = need(items, "ids", "a list", field=_name(field, "ids"), path=path, what=what, fix=fix)
    if not all(isinstance(x, str) for x in ids):
        raise field_error(path, what, _name(field, "ids"), "example ids (strings)", "a non-string id", fix)
    if len(set(ids)) != len(ids):
        raise field_error(path, what, _name(field, "ids"), "distinct example ids", "the same id twice", fix)
    codes = "".join(str(i) for i in range(len(labels)))
    check_codes(items.get("gold"), len(ids), codes + "-", field=_name(field, "gold"), path=path, what=what, fix=fix)
    if preds:
        table = need(items, "preds", "an object", field=_name(field, "preds"), path=path, what=what, fix=fix)
        for row, value in table.items():
            check_codes(value, len(ids), codes + "x-", field=_name(field, f"preds[{row!r}]"), path=path, what=what,
                        fix=fix)


def validate_report(report: Any, *, path: Any, what: str = "report", fix: str = REPORT_FIX,
                    items_required: bool = False) -> dict[str, Any]:
    """``report`` when every field :func:`diff` (and the gate) reads has its type, else a HarnessError naming
    ``path`` and the field."""
    if not isinstance(report, dict):
        raise field_error(path, what, "(top level)", "a JSON object (a report)", describe(report), fix)
    need(report, "task", "a non-empty string", field="task", path=path, what=what, fix=fix)
    rows = need(report, "rows", "a list", field="rows", path=path, what=what, fix=fix)
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        need(rows, i, "an object", field=where, path=path, what=what, fix=fix)
        key = tuple(need(row, k, "a non-empty string", field=f"{where}.{k}", path=path, what=what, fix=fix)
                    for k in ("model", "strategy"))
        if key in seen:
            raise field_error(path, what, where, "each model · strategy row once", f"{' · '.join(key)} twice", fix)
        seen.add(key)  # type: ignore[arg-type]
        need(row, "weighted_f1", "a number or null", field=f"{where}.weighted_f1", path=path, what=what, fix=fix)
        need(row, "parse_failures", "a count (an integer >= 0)", field=f"{where}.parse_failures", path=path,
             what=what, fix=fix)
        cost = need(row, "cost", "an object", field=f"{where}.cost", path=path, what=what, fix=fix)
        need(cost, "per_1k_usd", "a number or null", field=f"{where}.cost.per_1k_usd", path=path, what=what, fix=fix)
    if items_required or report.get("items") is not None:
        validate_items(need(report, "items", "an object", field="items", path=path, what=what, fix=fix),
                       field="items", path=path, what=what, fix=fix)
    return report


def diff(current: Mapping[str, Any], previous: Mapping[str, Any], *, resamples: int, seed: int) -> list[dict[str, Any]]:
    """Each row of ``current`` against the same row of ``previous``: F1 then and now, the paired ΔF1
    with its bootstrap CI and McNemar's p on the shared items, and the parse-failure and cost change."""
    validate_report(current, path="(this run)")
    validate_report(previous, path="(the earlier run)")
    now, then = RunReport.of(current), RunReport.of(previous)
    if then.task != now.task:
        raise HarnessError(f"--harness-compare: expected a saved run of task {now.task}, got one of task "
                           f"{then.task}; fix: pick a run of this task (a run number or part of its name)")
    old_rows = {r.name: r for r in then.rows}
    labels = list(now.items.labels) if now.items else []
    pairable = now.items is not None and then.items is not None and list(then.items.labels) == labels
    out = []
    for row in now.rows:
        name = row.name
        old = old_rows.get(name)
        entry: dict[str, Any] = {"row": name, "now": row.weighted_f1, "then": old.weighted_f1 if old else None,
                                 "parse_failures_now": row.parse_failures,
                                 "parse_failures_then": old.parse_failures if old else None,
                                 "cost_per_1k_now": row.cost.per_1k_usd,
                                 "cost_per_1k_then": old.cost.per_1k_usd if old else None}
        if old and pairable:
            mine, theirs = decode_items(now.items, name), decode_items(then.items, name)  # type: ignore[arg-type]
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
            delta, p = (f"{e['f1_difference']:+.3f} [{low:+.3f}, {high:+.3f}] n={e['n_shared']}",
                        humanize.p_value(e["mcnemar_p"]))
        else:
            delta, p = "new row" if e["then"] is None else "no shared items", "n/a"
        table.append([e["row"], num(e["then"], ".3f"), num(e["now"], ".3f"), delta, p,
                      f"{num(e['parse_failures_then'], 'd')} → {e['parse_failures_now']}",
                      f"{humanize.usd(e['cost_per_1k_then'])} → {humanize.usd(e['cost_per_1k_now'])}"])
    return table


def summary_markdown(report: Report, *, saved: Path | None = None, previous: Path | None = None,
                     entries: list[dict[str, Any]] | None = None, gate_lines: list[str] | None = None) -> str:
    """A short Markdown summary for a pull-request comment: leaderboard, fine-tuned vs the rest, the change
    since an earlier run, and the gate's verdicts."""

    report = RunReport.of(report)
    board = [r[:4] + r[6:9] for r in leaderboard(report)]
    out = [f"### {report.task}: fine-tune or prompt?", ""]
    if report.notice:
        out += [f"**{report.notice}**", ""]
    out += list(verdict_markdown(report, heading="####"))
    if gate_lines:
        failed = [line for line in gate_lines if line.startswith("FAIL")]
        out += [f"**Quality gate: {'FAILED' if failed else 'passed'}**", "", "```"] + gate_lines + ["```", ""]
    out += markdown_table(board)
    if report.comparisons:
        out += ["", "**Fine-tuned vs the rest** (paired on the same items)", ""]
        out += markdown_table(comparison_table(report))
    if entries is not None and previous is not None:
        out += ["", f"**Since run `{previous.name}`**", ""] + markdown_table(diff_table(entries))
    split = report.split
    out += ["", f"<sub>{split.n_evaluated} test items, split {split.method} seed {split.seed} "
                f"({split.test_fingerprint}), git {str(report.git_sha)[:8]}"
                + (f", saved as `{saved.name}`" if saved else "") + "</sub>", ""]
    out += list(not_run_markdown(report))
    return "\n".join(out)
