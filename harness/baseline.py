"""A gate baseline as typed records: :class:`Baseline` (the run it was written from, its per-item label codes)
and its :class:`BaselineRow` aggregates. :mod:`harness.gate` validates the JSON, writes and checks against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.report.rows import Record, Row, SplitInfo, as_list, pair
from harness.report.run import Items

BASELINE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class BaselineRow(Record):
    """One row of a baseline: its aggregates and its per-item prediction codes (no sentence text)."""

    n: int = 0
    weighted_f1: float | None = None
    weighted_f1_ci95: tuple[float, float] | None = None
    accuracy: float | None = None
    parse_failures: int = 0
    errors: int = 0
    cost_per_1k_usd: float | None = None
    cost_basis: str | None = None
    preds: str = ""

    @classmethod
    def from_row(cls, row: Row, preds: str) -> BaselineRow:
        return cls(n=row.n, weighted_f1=row.weighted_f1, weighted_f1_ci95=row.weighted_f1_ci95, accuracy=row.accuracy,
                   parse_failures=row.parse_failures, errors=row.errors, cost_per_1k_usd=row.cost.per_1k_usd,
                   cost_basis=row.cost.basis, preds=preds)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineRow:
        return cls.from_mapping(data, weighted_f1_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(weighted_f1_ci95=as_list(self.weighted_f1_ci95))


@dataclass(frozen=True, kw_only=True)
class Baseline(Record):
    """A baseline as the gate reads it, once :func:`validate_baseline` has checked its JSON: the run it was
    written from (task, split), its label codes per item and its rows."""

    baseline_version: int = BASELINE_VERSION
    task: str = ""
    task_version: int | None = None
    template_version: Any = None
    written_at: str | None = None
    from_report_created_at: str | None = None
    git_sha: str | None = None
    partial: Sequence[str] | bool = ()
    split: SplitInfo = field(default_factory=SplitInfo)
    data_file_sha256: str | None = None
    labels: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    gold: str = ""
    rows: Mapping[str, BaselineRow] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Baseline:
        return cls.from_mapping(data, split=SplitInfo.from_json, labels=tuple, ids=tuple,
                                rows=lambda rows: {k: BaselineRow.from_json(v) for k, v in rows.items()})

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(split=self.split.to_json(), labels=list(self.labels), ids=list(self.ids),
                               rows={k: v.to_json() for k, v in self.rows.items()})

    @property
    def items(self) -> Items:
        """The baseline's per-item codes as a report's items table."""
        return Items(labels=self.labels, ids=self.ids, gold=self.gold,
                     preds={k: v.preds for k, v in self.rows.items()})
