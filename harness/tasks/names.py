"""What a task may be called. A task's name names its files beside every other run's: ``<report dir>/<name>.json``,
``.md``, ``.html``, ``_predictions.csv``, ``<name>-splits.json`` (:mod:`harness.across_splits`), the cassette
folder ``cassettes/<name>/`` and the baseline ``baselines/<name>.json``. So a name may not be one of those
folders' own files (``summary.md`` of :mod:`harness.session`, ``learning_curve.json`` of
:mod:`harness.report.curve`, ``runs/`` of :mod:`harness.history`, ``mlflow.db`` and ``mlruns/`` of
:mod:`harness.tracking`, ``artifacts/`` of the HTML test, ``cassettes/README.md``), nor end like another
task's derived file, nor be so long that a file name (with the atomic writer's temporary prefix and suffix)
passes the file system's limit.
"""

from __future__ import annotations

import re

from harness import HarnessError

__all__ = ["MAX_NAME", "RESERVED", "RESERVED_SUFFIXES", "check_task_name"]

MAX_NAME = 100
"""Characters; the longest derived file, ``.<name>_predictions.csv.XXXXXXXX.tmp``, then stays far below 255 bytes."""
RESERVED = {
    "summary": "summary.md, the run summary every run writes",
    "learning_curve": "learning_curve.json, the learning curve drawn in the HTML report",
    "runs": "runs/, the run history",
    "mlflow": "mlflow.db, the local MLflow store",
    "mlruns": "mlruns/, MLflow's artifacts",
    "artifacts": "artifacts/, the HTML report's screenshots",
    "readme.md": "README.md of the cassette folder (cassettes/<name>/ is the task's folder)",
}
"""Names (compared case-insensitively, as macOS and Windows compare files) -> the report folder's own file."""
RESERVED_SUFFIXES = {"-splits": "<task>-splits.json, a task's across-splits report",
                     "_predictions": "<task>_predictions.csv, a task's predictions"}
PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_task_name(name: object, where: str) -> str:
    """``name`` when it can name a task's files, else a HarnessError saying which file it would collide with."""
    example = "e.g. name='support-tickets'"
    if not isinstance(name, str) or not PATTERN.fullmatch(name):
        raise HarnessError(f"{where}: name={name!r}: expected letters, digits, '-', '_' or '.' (it names the report "
                           f"files and the cassette folder), got other characters; fix: rename it, {example}")
    if len(name) > MAX_NAME:
        raise HarnessError(f"{where}: name {name[:40]!r}...: expected at most {MAX_NAME} characters (it names the "
                           f"report files, whose names the file system limits), got {len(name)}; fix: a shorter name")
    stem = name.lower()
    clash = RESERVED.get(stem) or next(
        (f"{what} (a name ending {suffix!r})" for suffix, what in RESERVED_SUFFIXES.items() if stem.endswith(suffix)),
        None)
    if clash is not None:
        raise HarnessError(f"{where}: name={name!r}: expected a name of its own, got one that collides with the report "
                           f"folder's {clash}: one file would overwrite the other; fix: rename the task, "
                           f"e.g. name='{name}-task'")
    return name
