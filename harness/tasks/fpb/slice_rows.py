"""The FPB agreement-slice report's records as typed values: what each band holds (:class:`BandCounts`), a
model · strategy's scores on one band (:class:`SliceRow`), and the :class:`SlicesReport` the tables read.

Built on :class:`harness.report.rows.Record` (``from_json`` / ``to_json`` keep the report JSON's keys and order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.report.rows import Record, Row, as_list, pair


@dataclass(frozen=True, kw_only=True)
class BandCounts(Record):
    """One band's sentences: in its file, kept, and evaluated (``--harness-limit``). A contested band also counts
    what it excluded: sentences in the next stricter file, in the AllAgree train split, and repeats; the 100 %
    band (the main job's test split) leaves those None, and its JSON omits them."""

    in_file: int = 0
    in_stricter_file: int | None = None
    excluded_in_allagree_train: int | None = None
    repeats_dropped: int | None = None
    kept: int = 0
    evaluated: int | None = None

    @property
    def contested(self) -> bool:
        return self.in_stricter_file is not None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_mapping().items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class SliceRow(Record):
    """A model · strategy on one band: the quality columns of the sentiment report's row."""

    model: str
    strategy: str
    n: int = 0
    expected: int | None = None
    weighted_f1: float = 0.0
    weighted_f1_ci95: tuple[float, float] = (0.0, 0.0)
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None
    macro_f1: float = 0.0
    parse_failures: int = 0
    errors: int = 0
    per_class: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pair(self) -> tuple[str, str]:
        return self.model, self.strategy

    @classmethod
    def of(cls, row: Row) -> SliceRow:
        return cls(model=row.model, strategy=row.strategy, n=row.n, expected=row.expected,
                   weighted_f1=row.weighted_f1, weighted_f1_ci95=row.weighted_f1_ci95 or (0.0, 0.0),
                   accuracy=row.accuracy, accuracy_ci95=row.accuracy_ci95, macro_f1=row.macro_f1,
                   parse_failures=row.parse_failures, errors=row.errors, per_class=row.per_class)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SliceRow:
        return cls.from_mapping(data, weighted_f1_ci95=pair, accuracy_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(weighted_f1_ci95=as_list(self.weighted_f1_ci95),
                               accuracy_ci95=as_list(self.accuracy_ci95))


def bands_from_json(data: Mapping[str, Any] | None) -> dict[str, BandCounts]:
    return {band: BandCounts.from_json(counts) for band, counts in (data or {}).items()}


def band_reports_from_json(data: Mapping[str, Any] | None) -> dict[str, tuple[SliceRow, ...]]:
    return {band: tuple(map(SliceRow.from_json, rows)) for band, rows in (data or {}).items()}


@dataclass(frozen=True, kw_only=True)
class SlicesReport(Record):
    """The agreement-slice report as its tables read it; run metadata it does not format rides in ``extra``."""

    bands: Mapping[str, BandCounts] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)
    band_reports: Mapping[str, Sequence[SliceRow]] = field(default_factory=dict)
    created_at: str | None = None
    git_sha: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlicesReport:
        return cls.from_mapping(data, bands=bands_from_json, band_reports=band_reports_from_json)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(bands={band: c.to_json() for band, c in self.bands.items()},
                               band_reports={band: [r.to_json() for r in rows]
                                             for band, rows in self.band_reports.items()})
