"""The controller's side of a run: it collects each case from its test report, draws the progress lines, and
writes every report at the end (through :func:`harness.session.finish`).

Only :mod:`harness.plugin` uses this module. Results ride on each item's ``user_properties`` and are read
here from ``pytest_runtest_logreport``, which runs on the controller for every worker's reports, so
``pytest -n N`` produces the same report as a serial run (pytest's junitxml pattern). The aggregator lives in
``config.stash`` of the controller (or of a serial run) only.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from harness import progress
from harness import tasks as task_registry
from harness.options import get_benchmark, session_options
from harness.tasks import DEFAULT_TASK, registry

if TYPE_CHECKING:
    from harness.session import SessionOutcome

PROPERTY = "harness_case"
"""The ``user_properties`` key (and the fixture's name) a case's result rides on."""
WORKER_COUNTS = "harness_item_counts"
"""The ``workeroutput`` key of an xdist worker's item counts per pair."""
Pair = progress.Pair
aggregator_key = pytest.StashKey["Aggregator"]()
sigterm_key = pytest.StashKey[Any]()


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise KeyboardInterrupt("SIGTERM")


def take_sigterm(config: pytest.Config) -> None:
    """Once harness cases are in the run: SIGTERM takes Ctrl-C's path, so pytest stops and
    pytest_sessionfinish writes the report of the cases that finished, marked partial. Only where nobody
    else handles SIGTERM, and only from the main thread."""
    if sigterm_key in config.stash:
        return
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        config.stash[sigterm_key] = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def give_back_sigterm(config: pytest.Config) -> None:
    """The SIGTERM handler as it was before :func:`take_sigterm`."""
    if sigterm_key in config.stash and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, config.stash[sigterm_key])


def register(config: pytest.Config) -> None:
    """On the controller (or a serial run): the aggregator, and its xdist hook when xdist is loaded."""
    if hasattr(config, "workerinput"):
        return
    aggregator = Aggregator(config)
    config.stash[aggregator_key] = aggregator
    config.pluginmanager.register(aggregator, "harness-aggregator")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistCounts(aggregator), "harness-xdist-counts")


def unregister(config: pytest.Config) -> None:
    aggregator = config.stash.get(aggregator_key, None)
    if aggregator is None:
        return
    aggregator.stop_heartbeat()
    del config.stash[aggregator_key]
    config.pluginmanager.unregister(aggregator)
    counts = config.pluginmanager.get_plugin("harness-xdist-counts")
    if counts is not None:
        config.pluginmanager.unregister(counts)


def count_items(config: pytest.Config, counts: Counter[Pair]) -> None:
    """This process's harness items per pair: to the aggregator here, or (an xdist worker) to the controller."""
    aggregator = config.stash.get(aggregator_key, None)
    if aggregator is not None:
        aggregator.count_pairs(counts)
    if hasattr(config, "workerinput"):
        config.workeroutput[WORKER_COUNTS] = [[*pair, n] for pair, n in counts.items()]


class Aggregator:
    """Controller-only: collects cases from reports, draws progress, writes the report at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cases: list[dict[str, Any]] = []
        self.expected: Counter[Pair] = Counter()
        """Items per (task, model, strategy)."""
        self.done: Counter[Pair] = Counter()
        self.started: dict[Pair, float] = {}
        self.running: Pair | None = None
        """The pair whose item started last (the heartbeat reports it)."""
        self._heartbeat: threading.Event | None = None
        self.outcome: SessionOutcome | None = None
        """What :func:`harness.session.finish` wrote, once the session has finished."""
        self._last_draw = 0.0

    def count_pairs(self, counts: Counter[Pair]) -> None:
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
                take_sigterm(self.config)
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

    def _pair_of(self, nodeid: str) -> Pair | None:
        if "[" not in nodeid:
            return None
        param = nodeid.rsplit("[", 1)[1].rstrip("]")
        matches = [p for p in self.expected if param.startswith(f"{p[1]}-{p[2]}-")]
        return next((p for p in matches if self.done[p] < self.expected[p]), matches[0] if matches else None)

    def _beat(self, reporter: Any, stop: threading.Event) -> None:
        while not stop.wait(progress.HEARTBEAT_S):
            pair = self.running
            if pair is not None and self.done[pair] < (self.expected.get(pair) or 0):
                line = progress.heartbeat_line(*self._counts(pair, time.perf_counter()))
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

    def _counts(self, pair: Pair, now: float) -> tuple[str, int, int, float]:
        """The pair's name, items done, items expected and seconds since its first item started."""
        done, total = self.done[pair], self.expected.get(pair) or max(1, self.done[pair])
        return progress.pair_name(pair, DEFAULT_TASK), done, total, now - self.started.get(pair, now)

    def _progress(self, pair: Pair) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        now = time.perf_counter()
        self.started.setdefault(pair, now)
        self.done[pair] += 1
        total = self.expected.get(pair) or self.done[pair]
        if reporter is None or self.config.getoption("verbose") > 0:
            return
        how = progress.draw(self.done[pair], total, tty=reporter.isatty(), since_last_draw=now - self._last_draw)
        if how is None:
            return
        line = progress.progress_line(*self._counts(pair, now))
        if how == "write":
            reporter.write("\n" + line)
        else:
            reporter.rewrite(line, erase=True)
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
        outcome = self.outcome
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


class XdistCounts:
    """The one xdist hook, registered only when xdist is loaded (pluggy rejects unknown hooks): a worker's
    item counts per pair, sent when it finishes, so pairs that never started still count as expected."""

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        counts = (getattr(node, "workeroutput", None) or {}).get(WORKER_COUNTS) or []
        for task, model, strategy, n in counts:
            if task in registry():
                self.aggregator.count_pairs(Counter({(task, model, strategy): n}))
