"""The pytest surface of the harness: options, parametrization, one fixture, and the report hooks.

Installed as a ``pytest11`` entry point, it stays inert until a suite uses it (the ``harness_case`` fixture
with a ``harness_task`` marker): options are added, nothing is loaded, no signal handler is set and no
report is written otherwise. Every path (cassettes, adapters, baselines, reports, data) is resolved from
pytest's rootdir or an option, never from where the package is installed.

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
from harness.tasks.fpb.data import AGREEMENTS, FPB_ENV
from harness.splits import DEFAULT_SEED, METHODS
from harness import tracking
from harness import tasks as task_registry
from harness.tasks import DEFAULT_TASK, registry

PROPERTY = "harness_case"
TASK_MARKER = "harness_task"
benchmark_key = pytest.StashKey[dict[str, Benchmark]]()
session_options_key = pytest.StashKey[Any]()
counts_key = pytest.StashKey[Counter]()
WORKER_COUNTS = "harness_item_counts"
HEARTBEAT_S = 15.0
"""Without a terminal (CI logs), a progress line at least this often while a pair runs."""
sigterm_key = pytest.StashKey[Any]()
aggregator_key = pytest.StashKey["Aggregator"]()


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _recording_plugin_active(pluginmanager: pytest.PytestPluginManager) -> bool:
    """pytest-recording (the usual vcrpy plugin) defines ``--record-mode`` too, with the same modes plus
    ``rewrite``; when it is installed (and not disabled with ``-p no:recording``) the harness reads that
    option instead of adding its own, so both plugins work in one session."""
    import importlib.util

    return importlib.util.find_spec("pytest_recording") is not None and not pluginmanager.is_blocked("recording")


def record_mode(config: pytest.Config) -> str:
    """The run's ``--record-mode`` (the harness's or pytest-recording's; both default to replay only)."""
    mode = config.getoption("record_mode", None) or "none"
    if mode == "rewrite":
        raise pytest.UsageError("--record-mode=rewrite is pytest-recording's mode; the harness re-records its API "
                                "cassettes with --record-mode=all")
    return mode


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("harness", "fine-tune or prompt: benchmark harness")
    add = group.addoption
    add("--harness-data", metavar="DIR", default=None,
        help=f"FPB tasks: folder with the Financial PhraseBank Sentences_*.txt files. Default: ${FPB_ENV}, then the "
             "Hugging Face hub, then this repository's small synthetic sample (flagged in every report).")
    add("--harness-predictions", metavar="DIR", default=None,
        help="FPB tasks: folder with the published GPT-4 / gpt-3.5-turbo replies (Shah & Chava 2023). Default: "
             "$FPB_PREDICTIONS_DIR, then fpb_llm_predictions_shah_chava_2023 beside the FPB folder.")
    add("--harness-agreement", default="allagree", choices=sorted(AGREEMENTS),
        help="FPB tasks: agreement level to split. Default: %(default)s.")
    add("--harness-split", default="published", choices=METHODS,
        help="FPB tasks: published = train_test_split(test_size=0.2, random_state=seed) in file order; "
             "stratified = the same, stratified by label. Default: %(default)s.")
    add("--harness-seed", type=int, default=DEFAULT_SEED,
        help="Split seed (FPB's published seeds: 5768, 78516, 944601; a declared task's own seed= wins). "
             "Default: %(default)s.")
    add("--harness-models", type=_csv, default=None, metavar="A,B",
        help="Comma-separated model names. Default: the task's default models.")
    add("--harness-strategies", type=_csv, default=None, metavar="A,B",
        help="Only these strategies (zero_shot, few_shot, cot, supervised, published_zero_shot). Default: all.")
    add("--harness-limit", type=int, default=None, metavar="N", help="Evaluate only the first N test examples.")
    add("--harness-shots", type=int, default=2, metavar="K", help="few_shot examples per label. Default: %(default)s.")
    add("--harness-device", default="auto", choices=("auto", "cpu", "cuda"),
        help="Where local models run: auto = the GPU when CUDA is visible (bfloat16), else the CPU (float32). "
             "Default: %(default)s.")
    add("--harness-batch-size", type=int, default=16, metavar="N",
        help="Batch size of local models. Default: %(default)s.")
    add("--harness-batch-tokens", type=int, default=None, metavar="N",
        help="Local models: as many rows per forward pass as fit in N padded tokens (e.g. 16384 on a GPU), instead "
             "of --harness-batch-size rows. Default: rows.")
    add("--harness-bootstrap", type=int, default=1000, metavar="N",
        help="Bootstrap resamples for the 95%% CIs. Default: %(default)s.")
    if not _recording_plugin_active(pluginmanager):  # pytest-recording owns --record-mode when installed: one option for both
        add("--record-mode", default="none", choices=RECORD_MODES,
            help="API calls: none = replay cassettes only, never the network (default); once = record pairs that "
                 "have no cassette; new_episodes = replay what is recorded, record the rest; all = re-record.")
    add("--harness-cassette-dir", metavar="DIR", default=None,
        help="Cassette folder (relative to the rootdir). Default: cassettes/.")
    add("--harness-adapters-dir", metavar="DIR", default=None,
        help="Where adapter:<name> is found (relative to the rootdir). Default: adapters/.")
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
        help="Price local models' measured time at this USD per hour. Default, from harness/prices.toml "
             "[machines]: on the CPU the cpu machine marked default; on a GPU the gpu machine whose gpu_match "
             "names it (e.g. H100), else the gpu machine marked default.")
    add("--harness-machine", default=None, metavar="NAME",
        help="Price local time at this [machines] entry of harness/prices.toml (e.g. aws-g5.xlarge).")
    add("--harness-monthly-volume", type=int, default=100_000, metavar="N",
        help="Requests per month for the fine-tuning payback period. Default: %(default)s.")
    add("--harness-save", default=None, metavar="NAME",
        help="Name of this run in reports/runs/NNNN_NAME.json (every run is saved). "
             "Default: <commit>_<date>_<time>[_uncommitted-changes].")
    add("--harness-compare", nargs="?", const="", default=None, metavar="N",
        help="Compare with saved run N (a number or part of its name); without a value: the previous run.")
    add("--harness-gate", nargs="?", const="", default=None, metavar="PATH",
        help="Fail the run when a row is worse than its baseline beyond --harness-gate-margin with statistical "
             "support, or its parse failures / API cost exceed the limits. Default PATH: baselines/<task>.json.")
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
    fpb = [f"fpb.agreement={opt('harness_agreement')}", f"fpb.split={opt('harness_split')}"] + (
        [f"fpb.predictions={opt('harness_predictions')}"] if opt("harness_predictions") else [])
    kwargs: dict[str, Any] = dict(
        root=str(config.rootpath), data_dir=opt("harness_data"), seed=opt("harness_seed"),
        strategies=opt("harness_strategies"), limit=opt("harness_limit"), shots_per_label=opt("harness_shots"),
        batch_size=opt("harness_batch_size"), batch_tokens=opt("harness_batch_tokens"), bootstrap=opt("harness_bootstrap"),
        record_mode=record_mode(config), cassette_dir=opt("harness_cassette_dir"),
        adapters_dir=opt("harness_adapters_dir"), device=opt("harness_device"),
        keep_prompts=opt("harness_cassette_prompts"), api_concurrency=opt("harness_api_concurrency"),
        price_overrides=tuple(opt("harness_price")), task=task,
        task_options=tuple(fpb) + tuple(opt("harness_task_option")),
    )
    if opt("harness_models") is not None:  # an empty list is an error, never the defaults
        kwargs["models"] = opt("harness_models")
    return BenchmarkConfig(**kwargs)


