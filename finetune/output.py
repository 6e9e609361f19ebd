"""The adapter folder appears whole or not at all.

A run trains into a hidden folder beside the target (``adapters/.NAME.partial``: the checkpoints, then the
adapter and its card) and moves the result into the target only once everything is written. Ctrl-C, SIGTERM or
an exception removes the partial folder on the way out; one left by a hard kill (SIGKILL, power loss) is named
by the next run, which says how to clear it (a run cannot be resumed: checkpoints hold no optimiser state).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path
from typing import Iterator

from harness import HarnessError
from harness.models.adapter import CARD


def partial_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.partial"


def refuse_overwrite(out: Path, overwrite: bool) -> None:
    """An adapter already in the output folder is kept unless ``--overwrite`` says otherwise; a stopped run's
    leftovers are named, with the command that clears them."""
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--output-dir={out} is a file: expected a folder for the adapter; give another path")
    existing = [p.name for p in (out / CARD, out / "adapter_model.safetensors") if p.exists()]
    if existing and not overwrite:
        raise HarnessError(f"{out} already holds an adapter ({', '.join(existing)}): expected a new folder. Pass "
                           "--output-dir NEW_FOLDER, or --overwrite to replace it")
    leftovers = [p for p in (partial_folder(out), out / "checkpoints") if p.exists()]
    if leftovers and not overwrite:
        names = " ".join(str(p) for p in leftovers)
        raise HarnessError(f"{names}: left by a stopped training run (it cannot be resumed: checkpoints hold no "
                           f"optimiser state). Clear it with `rm -r {names}` and run again, or pass --overwrite")
    for path in leftovers:
        print(f"removing {path}, left by a stopped training run (--overwrite)", flush=True)
        shutil.rmtree(path, ignore_errors=True)


def publish(partial: Path, out: Path) -> None:
    """Move the finished adapter from ``partial`` into ``out`` (created, or its adapter files replaced)."""
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)  # the best checkpoint is what was just saved
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(out)
        return
    for path in partial.iterdir():
        target = out / path.name
        if target.is_dir():
            shutil.rmtree(target)
        path.replace(target)
    partial.rmdir()


@contextlib.contextmanager
def cleaned_on_stop(partial: Path) -> Iterator[None]:
    """Remove ``partial`` when the block ends by an exception, Ctrl-C or SIGTERM (turned into KeyboardInterrupt
    while the block runs, so the cleanup runs too)."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
