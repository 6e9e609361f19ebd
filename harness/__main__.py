"""``python -m harness cassettes [--unused] [--dir DIR] [--suite FILE]``: list recorded cassettes, each judged by
its own task's prompt template.
``python -m harness cassettes --reseal PATH... --reason WHY``: seal cassettes (files or folders) as they are,
changing no answer; each one resealed keeps when, why and by what command, and every report that replays it
says so (see :func:`harness.cassettes.reseal`).
``python -m harness baseline REPORT [--out PATH] [--overwrite]``: write the CI gate's baseline (see :mod:`harness.gate`).
``python -m harness splits REPORT REPORT ... [--out PATH]``: one decision across splits, from each split's report
(see :mod:`harness.across_splits`).
``python -m harness scan [PATHS]``: fail (exit 1) on API keys, tokens, org / project ids or cookies in
cassettes and reports (see :mod:`harness.secrets_scan`).

A cassette is *unused* when the current prompts would never ask for what it holds: it was recorded with
another prompt template version than its task's (the task named in its metadata, else its folder) has now, or
it lies in another known task's folder (MISPLACED: that task's replay refuses it). Each cassette is judged by its
own task only: a built-in task by its exact name, a project's own task (declared in its suite file) only with
``--suite FILE``, and a suite file that declares no task is an error.
A cassette that replay would refuse (unsealed, edited, conflicting duplicates, a secret) is listed as REFUSED
with the reason and the fix, and makes the command exit 1. A resealed one ends its line with when and why.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import HarnessError
from harness.cassettes import (DEFAULT_DIR, RESEAL_COMMAND, CassetteInfo, cassette_files, read_cassette, reseal,
                               resealed_caveat, safe_name)
from harness.recording.resealed import reseal_reason


@dataclass(frozen=True)
class Verdict:
    """How a cassette stands against its task's current prompts."""

    state: str
    stale: bool = False
    refused: bool = False


