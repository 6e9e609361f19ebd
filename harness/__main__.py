"""``python -m harness cassettes [--unused] [--dir DIR]``: list recorded cassettes.

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
    args = parser.parse_args(argv)
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
