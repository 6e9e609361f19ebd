"""The pytest surface of the harness: options, parametrization, one fixture, and the report hooks.

Logic lives in plain modules (:mod:`harness.benchmark` runs the cases, :mod:`harness.session` writes every
report, the history, the gate verdict and the MLflow runs at the end). Results ride on each
item's ``user_properties`` and are aggregated on the controller only (state in ``config.stash``), so
``pytest -n N`` produces the same report as a serial run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness import HarnessError
from harness.benchmark import Benchmark, BenchmarkConfig
from harness.cassettes import RECORD_MODES
from harness.data import AGREEMENTS, FPB_ENV
from harness.splits import DEFAULT_SEED, METHODS
from harness import tracking
from harness.tasks import DEFAULT_TASK, registry

PROPERTY = "harness_case"
TASK_MARKER = "harness_task"
benchmark_key = pytest.StashKey[dict[str, Benchmark]]()
sigterm_key = pytest.StashKey[Any]()
aggregator_key = pytest.StashKey["Aggregator"]()


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "fine-tune or prompt: benchmark harness")
    add = group.addoption
    add("--harness-data", metavar="DIR", default=None,
        help=f"Folder with the Financial PhraseBank Sentences_*.txt files. Default: ${FPB_ENV}, then the "
             "Hugging Face hub, then the project's small synthetic sample (flagged in every report).")
    add("--harness-predictions", metavar="DIR", default=None,
        help="Folder with the published GPT-4 / gpt-3.5-turbo replies (Shah & Chava 2023). Default: "
             "$FPB_PREDICTIONS_DIR, then fpb_llm_predictions_shah_chava_2023 beside the FPB folder.")
    add("--harness-agreement", default="allagree", choices=sorted(AGREEMENTS),
        help="FPB agreement level to split. Default: %(default)s.")
    add("--harness-split", default="published", choices=METHODS,
        help="published = train_test_split(test_size=0.2, random_state=seed) in file order; stratified = "
             "the same, stratified by label. Default: %(default)s.")
    add("--harness-seed", type=int, default=DEFAULT_SEED,
        help="Split seed (published seeds: 5768, 78516, 944601). Default: %(default)s.")
    add("--harness-models", type=_csv, default=None, metavar="A,B",
        help="Comma-separated model names. Default: tfidf-logreg,smollm2-135m,published-gpt-4,published-gpt-3.5-turbo.")
    add("--harness-strategies", type=_csv, default=None, metavar="A,B",
        help="Only these strategies (zero_shot, few_shot, cot, supervised, published_zero_shot). Default: all.")
    add("--harness-limit", type=int, default=None, metavar="N", help="Evaluate only the first N test examples.")
    add("--harness-shots", type=int, default=2, metavar="K", help="few_shot examples per label. Default: %(default)s.")
    add("--harness-batch-size", type=int, default=16, metavar="N",
        help="Batch size of local models. Default: %(default)s.")
    add("--harness-bootstrap", type=int, default=1000, metavar="N",
        help="Bootstrap resamples for the 95%% CIs. Default: %(default)s.")
    add("--record-mode", default="none", choices=RECORD_MODES,
        help="API calls: none = replay cassettes only, never the network (default); once = record pairs that "
             "have no cassette; new_episodes = replay what is recorded, record the rest; all = re-record.")
    add("--harness-cassette-dir", metavar="DIR", default=None, help="Cassette folder. Default: cassettes/ in the repo.")
    add("--harness-cassette-prompts", action="store_true", default=False,
        help="Store prompt text in new cassettes (default: only a sha256 digest of each request body).")
    add("--harness-api-concurrency", type=int, default=4, metavar="N",
        help="Concurrent API calls per pair. Default: %(default)s.")
    add("--harness-price", action="append", default=[], metavar="MODEL=IN,OUT",
        help="A user-given price in USD per 1M tokens for a model missing from harness/prices.toml (repeatable).")
    add("--harness-task-option", action="append", default=[], metavar="TASK.KEY=VALUE",
        help="A setting of one task, e.g. tatqa.subset=all (every test_gold question) or tatqa.subset=40 "
             "(repeatable; each task documents its keys).")
    add("--harness-report-dir", metavar="DIR", default=None,
        help="Where reports are written. Default: reports/ under the rootdir.")
    # decision report: costs, run history, CI gate (harness.economics, harness.history, harness.gate)
    add("--harness-dollars-per-hour", type=float, default=None, metavar="USD",
        help="Price local models' measured time at this USD per hour. Default: the cpu machine marked default "
             "in harness/prices.toml [machines].")
    add("--harness-machine", default=None, metavar="NAME",
        help="Price local time at this [machines] entry of harness/prices.toml (e.g. aws-g5.xlarge).")
    add("--harness-monthly-volume", type=int, default=100_000, metavar="N",
        help="Requests per month for the fine-tuning payback period. Default: %(default)s.")
    add("--harness-save", default=None, metavar="NAME",
        help="Name of this run in reports/runs/NNNN_NAME.json (every run is saved). "
             "Default: <commit>_<date>_<time>[_uncommitted-changes].")
    add("--harness-compare", nargs="?", const="", default=None, metavar="N",
        help="Compare with saved run N (a number or part of its name); without a value: the previous run.")
    add("--harness-gate", nargs="?", const="baselines/fpb-sentiment.json", default=None, metavar="PATH",
        help="Fail the run when a row is worse than its baseline beyond --harness-gate-margin with statistical "
             "support, or its parse failures / API cost exceed the limits. Default PATH: %(const)s.")
    add("--harness-gate-margin", type=float, default=0.02, metavar="F1",
        help="Non-inferiority margin in weighted F1. Default: %(default)s.")
    add("--harness-gate-parse-slack", type=float, default=0.02, metavar="RATE",
        help="Allowed rise of the parse-failure rate over the baseline (absolute). Default: %(default)s.")
    add("--harness-gate-cost-slack", type=float, default=0.10, metavar="FRACTION",
        help="Allowed rise of billed/estimated API cost per 1k over the baseline (relative). Default: %(default)s.")
    add("--harness-mlflow", type=tracking.mode, default=tracking.default_mode(), metavar="{auto,off,on}",
        help=f"Log the run to MLflow ($MLFLOW_TRACKING_URI, else sqlite in the report dir): auto = when mlflow is "
             f"installed; on = required ({tracking.INSTALL}). Default: ${tracking.MODE_ENV}, else auto.")


def _config(config: pytest.Config, task: str = DEFAULT_TASK) -> BenchmarkConfig:
    opt = config.getoption
    kwargs: dict[str, Any] = dict(
        data_dir=opt("harness_data"), predictions_dir=opt("harness_predictions"),
        agreement=opt("harness_agreement"), split=opt("harness_split"), seed=opt("harness_seed"),
        strategies=opt("harness_strategies"), limit=opt("harness_limit"), shots_per_label=opt("harness_shots"),
        batch_size=opt("harness_batch_size"), bootstrap=opt("harness_bootstrap"),
        record_mode=opt("record_mode"), cassette_dir=opt("harness_cassette_dir"),
        keep_prompts=opt("harness_cassette_prompts"), api_concurrency=opt("harness_api_concurrency"),
        price_overrides=tuple(opt("harness_price")), task=task, task_options=tuple(opt("harness_task_option")),
    )
    if opt("harness_models") is not None:  # an empty list is an error, never the defaults
        kwargs["models"] = opt("harness_models")
    return BenchmarkConfig(**kwargs)


def get_benchmark(config: pytest.Config, task: str = DEFAULT_TASK) -> Benchmark:
    """The run's benchmark of ``task``, built on first use (a plain ``pytest tests`` never loads FPB)."""
    benchmarks = config.stash.setdefault(benchmark_key, {})
    if task not in benchmarks:
        try:
            benchmarks[task] = Benchmark(_config(config, task))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return benchmarks[task]


