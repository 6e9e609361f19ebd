"""Which precision local models' weights use: ``--harness-precision`` (``auto``, ``float32``, ``bfloat16``).

``auto`` is bfloat16 on a GPU, and on a CPU that has bf16 matrix units (Intel AMX-BF16, or AVX512-BF16), where
oneDNN runs bfloat16 matrix products several times faster than float32; float32 everywhere else (on CPUs
without those units bfloat16 is emulated and 5-6x slower). What it changes is measured in the README
("Precision on the CPU"): on this project's CPU, bfloat16 weights agree with float32 on the items' predictions
within the tolerance stated there. Loads nothing heavy: the CPU's flags come from ``/proc/cpuinfo``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from harness import HarnessError

PRECISION_CHOICES = ("auto", "float32", "bfloat16")
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_units(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The bf16 matrix-unit flags this CPU reports (empty where there are none, or no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return tuple(flag for flag in BF16_CPU_FLAGS if flag in flags)


def resolve_precision(requested: str, device: str) -> str:
    """The weights' precision for ``--harness-precision=requested`` on ``device`` (``cpu`` or ``cuda``)."""
    if requested not in PRECISION_CHOICES:
        raise HarnessError(f"--harness-precision={requested}: expected one of {list(PRECISION_CHOICES)}")
    if requested != "auto":
        return requested
    if device == "cuda" or cpu_bf16_units():
        return "bfloat16"
    return "float32"
