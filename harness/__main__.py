"""``python -m harness cassettes [--unused] [--dir DIR]``: list recorded cassettes.
``python -m harness baseline REPORT [--out PATH]``: write the CI gate's baseline (see :mod:`harness.gate`).
``python -m harness scan [PATHS]``: fail (exit 1) on API keys, tokens, org / project ids or cookies in
cassettes and reports (see :mod:`harness.secrets_scan`).

A cassette is *unused* when the current prompts would never ask for what it holds: it was recorded with
another prompt template version (``harness/prompts.py`` changed since).
"""

from __future__ import annotations

import argparse
import sys

from harness import HarnessError
from harness.cassettes import DEFAULT_DIR, list_cassettes
from harness.prompts import TEMPLATE_VERSION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness")
    sub = parser.add_subparsers(dest="command", required=True)
    cassettes = sub.add_parser("cassettes", help="list recorded cassettes")
    cassettes.add_argument("--dir", default=str(DEFAULT_DIR), help="cassette folder (default: %(default)s)")
    cassettes.add_argument("--unused", action="store_true", help="only those the current prompts no longer use")
    baseline = sub.add_parser("baseline", help="write the CI gate's baseline from a report (aggregates, no text)")
    baseline.add_argument("report", help="a suite run's report JSON, e.g. reports/fpb-sentiment.json")
    baseline.add_argument("--out", default="baselines/fpb-sentiment.json", help="where to write it (default: %(default)s)")
    scan = sub.add_parser("scan", help="fail on API keys, tokens, org/project ids or cookies in files")
    scan.add_argument("paths", nargs="*", default=["cassettes", "reports"], help="files or folders (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command == "scan":
        from harness.secrets_scan import scan_paths

        try:
            findings, files = scan_paths(args.paths)
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for finding in findings:
            print(finding)
        print(f"scan: {len(findings)} secret(s) in {files} file(s) under {', '.join(args.paths)}",
              file=sys.stderr if findings else sys.stdout)
        return 1 if findings else 0
    if args.command == "baseline":
        from harness.gate import write_baseline

        try:
            print(f"baseline written: {write_baseline(args.report, args.out)}")
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        infos = list_cassettes(args.dir)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for info in infos:
        meta = info.metadata
        stale = meta.get("template_version") != TEMPLATE_VERSION
        if args.unused and not stale:
            continue
        state = f"STALE (template {meta.get('template_version')}, now {TEMPLATE_VERSION})" if stale else "current"
        print(f"{info.path}\t{info.interactions} interactions\t{meta.get('model')} · {meta.get('strategy')}\t{state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