def _task_of(node: Any) -> str:
    """The task a suite names with ``pytest.mark.harness_task("name")``; FPB sentiment when it names none."""
    marker = node.get_closest_marker(TASK_MARKER)
    return str(marker.args[0]) if marker is not None and marker.args else DEFAULT_TASK


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


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM takes Ctrl-C's path: pytest stops, pytest_sessionfinish writes the report of the cases that
    # finished, marked partial. Only where nobody else handles SIGTERM, and only from the main thread.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        config.stash[sigterm_key] = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    config.addinivalue_line("markers", f"{TASK_MARKER}(name): the benchmark task of a suite (harness.tasks)")
    for task in registry().values():
        config.addinivalue_line("markers", f"{task.marker}: {task.description}")
    if not hasattr(config, "workerinput"):  # the controller (or a serial run) aggregates
        aggregator = Aggregator(config)
        config.stash[aggregator_key] = aggregator
        config.pluginmanager.register(aggregator, "harness-aggregator")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistCounts(aggregator), "harness-xdist-counts")


def pytest_unconfigure(config: pytest.Config) -> None:
    if sigterm_key in config.stash and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, config.stash[sigterm_key])
    aggregator = config.stash.get(aggregator_key, None)
    if aggregator is not None:
        del config.stash[aggregator_key]
        config.pluginmanager.unregister(aggregator)
        counts = config.pluginmanager.get_plugin("harness-xdist-counts")
        if counts is not None:
            config.pluginmanager.unregister(counts)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if PROPERTY not in metafunc.fixturenames:
        return
    task = _task_of(metafunc.definition)
    if _deselected_by_markexpr(metafunc.config, {m.name for m in metafunc.definition.iter_markers()}):
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
    for model, strategy in bench.pairs:
        group = pytest.mark.xdist_group(name=f"{model}-{strategy}")
        for index, example in enumerate(bench.test):
            params.append(pytest.param((task, model, strategy, index), id=f"{model}-{strategy}-{example.id}",
                                       marks=group))
    metafunc.parametrize(PROPERTY, params, indirect=True)