def session_options(config: pytest.Config) -> Any:
    """The end-of-session options (report dir, prices, volume, gate), validated once, before any case runs."""
    if session_options_key not in config.stash:
        from harness import session as session_mod

        opt = config.getoption
        root = config.rootpath
        gate_path = None
        if opt("harness_gate") is not None:
            gate_path = Path(opt("harness_gate")) if opt("harness_gate") else None
            gate_path = gate_path if gate_path is None or gate_path.is_absolute() else root / gate_path
        report_dir = Path(opt("harness_report_dir")) if opt("harness_report_dir") else root / "reports"
        try:
            from harness import gate

            if opt("harness_gate") is not None:  # a bad limit or baseline stops the run now, not after every case
                gate.validate_limits(opt("harness_gate_margin"), opt("harness_gate_parse_slack"),
                                     opt("harness_gate_cost_slack"))
                if gate_path is not None:
                    gate.load_baseline(gate_path)
            config.stash[session_options_key] = session_mod.SessionOptions(
                root=root, report_dir=report_dir if report_dir.is_absolute() else root / report_dir,
                dollars_per_hour=opt("harness_dollars_per_hour"), machine=opt("harness_machine"),
                monthly_volume=opt("harness_monthly_volume"), save=opt("harness_save"), compare=opt("harness_compare"),
                gate=gate_path, gate_default=opt("harness_gate") == "", gate_margin=opt("harness_gate_margin"),
                gate_parse_slack=opt("harness_gate_parse_slack"), gate_cost_slack=opt("harness_gate_cost_slack"),
                mlflow=opt("harness_mlflow"))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[session_options_key]


