"""The end of a benchmark session, without pytest: every task's report, the main job's history, gate and
tracking, in one call the plugin makes from ``pytest_sessionfinish`` (and a notebook can make too).

* every task that ran gets its report files (``reports/<task>.{json,md,...}``);
* the main job (a classification task with ``history``: FPB sentiment) also gains the tables of its
  companion tasks that ran in the same session (agreement slices, TFNS), is saved to ``reports/runs/``,
  compared with an earlier run on request, checked against a gate baseline on request, and summarised;
* each report is logged to MLflow when tracking is on, last, so a tracking failure never loses a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from harness import HarnessError, across_splits, economics, gate, history, tracking
from harness import report as report_mod
from harness.files import atomic_write_text
from harness.tasks import registry

if TYPE_CHECKING:
    from harness.benchmark import Benchmark


@dataclass(frozen=True)
class SessionOptions:
    root: Path
    report_dir: Path
    dollars_per_hour: float | None = None
    machine: str | None = None
    monthly_volume: int = 100_000
    save: str | None = None
    compare: str | None = None
    """None: no comparison; "": the previous run; else a run number or part of its name."""
    gate: Path | None = None
    gate_default: bool = False
    """``--harness-gate`` without a path: the main job's ``baselines/<task>.json`` under ``root``."""
    gate_margin: float = 0.02
    gate_parse_slack: float = 0.02
    gate_cost_slack: float = 0.10
    mlflow: str = "off"

    def __post_init__(self) -> None:
        """Everything the end of the session needs, checked before the first case runs."""
        import math

        if isinstance(self.monthly_volume, bool) or not isinstance(self.monthly_volume, int) or self.monthly_volume < 1:
            raise HarnessError(f"--harness-monthly-volume={self.monthly_volume!r}: expected a whole number of requests "
                               "per month, at least 1 (the payback period divides by it), e.g. 100000")
        if self.dollars_per_hour is not None and not (math.isfinite(self.dollars_per_hour) and self.dollars_per_hour >= 0):
            raise HarnessError(f"--harness-dollars-per-hour={self.dollars_per_hour!r}: expected a finite price of 0 "
                               "or more USD per hour, e.g. 0.08")
        economics.machines_for(self.dollars_per_hour, self.machine)  # an unknown machine name fails here
        for name, value, low, high in (("--harness-gate-margin", self.gate_margin, 0.0, 1.0),
                                       ("--harness-gate-parse-slack", self.gate_parse_slack, 0.0, 1.0),
                                       ("--harness-gate-cost-slack", self.gate_cost_slack, 0.0, math.inf)):
            if not (math.isfinite(value) or high == math.inf) or not low <= value <= high:
                raise HarnessError(f"{name}={value!r}: expected a number from {low} to {high}")
        for folder in (self.report_dir, self.report_dir / history.RUNS):
            if folder.exists() and not folder.is_dir():
                raise HarnessError(f"{folder} is a file, not a folder: the reports go there; move the file away or "
                                   "give another --harness-report-dir")
        if self.gate is not None and self.gate.exists() and not self.gate.is_file():
            raise HarnessError(f"--harness-gate={self.gate}: expected a baseline JSON file, got a folder or a pipe")

    def gate_path(self, task: str) -> Path | None:
        if self.gate is not None:
            return self.gate
        return self.root / "baselines" / f"{task}.json" if self.gate_default else None


@dataclass
class SessionOutcome:
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Task name -> its report."""
    main: str | None = None
    """The main job's task name, when it ran."""
    task_lines: dict[str, list[str]] = field(default_factory=dict)
    """Terminal lines of every task but the main job (the plugin draws the main job's itself)."""
    paths: dict[str, dict[str, Path]] = field(default_factory=dict)
    """Task name -> the files written for it (the main job's include its saved run and the summary)."""
    gate_result: gate.GateResult | None = None
    history_lines: list[str] = field(default_factory=list)
    tracking_lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Steps after the cases that failed (the reports already written stay); each fails the run's exit code."""

    @property
    def report(self) -> dict[str, Any] | None:
        """The main job's report, else the first task's."""
        if self.main is not None:
            return self.reports[self.main]
        return next(iter(self.reports.values()), None)


def _is_main(bench: Benchmark) -> bool:
    return bench.task.labels is not None and bench.task.history


