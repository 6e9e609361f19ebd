"""The TAT-QA report's records as typed values: a leaderboard :class:`TatqaRow` (EM and F1 with CIs, per answer
type and per answer source as :class:`GroupScore`, scale accuracy, latency, cost), the data and split it was
measured on (:class:`TatqaDataInfo`, :class:`TatqaSplitInfo`), a published :class:`EmAnchor`, and the whole
:class:`TatqaReport` the formatting code reads; and :class:`TatqaCase`, what the report reads of one case.

Built on :class:`harness.report.rows.Record`: ``from_json`` reads the dictionary the report JSON holds and
``to_json`` writes the same dictionary back (same keys, same order); keys a record does not name ride in ``extra``.
Rows share :class:`~harness.report.rows.Latency` and :class:`~harness.report.rows.Cost` with the sentiment report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from harness.report.rows import Cost, Latency, Record, as_list, pair
from harness.tasks.tatqa.data import ParsedAnswer, answer_from_dict
from harness.tasks.tatqa.metric import GroupScores

LATENCY_KEYS = ("source", "p50_s", "p95_s", "batch_size", "batch1_s")
"""What a TAT-QA row says of its latency (no throughput: its local rows generate, they are not label-scored)."""


@dataclass(frozen=True, kw_only=True)
class GroupScore(Record):
    """EM and F1 (0..1) with bootstrap 95 % CIs over ``n`` questions: a row overall, one answer type or source."""

    n: int = 0
    em: float = 0.0
    em_ci95: tuple[float, float] = (0.0, 0.0)
    f1: float = 0.0
    f1_ci95: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def of(cls, scores: GroupScores) -> GroupScore:
        return cls(n=scores.n, em=scores.em, em_ci95=scores.em_ci, f1=scores.f1, f1_ci95=scores.f1_ci)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupScore:
        return cls.from_mapping(data, em_ci95=pair, f1_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(em_ci95=as_list(self.em_ci95), f1_ci95=as_list(self.f1_ci95))


def groups_from_json(data: Mapping[str, Any] | None) -> dict[str, GroupScore]:
    return {key: GroupScore.from_json(value) for key, value in (data or {}).items()}


def groups_to_json(groups: Mapping[str, GroupScore]) -> dict[str, Any]:
    return {key: value.to_json() for key, value in groups.items()}


@dataclass(frozen=True, kw_only=True)
class TatqaRow(Record):
    """One TAT-QA leaderboard row: a model under a strategy, scored on the evaluated questions. ``items`` holds
    each question's ``[EM, F1]`` (rounded to 3 decimals) by uid."""

    model: str
    strategy: str
    n: int = 0
    expected: int | None = None
    em: float = 0.0
    em_ci95: tuple[float, float] = (0.0, 0.0)
    f1: float = 0.0
    f1_ci95: tuple[float, float] = (0.0, 0.0)
    per_type: Mapping[str, GroupScore] = field(default_factory=dict)
    per_source: Mapping[str, GroupScore] = field(default_factory=dict)
    scale_accuracy: float = 0.0
    parse_failures: int = 0
    errors: int = 0
    latency: Latency = field(default_factory=Latency)
    tokens: Mapping[str, Any] = field(default_factory=dict)
    cost: Cost = field(default_factory=Cost)
    provenance: str = ""
    items: Mapping[str, Sequence[float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.model} · {self.strategy}"

    @property
    def overall(self) -> GroupScore:
        return GroupScore(n=self.n, em=self.em, em_ci95=self.em_ci95, f1=self.f1, f1_ci95=self.f1_ci95)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TatqaRow:
        return cls.from_mapping(data, em_ci95=pair, f1_ci95=pair, per_type=groups_from_json,
                                per_source=groups_from_json, latency=Latency.from_json, cost=Cost.from_json)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(em_ci95=as_list(self.em_ci95), f1_ci95=as_list(self.f1_ci95),
                               per_type=groups_to_json(self.per_type), per_source=groups_to_json(self.per_source),
                               latency=self.latency.to_json(), cost=self.cost.to_json(), items=dict(self.items))


@dataclass(frozen=True, kw_only=True)
class TatqaCase(Record):
    """What the report reads of one case (a model's reply to one question), typed once from its dictionary."""

    model: str
    strategy: str
    index: int
    example_id: str
    gold: str = ""
    pred: ParsedAnswer | None = None
    reply: str = ""
    latency_s: float | None = None
    latency_source: str = "none"
    batch_size: int = 1
    batch1_latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    provenance: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TatqaCase:
        return cls.from_mapping(data, pred=answer_from_dict)


@dataclass(frozen=True, kw_only=True)
class TatqaDataInfo(Record):
    """The TAT-QA test file (its questions, contexts, unusable ones skipped, questions per answer type) and the
    few-shot pool file."""

    source: str = "tatqa"
    file: str = ""
    file_sha256: str = ""
    directory: str = ""
    is_sample: bool = False
    notes: Sequence[str] = ()
    questions: int = 0
    contexts: int = 0
    skipped: int = 0
    per_type: Mapping[str, int] = field(default_factory=dict)
    pool: str = ""
    pool_questions: int = 0
    licence: str = "CC BY 4.0"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TatqaDataInfo:
        return cls.from_mapping(data, notes=tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(notes=list(self.notes))


@dataclass(frozen=True, kw_only=True)
class TatqaSplitInfo(Record):
    """Which test_gold questions were evaluated: how many of how many, the subset option and its seed, the
    questions per answer type, and their uids."""

    test: str = "test_gold"
    n_total: int = 0
    n_evaluated: int = 0
    subset: str = ""
    subset_seed: int | None = None
    per_type_evaluated: Mapping[str, int] = field(default_factory=dict)
    method: str = ""
    limit: int | None = None
    uids: Sequence[str] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TatqaSplitInfo:
        return cls.from_mapping(data, uids=tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(uids=list(self.uids))


@dataclass(frozen=True, kw_only=True)
class EmAnchor(Record):
    """A published exact-match score on the TAT-QA test set, in %: context, never a paired comparison."""

    name: str
    em: float


@dataclass(frozen=True, kw_only=True)
class TatqaReport(Record):
    """The TAT-QA report as the formatting code reads it; run metadata it does not format rides in ``extra``."""

    task: str = "tatqa"
    created_at: str = ""
    git_sha: str | None = None
    partial: Sequence[str] = ()
    template_version: str = ""
    data: TatqaDataInfo = field(default_factory=TatqaDataInfo)
    split: TatqaSplitInfo = field(default_factory=TatqaSplitInfo)
    few_shot_examples: Sequence[str] = ()
    anchors_em: Sequence[EmAnchor] = ()
    bootstrap_resamples: int = 0
    unavailable: Mapping[str, str] = field(default_factory=dict)
    rows: Sequence[TatqaRow] = ()
    findings: Sequence[str] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TatqaReport:
        return cls.from_mapping(data, partial=tuple, data=TatqaDataInfo.from_json, split=TatqaSplitInfo.from_json,
                                few_shot_examples=tuple, anchors_em=lambda a: tuple(map(EmAnchor.from_json, a)),
                                rows=lambda r: tuple(map(TatqaRow.from_json, r)), findings=tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(partial=list(self.partial), data=self.data.to_json(), split=self.split.to_json(),
                               few_shot_examples=list(self.few_shot_examples),
                               anchors_em=[a.to_json() for a in self.anchors_em],
                               rows=[r.to_json() for r in self.rows], findings=list(self.findings))
