"""Trust (issue 17): bad inputs to the guarded reader, the gate and its baseline, the run history and the
published replies, one case per row.

Each case asserts its class: a clear error (a HarnessError that names the file, says what was expected and
what came, and gives the fix) or a counted failure (a ``FAIL`` line of the gate). None may crash with a bare
traceback, hang (named pipes are read in a thread with a join timeout), or silently pass.
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from harness import HarnessError, files, gate, history
from harness.metrics import weighted_f1

LABELS = ["positive", "negative", "neutral"]
N = 40
PROMPT_S = 10.0
"""How long a read may take before it counts as a hang (a guarded read of a pipe returns at once)."""


# -- helpers ----------------------------------------------------------------------------------------------------
def promptly(call: Callable[[], Any], *, unblock: Path | None = None) -> Any:
    """``call()`` run in a thread that must finish within PROMPT_S seconds; its result, or its exception
    re-raised. ``unblock``: a named pipe to open for writing if the call hangs, so the thread can end."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(PROMPT_S)
    if thread.is_alive():
        if unblock is not None:
            try:
                os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        pytest.fail(f"hung: still running after {PROMPT_S} s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def clear(exc: BaseException, *parts: str) -> str:
    """Assert a HarnessError says what was expected, what came and the fix, and holds every part."""
    assert type(exc) is HarnessError, f"{type(exc).__name__}: {exc}"
    message = str(exc)
    for word in ("expected", "got", "fix"):
        assert word in message, f"no {word!r} in: {message}"
    for part in parts:
        assert part in message, f"no {part!r} in: {message}"
    return message


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _codes(rng: np.random.Generator, gold: str, accuracy: float) -> str:
    return "".join(g if rng.random() < accuracy else str((int(g) + 1) % 3) for g in gold)


def _f1(gold: str, codes: str) -> float:
    """The weighted F1 a row's codes give (a baseline's stated F1 is checked against them when read)."""
    held = [(g, c) for g, c in zip(gold, codes) if "-" not in (g, c)]
    return weighted_f1([LABELS[int(g)] for g, _ in held], [None if c == "x" else LABELS[int(c)] for _, c in held],
                       LABELS)


def make_report(rows: dict[str, str] | None = None, gold: str | None = None) -> dict[str, Any]:
    """A complete synthetic report (no text): two rows on N items."""
    rng = np.random.default_rng(0)
    gold = gold or "".join(rng.choice(list("012"), size=N))
    rows = rows or {"m · s": _codes(rng, gold, 0.9), "api · zero_shot": _codes(rng, gold, 0.8)}
    return {
        "task": "fpb-sentiment", "partial": [],
        "split": {"method": "published", "seed": 5768, "n_test": len(gold), "n_evaluated": len(gold),
                  "test_fingerprint": "sha256:0123456789abcdef"},
        "rows": [{"model": name.split(" · ")[0], "strategy": name.split(" · ")[1], "n": len(gold),
                  "weighted_f1": _f1(gold, codes), "weighted_f1_ci95": [0.7, 0.9], "accuracy": 0.8, "parse_failures": 0,
                  "errors": 0, "cost": {"per_1k_usd": 1.0, "basis": "billed"}} for name, codes in rows.items()],
        "items": {"labels": LABELS, "ids": [f"id{i}" for i in range(len(gold))], "gold": gold, "preds": dict(rows)},
    }


@pytest.fixture
def report() -> dict[str, Any]:
    return make_report()


@pytest.fixture
def baseline(report) -> dict[str, Any]:
    return gate.baseline_from_report(report)


def gate_lines(report: dict[str, Any], baseline: dict[str, Any]) -> gate.GateResult:
    return gate.check(report, baseline, name="b.json", resamples=200)


# -- the guarded reader: what is at the path ----------------------------------------------------------------------
def _socket(tmp: Path) -> Path:
    path = tmp / "s"
    if len(str(path)) > 100:
        pytest.skip("tmp path too long for a Unix socket")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


def _broken_link(tmp: Path) -> Path:
    (tmp / "link").symlink_to(tmp / "gone")
    return tmp / "link"


def _link_to_fifo(tmp: Path) -> Path:
    fifo(tmp / "pipe")
    (tmp / "link").symlink_to(tmp / "pipe")
    return tmp / "link"


def _through_a_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("x")
    return tmp / "plain" / "child.json"


PATHS = {
    "missing-file": (lambda t: t / "absent.json", "nothing at that path"),
    "a-folder": (lambda t: t, "got a folder"),
    "named-pipe": (lambda t: fifo(t / "pipe"), "a named pipe (FIFO)"),
    "link-to-a-named-pipe": (_link_to_fifo, "a named pipe (FIFO)"),
    "character-device": (lambda t: Path("/dev/null"), "a character device"),
    "unix-socket": (_socket, "a socket"),
    "broken-symlink": (_broken_link, "a broken symbolic link"),
    "path-through-a-file": (_through_a_file, "not a folder"),
    "nul-in-path": (lambda t: Path(str(t) + "/a\x00b"), "ValueError"),
}


@pytest.mark.parametrize("reader", ["read_bytes", "read_text", "read_json"])
@pytest.mark.parametrize("make, message", PATHS.values(), ids=PATHS.keys())
def test_guarded_reader_refuses_what_is_not_a_regular_file(tmp_path, reader, make, message):
    path = make(tmp_path)
    with pytest.raises(HarnessError) as info:
        promptly(lambda: getattr(files, reader)(path, what="thing"), unblock=path)
    clear(info.value, "thing", message)


def test_guarded_reader_names_a_file_it_may_not_read(tmp_path, monkeypatch):
    path = tmp_path / "locked.json"
    path.write_text("{}")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads every file: refuse the open as the kernel would for anyone else
        real_open = os.open

        def refuse(name, *args, **kwargs):
            if Path(name) == path:
                raise PermissionError(13, "Permission denied", str(name))
            return real_open(name, *args, **kwargs)

        monkeypatch.setattr(files.os, "open", refuse)
    try:
        with pytest.raises(HarnessError) as info:
            files.read_json(path, what="baseline")
        clear(info.value, str(path), "permission denied")
    finally:
        path.chmod(0o644)


CONTENTS = {
    "latin-1-bytes": (b'{"a": "caf\xe9"}', "expected UTF-8 text, got undecodable bytes at offset 10"),
    "utf-16-with-bom": ('{"a": 1}'.encode("utf-16"), "the file is UTF-16"),
    "binary-with-nul": (b"\x00\x01\x02\xff\xfe", "NUL bytes"),
    "empty-file": (b"", "got an empty file"),
    "only-whitespace": (b"  \n\t\n", "got an empty file"),
    "truncated-json": (b'{"baseline_version": 1, "rows": {', "invalid JSON at line 1"),
    "json-with-trailing-garbage": (b'{"a": 1} trailing', "invalid JSON at line 1 column 10"),
    "nested-too-deep": (b"[" * 100_000 + b"]" * 100_000, "nesting too deep"),
}


@pytest.mark.parametrize("raw, message", CONTENTS.values(), ids=CONTENTS.keys())
def test_guarded_reader_refuses_bytes_that_are_not_utf8_json(tmp_path, raw, message):
    path = tmp_path / "file.json"
    path.write_bytes(raw)
    with pytest.raises(HarnessError) as info:
        files.read_json(path, what="baseline")
    clear(info.value, str(path), message)


def test_guarded_reader_reads_regular_files_and_links_to_them(tmp_path):
    (tmp_path / "real.json").write_text('{"ok": "é"}', encoding="utf-8")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert files.read_json(tmp_path / "link.json") == {"ok": "é"}
    assert files.read_text(tmp_path / "real.json") == '{"ok": "é"}'


# -- a baseline that is valid JSON but malformed ---------------------------------------------------------------
def _set(path: str, value: Any) -> Callable[[dict], None]:
    """An edit that sets (or, with value ``...``, deletes) a dotted field; a row is ``rows.<name>``."""
    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[key.replace("_DOT_", ".")]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return edit


class Replaced:
    """What an edit returns when it replaces the whole baseline (even with ``None``)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _replace(value: Any) -> Callable[[dict], Replaced]:
    return lambda data: Replaced(value)


ROW = "rows.m · s"
MALFORMED = {
    "top-level-list": (_replace([1, 2]), "(top level)"),
    "top-level-null": (_replace(None), "got null"),
    "version-2": (_set("baseline_version", 2), "field baseline_version: expected 1, got the number 2"),
    "version-as-string": (_set("baseline_version", "1"), "field baseline_version: expected an integer"),
    "no-task": (_set("task", ...), "field task: expected a non-empty string, got no such field"),
    "empty-task": (_set("task", " "), "field task"),
    "split-not-an-object": (_set("split", "published"), "field split: expected an object"),
    "no-test-fingerprint": (_set("split.test_fingerprint", ...), "field split.test_fingerprint"),
    "labels-not-a-list": (_set("labels", "positive"), "field labels: expected a list"),
    "duplicate-labels": (_set("labels", ["positive", "positive", "neutral"]), "field labels: expected 1 to 10 distinct"),
    "ids-not-a-list": (_set("ids", {"a": 1}), "field ids: expected a list"),
    "duplicate-ids": (lambda d: d["ids"].__setitem__(1, d["ids"][0]), "field ids: expected distinct example ids"),
    "numeric-id": (lambda d: d["ids"].__setitem__(0, 7), "field ids: expected example ids (strings)"),
    "gold-too-short": (lambda d: d.__setitem__("gold", d["gold"][:-1]), f"field gold: expected one code per id ({N} "),
    "gold-code-out-of-range": (lambda d: d.__setitem__("gold", "7" + d["gold"][1:]), "field gold: expected only the codes"),
    "gold-as-list": (lambda d: d.__setitem__("gold", list(d["gold"])), "field gold: expected a string"),
    "rows-a-list": (_set("rows", [{"n": 1}]), "field rows: expected an object, got a list of 1"),
    "rows-empty": (_set("rows", {}), "a gate on nothing"),
    "row-a-number": (_set(ROW, 3), "field rows['m · s']: expected an object, got the number 3"),
    "row-without-n": (_set(ROW + ".n", ...), "field rows['m · s'].n: expected a count"),
    "row-negative-n": (_set(ROW + ".n", -1), "field rows['m · s'].n"),
    "row-n-boolean": (_set(ROW + ".n", True), "got the boolean true"),
    "row-parse-failures-float": (_set(ROW + ".parse_failures", 1.5), "field rows['m · s'].parse_failures"),
    "row-cost-string": (_set(ROW + ".cost_per_1k_usd", "$1"), "field rows['m · s'].cost_per_1k_usd"),
    "row-cost-nan": (_set(ROW + ".cost_per_1k_usd", float("nan")), "field rows['m · s'].cost_per_1k_usd"),
    "row-basis-number": (_set(ROW + ".cost_basis", 1), "field rows['m · s'].cost_basis"),
    "row-without-preds": (_set(ROW + ".preds", ...), "field rows['m · s'].preds: expected a string"),
    "row-preds-too-long": (lambda d: d["rows"]["m · s"].__setitem__("preds", d["rows"]["m · s"]["preds"] + "0"),
                           f"expected one code per id ({N} characters), got {N + 1}"),
    "row-preds-bad-code": (lambda d: d["rows"]["m · s"].__setitem__("preds", "q" * N), "got 'q' at position 0"),
    "row-holds-no-items": (_set(ROW + ".preds", "-" * N), "expected at least 2 evaluated items, got 0"),
    "partial-a-string": (_set("partial", "yes"), "field partial: expected a list of row names"),
}


@pytest.mark.parametrize("edit, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_baseline_names_the_file_and_the_field(tmp_path, baseline, edit, message):
    data = copy.deepcopy(baseline)
    replaced = edit(data)
    data = replaced.value if isinstance(replaced, Replaced) else data
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))  # NaN is written as the JSON literal NaN, which json.loads accepts
    with pytest.raises(HarnessError) as info:
        gate.load_baseline(path)
    clear(info.value, f"baseline {path}", message)
    with pytest.raises(HarnessError):  # check() on the same data: the same error, never a KeyError
        gate.check(make_report(), data, resamples=200)


def test_baseline_in_a_named_pipe_is_refused_at_once(tmp_path):
    path = fifo(tmp_path / "baseline.json")
    with pytest.raises(HarnessError) as info:
        promptly(lambda: gate.load_baseline(path), unblock=path)
    clear(info.value, str(path), "a named pipe")


# -- the gate refuses to pass on less than its baseline -----------------------------------------------------------
def _drop_row(report: dict, baseline: dict) -> None:
    report["rows"] = [r for r in report["rows"] if r["model"] != "api"]
    del report["items"]["preds"]["api · zero_shot"]


def _only_other_rows(report: dict, baseline: dict) -> None:
    for row in report["rows"]:
        row["model"] = "renamed"
    report["items"]["preds"] = {f"renamed · {k.split(' · ')[1]}": v for k, v in report["items"]["preds"].items()}


def _fewer_items(report: dict, baseline: dict) -> None:  # -k or --harness-limit: 10 of the 40 items
    items = report["items"]
    items["ids"], items["gold"] = items["ids"][:10], items["gold"][:10]
    items["preds"] = {k: v[:10] for k, v in items["preds"].items()}


def _items_dashed(report: dict, baseline: dict) -> None:  # the row has no case for half the items
    preds = report["items"]["preds"]
    preds["m · s"] = preds["m · s"][:20] + "-" * 20


def _other_split(report: dict, baseline: dict) -> None:
    report["split"].update(seed=78516, test_fingerprint="sha256:fedcba9876543210")


def _other_task(report: dict, baseline: dict) -> None:
    report["task"] = "tfns-sentiment"


def _partial_run(report: dict, baseline: dict) -> None:
    report["partial"] = ["m · s"]


def _partial_baseline(report: dict, baseline: dict) -> None:
    baseline["partial"] = ["api · zero_shot"]


def _partial_baseline_flag_true(report: dict, baseline: dict) -> None:
    baseline["partial"] = True


def _labels_reordered(report: dict, baseline: dict) -> None:
    report["items"]["labels"] = ["negative", "positive", "neutral"]


def _gold_changed(report: dict, baseline: dict) -> None:
    items = report["items"]
    items["gold"] = "".join(str((int(g) + 1) % 3) for g in items["gold"])


REFUSED = {
    "baseline-row-missing-from-run": (_drop_row, "rows", "expected all 2 baseline rows, compared 1: 1 missing from "
                                                         "this run (api · zero_shot)"),
    "run-has-only-other-rows": (_only_other_rows, "rows", "compared 0: 2 missing from this run (m · s, api · zero_shot)"),
    "fewer-items-than-baseline": (_fewer_items, "m · s", f"expected the {N} items the baseline holds for this row, "
                                                         "compared 10: 30 missing from this run (e.g. id10, id11, id12)"),
    "row-missing-half-its-items": (_items_dashed, "m · s", "compared 20: 20 missing"),
    "another-split": (_other_split, "split", "got published seed 78516"),
    "another-task": (_other_task, "task", "got a run of tfns-sentiment"),
    "partial-run": (_partial_run, "run", "expected a complete run, got a partial one (fewer cases than expected for m · s)"),
    "baseline-from-partial-run": (_partial_baseline, "baseline", "got one from a partial run (rows api · zero_shot)"),
    "baseline-partial-flag-true": (_partial_baseline_flag_true, "baseline", "partial run"),
    "labels-in-another-order": (_labels_reordered, "labels", "expected the baseline's labels"),
    "gold-labels-changed": (_gold_changed, "m · s", "gold labels differ"),
}


@pytest.mark.parametrize("edit, row, message", REFUSED.values(), ids=REFUSED.keys())
def test_gate_refuses_to_pass_on_less_than_its_baseline(report, baseline, edit, row, message):
    edit(report, baseline)
    result = gate_lines(report, baseline)
    assert result.failed, result.lines()
    failing = [c for c in result.checks if c.status == "FAIL" and c.row == row]
    assert failing and message in failing[0].message, result.lines()


def test_gate_passes_the_same_run_in_full(report, baseline):
    result = gate_lines(report, baseline)
    assert not result.failed and [c.status for c in result.checks] == ["PASS", "PASS"], result.lines()


LIMITS = {
    "nan-margin": (dict(margin=math.nan), "--harness-gate-margin=nan"),
    "negative-margin": (dict(margin=-0.1), "--harness-gate-margin=-0.1"),
    "infinite-cost-slack": (dict(cost_slack=math.inf), "--harness-gate-cost-slack=inf"),
    "parse-slack-above-1": (dict(parse_slack=2.0), "expected a rate between 0 and 1"),
}


@pytest.mark.parametrize("limits, message", LIMITS.values(), ids=LIMITS.keys())
def test_gate_limits_that_would_let_everything_pass_are_refused(report, baseline, limits, message):
    with pytest.raises(HarnessError) as info:
        gate.check(report, baseline, resamples=200, **limits)
    clear(info.value, message)


RUN_FIELDS = {
    "run-row-without-cost": (lambda r: r["rows"][0].pop("cost"), "field rows[0].cost"),
    "run-row-n-string": (lambda r: r["rows"][0].__setitem__("n", "40"), "field rows[0].n"),
    "run-without-items": (lambda r: r.pop("items"), "field items: expected an object, got no such field"),
    "run-without-split": (lambda r: r.pop("split"), "field split"),
    "run-rows-not-a-list": (lambda r: r.__setitem__("rows", {"m": 1}), "field rows: expected a list"),
    "run-same-row-twice": (lambda r: r["rows"].append(dict(r["rows"][0])), "got m · s twice"),
}


@pytest.mark.parametrize("edit, message", RUN_FIELDS.values(), ids=RUN_FIELDS.keys())
def test_malformed_run_report_is_a_clear_error_at_gate_time(report, baseline, edit, message):
    edit(report)
    with pytest.raises(HarnessError) as info:
        gate.check(report, baseline, resamples=200)
    clear(info.value, "report (this run)", message)


# -- writing a baseline ------------------------------------------------------------------------------------------
def _write_report(tmp: Path, report: dict) -> Path:
    path = tmp / "report.json"
    path.write_text(json.dumps(report))
    return path


WRITES = {
    "from-a-partial-report": (lambda t, r: (_write_report(t, {**r, "partial": ["m · s"]}), t / "b.json", None),
                              "expected a complete run, got a partial one"),
    "from-a-report-without-items": (lambda t, r: (_write_report(t, {k: v for k, v in r.items() if k != "items"}),
                                                  t / "b.json", None), "field items"),
    "from-a-report-without-split-fingerprint": (
        lambda t, r: (_write_report(t, {**r, "split": {"method": "published"}}), t / "b.json", None),
        "field split.test_fingerprint"),
    "from-a-named-pipe": (lambda t, r: (fifo(t / "report.json"), t / "b.json", None), "a named pipe"),
    "from-a-latin-1-file": (lambda t, r: ((t / "r.json").write_bytes(b'{"task": "caf\xe9"}') and t / "r.json",
                                          t / "b.json", None), "expected UTF-8 text"),
    "to-a-folder": (lambda t, r: (_write_report(t, r), t, None), "got a folder"),
    "to-a-path-under-a-file": (lambda t, r: (_write_report(t, r), t / "report.json" / "b.json", None),
                               "expected a writable path"),
    "with-an-unknown-row": (lambda t, r: (_write_report(t, r), t / "b.json", ["nope · zero_shot"]),
                            "expected rows nope · zero_shot, got m · s, api · zero_shot"),
}


@pytest.mark.parametrize("make, message", WRITES.values(), ids=WRITES.keys())
def test_writing_a_baseline_refuses_what_would_gate_wrongly(tmp_path, report, make, message):
    source, out, rows = make(tmp_path, report)
    with pytest.raises(HarnessError) as info:
        promptly(lambda: gate.write_baseline(source, out, rows), unblock=source)
    clear(info.value, message)
    assert not (tmp_path / "b.json").exists()


def test_a_written_baseline_reads_back_and_passes_its_own_run(tmp_path, report):
    out = gate.write_baseline(_write_report(tmp_path, report), tmp_path / "sub" / "b.json", ["m · s"])
    loaded = gate.load_baseline(out)
    assert loaded["partial"] == [] and list(loaded["rows"]) == ["m · s"]
    assert not gate.check(report, loaded, resamples=200).failed


# -- the run history ---------------------------------------------------------------------------------------------
def test_runs_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(HarnessError) as info:
        history.save({}, tmp_path / "runs", "x")
    clear(info.value, str(tmp_path / "runs"), "got a file", "--harness-report-dir")


def test_runs_folder_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "reports").write_text("not a folder")
    with pytest.raises(HarnessError) as info:
        history.save({}, tmp_path / "reports" / "runs", "x")
    clear(info.value, "expected a folder that can be created")


SAVED = {
    "not-json": (b"{not json", "invalid JSON"),
    "latin-1": (b'{"task": "caf\xe9"}', "expected UTF-8 text"),
    "a-list": (b"[]", "(top level): expected a JSON object"),
    "rows-not-a-list": (b'{"task": "t", "rows": {}}', "field rows: expected a list"),
    "row-without-model": (b'{"task": "t", "rows": [{"strategy": "s"}]}', "field rows[0].model"),
    "row-f1-a-string": (b'{"task": "t", "rows": [{"model": "m", "strategy": "s", "weighted_f1": "0.9"}]}',
                        "field rows[0].weighted_f1"),
    "items-gold-wrong-length": (json.dumps({**make_report(), "items": {**make_report()["items"], "gold": "01"}}).encode(),
                                "field items.gold: expected one code per id"),
    "items-preds-bad-code": (json.dumps({**make_report(), "items": {**make_report()["items"],
                                                                   "preds": {"m · s": "9" * N}}}).encode(),
                             "field items.preds['m · s']: expected only the codes"),
}


@pytest.mark.parametrize("raw, message", SAVED.values(), ids=SAVED.keys())
def test_damaged_saved_run_is_a_clear_error_for_compare(tmp_path, raw, message):
    path = tmp_path / "0001_old.json"
    path.write_bytes(raw)
    found = history.find(tmp_path, None)
    with pytest.raises(HarnessError) as info:
        history.load(found)
    clear(info.value, f"saved run {path}", message)


def test_saved_run_that_is_a_named_pipe_is_refused_at_once(tmp_path):
    path = fifo(tmp_path / "0001_old.json")
    with pytest.raises(HarnessError) as info:
        promptly(lambda: history.load(history.find(tmp_path, "1")), unblock=path)
    clear(info.value, "a named pipe")


def test_compare_with_a_run_of_another_task_is_refused(report):
    other = {**copy.deepcopy(report), "task": "tatqa"}
    with pytest.raises(HarnessError) as info:
        history.diff(report, other, resamples=200, seed=0)
    clear(info.value, "got one of task tatqa")


def test_compare_with_other_labels_is_not_paired_but_still_shown(report):
    other = copy.deepcopy(report)
    other["items"]["labels"] = ["neutral", "negative", "positive"]
    entries = history.diff(report, other, resamples=200, seed=0)
    assert [e["row"] for e in entries] == ["m · s", "api · zero_shot"]
    assert all("f1_difference" not in e for e in entries)
    assert history.diff_table(entries)[1][3] == "no shared items"


# -- published replies -------------------------------------------------------------------------------------------
@pytest.fixture
def published():
    from harness.models import published as module

    return module


def _test_split(module, n: int = 3) -> list:
    return [module.Example(id=f"t{i}", text=f"Sales of unit {i} rose .", label="positive") for i in range(n)]


def _csv(n: int = 3, *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    lines = ["original_sent,text_output"] + [f"Sales of unit {i} rose .,positive café" for i in range(n)]
    return (b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join(lines) + "\r\n").encode(encoding)


def _write(tmp: Path, raw: bytes) -> Path:
    path = tmp / "gpt4_FPB-sentiment-analysis-allagree_5768_x.csv"
    path.write_bytes(raw)
    return path


PUBLISHED_BAD = {
    "latin-1-csv": (lambda t: _write(t, _csv(encoding="latin-1")), "expected UTF-8 text, got undecodable bytes at offset"),
    "utf-16-csv": (lambda t: _write(t, _csv(encoding="utf-16")), "UTF-16"),
    "named-pipe": (lambda t: fifo(t / "gpt4_FPB-sentiment-analysis-allagree_5768_x.csv"), "a named pipe"),
    "folder-named-csv": (lambda t: (t / "gpt4_FPB-sentiment-analysis-allagree_5768_x.csv").mkdir() or
                         t / "gpt4_FPB-sentiment-analysis-allagree_5768_x.csv", "got a folder"),
    "empty-file": (lambda t: _write(t, b""), "got an empty file"),
    "no-text-output-column": (lambda t: _write(t, b"original_sent,reply\r\nSales of unit 0 rose .,positive\r\n"),
                              "missing ['text_output']"),
    "truncated-row": (lambda t: _write(t, b"original_sent,text_output\r\nSales of unit 0 rose .,positive\r\n"
                                          b"Sales of unit 1 rose .\r\n"), "row 2: expected a value in every column"),
    "field-over-csv-limit": (lambda t: _write(t, b"original_sent,text_output\r\nx," + b"y" * 200_000 + b"\r\n"),
                             "field larger than field limit"),
}


@pytest.mark.parametrize("make, message", PUBLISHED_BAD.values(), ids=PUBLISHED_BAD.keys())
def test_published_replies_file_gives_one_clear_error(tmp_path, published, make, message):
    path = make(tmp_path)
    found = published.find_file(tmp_path, "published-gpt-4", 5768)
    with pytest.raises(HarnessError) as info:
        promptly(lambda: published.PublishedReplies("published-gpt-4", found, _test_split(published)), unblock=path)
    clear(info.value, str(path), message)


FOLDERS = {
    "folder-missing": (lambda t: t / "absent", "got nothing at that path"),
    "folder-is-a-file": (lambda t: (t / "f").write_text("x") and t / "f", "got a file"),
    "no-file-for-the-seed": (lambda t: _other_seed(t), "got 0"),
    "two-files-for-the-seed": (lambda t: _two_files(t), "got 2 (gpt4_FPB-sentiment-analysis-allagree_5768_a.csv"),
}


def _other_seed(tmp: Path) -> Path:
    (tmp / "gpt4_FPB-sentiment-analysis-allagree_78516_x.csv").write_bytes(_csv())
    return tmp


def _two_files(tmp: Path) -> Path:
    for suffix in ("a", "b"):
        (tmp / f"gpt4_FPB-sentiment-analysis-allagree_5768_{suffix}.csv").write_bytes(_csv())
    return tmp


@pytest.mark.parametrize("make, message", FOLDERS.values(), ids=FOLDERS.keys())
def test_published_replies_folder_that_does_not_hold_one_file(tmp_path, published, make, message):
    with pytest.raises(HarnessError) as info:
        published.find_file(make(tmp_path), "published-gpt-4", 5768)
    clear(info.value, "published-gpt-4", message, published.PREDICTIONS_ENV)


def test_published_replies_with_a_bom_are_read(tmp_path, published):
    model = published.PublishedReplies("published-gpt-4", _write(tmp_path, _csv(bom=True)), _test_split(published))
    assert model.replies == {f"t{i}": "positive café" for i in range(3)}


def test_published_replies_asked_for_another_item_is_a_clear_error(tmp_path, published):
    model = published.PublishedReplies("published-gpt-4", _write(tmp_path, _csv()), _test_split(published))
    request = type("R", (), {"example": published.Example(id="other", text="x", label="neutral")})()
    with pytest.raises(HarnessError) as info:
        model.predict([request])
    clear(info.value, "published-gpt-4", "e.g. other")


# -- adapter cards and weights: checked in full before the first case, one "not run" reason ----------------
def _adapter_copy(tmp_path):
    import shutil

    from conftest import ROOT

    folder = tmp_path / "adapters" / "broken"
    shutil.copytree(ROOT / "adapters" / "fpb-sentiment-smollm2-135m", folder)
    return folder


def _card_edit(folder, **changes):
    card = json.loads((folder / "adapter_card.json").read_text())
    for key, value in changes.items():
        if value is _DROP:
            card.pop(key)
        else:
            card[key] = value
    (folder / "adapter_card.json").write_text(json.dumps(card))


_DROP = object()
ADAPTER_FAULTS = {
    "card-without-hyperparameters": (lambda f: _card_edit(f, hyperparameters=_DROP), "expected keys ['hyperparameters']"),
    "card-without-steps": (lambda f: _card_edit(f, steps=_DROP), "expected keys ['steps']"),
    "card-steps-a-string": (lambda f: _card_edit(f, steps="10"), "steps is '10', expected an int"),
    "card-empty-training-ids": (lambda f: _card_edit(f, train_example_ids=[]), "train_example_ids is empty"),
    "card-not-json": (lambda f: (f / "adapter_card.json").write_text("{not json"), "adapter card"),
    "card-a-list": (lambda f: (f / "adapter_card.json").write_text("[1, 2]"), "expected a JSON object, got list"),
    "weights-truncated": (lambda f: (f / "adapter_model.safetensors").write_bytes(
        (f / "adapter_model.safetensors").read_bytes()[:100_000]), "the file has 100000"),
    "weights-missing": (lambda f: (f / "adapter_model.safetensors").unlink(), "adapter weights"),
    "weights-garbage-header": (lambda f: (f / "adapter_model.safetensors").write_bytes(b"\x10" + b"\x00" * 7 + b"x" * 20),
                               "unreadable"),
    "card-a-pipe": (lambda f: ((f / "adapter_card.json").unlink(), os.mkfifo(f / "adapter_card.json")), "regular file"),
}


@pytest.mark.parametrize("fault, message", list(ADAPTER_FAULTS.values()), ids=list(ADAPTER_FAULTS))
def test_a_broken_adapter_is_one_clear_not_run_reason(tmp_path, fault, message):
    from harness.example import Example
    from harness.models import ModelContext, unavailable

    folder = _adapter_copy(tmp_path)
    fault(folder)
    ctx = ModelContext(train=(), test=(Example("t1", "x", "neutral"),), seed=5768, adapters_dir=tmp_path / "adapters",
                       template_version="fpb-sentiment-7cef03ee")
    result: list = []
    worker = threading.Thread(target=lambda: result.append(unavailable("adapter:broken", ctx)), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "reading the adapter blocked"
    assert result and result[0] and message in result[0], result
