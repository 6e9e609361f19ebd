"""Which precision local models' weights use: ``--harness-precision`` (``auto``, ``float32``, ``bfloat16``).

``auto`` is bfloat16 on a GPU and float32 on a CPU. ``bfloat16`` on a CPU is an opt-in for CPUs with bf16 matrix
units (Intel AMX-BF16, AVX512-BF16), where oneDNN runs a SmolLM2-135M forward pass 3.6x faster than float32 (CPU
time, one thread, this project's CPU); it is not the default because it does not keep every row's predictions: on
the FPB test split (453 items) the shipped adapter agreed with float32 on 453, the base model's few-shot row on
451, its zero-shot row on only 435 (96 %, its label logits lie close together). README "Precision on the CPU" has
the figures. On CPUs without those units bfloat16 is emulated and several times slower: it is refused there.
Loads nothing heavy: the CPU's flags come from ``/proc/cpuinfo``.
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


def resolve_precision(requested: str, device: str, units: tuple[str, ...] | None = None) -> str:
    """The weights' precision for ``--harness-precision=requested`` on ``device`` (``cpu`` or ``cuda``);
    ``units``: the CPU's bf16 flags (default: this CPU's, :func:`cpu_bf16_units`)."""
    if requested not in PRECISION_CHOICES:
        raise HarnessError(f"--harness-precision={requested}: expected one of {list(PRECISION_CHOICES)}")
    if requested == "auto":
        return "bfloat16" if device == "cuda" else "float32"
    if requested == "bfloat16" and device == "cpu" and not (cpu_bf16_units() if units is None else units):
        raise HarnessError(
            f"--harness-precision=bfloat16 on the CPU: expected a CPU with bf16 matrix units ({', '.join(BF16_CPU_FLAGS)} "
            "in /proc/cpuinfo), found none, so bfloat16 would be emulated and several times slower than float32; "
            "fix: drop the option (float32), or run on a GPU or a CPU with AMX-BF16 / AVX512-BF16")
    return requested
