"""The task contract: :class:`Task`, an abstract base class with three abstract methods and a default for
every other member, and :class:`TaskData`, what a task loaded for one run.

The anchor is lm-evaluation-harness's ``Task(abc.ABC)``: a task is a subclass, the core calls its methods
and never asks what it has (no ``hasattr``). A task reads the run's settings through :class:`RunConfig`
(its own ``--harness-task-option TASK.KEY=VALUE`` values come from ``config.options_for(name)``), so no task
imports the benchmark core; what a run decides (e.g. a ``cot`` opt-in) goes into the :class:`TaskData` that
:meth:`Task.load` returns, never onto the task, which is shared by every run of the process.

A new task::

    class Headlines(Task):
        name, marker, template_version = "headlines", "headlines", "headlines-v1"
        labels = ("up", "down")

        def load(self, config): ...                      # -> TaskData(test=..., train=..., shots=...)
        def request(self, data, strategy, index): ...    # -> harness.models.base.Request
        def parse(self, data, index, reply): ...         # -> a label, or None for a parse failure

A task with a label set is reported by :mod:`harness.report` (weighted F1, paired comparisons, costs);
one without (``labels = None``, e.g. TAT-QA) reports itself: it overrides :meth:`Task.build_report`,
:meth:`Task.write_report` and :meth:`Task.terminal_lines`, and the registry refuses it otherwise.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

from harness import HarnessError
from harness.tasks.names import check_task_name
from harness.tasks.training import TeacherLabels, TrainingData, TrainingRequest

if TYPE_CHECKING:  # only for annotations: the registry imports no model code
    from harness.models.base import Request


@dataclass(frozen=True)
class TaskData:
    """What a task loaded for one run.

    ``test`` holds one :class:`harness.example.Example` per evaluated item (id, text, gold answer as a string):
    the core batches, fingerprints and records them without knowing the task. ``train`` is what trained
    floors may learn from (never test items); ``shots`` the few-shot examples; ``context`` extra
    :class:`harness.models.ModelContext` fields (e.g. ``agreement``, ``is_sample``); ``meta`` the data and
    split description for the report; ``extra`` whatever the task keeps for itself during the run (raw items,
    the options it read): the task object itself holds no per-run state.
    """

    test: tuple[Any, ...]
    train: tuple[Any, ...] = ()
    shots: tuple[Any, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


class RunConfig(Protocol):
    """What a task reads of the run's configuration (:class:`harness.benchmark.BenchmarkConfig` is one)."""

    @property
    def root(self) -> str | None:
        """The project root relative data paths are resolved from (None: the current directory)."""
    @property
    def data_dir(self) -> str | None:
        """A built-in task's data folder (FPB's ``--harness-data``)."""
    @property
    def seed(self) -> int: ...
    @property
    def limit(self) -> int | None:
        """Evaluate the first N test items (an error if N exceeds them)."""
    @property
    def shots_per_label(self) -> int: ...
    @property
    def batch_size(self) -> int: ...

    def options_for(self, task: str) -> dict[str, str]:
        """The ``--harness-task-option`` values addressed to ``task`` (``task.key=value``), as key -> value."""
        ...


class LoadedRun(Protocol):
    """What a task's report sees of one run: the data its :meth:`Task.load` returned, the run's metadata."""

    @property
    def data(self) -> TaskData: ...

    def meta(self) -> dict[str, Any]: ...