def get_benchmark(config: pytest.Config, task: str = DEFAULT_TASK) -> Benchmark:
    """The run's benchmark of ``task``, built on first use (a plain ``pytest tests`` never loads FPB).
    The session's options are validated first, so a bad price or volume stops the run before any case."""
    benchmarks = config.stash.setdefault(benchmark_key, {})
    if task not in benchmarks:
        session_options(config)
        try:
            benchmarks[task] = Benchmark(_config(config, task))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return benchmarks[task]


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


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise KeyboardInterrupt("SIGTERM")


def _take_sigterm(config: pytest.Config) -> None:
    """Once harness cases are in the run: SIGTERM takes Ctrl-C's path, so pytest stops and
    pytest_sessionfinish writes the report of the cases that finished, marked partial. Only where nobody
    else handles SIGTERM, and only from the main thread."""
    if sigterm_key in config.stash:
        return
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        config.stash[sigterm_key] = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def pytest_configure(config: pytest.Config) -> None:
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
        aggregator.stop_heartbeat()
        del config.stash[aggregator_key]
        config.pluginmanager.unregister(aggregator)
        counts = config.pluginmanager.get_plugin("harness-xdist-counts")
        if counts is not None:
            config.pluginmanager.unregister(counts)


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


class Aggregator:
    """Controller-only: collects cases from reports, draws progress, writes the report at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cases: list[dict[str, Any]] = []
        self.expected: Counter[tuple[str, str, str]] = Counter()
        """Items per (task, model, strategy)."""
        self.done: Counter[tuple[str, str, str]] = Counter()
        self.started: dict[tuple[str, str, str], float] = {}
        self.running: tuple[str, str, str] | None = None
        """The pair whose item started last (the heartbeat reports it)."""
        self._heartbeat: threading.Event | None = None
        self.outcome: Any = None
        """What :func:`harness.session.finish` wrote (a SessionOutcome), once the session has finished."""
        self._last_draw = 0.0

    def count_pairs(self, counts: Counter[tuple[str, str, str]]) -> None:
        """Items per pair, from this process's collection or (under xdist, where the controller collects
        nothing) from a worker's: every worker collects every item, so any worker's count is the total."""
        for pair, n in counts.items():
            self.expected[pair] = max(self.expected.get(pair, 0), n)

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        if report.when == "call" and report.passed and any(k == PROPERTY for k, _ in report.user_properties):
            return "passed", "", "PASSED"  # the pair progress lines replace the dots
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == PROPERTY:
                ref = value.pop("task_ref", None)
                total = value.pop("pair_total", None)
                if ref is not None and ref["name"] not in registry():
                    task_registry.from_reference(ref)  # under xdist the controller never imported the suite
                if total:
                    self.count_pairs(Counter({(value["task"], value["model"], value["strategy"]): total}))
                _take_sigterm(self.config)
                self.cases.append(value)
                self._progress((value["task"], value["model"], value["strategy"]))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """A pair's clock starts when its first item starts, so the model's load is counted; without a
        terminal (CI logs) a heartbeat line is printed at least every HEARTBEAT_S seconds while a pair runs."""
        pair = self._pair_of(nodeid)
        if pair is None:
            return
        self.started.setdefault(pair, time.perf_counter())
        self.running = pair
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self._heartbeat is None and reporter is not None and not reporter.isatty() \
                and self.config.getoption("verbose") <= 0:
            self._heartbeat = threading.Event()
            threading.Thread(target=self._beat, args=(reporter, self._heartbeat), daemon=True,
                             name="harness-heartbeat").start()

    def _pair_of(self, nodeid: str) -> tuple[str, str, str] | None:
        if "[" not in nodeid:
            return None
        param = nodeid.rsplit("[", 1)[1].rstrip("]")
        matches = [p for p in self.expected if param.startswith(f"{p[1]}-{p[2]}-")]
        return next((p for p in matches if self.done[p] < self.expected[p]), matches[0] if matches else None)

    def _beat(self, reporter: Any, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            pair = self.running
            if pair is not None and self.done[pair] < (self.expected.get(pair) or 0):
                line = self._line(pair, time.perf_counter()) + "  (running)"
                capture = self.config.pluginmanager.get_plugin("capturemanager")
                try:  # a case is running: its output is being captured, so step around the capture to print
                    if capture is not None:
                        with capture.global_and_fixture_disabled():
                            reporter.write("\n" + line)  # not write_line: pytest would repeat the file name
                    else:
                        reporter.write("\n" + line)
                except Exception:  # noqa: BLE001 - a progress line is never worth failing a run
                    pass
                self._last_draw = time.perf_counter()

    def _line(self, pair: tuple[str, str, str], now: float) -> str:
        done, total = self.done[pair], self.expected.get(pair) or max(1, self.done[pair])
        elapsed = now - self.started.get(pair, now)
        width = 24
        filled = int(width * done / total)
        eta = f", ETA {elapsed / done * (total - done):.0f} s" if 0 < done < total else ""
        name = ("" if pair[0] == DEFAULT_TASK else pair[0] + " · ") + f"{pair[1]} · {pair[2]}"
        return f"{name}  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {elapsed:.0f} s elapsed{eta}"

    def _progress(self, pair: tuple[str, str, str]) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        now = time.perf_counter()
        self.started.setdefault(pair, now)
        self.done[pair] += 1
        total = self.expected.get(pair) or self.done[pair]
        done = self.done[pair]
        if reporter is None or self.config.getoption("verbose") > 0:
            return
        line = self._line(pair, now)
        tty = reporter.isatty()
        if done == 1 and tty:
            reporter.write("\n" + line)
        elif tty and (done >= total or now - self._last_draw > 0.5):
            reporter.rewrite(line, erase=True)
        elif not tty and (done >= total or now - self._last_draw >= HEARTBEAT_S):
            reporter.write("\n" + line)
        else:
            return
        self._last_draw = now

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.set()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.stop_heartbeat()
        if not self.cases:
            return
        from harness import session as session_mod

        options = session_options(self.config)
        benches = {name: get_benchmark(self.config, name) for name in {c["task"] for c in self.cases}}
        try:
            self.outcome = session_mod.finish(benches, self.cases, self.expected, options)
        except Exception as exc:  # noqa: BLE001 - the files written so far stay; the run says what failed and fails
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            message = f"harness: writing the reports failed after the cases ran ({type(exc).__name__}: {exc}); " \
                      f"the files already in {options.report_dir} are kept"
            if reporter is not None:
                reporter.write_line(message, red=True)
            session.testsfailed += 1
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if self.outcome.failures:
            session.testsfailed += 1
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
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
            for line in report_mod.terminal_lines(main):  # verdict first, at most ~140 columns; not-run rows last
                tr.write_line(line, red="SAMPLE" in line or line.startswith(("PARTIAL", "!!!")),
                              bold=line.startswith(("VERDICT", "!!!")) or "SAMPLE" in line)
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
        for line in outcome.failures:
            tr.write_line(f"FAILED after the cases ran (the reports above are written): {line}", red=True)


class _XdistCounts:
    """The one xdist hook, registered only when xdist is loaded (pluggy rejects unknown hooks): a worker's
    item counts per pair, sent when it finishes, so pairs that never started still count as expected."""

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        counts = (getattr(node, "workeroutput", None) or {}).get(WORKER_COUNTS) or []
        for task, model, strategy, n in counts:
            if task in registry():
                self.aggregator.count_pairs(Counter({(task, model, strategy): n}))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Count the harness items per (task, model, strategy): the progress totals and the partial-run check."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and PROPERTY in callspec.params:
            task, model, strategy, _ = callspec.params[PROPERTY]
            counts[(task, model, strategy)] += 1
    config.stash[counts_key] = counts
    if not counts:
        return
    _take_sigterm(config)
    aggregator = config.stash.get(aggregator_key, None)
    if aggregator is not None:
        aggregator.count_pairs(counts)
    if hasattr(config, "workerinput"):
        config.workeroutput[WORKER_COUNTS] = [[*pair, n] for pair, n in counts.items()]


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if os.environ.get(FPB_ENV) or config.getoption("harness_data"):
        return [f"harness: FPB from {config.getoption('harness_data') or os.environ[FPB_ENV]}"]
    return None
