"""The report's records as typed values: a leaderboard :class:`Row` (with its :class:`Latency`, :class:`Cost` and
:class:`Pareto` marks), a paired :class:`Comparison` and its money (:class:`Versus`), and the run's
:class:`DataInfo` and :class:`SplitInfo`.

Each is a frozen dataclass with ``from_json`` (the dictionary the report JSON holds) and ``to_json`` (the same
dictionary back), built on :meth:`Record.from_mapping` and :meth:`Record.to_mapping`. Keys a type does not name
ride along in ``extra``; ``keys`` remembers which keys the JSON had and in which order, so a report read and
written back is byte-identical, old reports included. A value built in code (``keys`` empty) writes every field,
in the order declared here, which is the order the report has always used. Missing keys read as the field's
default: a partial row (a test's, an older report's) still formats.

The formatting code (tables, verdict, text, Markdown, HTML, plots) reads these, never ``row["key"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.record import Record


def pair(value: Any) -> tuple[float, float] | None:
    """A JSON ``[low, high]`` as a tuple, values untouched (an integer stays one, so the JSON written back is
    the same)."""
    return None if value is None else (value[0], value[1])


def as_list(value: Sequence[Any] | None) -> list[Any] | None:
    return None if value is None else list(value)


@dataclass(frozen=True, kw_only=True)
class Latency(Record):
    """Per-item latency of a row: p50 / p95 over its items, where it came from, and (local rows) the batch."""

    source: str = "none"
    p50_s: float | None = None
    p95_s: float | None = None
    batch_size: int = 1
    batch1_s: float | None = None
    throughput_per_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Cost(Record):
    """What a row costs: in total, per call and per 1k requests, how it was obtained (``basis``: billed,
    machine time, estimated) and a note; None where it could not be priced. Machine details ride in ``extra``."""

    total_usd: float | None = None
    per_call_usd: float | None = None
    per_1k_usd: float | None = None
    basis: str | None = None
    note: str | None = None
    calls: int = 0

    @property
    def price_unknown(self) -> bool:
        return str(self.note).startswith("price unknown")


@dataclass(frozen=True, kw_only=True)
class Pareto(Record):
    """Whether a row is on the weighted-F1 Pareto front against cost and against latency (None: not placed)."""

    cost: str | None = None
    latency: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Pareto:
        return cls.from_mapping(data or {})

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping()


@dataclass(frozen=True, kw_only=True)
class Row(Record):
    """One leaderboard row: a model under a strategy, scored on the test items."""

    model: str
    strategy: str
    n: int = 0
    expected: int | None = None
    weighted_f1: float = 0.0
    weighted_f1_ci95: tuple[float, float] | None = None
    accuracy: float | None = None
    accuracy_ci95: tuple[float, float] | None = None
    macro_f1: float = 0.0
    weighted_precision: float | None = None
    weighted_recall: float | None = None
    parse_failures: int = 0
    errors: int = 0
    per_class: Mapping[str, Any] = field(default_factory=dict)
    confusion: Mapping[str, Any] = field(default_factory=dict)
    latency: Latency = field(default_factory=Latency)
    tokens: Mapping[str, Any] = field(default_factory=dict)
    cost: Cost = field(default_factory=Cost)
    provenance: str = ""
    pareto: Pareto = field(default_factory=Pareto)

    @property
    def name(self) -> str:
        """``model · strategy``: how comparisons, the items table and the baselines name a row."""
        return f"{self.model} · {self.strategy}"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        return cls.from_mapping(data, weighted_f1_ci95=pair, accuracy_ci95=pair, latency=Latency.from_json,
                         cost=Cost.from_json, pareto=Pareto.from_json)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(weighted_f1_ci95=as_list(self.weighted_f1_ci95),
                               accuracy_ci95=as_list(self.accuracy_ci95), latency=self.latency.to_json(),
                               cost=self.cost.to_json(), pareto=self.pareto.to_json())


@dataclass(frozen=True, kw_only=True)
class Comparison(Record):
    """A fine-tuned row (``a``) against another row (``b``) on the items both answered: the paired weighted-F1
    difference with its bootstrap CI, McNemar's p (and Holm-adjusted), the verdict, and the smallest accuracy
    difference detectable at the pair's discordance."""

    a: str
    b: str
    n: int = 0
    f1_difference: float = 0.0
    f1_difference_ci95: tuple[float, float] = (0.0, 0.0)
    only_a_correct: int = 0
    only_b_correct: int = 0
    mcnemar_p: float = 1.0
    p_holm: float = 1.0
    verdict: str = "tied"
    mde_accuracy: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        return cls.from_mapping(data, f1_difference_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(f1_difference_ci95=as_list(self.f1_difference_ci95))


@dataclass(frozen=True, kw_only=True)
class Versus(Record):
    """The money of a fine-tuned row (``a``) against another row (``b``): latency and cost ratios, the requests
    after which training pays for itself, the payback time at the monthly volume, and (local against an API row)
    the break-even grid over machine $/h and API price (``sensitivity``)."""

    a: str
    b: str
    latency_ratio: float | None = None
    cost_ratio: float | None = None
    other_cost_basis: str | None = None
    training_usd: float | None = None
    monthly_volume: int | None = None
    break_even_requests: float | None = None
    payback_months: float | None = None
    sensitivity: Mapping[str, Any] | None = None
    break_even_note: str | None = None

    @property
    def computable(self) -> bool:
        return not (self.break_even_note or "").startswith("not computable")


@dataclass(frozen=True, kw_only=True)
class DataInfo(Record):
    """Where the test items came from. The FPB-specific counts default to what a task without them reports
    (``agreement`` "n/a", no duplicate lines, no conflicting sentences), so other tasks need not pad them; a
    declared task also counts the exact repeats (same text, same label) it dropped before splitting."""

    source: str = ""
    directory: str = ""
    is_sample: bool = False
    notes: Sequence[str] = ()
    file: str = ""
    file_sha256: str | None = None
    agreement: str = "n/a"
    examples: int = 0
    duplicate_lines: int = 0
    exact_repeats_dropped: int = 0
    conflicting_sentences_removed: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataInfo:
        return cls.from_mapping(data, notes=tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(notes=list(self.notes))


@dataclass(frozen=True, kw_only=True)
class SplitInfo(Record):
    """How the items were split: the method and seed, the sizes, the test set's fingerprint, and what was
    removed from train because it leaked from (or repeated) the test set."""

    method: str = ""
    seed: int | None = None
    n_train: int = 0
    n_test: int = 0
    n_evaluated: int = 0
    limit: int | None = None
    test_fingerprint: str = ""
    leaked_removed_from_train: int = 0
    repeats_removed_from_train: int = 0
    test_repeats_kept: int = 0

    @property
    def limited(self) -> bool:
        """Whether the run evaluated only part of its test split (``--harness-limit``)."""
        n_test, n, limit = (v if isinstance(v, int) else None for v in (self.n_test, self.n_evaluated, self.limit))
        if n_test is None:  # a record without its split's size: nothing to tell
            return False
        return (n is not None and 0 < n < n_test) or (limit is not None and limit < n_test)

    @property
    def evaluated(self) -> str:
        """How much of the test split the run evaluated, in words: ``30 of 453 test items (--harness-limit 30)``."""
        limit = f" (--harness-limit {self.limit})" if self.limit is not None else ""
        return f"{self.n_evaluated} of {self.n_test} test items{limit}"


def rows_of(report: Any) -> list[Row]:
    """The report's leaderboard rows, typed (``report``: a RunReport, or its JSON dictionary)."""
    if not isinstance(report, Mapping):
        return list(report.rows)
    return [Row.from_json(r) for r in report.get("rows") or []]


def comparisons_of(report: Any) -> list[Comparison]:
    """The report's paired comparisons, typed (``report``: a RunReport, or its JSON dictionary)."""
    if not isinstance(report, Mapping):
        return list(report.comparisons)
    return [Comparison.from_json(c) for c in report.get("comparisons") or []]


def versus_of(report: Any) -> dict[tuple[str, str], Versus]:
    """The economics of each fine-tuned row against each other row, by ``(a, b)`` row names (``report``: a
    RunReport, or its JSON dictionary)."""
    if not isinstance(report, Mapping):
        return report.versus()
    found = (Versus.from_json(v) for v in (report.get("economics") or {}).get("versus", []))
    return {(v.a, v.b): v for v in found}
