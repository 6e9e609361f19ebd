"""The task registry. A task knows its data, its prompts, its parser and how its results are reported; the
benchmark core (:mod:`harness.benchmark`: models, batching, warm-up and latency, cost, cassettes keyed by
task name) and fine-tuning (``python -m finetune``, through ``task.training_data``) know nothing else about it.

Built-in tasks live in this package, one room each (``fpb/``, ``tfns.py``, ``tatqa/``: any module with a
``TASK`` attribute or a ``TASKS`` tuple). A team's own task is declared in its suite file, usually as a
:class:`harness.tasks.classification.ClassificationTask`, and handed to the plugin by the suite's marker::

    pytestmark = pytest.mark.harness_task(TASK)        # a declared task object
    pytestmark = [pytest.mark.qa, pytest.mark.harness_task("tatqa")]   # a built-in task, by name

:func:`get_task` finds a task by name (registered, built-in, or ``TASK`` of an importable module), and
:func:`task_from_file` the task a suite file declares. No pytest here: tasks are usable from a notebook.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

from harness import HarnessError

if TYPE_CHECKING:  # only for annotations: the registry imports no model code
    from harness.benchmark import BenchmarkConfig
    from harness.models.base import Request

DEFAULT_TASK = "fpb-sentiment"


@dataclass(frozen=True)
class TaskData:
    """What a task loaded for one run.

    ``test`` holds one :class:`harness.tasks.fpb.data.Example` per evaluated item (id, text, gold answer as a string):
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

    # A task that can be fine-tuned on also defines ``training_data(request: TrainingRequest) -> TrainingData``
    # (harness.tasks.training) and ``adapter_stem`` (the default adapter folder's prefix): python -m finetune
    # asks it for its items, rendered by its own prompts, and knows nothing else about it.


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
                           "write_report and terminal_lines (see harness.tasks.tatqa.task)")


_REGISTRY: dict[str, Task] | None = None


def registry() -> dict[str, Task]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def register(task: Any, where: str = "a suite") -> Task:
    """Add a declared task to the registry (the same declaration twice is one task; two different tasks of
    one name are an error, since reports and cassettes are keyed by name)."""
    _check(task, where)
    tasks = registry()
    known = tasks.get(task.name)
    if known is not None and known is not task and _spec(known) != _spec(task):
        raise HarnessError(f"two different tasks are named {task.name!r} ({where} and another suite or a built-in "
                           "task): reports and cassettes are keyed by the name, so give each task its own name")
    tasks.setdefault(task.name, task)
    return tasks[task.name]


def _spec(task: Any) -> Any:
    return task.spec() if hasattr(task, "spec") else id(task)


def reference(task: Any) -> dict[str, Any]:
    """What another process needs to rebuild ``task``: its name, and a declared task's spec."""
    out: dict[str, Any] = {"name": task.name}
    if hasattr(task, "spec"):
        out["spec"] = task.spec()
    return out


def from_reference(ref: dict[str, Any]) -> Task:
    """The task of :func:`reference` (registered here if this process has not seen it: an xdist controller)."""
    if ref["name"] in registry():
        return registry()[ref["name"]]
    if "spec" in ref:
        from harness.tasks.classification import ClassificationTask

        return register(ClassificationTask(**ref["spec"]), "a worker's report")
    return get_task(ref["name"])


def get_task(name: str) -> Task:
    """A registered task by name, else ``TASK`` of the module named ``name`` (a task outside this package),
    else the task a suite file of that path declares."""
    tasks = registry()
    if name in tasks:
        return tasks[name]
    by_marker = [t for t in tasks.values() if t.marker == name]
    if len(by_marker) == 1:
        return by_marker[0]
    if name.endswith(".py"):
        return task_from_file(Path(name))
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = None
    task = getattr(module, "TASK", None)
    if task is None:
        raise HarnessError(f"unknown task {name!r}: expected one of {sorted(tasks)} (or a marker: "
                           f"{sorted(t.marker for t in tasks.values())}), a suite file that declares TASK, or an "
                           "importable module that defines TASK (a harness.tasks.Task)")
    return register(task, name)


def task_from_file(path: Path) -> Task:
    """The task a suite file declares: its module-level ``TASK``, else the task of its ``harness_task`` marker."""
    import importlib.util
    import sys

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: suite file not found; expected the .py file that declares the task (TASK = ...)")
    name = "harness_suite_" + "".join(c if c.isalnum() else "_" for c in str(path.resolve()))
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except HarnessError:
            sys.modules.pop(name, None)
            raise
        except Exception as exc:
            sys.modules.pop(name, None)
            raise HarnessError(f"{path}: importing it failed ({type(exc).__name__}: {exc})") from None
    task = getattr(module, "TASK", None)
    if task is None:
        marks = getattr(module, "pytestmark", [])
        for mark in marks if isinstance(marks, (list, tuple)) else [marks]:
            mark = getattr(mark, "mark", mark)
            if getattr(mark, "name", "") == "harness_task" and mark.args:
                task = mark.args[0]
    if task is None:
        raise HarnessError(f"{path}: no task declared: expected TASK = ClassificationTask(...) or "
                           "pytestmark = pytest.mark.harness_task(...) in it")
    return get_task(task) if isinstance(task, str) else register(task, str(path))

