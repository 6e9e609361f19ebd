"""The task registry: a benchmark task is one module under ``harness/tasks/`` that defines ``TASK``.

A task knows its data, its prompts, its parser and how its results are reported; the benchmark core
(:mod:`harness.benchmark`: models, batching, warm-up and latency, cost, cassettes keyed by task name)
knows nothing else about it. Adding a task touches no other file but its suite, which names the task
declaratively::

    pytestmark = [pytest.mark.qa, pytest.mark.harness_task("tatqa")]

:func:`get_task` finds a task by name among the modules of this package (any module with a ``TASK``
attribute, or a ``TASKS`` tuple), or imports a module of that dotted name and takes its ``TASK``, so a
project can keep a task outside this package. No pytest here: tasks are usable from a notebook.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

from harness import HarnessError

if TYPE_CHECKING:  # only for annotations: the registry imports no model code
    from harness.benchmark import BenchmarkConfig
    from harness.data import Example
    from harness.models.base import Request

DEFAULT_TASK = "fpb-sentiment"


@dataclass(frozen=True)
class TaskData:
    """What a task loaded for one run.

    ``test`` holds one :class:`harness.data.Example` per evaluated item (id, text, gold answer as a string):
    the core batches, fingerprints and records them without knowing the task. ``train`` is what trained
    floors may learn from (never test items); ``shots`` the few-shot examples; ``context`` extra
    :class:`harness.models.ModelContext` fields (e.g. ``agreement``, ``is_sample``); ``meta`` the data and
    split description for the report; ``extra`` whatever the task keeps for itself (raw items, loaders).
    """

    test: tuple[Any, ...]
    train: tuple[Any, ...] = ()
    shots: tuple[Any, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    name: str
    """Report file stem and cassette folder: ``reports/<name>.json``, ``cassettes/<name>/...``."""
    version: int
    marker: str
    """The pytest marker of its suite (``-m sentiment``, ``-m qa``)."""
    description: str
    template_version: str
    """Changes whenever a prompt text changes, so recorded answers to older prompts are recognised."""
    labels: tuple[str, ...] | None
    """The label set of a classification task (reported by :mod:`harness.report`), None otherwise."""
    default_models: tuple[str, ...]
    strategies: tuple[str, ...]
    """Prompt strategies this task renders (models may add their own, e.g. ``supervised``)."""

    def load(self, config: "BenchmarkConfig") -> TaskData:
        """Read the data, choose the test items and the train/few-shot pool. Errors are HarnessErrors."""
        ...

    def request(self, data: TaskData, strategy: str, index: int) -> "Request":
        """The request for test item ``index`` under ``strategy`` (rendered through the task's prompt module)."""
        ...

    def parse(self, data: TaskData, index: int, reply: str) -> Any:
        """The prediction in ``reply`` (JSON-able), or None for a parse failure."""
        ...

    def model_problem(self, model: str, strategy: str | None) -> str | None:
        """Why ``model`` (or one of its strategies) does not apply to this task, or None."""
        ...


def _discover() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for task in (getattr(module, "TASK", None), *getattr(module, "TASKS", ())):
            if task is not None:
                _check(task, module.__name__)
                found[task.name] = task
    return found


def _check(task: Any, where: str) -> None:
    missing = [a for a in ("name", "version", "marker", "template_version", "labels", "default_models",
                           "strategies", "load", "request", "parse", "model_problem") if not hasattr(task, a)]
    if missing:
        raise HarnessError(f"{where}.TASK is not a harness task: it lacks {missing}; see harness.tasks.Task")
    if task.labels is None and not all(hasattr(task, a) for a in ("build_report", "write_report", "terminal_lines")):
        raise HarnessError(f"{where}.TASK has no label set, so it must report itself: define build_report, "
                           "write_report and terminal_lines (see harness.tasks.tatqa_task)")


_REGISTRY: dict[str, Task] | None = None


def registry() -> dict[str, Task]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def get_task(name: str) -> Task:
    """A registered task by name, else ``TASK`` of the module named ``name`` (a task outside this package)."""
    tasks = registry()
    if name in tasks:
        return tasks[name]
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = None
    task = getattr(module, "TASK", None)
    if task is None:
        raise HarnessError(f"unknown task {name!r}: expected one of {sorted(tasks)}, or an importable module "
                           "that defines TASK (a harness.tasks.Task)")
    _check(task, name)
    tasks[task.name] = task
    return task