def finish(benches: Mapping[str, Benchmark], cases: Sequence[Mapping[str, Any]],
           expected: Mapping[tuple[str, str, str], int], options: SessionOptions) -> SessionOutcome:
    """Write every report of this session. ``expected`` counts items per (task, model, strategy).
    Raises HarnessError for a machine price that cannot be resolved (before anything is written)."""
    device = next((getattr(bench, "device", "cpu") for bench in benches.values()), "cpu")  # on cuda: priced per GPU
    machine, gpu_machine = economics.machines_for(options.dollars_per_hour, options.machine, device=device)
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for case in cases:
        by_task.setdefault(case["task"], []).append(case)
    outcome = SessionOutcome()
    directory = options.report_dir
    directory.mkdir(parents=True, exist_ok=True)
    main = next((name for name in by_task if _is_main(benches[name])), None)
    for name in [n for n in by_task if n != main] + ([main] if main else []):  # the main job last: it shows the others
        bench = benches[name]
        task, cfg = bench.task, bench.config
        common = dict(pair_order=bench.pairs, expected={(m, s): n for (t, m, s), n in expected.items() if t == name},
                      root=options.root, seed=cfg.seed, resamples=cfg.bootstrap, machine=machine,
                      gpu_machine=gpu_machine, prices=bench.prices, monthly_volume=options.monthly_volume)
        texts = {e.id: e.text for e in bench.test}
        report = task.build_report(bench, by_task[name], **common)
        splits = across_splits.summary_for(report, directory)  # a saved <task>-splits.json: its verdicts
        if splits:
            report["across_splits"] = splits
        if name == main:
            report["companions"] = companion_tables(name, outcome.reports)
            outcome.main = name
        paths = task.write_report(report, by_task[name], directory, texts)
        outcome.reports[name], outcome.paths[name] = report, dict(paths)
        if name == main:
            _history_and_gate(outcome, report, bench, options)
        else:
            outcome.task_lines[name] = task.terminal_lines(report)
    # last, once every file is written: a tracking failure (server down) is a warning line, never a lost report
    for name, report in outcome.reports.items():
        line = tracking.track_run(options.mlflow, report, outcome.paths[name], store_dir=directory)
        if line:
            outcome.tracking_lines.append(line if name == main else f"{name}: {line}")
    return outcome


def companion_tables(main: str, reports: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tables the main job's report shows from its companion tasks (``companion_of == main``): the ones
    this session ran, and for the others, the command that adds them."""
    out = []
    for name, task in registry().items():
        if task.companion_of != main:
            continue
        if name in reports:
            out.append({"task": name, **task.companion_table(reports[name])})
        else:
            out.append({"task": name, "title": task.description, "not_run": (
                f"not run in this session: add it with -m \"{registry()[main].marker} or {task.marker}\"")})
    return out


def _history_and_gate(outcome: SessionOutcome, report: dict[str, Any], bench: Benchmark,
                      options: SessionOptions) -> None:
    cfg = bench.config
    baseline = options.gate_path(bench.task.name)
    if baseline is not None:  # the gate's verdict fails the run; the report is already written
        try:
            outcome.gate_result = gate.check(report, gate.load_baseline(baseline), name=str(baseline),
                                             margin=options.gate_margin, parse_slack=options.gate_parse_slack,
                                             cost_slack=options.gate_cost_slack, resamples=cfg.bootstrap, seed=cfg.seed)
        except HarnessError as exc:  # a broken baseline fails the gate, with its reason
            outcome.gate_result = gate.GateResult(str(baseline), options.gate_margin,
                                                  (gate.Check("gate", "FAIL", str(exc)),))
    runs = options.report_dir / history.RUNS
    paths = outcome.paths[bench.task.name]
    previous, entries = None, None
    try:
        saved = history.save(report, runs, options.save or history.default_name(
            report.get("git_sha"), history.git_dirty(options.root)))
        paths["run"] = saved
    except HarnessError as exc:  # the report files are written; the failed step is reported and fails the run
        saved = None
        outcome.history_lines = [f"save: {exc}"]
        outcome.failures.append(f"saving the run to {runs}: {exc}")
    if options.compare is not None and saved is not None:
        try:
            previous = history.find(runs, options.compare or None, before=saved)
            entries = history.diff(report, history.load(previous), resamples=cfg.bootstrap, seed=cfg.seed)
            outcome.history_lines = [f"compared with {previous.name}:"] + report_mod.text_table(
                history.diff_table(entries), max_width=report_mod.TERMINAL_WIDTH)
        except HarnessError as exc:
            outcome.history_lines = [f"compare: {exc}"]
    paths["summary"] = options.report_dir / "summary.md"
    atomic_write_text(paths["summary"], history.summary_markdown(
        report, saved=saved, previous=previous, entries=entries,
        gate_lines=outcome.gate_result.lines() if outcome.gate_result else None))
