"""A baseline checked against itself: each row's stated ``n`` and weighted F1 must be what its own per-item
codes give. The gate reads its reference numbers from the baseline file, so a hand-edited F1 (or count) would
move the reference with no word; :func:`harness.gate.load_baseline` calls :func:`check_stated_numbers`."""

from __future__ import annotations

from typing import Any

from harness import HarnessError
from harness.history import decode_items
from harness.metrics import weighted_f1

F1_TOLERANCE = 1e-6
"""A written baseline copies the report's F1, computed the same way: any difference beyond rounding is an edit."""


def check_stated_numbers(data: dict[str, Any], path: Any, command: str) -> dict[str, Any]:
    """``data``, a validated baseline, when each row's stated ``n`` and ``weighted_f1`` are what its per-item
    codes give; else a HarnessError naming the row (``command`` writes the baseline again: the fix)."""
    for name, row in data["rows"].items():
        items = decode_items({"labels": data["labels"], "ids": data["ids"], "gold": data["gold"],
                              "preds": {name: row["preds"]}}, name)
        stated = row.get("weighted_f1")
        problems = [f"n {row['n']} but codes for {len(items)} items"] if row["n"] != len(items) else []
        if stated is not None:
            actual = weighted_f1([g for g, _ in items.values()], [p for _, p in items.values()], data["labels"])
            if isinstance(stated, bool) or not isinstance(stated, (int, float)) or abs(stated - actual) > F1_TOLERANCE:
                problems.append(f"weighted_f1 {stated!r} but its codes give {actual:.6f}")
        if problems:
            raise HarnessError(f"baseline {path}: rows[{name!r}]: expected the stated numbers to match the row's "
                               f"per-item codes (preds), got {'; '.join(problems)}: the file was edited; fix: write "
                               f"it again with: {command}")
    return data
