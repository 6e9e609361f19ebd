"""Before the first case: every path the session will write, checked to be writable, so a run never spends
its time (or, recording API cassettes, its money) and then fails to save what it measured.

:func:`check_writable` looks at the report folder (it exists or can be made, is a folder, is writable), at each
fixed name the end of the session writes in it (``<task>.json``, ``.md``, ``.html``, ``_predictions.csv`` per
task, ``summary.md``, the ``runs/`` folder): none may be in the way (a folder where a file goes, a file where a
folder goes), and, when recording (``--record-mode`` other than ``none``), at the cassette folder. It creates
nothing: a folder that does not exist yet is judged by the nearest one that does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from harness import HarnessError
from harness.history import RUNS

REPORT_FILES = ("{task}.json", "{task}.md", "{task}.html", "{task}_predictions.csv")
"""The files the end of the session writes per task in the report folder."""
SESSION_FILES = ("summary.md",)
"""The files it writes once (the main job's summary)."""


def _kind(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a broken link"
    if path.is_dir():
        return "a folder"
    if path.is_file():
        return "a file"
    return "something that is neither a file nor a folder (a pipe or a device)"


def _folder(path: Path, option: str, why: str) -> None:
    """``path`` is a writable folder, or can be made as one (its nearest existing parent is a writable folder)."""
    existing = path
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing}, where a folder of that path goes)"
        raise HarnessError(f"{option}={path}: expected a folder ({why}), got {_kind(existing)}{where}; fix: move it "
                           f"away or pass another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HarnessError(f"{option}={path}: expected a writable folder ({why}), got {existing}, which this user "
                           f"cannot write to; fix: change its permissions or pass another {option}")


def _file(path: Path, option: str) -> None:
    """Nothing but a file (or nothing) at ``path``: the session replaces a file there, never a folder."""
    if os.path.lexists(path) and not path.is_file():
        raise HarnessError(f"{option}: expected {path} to be a file the report replaces (or nothing), got "
                           f"{_kind(path)}; fix: move it away or pass another {option}")


def check_writable(report_dir: Path, task_names: Iterable[str], cassette_dir: Path | None = None,
                   record_mode: str = "none") -> None:
    """Raise a HarnessError (what, where, the fix) when the session could not write one of its files; see the
    module docstring. Creates nothing."""
    report_dir = Path(report_dir)
    _folder(report_dir, "--harness-report-dir", "the reports go there")
    names = [pattern.format(task=task) for task in task_names for pattern in REPORT_FILES] + list(SESSION_FILES)
    for name in names:
        _file(report_dir / name, "--harness-report-dir")
    _folder(report_dir / RUNS, "--harness-report-dir", "each run is saved under its runs/ folder")
    if record_mode != "none" and cassette_dir is not None:
        _folder(Path(cassette_dir), "--harness-cassette-dir",
                f"--record-mode={record_mode} writes each API call's cassette there, after paying for the call")
