"""One labelled item, the unit every task hands the core: the benchmark batches, fingerprints and records
examples without knowing what data set they came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled text. ``id`` names the file and row or line, so it is stable and path-safe."""

    id: str
    text: str
    label: str