class Task(abc.ABC):
    """One benchmark task: its data, prompts, parser and report. Subclass it and define :meth:`load`,
    :meth:`request` and :meth:`parse`, and the class attributes without a default (``name``, ``marker``,
    ``template_version``); every other member has a default that a task overrides when it differs."""

    name: str
    """Report file stem and cassette folder: ``reports/<name>.json``, ``cassettes/<name>/...``."""
    marker: str
    """The pytest marker of its suite (``-m sentiment``, ``-m qa``)."""
    template_version: str
    """Changes whenever a prompt text changes, so recorded answers to older prompts are recognised."""
    version: int = 1
    description: str = ""
    labels: tuple[str, ...] | None = None
    """The label set of a classification task (reported by :mod:`harness.report`); None: it reports itself."""
    default_models: tuple[str, ...] = ("smollm2-135m",)
    """The models a run without ``--harness-models`` evaluates."""
    strategies: tuple[str, ...] = ("zero_shot",)
    """Prompt strategies this task renders (models may add their own, e.g. ``supervised``)."""
    history: bool = False
    """Whether runs are saved to ``reports/runs/`` and gated (the project's main job)."""
    published_replies: bool = False
    """Whether the ``published-*`` replay models (and ``python -m finetune --teacher``) apply: FPB only."""
    companion_of: str | None = None
    """The main task whose report shows this task's :meth:`companion_table` when both ran in one session."""

    @property
    def adapter_stem(self) -> str:
        """The default adapter folder of ``python -m finetune`` is ``adapters/<adapter_stem>-<base model>``."""
        return self.name

    # -- what every task defines -------------------------------------------------------------------------
    @abc.abstractmethod
    def load(self, config: RunConfig) -> TaskData:
        """Read the data, choose the test items and the train/few-shot pool. Errors are HarnessErrors."""

    @abc.abstractmethod
    def request(self, data: TaskData, strategy: str, index: int) -> Request:
        """The request for test item ``index`` under ``strategy`` (rendered through the task's prompts)."""

    @abc.abstractmethod
    def parse(self, data: TaskData, index: int, reply: str) -> Any:
        """The prediction in ``reply`` (JSON-able), or None for a parse failure."""

    # -- defaults ----------------------------------------------------------------------------------------
    def model_problem(self, data: TaskData, model: str, strategy: str | None) -> str | None:
        """Why ``model`` (or its ``strategy``) does not run on this task in this run, or None (the default)."""
        return None

    def build_report(self, run: LoadedRun, cases: list[dict[str, Any]], **common: Any) -> dict[str, Any]:
        """The run's report; by default the classification report of :mod:`harness.report` over ``labels``.
        ``common``: ``pair_order``, ``expected``, ``root``, ``seed``, ``resamples``, prices and machines."""
        from harness import report

        return report.build_report(run.meta(), cases, labels=self._labels_to_report("build_report"), **common)

    def write_report(self, report: dict[str, Any], cases: list[dict[str, Any]], directory: Path,
                     texts: dict[str, str]) -> dict[str, Path]:
        """Write the report's files into ``directory``; returns kind -> path (``json``, ``markdown``, ...)."""
        from harness import report as report_mod

        self._labels_to_report("write_report")
        return report_mod.write(report, cases, directory, texts=texts)

    def terminal_lines(self, report: dict[str, Any]) -> list[str]:
        """What the terminal summary shows of this task's report."""
        from harness import report as report_mod

        self._labels_to_report("terminal_lines")
        return report_mod.terminal_lines(report)

    def companion_table(self, report: dict[str, Any]) -> dict[str, Any]:
        """The table the main task's report shows of this one (``title``, ``notes``, ``table``): only for a
        task that sets ``companion_of``."""
        raise HarnessError(f"task {self.name!r} sets companion_of={self.companion_of!r} but defines no "
                           "companion_table(report); define it, or leave companion_of unset")

    def training_data(self, request: TrainingRequest) -> TrainingData:
        """Its training items, rendered by its own prompts (``python -m finetune``). By default: none."""
        raise HarnessError(f"task {self.name!r} cannot be fine-tuned: it defines no training_data(request); "
                           "fine-tune a task that does (e.g. fpb-sentiment, tfns, tatqa, or a ClassificationTask)")

    def teacher_labels(self, teacher: str, request: TrainingRequest) -> TeacherLabels:
        """A teacher model's labels for the train side (``python -m finetune --teacher``). By default: none."""
        raise HarnessError(f"--teacher applies to FPB sentiment only (published FPB replies), not {self.name}")

    def spec(self) -> dict[str, Any] | None:
        """The declaration as plain values, for a task another process rebuilds from it (a declared task);
        None (the default): the task is found by name."""
        return None

    def _labels_to_report(self, member: str) -> Sequence[str]:
        if self.labels is None:
            raise HarnessError(f"task {self.name!r} has no label set, so it must report itself ({member} was "
                               "called): define build_report, write_report and terminal_lines (see "
                               "harness.tasks.tatqa.task)")
        return self.labels


def check(task: object, where: str) -> Task:
    """``task`` if it is a usable :class:`Task`, else a HarnessError that says what is wrong and the fix."""
    if not isinstance(task, Task):
        raise HarnessError(f"{where}: {repr(task)[:80]} (a {type(task).__name__}) is not a harness task: expected "
                           "an instance of a harness.tasks.Task subclass, e.g. ClassificationTask(name=..., data=..., "
                           "labels=..., instruction=...), or class MyTask(Task) defining name, marker, "
                           "template_version, load, request and parse")
    try:
        name, marker, template = task.name, task.marker, task.template_version
    except AttributeError as exc:
        raise HarnessError(f"{where}: task {type(task).__name__} has no {exc.name!r}: a Task subclass sets name, "
                           "marker and template_version (see harness.tasks.base)") from None
    for attribute, value in (("name", name), ("marker", marker), ("template_version", template)):
        if not isinstance(value, str) or not value:
            raise HarnessError(f"{where}: task {type(task).__name__}.{attribute} is {value!r}: expected a non-empty "
                               "string")
    check_task_name(name, f"{where}: task {type(task).__name__}")
    kind = type(task)
    if task.labels is None:
        inherited = {"build_report": kind.build_report is Task.build_report,
                     "write_report": kind.write_report is Task.write_report,
                     "terminal_lines": kind.terminal_lines is Task.terminal_lines}
        missing = [member for member, default in inherited.items() if default]
        if missing:
            raise HarnessError(f"{where}: task {name!r} has no label set, so it must report itself: define "
                               f"{', '.join(missing)} (see harness.tasks.tatqa.task)")
    if task.companion_of is not None and kind.companion_table is Task.companion_table:
        raise HarnessError(f"{where}: task {name!r} sets companion_of={task.companion_of!r} but defines no "
                           "companion_table(report)")
    return task
