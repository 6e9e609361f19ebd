"""The pytest surface of the harness: hooks and the one fixture.

Installed as a ``pytest11`` entry point, it stays inert until a suite uses it (the ``harness_case`` fixture
with a ``harness_task`` marker): options are added, nothing is loaded, no signal handler is set and no
report is written otherwise. Every path (cassettes, adapters, baselines, reports, data) is resolved from
pytest's rootdir or an option, never from where the package is installed.

Logic lives in other modules: :mod:`harness.options` adds the ``--harness-*`` options and reads them into
the run's configuration, :mod:`harness.benchmark` runs the cases, :mod:`harness.aggregator` collects them on
the controller and draws the progress lines (:mod:`harness.progress`), and :mod:`harness.session` writes
every report, the history, the gate verdict and the MLflow runs at the end. Results ride on each item's
``user_properties`` and are aggregated on the controller only (state in ``config.stash``), so
``pytest -n N`` produces the same report as a serial run.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

from harness import HarnessError, aggregator
from harness import tasks as task_registry
from harness.aggregator import PROPERTY, take_sigterm
from harness.options import add_options, get_benchmark, session_options
from harness.tasks import DEFAULT_TASK, registry
from harness.tasks.fpb.data import FPB_ENV

TASK_MARKER = "harness_task"
counts_key = pytest.StashKey[Counter]()
"""This process's harness items per (task, model, strategy), from its collection."""


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser, pluginmanager)


def _task_of(node: Any) -> str:
    """The task a suite names with ``pytest.mark.harness_task(...)`` (a built-in task's name or a declared
    task object, registered here); FPB sentiment when it names none."""
    marker = node.get_closest_marker(TASK_MARKER)
    if marker is None or not marker.args:
        return DEFAULT_TASK
    declared = marker.args[0]
    try:
        if isinstance(declared, str):
            return task_registry.get_task(declared).name
        return task_registry.register(declared, str(getattr(node, "path", node))).name
    except HarnessError as exc:
        raise pytest.UsageError(f"harness: {exc}") from None


def _deselected_by_markexpr(config: pytest.Config, names: set[str]) -> bool:
    """Whether ``-m`` excludes an item carrying these markers (so its task's data is never loaded)."""
    expression = config.getoption("markexpr", "")
    if not expression:
        return False
    try:
        from _pytest.mark.expression import Expression  # pytest's own -m evaluator (no public API for it)

        return not Expression.compile(expression).evaluate(lambda name, **kwargs: name in names)
    except Exception:  # noqa: BLE001 - another pytest: build the benchmark, pytest deselects as usual
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Under ``-n`` without ``--dist``, send each model × strategy pair to one worker (``loadgroup``):
    a model then loads once, and its batches are not computed twice."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", "no") == "no":
        option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{TASK_MARKER}(name): the benchmark task of a suite (harness.tasks)")
    for task in registry().values():
        config.addinivalue_line("markers", f"{task.marker}: {task.description}")
    aggregator.register(config)  # the controller (or a serial run) aggregates


def pytest_unconfigure(config: pytest.Config) -> None:
    from harness.serving.started import stop_all

    stop_all()  # servers the run started (start = "vllm" endpoints), also after Ctrl-C
    aggregator.give_back_sigterm(config)
    aggregator.unregister(config)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if os.environ.get(FPB_ENV) or config.getoption("harness_data"):
        return [f"harness: FPB from {config.getoption('harness_data') or os.environ[FPB_ENV]}"]
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if PROPERTY not in metafunc.fixturenames:
        return
    task = _task_of(metafunc.definition)
    declared = task_registry.get_task(task)
    if declared.marker not in metafunc.config.getini("markers"):  # a declared task's marker, for -m and --strict-markers
        metafunc.config.addinivalue_line("markers", f"{declared.marker}: {declared.description}")
    names = {m.name for m in metafunc.definition.iter_markers()} | {declared.marker}
    if _deselected_by_markexpr(metafunc.config, names):
        metafunc.parametrize(PROPERTY, [], indirect=True)  # -m leaves this suite out: load nothing
        return
    try:
        bench = get_benchmark(metafunc.config, task)
    except pytest.UsageError as exc:
        error = str(exc)
    else:
        error = None
    if error is not None:
        pytest.fail(f"harness: {error}", pytrace=False)
    params = []
    task_mark = getattr(pytest.mark, declared.marker)
    for model, strategy in bench.pairs:
        group = pytest.mark.xdist_group(name=f"{model}-{strategy}")
        for index, example in enumerate(bench.test):
            params.append(pytest.param((task, model, strategy, index), id=f"{model}-{strategy}-{example.id}",
                                       marks=[group, task_mark]))
    metafunc.parametrize(PROPERTY, params, indirect=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Count the harness items per (task, model, strategy): the progress totals and the partial-run check."""
    counts: Counter[tuple[str, str, str]] = Counter()
    cases = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and PROPERTY in callspec.params:
            task, model, strategy, _ = callspec.params[PROPERTY]
            counts[(task, model, strategy)] += 1
            cases.append((callspec.params[PROPERTY], item.nodeid))
    try:
        task_registry.check_declared_once(cases)  # one task run by two test functions: every item twice
    except HarnessError as exc:
        raise pytest.UsageError(f"harness: {exc}") from None
    config.stash[counts_key] = counts
    if not counts:
        return
    _check_writable(config, sorted({task for task, _, _ in counts}))
    take_sigterm(config)
    aggregator.count_items(config, counts)


def _check_writable(config: pytest.Config, tasks: list[str]) -> None:
    """Every report file, and when recording the cassette folder, writable before the first case (and call)."""
    from harness.preflight import check_writable

    report_dir = session_options(config).report_dir
    try:
        for task in tasks:
            context = get_benchmark(config, task).context
            check_writable(report_dir, tasks, context.cassette_dir, context.record_mode)
    except HarnessError as exc:
        raise pytest.UsageError(f"harness: {exc}") from None


@pytest.fixture
def harness_case(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run one model × strategy × example and attach the result to the report."""
    task, model, strategy, index = request.param
    try:
        bench = get_benchmark(request.config, task)
        result = bench.case(model, strategy, index).to_dict()
    except HarnessError as exc:
        pytest.fail(f"{model} · {strategy}: {exc}", pytrace=False)
    result["task_ref"] = task_registry.reference(bench.task)  # an xdist controller rebuilds a declared task from it
    result["pair_total"] = request.config.stash.get(counts_key, Counter()).get((task, model, strategy))
    request.node.user_properties.append((PROPERTY, result))
    return result
