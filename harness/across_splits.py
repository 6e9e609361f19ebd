"""One decision over several splits: the same rows scored on each split (one saved report per split), put
side by side, so a finance lead can see whether a result is a lucky draw.

``python -m harness splits REPORT REPORT ...`` (e.g. the three published FPB seeds, each run with
``--harness-seed S --harness-report-dir reports/seed-S``) writes ``<out>.json`` and ``<out>.md``:

* per row: weighted F1 [95 % CI] on each split, and the mean ± sd over the splits it ran on;
* per fine-tuned row against each other row: the paired result of every split (ΔF1 [CI], McNemar p after
  Holm's correction, verdict, as each run computed it), and a combined verdict: better (or worse) on every
  split, or which splits were not.

Nothing is recomputed: every number comes from the runs' own reports, which are checked to be one task,
complete (not partial, not limited by ``--harness-limit``), of one evaluated size, and on distinct test splits.

A fine-tuned row is trained per split (an adapter refuses a test split it was trained on): an adapter named
``<name>-<seed>`` evaluated on split ``seed`` is the row ``<name>`` across splits (``adapter:fpb-sentiment-
smollm2-135m-78516`` on seed 78516 and ``adapter:fpb-sentiment-smollm2-135m`` on seed 5768 are one recipe, one row;
each split's table says which adapter ran). A report saved as ``<task>-splits.json`` beside a run's report puts
its combined verdicts in that run's verdict block (:func:`summary_for`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError, files
from harness.report.markdown import markdown_table
from harness.report.rows import Comparison, Record, Row, SplitInfo, as_list, pair
from harness.report.run import AcrossSplits, Report, RunReport, SplitOutcome
from harness.report.verdict import alternative_kind
from harness.models.registry import find


@dataclass(frozen=True, kw_only=True)
class SplitScore(Record):
    """A row's weighted F1 [CI] on one split, and the row name it ran as there (a per-split adapter)."""

    weighted_f1: float
    ci95: tuple[float, float] | None = None
    n: int = 0
    ran_as: str | None = None

    @classmethod
    def of(cls, row: Row, name: str) -> SplitScore:
        return cls(weighted_f1=row.weighted_f1, ci95=row.weighted_f1_ci95, n=row.n,
                   ran_as=row.name if row.name != name else None, keys=("weighted_f1", "ci95", "n"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitScore:
        return cls.from_mapping(data, ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(ci95=as_list(self.ci95))


@dataclass(frozen=True, kw_only=True)
class SplitRow(Record):
    """One row (one recipe) across the splits: its score on each, the mean and sd over those it ran on."""

    row: str
    splits: Mapping[str, SplitScore] = field(default_factory=dict)
    ran_on: int = 0
    mean: float = 0.0
    sd: float | None = None

    @property
    def spread(self) -> str:
        return f"{self.mean:.3f} ± {self.sd:.3f}" if self.sd is not None else f"{self.mean:.3f} (one split)"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitRow:
        return cls.from_mapping(data, splits=lambda s: {k: SplitScore.from_json(v) for k, v in s.items()})

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(splits={k: v.to_json() for k, v in self.splits.items()})


@dataclass(frozen=True, kw_only=True)
class SplitVerdict(Record):
    """A fine-tuned row against another row on one split, as that split's run computed it."""

    f1_difference: float = 0.0
    f1_difference_ci95: tuple[float, float] = (0.0, 0.0)
    p_holm: float | None = None
    verdict: str = "tied"
    n: int = 0

    @classmethod
    def of(cls, c: Comparison) -> SplitVerdict:
        return cls(f1_difference=c.f1_difference, f1_difference_ci95=c.f1_difference_ci95, p_holm=c.p_holm,
                   verdict=c.verdict, n=c.n)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitVerdict:
        return cls.from_mapping(data, f1_difference_ci95=pair)

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(f1_difference_ci95=as_list(self.f1_difference_ci95))


@dataclass(frozen=True, kw_only=True)
class SplitComparison(Record):
    """A fine-tuned row against another row on every split, and the combined verdict (``text``: in words)."""

    a: str
    b: str
    splits: Mapping[str, SplitVerdict] = field(default_factory=dict)
    combined: str = ""
    text: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitComparison:
        return cls.from_mapping(data, splits=lambda s: {k: SplitVerdict.from_json(v) for k, v in s.items()})

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(splits={k: v.to_json() for k, v in self.splits.items()})


@dataclass(frozen=True, kw_only=True)
class Combined(Record):
    """The across-splits report (``<task>-splits.json``): the splits, the reports they came from, the rows and
    the comparisons."""

    task: str = ""
    splits: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    rows: tuple[SplitRow, ...] = ()
    comparisons: tuple[SplitComparison, ...] = ()

    @classmethod
    def of(cls, combined: Combined | Mapping[str, Any]) -> Combined:
        return combined if isinstance(combined, Combined) else cls.from_json(combined)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Combined:
        return cls.from_mapping(data, splits=tuple, reports=tuple,
                                rows=lambda rows: tuple(SplitRow.from_json(r) for r in rows),
                                comparisons=lambda cs: tuple(SplitComparison.from_json(c) for c in cs))

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(splits=list(self.splits), reports=list(self.reports),
                               rows=[r.to_json() for r in self.rows],
                               comparisons=[c.to_json() for c in self.comparisons])


@dataclass(frozen=True)
class SplitRun:
    path: Path
    report: RunReport

    @property
    def split(self) -> SplitInfo:
        return self.report.split

    @property
    def label(self) -> str:
        return f"{self.split.method} seed {self.split.seed}"


def load_runs(paths: Sequence[Path]) -> list[SplitRun]:
    """The reports, checked: one task, complete runs of the whole test split (one evaluated size), distinct test
    splits (at least two)."""
    if len(paths) < 2:
        raise HarnessError(f"expected the reports of at least two splits, got {len(paths)}; run the suite once per "
                           "split (e.g. --harness-seed 78516 --harness-report-dir reports/seed-78516) and pass each JSON")
    runs = []
    for path in paths:
        report = files.read_json(Path(path), what="report")
        if not isinstance(report, dict) or not all(k in report for k in ("task", "split", "rows", "comparisons")):
            raise HarnessError(f"{path}: expected a suite report JSON (task, split, rows, comparisons); pass the "
                               "<task>.json a run wrote, e.g. reports/fpb-sentiment.json")
        run = RunReport.from_json(report)
        if run.partial:
            raise HarnessError(f"{path}: a partial (interrupted) run ({report['partial']}): expected complete runs; "
                               "run that split again to the end")
        runs.append(SplitRun(Path(path), run))
    sizes = [f"{run.path}: {run.split.evaluated}" for run in runs]
    if any(run.split.limited for run in runs) or len({run.split.n_evaluated for run in runs}) > 1:
        raise HarnessError(f"expected runs that each evaluated their whole test split, of one size, got "
                           f"{'; '.join(sizes)}; fix: run each split again without --harness-limit, then combine "
                           "their reports")
    tasks = {r.report.task for r in runs}
    if len(tasks) > 1:
        raise HarnessError(f"the reports are of different tasks ({sorted(tasks)}): expected one task on several splits")
    prints: dict[str, Path] = {}
    for run in runs:
        key = run.split.test_fingerprint
        if key in prints:
            raise HarnessError(f"{run.path} and {prints[key]} are the same test split ({key}): expected one report "
                               "per split; drop one of them")
        prints[key] = run.path
    return runs


def recipe_name(name: str, seed: Any) -> str:
    """``adapter:<name>-<seed>`` on split ``seed`` -> ``adapter:<name>`` (the same recipe trained for that split);
    any other row name unchanged. Works on row names (``model · strategy``) too."""
    model, dot, strategy = name.partition(" · ")
    suffix, found = f"-{seed}", find(model)
    if found and found[0].fine_tuned and seed is not None and found[1].endswith(suffix) and len(found[1]) > len(suffix):
        model = model[: -len(suffix)]
    return model + dot + strategy


def combine(runs: Sequence[SplitRun]) -> dict[str, Any]:
    """The per-row table and the combined verdicts of fine-tuned rows (see the module docstring), as the
    JSON :class:`Combined` reads."""
    order: list[str] = []
    per_row: dict[str, dict[str, SplitScore]] = {}
    for run in runs:
        for row in run.report.rows:
            name = recipe_name(row.name, run.split.seed)
            if name not in per_row:
                order.append(name)
                per_row[name] = {}
            per_row[name][run.label] = SplitScore.of(row, name)
    rows = []
    for name in order:
        values = [v.weighted_f1 for v in per_row[name].values()]
        rows.append(SplitRow(row=name, splits=per_row[name], ran_on=len(values), mean=statistics.fmean(values),
                             sd=statistics.stdev(values) if len(values) > 1 else None))
    splits: dict[tuple[str, str], dict[str, SplitVerdict]] = {}
    for run in runs:
        for c in run.report.comparisons:
            a, b = recipe_name(c.a, run.split.seed), recipe_name(c.b, run.split.seed)
            splits.setdefault((a, b), {})[run.label] = SplitVerdict.of(c)
    labels = [r.label for r in runs]
    means = {r.row: r for r in rows}
    verdicts = []
    for (a, b), per_split in splits.items():
        combined = _combined(per_split, labels)
        mean_a, mean_b = means.get(a), means.get(b)
        verdicts.append(SplitComparison(a=a, b=b, splits=per_split, combined=combined, text=(
            f"{a} vs {b}: {combined}" + (f"; mean weighted F1 {_spread(mean_a)} vs {_spread(mean_b)}"
                                          if mean_a and mean_b else ""))))
    return Combined(task=runs[0].report.task, splits=tuple(labels), reports=tuple(str(r.path) for r in runs),
                    rows=tuple(rows), comparisons=tuple(verdicts)).to_json()


def _spread(row: SplitRow) -> str:
    return f"{row.spread} over {row.ran_on}" if row.sd is not None else row.spread


def summary_for(report: Report, directory: Path) -> dict[str, Any] | None:
    """The combined verdicts of ``directory/<task>-splits.json`` for this run's fine-tuned rows, for its verdict
    block (the JSON of :class:`~harness.report.run.AcrossSplits`); None when there is no such file, or it does
    not cover this run's split (a note when unreadable)."""
    report = RunReport.of(report)
    path = directory / f"{report.task}-splits.json"
    if not path.is_file():
        return None
    try:
        combined = Combined.from_json(json.loads(path.read_text()))
        split = report.split
        label = f"{split.method} seed {split.seed}"
        if label not in combined.splits:
            return None
        tuned = {recipe_name(c.a, split.seed): c.a for c in report.comparisons}  # recipe -> its name here
        mine = [c for c in combined.comparisons if c.a in tuned and c.text is not None
                and alternative_kind(c.b.split(" · ")[0])]  # the alternatives the headline weighs
        outcomes = tuple(SplitOutcome(a=tuned[c.a], b=c.b, verdicts={k: v.verdict for k, v in c.splits.items()})
                         for c in mine)
        lines = [c.text for c in mine if not c.combined.startswith("incomplete")]
        partial: dict[str, list[str]] = {}
        for c in mine:
            if c.combined.startswith("incomplete"):
                partial.setdefault(c.a, []).append(c.b)
        lines += [f"{a} vs {', '.join(bs)}: not compared across splits (ran on {_ran_on(combined, bs)} only)"
                  for a, bs in partial.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return AcrossSplits(file=str(path), note=f"{path.name} could not be read ({exc}): not shown",
                            keys=("file", "lines", "note")).to_json()
    return AcrossSplits(file=str(path), splits=combined.splits, lines=tuple(lines),  # type: ignore[arg-type]
                        outcomes=outcomes, keys=("file", "splits", "lines", "outcomes")).to_json()


def _ran_on(combined: Combined, rows: Sequence[str]) -> str:
    """The splits every one of ``rows`` ran on, from the combined report's per-row table."""
    ran = {r.row: set(r.splits) for r in combined.rows}
    common = set.intersection(*(ran.get(b, set()) for b in rows))
    return ", ".join(label for label in combined.splits if label in common) or "no common split"


def _combined(per_split: Mapping[str, SplitVerdict], labels: Sequence[str]) -> str:
    seen = {label: per_split[label].verdict for label in labels if label in per_split}
    missing = [label for label in labels if label not in per_split]
    kinds = set(seen.values())
    if not missing and kinds == {"better"}:
        return f"BETTER on all {len(labels)} splits"
    if not missing and kinds == {"worse"}:
        return f"WORSE on all {len(labels)} splits"
    parts = [f"{verdict} on {', '.join(k for k, v in seen.items() if v == verdict)}" for verdict in sorted(kinds)]
    if missing:
        parts.append(f"not run on {', '.join(missing)}")
    return ("incomplete: " if missing and len(kinds) <= 1 else "not consistent: ") + "; ".join(parts)


def markdown(combined: Combined | Mapping[str, Any]) -> str:
    combined = Combined.of(combined)
    labels = list(combined.splits)
    out = [f"# {combined.task}: the decision across {len(labels)} splits", "",
           "Every number comes from the runs' own reports: " + ", ".join(f"`{p}`" for p in combined.reports), ""]
    texts = [c.text for c in combined.comparisons if c.text is not None]
    if texts:
        out += ["## Verdict across splits", ""] + [f"- {t}" for t in texts] + [""]
    ran_as = sorted({f"{v.ran_as} on {label}" for row in combined.rows for label, v in row.splits.items()
                     if v.ran_as is not None})
    if ran_as:
        out += ["One row per recipe: a fine-tuned row is the adapter trained for each split (" + "; ".join(ran_as) + ").",
                ""]
    out += ["## Weighted F1 per split", ""]
    table = [["row", *labels, "mean ± sd", "splits"]]
    for row in combined.rows:
        cells = []
        for label in labels:
            v = row.splits.get(label)
            low, high = (v.ci95 or (float("nan"), float("nan"))) if v else (0, 0)
            cells.append("not run" if v is None else f"{v.weighted_f1:.3f} [{low:.3f}, {high:.3f}]")
        table.append([row.row, *cells, row.spread, f"{row.ran_on} of {len(labels)}"])
    out += markdown_table(table)
    out += ["", "## Fine-tuned vs each other row, split by split", ""]
    table = [["fine-tuned", "vs", *labels, "combined"]]
    for c in combined.comparisons:
        cells = []
        for label in labels:
            s = c.splits.get(label)
            cells.append("not run" if s is None else
                         f"{s.verdict.upper()} ΔF1 {s.f1_difference:+.3f} [{s.f1_difference_ci95[0]:+.3f}, "
                         f"{s.f1_difference_ci95[1]:+.3f}], p(Holm) {_p(s.p_holm)}")
        table.append([c.a, c.b, *cells, c.combined])
    out += markdown_table(table)
    if not combined.comparisons:
        out += ["", "No fine-tuned row ran on any split: nothing to compare."]
    return "\n".join(out) + "\n"


def _p(p: float | None) -> str:
    from harness import humanize

    return humanize.p_value(p)


def write(combined: Mapping[str, Any], out: Path) -> dict[str, Path]:

    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {"json": out.with_suffix(".json"), "markdown": out.with_suffix(".md")}
    files.atomic_write_text(paths["json"], json.dumps(combined, indent=2, ensure_ascii=False) + "\n")
    files.atomic_write_text(paths["markdown"], markdown(combined))
    return paths
