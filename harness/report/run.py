"""The whole run report, typed: :class:`RunReport` holds what :func:`~harness.report.build.build_report` writes at
the top of ``reports/<task>.json`` (when, at which commit, on which data and split, the rows, the comparisons,
the money, what did not run, the companion tables) as frozen records.

Like every :class:`~harness.report.rows.Record`, ``RunReport.from_json(data).to_json() == data`` key for key and
in order, for the reports written today and for older ones (a key it does not name rides in ``extra``). The
formatting modules, the gate, the history and the across-splits summary read a RunReport; their public
functions still take the JSON dictionary too and convert it once, at the entry (:meth:`RunReport.of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.economics import DEFAULT_MONTHLY_VOLUME
from harness.report.rows import Comparison, DataInfo, Record, Row, SplitInfo, Versus

SCHEMA_VERSION = 1


def _tuple(value: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(value or ())


def _records(kind: type[Record]) -> Any:
    return lambda values: tuple(kind.from_json(v) for v in values or ())


@dataclass(frozen=True, kw_only=True)
class Machine(Record):
    """The machine that prices local time (``economics.machine``, or ``gpu_machine`` for training on a GPU)."""

    name: str = ""
    dollars_per_hour: float = 0.0
    kind: str | None = None
    description: str = ""
    as_of: str = ""
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class Training(Record):
    """What training a fine-tuned row cost, from its adapter card: USD (None: unknown) and how it was priced."""

    usd: float | None = None
    machine_hours: float | None = None
    dollars_per_hour: float | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Economics(Record):
    """The report's money: the machines that price local time and training, the monthly volume the payback
    assumes, each fine-tuned model's training cost, and each fine-tuned row against every other row."""

    machine: Machine | None = None
    gpu_machine: Machine | None = None
    monthly_volume: int = DEFAULT_MONTHLY_VOLUME
    training: Mapping[str, Training] = field(default_factory=dict)
    versus: tuple[Versus, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Economics:
        def machine(value: Mapping[str, Any] | None) -> Machine | None:
            return None if value is None else Machine.from_json(value)

        return cls.from_mapping(data or {}, machine=machine, gpu_machine=machine, versus=_records(Versus),
                                training=lambda t: {m: Training.from_json(v) for m, v in t.items()})

    def to_json(self) -> dict[str, Any]:
        def machine(value: Machine | None) -> dict[str, Any] | None:
            return None if value is None else value.to_json()

        return self.to_mapping(machine=machine(self.machine), gpu_machine=machine(self.gpu_machine),
                               training={m: t.to_json() for m, t in self.training.items()},
                               versus=[v.to_json() for v in self.versus])

    def versus_by_pair(self) -> dict[tuple[str, str], Versus]:
        """Each fine-tuned row's economics against each other row, by ``(a, b)`` row names."""
        return {(v.a, v.b): v for v in self.versus}


@dataclass(frozen=True, kw_only=True)
class Mde(Record):
    """The smallest accuracy difference McNemar's test detects with this many items, at a few discordance
    rates (``"0.05"`` -> difference, None where none is detectable)."""

    n: int = 0
    alpha: float = 0.05
    power: float = 0.8
    method: str = ""
    accuracy_difference_at_discordant_rate: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Prices(Record):
    """The API price table the costs were computed with."""

    as_of: str = ""
    unit: str = ""


@dataclass(frozen=True, kw_only=True)
class Companion(Record):
    """A companion task's table in the main job's report (agreement slices, TFNS), or why it did not run."""

    task: str
    title: str = ""
    notes: tuple[str, ...] = ()
    table: tuple[Sequence[Any], ...] = ()
    not_run: str | None = None

    @property
    def name(self) -> str:
        return self.title or self.task

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Companion:
        return cls.from_mapping(data, notes=_tuple, table=_tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(notes=list(self.notes), table=list(self.table))


@dataclass(frozen=True, kw_only=True)
class SplitOutcome(Record):
    """A fine-tuned row of this run (``a``, as it is named here) against another row: the verdict on each split
    of the saved ``<task>-splits.json`` that the pair ran on (``{"published seed 5768": "better", ...}``)."""

    a: str
    b: str
    verdicts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AcrossSplits(Record):
    """The combined verdicts of a saved ``<task>-splits.json`` shown in a run's verdict block: in words
    (``lines``) and, for the headline to weigh, per pair and split (``outcomes``)."""

    file: str = ""
    splits: tuple[Any, ...] = ()
    lines: tuple[str, ...] = ()
    outcomes: tuple[SplitOutcome, ...] = ()
    note: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AcrossSplits:
        return cls.from_mapping(data, splits=_tuple, lines=_tuple, outcomes=_records(SplitOutcome))

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(splits=list(self.splits), lines=list(self.lines),
                               outcomes=[o.to_json() for o in self.outcomes])


@dataclass(frozen=True, kw_only=True)
class Items(Record):
    """Per-item gold labels and each row's predictions as label codes keyed by example id (no text): one
    character per id, the label's index in ``labels``, ``x`` for a parse failure or error, ``-`` where there is
    no case for that item (:func:`~harness.report.build.items_table` writes it)."""

    labels: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    gold: str = ""
    preds: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Items:
        return cls.from_mapping(data, labels=_tuple, ids=_tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(labels=list(self.labels), ids=list(self.ids))

    def decode(self, row: str) -> dict[str, tuple[str, str | None]]:
        """``{example_id: (gold, pred)}`` for one row; pred None = parse failure."""
        out = {}
        for i, g, p in zip(self.ids, self.gold, self.preds.get(row, "")):
            if p != "-" and g != "-":
                out[i] = (self.labels[int(g)], None if p == "x" else self.labels[int(p)])
        return out


@dataclass(frozen=True, kw_only=True)
class RunReport(Record):
    """One task's run report: the top of ``reports/<task>.json``, its rows and comparisons, its money."""

    schema_version: int = SCHEMA_VERSION
    created_at: str = ""
    git_sha: str | None = None
    python: str | None = None
    packages: Mapping[str, str | None] = field(default_factory=dict)
    notice: str | None = None
    partial: tuple[str, ...] | bool = ()
    """Rows with fewer cases than expected (an interrupted run); ``true`` in reports that did not name them."""
    task: str = ""
    task_version: int | None = None
    template_version: Any = None
    data: DataInfo = field(default_factory=DataInfo)
    split: SplitInfo = field(default_factory=SplitInfo)
    few_shot_examples: tuple[str, ...] = ()
    """The ids of the items the few-shot prompts show (from the training side)."""
    bootstrap_resamples: int | None = None
    models: tuple[str, ...] = ()
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Model (or model · strategy) -> why it could not run."""
    record_mode: str | None = None
    adapters_dir: str | None = None
    device: str | None = None
    prices: Prices | None = None
    rows: tuple[Row, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    mde: Mde = field(default_factory=Mde)
    economics: Economics = field(default_factory=Economics)
    items: Items | None = None
    """Per-item label codes (:func:`~harness.report.build.items_table`); decoded by the history and the gate."""
    across_splits: AcrossSplits | None = None
    companions: tuple[Companion, ...] = ()

    @classmethod
    def of(cls, report: RunReport | Mapping[str, Any]) -> RunReport:
        """``report`` typed: a RunReport as it is, a report's JSON dictionary read once."""
        return report if isinstance(report, RunReport) else cls.from_json(report)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunReport:
        return cls.from_mapping(
            data, partial=lambda p: tuple(p) if isinstance(p, list) else p, data=DataInfo.from_json,
            split=lambda s: SplitInfo.from_json(s or {}), few_shot_examples=_tuple, models=_tuple,
            prices=lambda p: None if p is None else Prices.from_json(p), rows=_records(Row),
            comparisons=_records(Comparison), mde=lambda m: Mde.from_json(m or {}), economics=Economics.from_json,
            across_splits=lambda a: None if a is None else AcrossSplits.from_json(a),
            items=lambda i: None if i is None else Items.from_json(i), companions=_records(Companion))

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(
            partial=list(self.partial) if isinstance(self.partial, tuple) else self.partial,
            data=self.data.to_json(), split=self.split.to_json(),
            few_shot_examples=list(self.few_shot_examples), models=list(self.models),
            prices=None if self.prices is None else self.prices.to_json(), rows=[r.to_json() for r in self.rows],
            comparisons=[c.to_json() for c in self.comparisons], mde=self.mde.to_json(),
            economics=self.economics.to_json(),
            across_splits=None if self.across_splits is None else self.across_splits.to_json(),
            items=None if self.items is None else self.items.to_json(), companions=[c.to_json() for c in self.companions])

    @property
    def partial_rows(self) -> list[str]:
        """The rows ``partial`` names (a list of row names; ``true`` for an unnamed partial run)."""
        if isinstance(self.partial, tuple):
            return list(self.partial)
        return ["(unnamed rows)"] if self.partial else []

    def versus(self) -> dict[tuple[str, str], Versus]:
        return self.economics.versus_by_pair()


Report = RunReport | Mapping[str, Any]
"""What the report functions take: a RunReport, or its JSON dictionary (read once, at the entry)."""
