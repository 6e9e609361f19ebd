"""The progress lines of a run, one per model × strategy pair, without pytest: counts and seconds in, text out.

A pair's line is its name, a bar, ``done/total``, the seconds since its first item started and, while it
runs, an estimate of the time left::

    tfidf-logreg · supervised  [######..................] 113/453  2 s elapsed, ETA 6 s

On a terminal the line is rewritten in place (at most every :data:`REDRAW_S`); without one (CI logs) a new
line is written at most every :data:`HEARTBEAT_S`, and a heartbeat line ending in ``(running)`` says a slow
pair is still alive.
"""

from __future__ import annotations

from typing import Literal

BAR_WIDTH = 24
HEARTBEAT_S = 15.0
"""Without a terminal (CI logs), a progress line at least this often while a pair runs."""
REDRAW_S = 0.5
"""On a terminal, a pair's line is redrawn at most this often (and always at its first and last item)."""
RUNNING = "  (running)"

Pair = tuple[str, str, str]
"""(task, model, strategy)."""


def pair_name(pair: Pair, default_task: str) -> str:
    """``model · strategy``, led by the task's name unless it is the default task."""
    task, model, strategy = pair
    return ("" if task == default_task else task + " · ") + f"{model} · {strategy}"


def progress_line(name: str, done: int, total: int, elapsed: float) -> str:
    """One pair's line: ``done`` of ``total`` items after ``elapsed`` seconds (an ETA while 0 < done < total)."""
    filled = int(BAR_WIDTH * done / total)
    eta = f", ETA {elapsed / done * (total - done):.0f} s" if 0 < done < total else ""
    return f"{name}  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}  {elapsed:.0f} s elapsed{eta}"


def heartbeat_line(name: str, done: int, total: int, elapsed: float) -> str:
    """The line written while a pair runs and nothing finished for :data:`HEARTBEAT_S` (no terminal)."""
    return progress_line(name, done, total, elapsed) + RUNNING


def draw(done: int, total: int, *, tty: bool, since_last_draw: float) -> Literal["write", "rewrite"] | None:
    """How to show a pair's line after its ``done``-th item: ``write`` a new line, ``rewrite`` the current one
    in place (a terminal), or nothing (too soon since the last line)."""
    if done == 1 and tty:
        return "write"
    if tty and (done >= total or since_last_draw > REDRAW_S):
        return "rewrite"
    if not tty and (done >= total or since_last_draw >= HEARTBEAT_S):
        return "write"
    return None
