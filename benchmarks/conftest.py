"""Benchmarks: speed as ratios measured in the same run, never as absolute times.

Every benchmark stores what it measured in ``benchmark.extra_info``; a benchmark that has a target adds
a ``ratio`` entry (``{"name", "value", "target", "met"}``), printed as ``ratio X vs target Y: MET`` and
gathered under ``ratios`` at the top of the JSON report. Nothing here asserts a wall-clock time.

    pytest benchmarks --benchmark-json=reports/benchmarks/latest.json
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("benchmark_json", None)
    if path:  # pytest-benchmark writes the file at the end but does not create its folder
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def record_ratio(benchmark: Any, name: str, value: float, target: float, *, note: str = "") -> bool:
    """Store a measured ratio and whether it meets its target (at least ``target``) in the JSON; print it."""
    met = value >= target
    benchmark.extra_info.setdefault("ratios", []).append(
        {"name": name, "value": round(value, 3), "target": target, "met": met, "note": note})
    print(f"\n{name}: ratio {value:.2f} vs target {target:g}: {'MET' if met else 'NOT MET'}" + (f" ({note})" if note else ""))
    return met


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[dict], output_json: dict) -> None:
    """Put every ratio at the top of the JSON, next to pytest-benchmark's machine_info."""
    output_json["ratios"] = [dict(r, benchmark=b["name"]) for b in output_json.get("benchmarks", [])
                             for r in b.get("extra_info", {}).get("ratios", [])]


@pytest.fixture
def ratio(benchmark):
    """``ratio(name, value, target, note=...)``: record a ratio for this benchmark."""
    return functools.partial(record_ratio, benchmark)