def _import_suite(file: str, number: int) -> Any:
    path = Path(file)
    if not path.is_file():
        raise HarnessError(f"--suite {file}: not found; expected a Python suite file that declares its task")
    spec = importlib.util.spec_from_file_location(f"_harness_suite_{number}", path)
    if spec is None or spec.loader is None:
        raise HarnessError(f"--suite {file}: expected a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise HarnessError(f"--suite {file}: importing it failed ({type(exc).__name__}: {exc})") from exc
    return module


def _declared(module: Any) -> list[Any]:
    """The tasks a suite module declares: module-level :class:`harness.tasks.Task` objects (``TASK``, ``TASKS`` or
    any other), and the task its ``harness_task`` marker names (a task object, or a built-in task by name)."""
    from harness.tasks import Task, get_task

    names = vars(module)
    tasks = [v for v in list(names.values()) + list(names.get("TASKS", ())) if isinstance(v, Task)]
    marks = names.get("pytestmark", [])
    for mark in marks if isinstance(marks, (list, tuple)) else [marks]:
        mark = getattr(mark, "mark", mark)
        if getattr(mark, "name", "") == "harness_task" and getattr(mark, "args", ()):
            tasks.append(get_task(mark.args[0]) if isinstance(mark.args[0], str) else mark.args[0])
    return [t for t in tasks if isinstance(t, Task)]


def _suite_tasks(files: list[str]) -> dict[str, str]:
    """Template versions of the tasks declared in suite files, by task name. A file that declares no task, or two
    files that declare one name with two templates, is an error: either would judge cassettes against nothing,
    or against another task's prompts."""
    found: dict[str, tuple[str, str]] = {}
    for number, file in enumerate(files):
        tasks = _declared(_import_suite(file, number))
        if not tasks:
            raise HarnessError(
                f"--suite {file}: expected a suite file that declares a task (TASK = ClassificationTask(...), "
                "TASKS = (...), or pytestmark = pytest.mark.harness_task(...)), got no task in it; fix: name the "
                "suite file that declares the task of the cassettes to judge (built-in tasks need no --suite)")
        for task in tasks:
            earlier = found.setdefault(task.name, (task.template_version, file))
            if earlier[0] != task.template_version:
                raise HarnessError(
                    f"--suite {file}: task {task.name!r} has template {task.template_version}, but --suite "
                    f"{earlier[1]} declares it with template {earlier[0]}; expected one task per name (cassettes "
                    "are kept by task name); fix: pass one of the two suite files, or give each task its own name")
    return {name: version for name, (version, _) in found.items()}


def _builtin_template(task: str) -> str | None:
    """The template version of the built-in task of exactly this name (never one found by its marker or by
    importing a module of that name), or None when there is none (or the registry cannot load)."""
    try:
        from harness.tasks import registry

        version = getattr(registry().get(task), "template_version", None)
    except Exception:  # a registry mid-change may raise anything
        return None
    return version if isinstance(version, str) else None


def _judge(info: CassetteInfo, templates: Callable[[str], str | None]) -> Verdict:
    """The cassette judged for the task whose replay reads it: its metadata's task, which must be the task of the
    folder it lies in when that folder is a known task's (another task's replay refuses it), against that
    task's own template (tasks may share a template version, so the template alone cannot tell them apart)."""
    meta = info.metadata
    folder = info.path.parent.parent.name
    task = str(meta.get("task") or folder)
    if folder != safe_name(task) and templates(folder) is not None:
        return Verdict(f"MISPLACED (recorded for task {task}, found in task {folder}'s folder, whose replay refuses "
                       f"it: move it under {safe_name(task)}/ or delete it)", stale=True)
    current = templates(task)
    if current is None:
        return Verdict(f"task {task}: not a built-in task, pass --suite FILE (the suite that declares it) to judge it")
    recorded = meta.get("template_version")
    if recorded != current:
        return Verdict(f"STALE (task {task}: template {recorded}, now {current})", stale=True)
    return Verdict("current")


def _templates(suites: list[str]) -> Callable[[str], str | None]:
    declared = _suite_tasks(suites)
    cache: dict[str, str | None] = {}

    def lookup(task: str) -> str | None:
        if task not in cache:
            cache[task] = declared[task] if task in declared else _builtin_template(task)
        return cache[task]

    return lookup


def list_command(folder: str, unused: bool, suites: list[str]) -> int:
    templates = _templates(suites)
    refused = 0
    for path in cassette_files(Path(folder)):
        try:
            info = read_cassette(path)
        except HarnessError as exc:
            refused += 1
            print(f"{path}\tREFUSED: {exc}")
            continue
        verdict = _judge(info, templates)
        if unused and not verdict.stale:
            continue
        meta = info.metadata
        resealed = resealed_caveat(meta)
        print(f"{info.path}\t{info.interactions} interactions\t{meta.get('model')} · {meta.get('strategy')}\t{verdict.state}"
              + (f"\t{resealed}" if resealed else ""))
    if refused:
        print(f"cassettes: {refused} refused (replay would not use them); see each line for the fix", file=sys.stderr)
    return 1 if refused else 0


def reseal_command(paths: list[str], reason: str | None) -> int:
    reason = reseal_reason(reason, "--reseal")  # refused before any file is touched
    command = f"{RESEAL_COMMAND} {shlex.join(paths)} --reason {shlex.quote(reason)}"
    failed = 0
    for given in paths:
        if not Path(given).exists():
            print(f"error: {given}: not found; expected cassette files or folders", file=sys.stderr)
            failed += 1
            continue
        files = cassette_files(Path(given))
        if not files:
            print(f"error: {given}: no cassette (*.json) there", file=sys.stderr)
            failed += 1
        for path in files:
            try:
                print(reseal(path, reason, command=command))
            except (HarnessError, OSError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
    return 2 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness")
    sub = parser.add_subparsers(dest="command", required=True)
    cassettes = sub.add_parser("cassettes", help="list recorded cassettes, or seal them (--reseal)")
    cassettes.add_argument("--dir", default=str(DEFAULT_DIR), help="cassette folder (default: %(default)s)")
    cassettes.add_argument("--unused", action="store_true", help="only those the current prompts no longer use")
    cassettes.add_argument("--suite", action="append", default=[], metavar="FILE",
                           help="a suite file declaring a task that is not built in (repeatable)")
    cassettes.add_argument("--reseal", nargs="+", metavar="PATH",
                           help="seal these cassettes (files or folders) as they are, changing no answer: only for "
                                "content you trust (recorded by you, or restored from git); needs --reason")
    cassettes.add_argument("--reason", metavar="WHY",
                           help="why --reseal may vouch for the content: written into each cassette resealed (with "
                                "the time and the command), and shown by every report that replays it")
    baseline = sub.add_parser("baseline", help="write the CI gate's baseline from a report (aggregates, no text)")
    baseline.add_argument("report", help="a suite run's report JSON, e.g. reports/fpb-sentiment.json")
    baseline.add_argument("--out", default=None, help="where to write it (default: baselines/<the report's task>.json)")
    baseline.add_argument("--rows", type=lambda s: [r.strip() for r in s.split(",") if r.strip()], default=None,
                          metavar="'MODEL · STRATEGY',...", help="keep only these rows (a CI job that runs a subset)")
    baseline.add_argument("--overwrite", action="store_true", help="replace a baseline already at --out")
    splits = sub.add_parser("splits", help="the same rows on several splits side by side, one report per split")
    splits.add_argument("reports", nargs="+", type=Path, help="each split's report JSON (e.g. reports/seed-78516/fpb-sentiment.json)")
    splits.add_argument("--out", type=Path, default=None,
                        help="output stem (default: reports/<task>-splits, written as .json and .md)")
    scan = sub.add_parser("scan", help="fail on API keys, tokens, org/project ids or cookies in files")
    scan.add_argument("paths", nargs="*", default=["cassettes", "reports"], help="files or folders (default: %(default)s)")
    return parser


def _scan(args: Any) -> int:
    from harness.secrets_scan import scan_paths

    findings, files = scan_paths(args.paths)
    for finding in findings:
        print(finding)
    print(f"scan: {len(findings)} secret(s) in {files} file(s) under {', '.join(args.paths)}",
          file=sys.stderr if findings else sys.stdout)
    return 1 if findings else 0


def _baseline(args: Any) -> int:
    from harness.gate import write_baseline

    out = args.out
    if out is None:
        from harness import files

        out = Path("baselines") / f"{files.read_json(Path(args.report), what='report').get('task', 'fpb-sentiment')}.json"
    print(f"baseline written: {write_baseline(args.report, out, args.rows, overwrite=args.overwrite)}")
    return 0


def _splits(args: Any) -> int:
    from harness import across_splits

    combined = across_splits.combine(across_splits.load_runs(args.reports))
    paths = across_splits.write(combined, args.out or Path("reports") / f"{combined['task']}-splits")
    for entry in combined["comparisons"]:
        print(f"{entry['a']} vs {entry['b']}: {entry['combined']}")
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "baseline":
            return _baseline(args)
        if args.command == "splits":
            return _splits(args)
        if args.reseal:
            return reseal_command(args.reseal, args.reason)
        if args.reason is not None:
            raise HarnessError(f"--reason {args.reason!r}: expected it with --reseal PATH..., got no --reseal; fix: "
                               f"{RESEAL_COMMAND} PATH --reason {shlex.quote(args.reason)}")
        return list_command(args.dir, args.unused, args.suite)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
