"""The task registry. A task (a subclass of :class:`harness.tasks.base.Task`) knows its data, its prompts, its
parser and how its results are reported; the benchmark core (:mod:`harness.benchmark`: models, batching,
warm-up and latency, cost, cassettes keyed by task name) and fine-tuning (``python -m finetune``, through
``task.training_data``) know nothing else about it.

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
from pathlib import Path
from typing import Any, Iterable

from harness import HarnessError
from harness.tasks.base import LoadedRun, RunConfig, Task, TaskData, check

__all__ = ["DEFAULT_TASK", "LoadedRun", "RunConfig", "Task", "TaskData", "check_declared_once", "from_reference",
           "get_task", "reference", "register", "registry", "task_from_file"]

DEFAULT_TASK = "fpb-sentiment"


def _discover() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        declared = vars(module)
        for task in (declared.get("TASK"), *declared.get("TASKS", ())):
            if task is not None:
                check(task, f"{module.__name__}.TASK")
                found[task.name] = task
    return found


_REGISTRY: dict[str, Task] | None = None


def registry() -> dict[str, Task]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _discover()
    return _REGISTRY


def register(task: Any, where: str = "a suite") -> Task:
    """Add a declared task to the registry (the same declaration twice is one task; two different tasks of
    one name are an error, since reports and cassettes are keyed by name). Anything but a
    :class:`harness.tasks.Task` is refused with a HarnessError."""
    task = check(task, where)
    tasks = registry()
    known = tasks.get(task.name)
    if known is not None and known is not task and _spec(known) != _spec(task):
        raise HarnessError(f"two different tasks are named {task.name!r} ({where} and another suite or a built-in "
                           "task): reports and cassettes are keyed by the name, so give each task its own name")
    tasks.setdefault(task.name, task)
    return tasks[task.name]


def check_declared_once(cases: Iterable[tuple[tuple[str, str, str, int], str]]) -> None:
    """Refuse a task whose cases two test functions would run: ``cases`` are (``(task, model, strategy,
    index)``, the item's node id) of every collected harness item. The same declaration in two suite files is one
    task in the registry, but each file would parametrize its own copy of every item: each test item would run
    twice and be counted twice (a row's n doubled, its CI narrowed). Refused rather than de-duplicated: which
    file's test function (and assertions) should count is the user's call, and a silent choice hides the slip.
    The plugin calls this once the items are collected, before any case runs."""
    owner: dict[str, str] = {}
    for (task, *_), nodeid in cases:
        function = nodeid.partition("[")[0]
        first = owner.setdefault(task, function)
        if first != function:
            raise HarnessError(
                f"task {task!r}: expected one test function to run its items, got {first} and {function}: "
                "the same task declared in two suites (or two harness_case tests) runs each test item twice and "
                "counts it twice (n doubled, a CI too narrow); fix: declare the task and its harness_case test in "
                "one suite file, and import nothing of it into another")


def _spec(task: Task) -> Any:
    spec = task.spec()
    return id(task) if spec is None else spec


def reference(task: Task) -> dict[str, Any]:
    """What another process needs to rebuild ``task``: its name, and a declared task's spec."""
    out: dict[str, Any] = {"name": task.name}
    spec = task.spec()
    if spec is not None:
        out["spec"] = spec
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