@pytest.fixture
def harness_case(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run one model × strategy × example and attach the result to the report."""
    task, model, strategy, index = request.param
    try:
        result = get_benchmark(request.config, task).case(model, strategy, index).to_dict()
    except HarnessError as exc:
        pytest.fail(f"{model} · {strategy}: {exc}", pytrace=False)
    request.node.user_properties.append((PROPERTY, result))
    return result


class Aggregator:
    """Controller-only: collects cases from reports, draws progress, writes the report at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cases: list[dict[str, Any]] = []
        self.expected: Counter[tuple[str, str, str]] = Counter()
        """Items per (task, model, strategy)."""
        self.done: Counter[tuple[str, str, str]] = Counter()
        self.started: dict[tuple[str, str, str], float] = {}
        self.outcome: Any = None
        """What :func:`harness.session.finish` wrote (a SessionOutcome), once the session has finished."""
        self._last_draw = 0.0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec is not None and PROPERTY in callspec.params:
                task, model, strategy, _ = callspec.params[PROPERTY]
                self.expected[(task, model, strategy)] += 1

    def count_collected(self, ids: list[str]) -> None:
        """Under xdist the controller collects nothing: count the items a worker collected."""
        if self.expected:
            return
        params = {i.rsplit("[", 1)[-1].rstrip("]") for i in ids if "[" in i}
        for task in registry().values():
            if _deselected_by_markexpr(self.config, {task.marker}) or (
                    task.name != DEFAULT_TASK and not self.config.getoption("markexpr", "")):
                continue
            bench = get_benchmark(self.config, task.name)
            for model, strategy in bench.pairs:
                n = sum(1 for e in bench.test if f"{model}-{strategy}-{e.id}" in params)
                if n:
                    self.expected[(task.name, model, strategy)] = n

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        if report.when == "call" and report.passed and any(k == PROPERTY for k, _ in report.user_properties):
            return "passed", "", "PASSED"  # the pair progress lines replace the dots
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.cases.append(value)
                self._progress((value["task"], value["model"], value["strategy"]))

    def _progress(self, pair: tuple[str, str, str]) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        now = time.perf_counter()
        self.started.setdefault(pair, now)
        self.done[pair] += 1
        total = self.expected.get(pair) or self.done[pair]
        done = self.done[pair]
        if reporter is None or self.config.getoption("verbose") > 0:
            return
        elapsed = now - self.started[pair]
        width = 24
        filled = int(width * done / total)
        eta = elapsed / done * (total - done)
        line = (f"{'' if pair[0] == DEFAULT_TASK else pair[0] + ' · '}{pair[1]} · {pair[2]}  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
                f"{elapsed:.0f} s elapsed" + (f", ETA {eta:.0f} s" if done < total else ""))
        tty = reporter.isatty()
        if done == 1 and tty:
            reporter.write("\n" + line)
        elif tty and (done >= total or now - self._last_draw > 0.5):
            reporter.rewrite(line, erase=True)
        elif done >= total:
            reporter.write("\n" + line)
        self._last_draw = now

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.cases:
            return
        from harness import session as session_mod

        opt = self.config.getoption
        gate_path = None
        if opt("harness_gate") is not None:
            gate_path = Path(opt("harness_gate"))
            gate_path = gate_path if gate_path.is_absolute() else self.config.rootpath / gate_path
        options = session_mod.SessionOptions(
            root=self.config.rootpath,
            report_dir=Path(opt("harness_report_dir") or self.config.rootpath / "reports"),
            dollars_per_hour=opt("harness_dollars_per_hour"), machine=opt("harness_machine"),
            monthly_volume=opt("harness_monthly_volume"), save=opt("harness_save"), compare=opt("harness_compare"),
            gate=gate_path, gate_margin=opt("harness_gate_margin"), gate_parse_slack=opt("harness_gate_parse_slack"),
            gate_cost_slack=opt("harness_gate_cost_slack"), mlflow=opt("harness_mlflow"))
        benches = {name: get_benchmark(self.config, name) for name in {c["task"] for c in self.cases}}
        try:
            self.outcome = session_mod.finish(benches, self.cases, self.expected, options)
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
        if self.outcome.gate_result is not None and self.outcome.gate_result.failed:
            session.testsfailed += 1
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        outcome = getattr(self, "outcome", None)
        if outcome is None or outcome.report is None:
            return
        from harness import report as report_mod

        tr = terminalreporter
        for name, lines in outcome.task_lines.items():
            tr.write_sep("=", f"{name} leaderboard")
            for line in lines:
                tr.write_line(line, red=line.startswith(("PARTIAL", "!!!")))
        main = outcome.reports.get(outcome.main) if outcome.main else None
        if main is not None:
            tr.write_sep("=", f"{main['task']} leaderboard")
            for line in report_mod.header_lines(main):
                tr.write_line(line, red="SAMPLE" in line or line.startswith("PARTIAL"), bold="SAMPLE" in line)
            for line in report_mod.cost_lines(main):
                tr.write_line(line)
            for line in report_mod.text_table(report_mod.leaderboard(main)):
                tr.write_line(line)
            for line in report_mod.comparison_lines(main):
                tr.write_line(line, bold=" BETTER " in line or " WORSE " in line)
            for line in outcome.history_lines:
                tr.write_line(line)
            if outcome.gate_result is not None:
                failed = outcome.gate_result.failed
                tr.write_sep("=", f"quality gate vs {outcome.gate_result.baseline}: {'FAILED' if failed else 'passed'}",
                             red=failed)
                for line in outcome.gate_result.lines():
                    tr.write_line(line, red=line.startswith("FAIL"), green=line.startswith("PASS"))
        shown = [str(p) for name in [n for n in outcome.paths if n != outcome.main] + [outcome.main]
                 if name in outcome.paths for p in outcome.paths[name].values()]
        tr.write_line("harness reports: " + ", ".join(shown))
        for line in outcome.tracking_lines:
            tr.write_line(line, red=line.startswith("WARNING") or ": WARNING" in line)


class _XdistCounts:
    """The one xdist hook, registered only when xdist is loaded (pluggy rejects unknown hooks)."""

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.aggregator.count_collected(ids)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if os.environ.get(FPB_ENV) or config.getoption("harness_data"):
        return [f"harness: FPB from {config.getoption('harness_data') or os.environ[FPB_ENV]}"]
    return None
