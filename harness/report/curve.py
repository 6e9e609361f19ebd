"""The learning curve beside a report: read it, and draw it only when it was measured on the report's task,
data file and split (otherwise a note says which run it belongs to)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from harness.report.rows import DataInfo, Record, SplitInfo, as_list, pair
from harness.report.run import Report, RunReport

LEARNING_CURVE = "learning_curve.json"
CURVE_SPLIT_KEYS = ("method", "seed", "test_fingerprint")


def _tuple(values: Any) -> tuple[Any, ...]:
    return tuple(values or ())


@dataclass(frozen=True, kw_only=True)
class CurvePoint(Record):
    """A point of the learning curve (an adapter trained on ``n`` examples, scored on ``n_test``), or one of the
    run's other rows drawn beside it (a baseline: no ``n``)."""

    model: str = ""
    strategy: str = ""
    n: int | None = None
    n_test: int | None = None
    weighted_f1: float | None = None
    weighted_f1_ci95: tuple[float, float] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CurvePoint:
        return cls.from_mapping(data, weighted_f1_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(weighted_f1_ci95=as_list(self.weighted_f1_ci95))


@dataclass(frozen=True, kw_only=True)
class LearningCurve(Record):
    """``learning_curve.json`` as the report reads it (``python -m finetune sentiment --learning-curve`` writes
    it): the task, data and split it was measured on, its points, the rows drawn beside it, its answers."""

    task: str = "fpb-sentiment"
    created_at: str = "?"
    split: SplitInfo | None = None
    data: DataInfo | None = None
    rows: tuple[CurvePoint, ...] = ()
    baselines: tuple[CurvePoint, ...] = ()
    answers: tuple[str, ...] = ()

    @classmethod
    def of(cls, curve: LearningCurve | Mapping[str, Any]) -> LearningCurve:
        return curve if isinstance(curve, LearningCurve) else cls.from_json(curve)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearningCurve:
        def points(values: Any) -> tuple[CurvePoint, ...]:
            return tuple(CurvePoint.from_json(v) for v in values or ())

        return cls.from_mapping(data, split=lambda s: SplitInfo.from_json(s or {}),
                                data=lambda d: DataInfo.from_json(d or {}), rows=points, baselines=points,
                                answers=_tuple)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(split=None if self.split is None else self.split.to_json(),
                               data=None if self.data is None else self.data.to_json(),
                               rows=[p.to_json() for p in self.rows], baselines=[b.to_json() for b in self.baselines],
                               answers=list(self.answers))

    def run(self) -> str:
        """Which run the curve was measured on, in words."""
        split, data = self.split or SplitInfo(), self.data or DataInfo()
        return (f"{self.task} on {data.file or 'unknown data'}, split {split.method or None} seed {split.seed} "
                f"(test {split.test_fingerprint or None}), measured {self.created_at}")


def curve_mismatch(report: Report, curve: LearningCurve | Mapping[str, Any]) -> str | None:
    """Why a learning curve does not belong to this report (task, data file or split differ), or None."""
    report, curve = RunReport.of(report), LearningCurve.of(curve)
    mine, theirs = report.split, curve.split or SplitInfo()
    problems = [f"{key} {getattr(theirs, key) or None} ≠ {getattr(mine, key) or None}" for key in CURVE_SPLIT_KEYS
                if getattr(theirs, key) != getattr(mine, key)]
    data = curve.data or DataInfo()
    if data.file != report.data.file:
        problems.append(f"data {data.file or None} ≠ {report.data.file or None}")
    elif data.file_sha256 and report.data.file_sha256 and data.file_sha256 != report.data.file_sha256:
        problems.append("data file contents differ (sha256)")
    if curve.task != report.task:
        problems.append(f"task {curve.task} ≠ {report.task}")
    return "; ".join(problems) or None


def read_learning_curve(report: Report, directory: Path) -> tuple[LearningCurve | None, str | None]:
    """This run's learning curve from ``directory`` (the report's own folder, never the package's), and a
    note: which run a curve belongs to when it is not this one's, or how to measure one."""
    path = directory / LEARNING_CURVE
    try:
        curve = LearningCurve.from_json(json.loads(path.read_text()))
    except OSError:
        return None, ("No learning curve for this run: `python -m finetune sentiment --learning-curve` measures one "
                      f"and writes {LEARNING_CURVE} beside this report.")
    except (ValueError, TypeError, AttributeError) as exc:
        return None, f"{path.name} beside this report is not valid JSON ({exc}): not drawn."
    why = curve_mismatch(report, curve)
    if why:
        return None, (f"Not drawn: the {LEARNING_CURVE} beside this report belongs to another run "
                      f"({curve.run()}); this run differs in {why}.")
    return curve, f"Measured for this task, data and split ({curve.run()})."
