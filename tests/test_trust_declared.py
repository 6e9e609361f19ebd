"""Trust II (issue 26): the declared-task surface as hard as FPB's. Each case is a bad input a hostile user
could give (synthetic data written here in tmp_path, never FPB text) and its clear error, raised when the task
is declared or loaded: before any case runs. A clear error is a HarnessError that says what was expected, what
came and the fix, and names what it is about (the file, the row, the option)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import refused
from harness import ClassificationTask, gate
from harness.__main__ import main as harness_main
from harness.benchmark import BenchmarkConfig
from harness.models import published
from harness.tasks import check_declared_once, register
from harness.tasks.base import Task
from harness.tasks.fpb.data import parse_fpb_bytes
from harness.tasks.names import MAX_NAME, RESERVED

LABELS = ["billing", "outage", "feature"]
TEXTS = {"billing": "I was charged twice for plan {i} in month {j}.",
         "outage": "Service {i} has been down since day {j}.",
         "feature": "Please add export option {i} to report {j}."}
SHIPPED_REPLIES = Path(__file__).resolve().parents[2] / "shared" / "data" / published.DEFAULT_FOLDER


def rows(n: int = 10, labels=LABELS) -> list[tuple[str, str]]:
    return [(TEXTS[label].format(i=i, j=i * 7 % 13), label) for i in range(n) for label in labels]


def write_csv(path: Path, data, header=("body", "team"), delimiter=",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(data)
    return path


def declare(**kwargs) -> ClassificationTask:
    spec = {"name": "tickets", "data": "data.csv", "text": "body", "label": "team", "labels": LABELS,
            "instruction": "Route the support ticket to its team.", "seed": 1}
    return ClassificationTask(**{**spec, **kwargs})


def load(tmp_path: Path, **kwargs):
    return declare(**kwargs).load(BenchmarkConfig(root=str(tmp_path)))



# -- counted twice: one task, two test functions ---------------------------------------------------------------
def _cases(*functions: str, n: int = 3):
    return [(("tickets", "tfidf-logreg", "supervised", i), f"{f}[tfidf-logreg-supervised-id{i}]")
            for f in functions for i in range(n)]


def test_the_same_task_in_two_suite_files_is_refused_before_any_case():
    message = refused(lambda: check_declared_once(_cases("suites/test_a.py::test_a", "suites/test_b.py::test_b")),
                      "'tickets'", "suites/test_a.py::test_a", "suites/test_b.py::test_b", "twice")
    assert "[" not in message  # the test functions, not one item id


def test_one_test_function_per_task_passes():
    check_declared_once(_cases("suites/test_a.py::test_a") + [
        (("other", "m", "s", 0), "suites/test_b.py::test_b[m-s-id0]")])


# -- a name that collides with the report folder's own files, or too long -----------------------------------------
@pytest.mark.parametrize("name", [*RESERVED, "Summary", "tickets-splits", "tickets_predictions", "x" * 300])
def test_a_name_that_would_lose_a_report_is_refused_at_declaration(name):
    message = refused(lambda: declare(name=name), "name")
    assert "collides" in message or f"at most {MAX_NAME}" in message


def test_a_custom_task_with_a_colliding_name_is_refused_by_the_registry():
    class Summary(Task):
        name, marker, template_version, labels = "summary", "summary", "1", ("a", "b")

        def load(self, config):  # pragma: no cover - never reached
            raise AssertionError

        def request(self, data, strategy, index):  # pragma: no cover
            raise AssertionError

        def parse(self, data, index, reply):  # pragma: no cover
            raise AssertionError

    refused(lambda: register(Summary(), "suites/test_summary.py"), "suites/test_summary.py", "summary.md")


# -- a test_size that leaves a side without every label ------------------------------------------------------------
@pytest.mark.parametrize("test_size", [0.995, 0.005])
def test_a_test_size_that_starves_a_side_is_refused_with_the_counts(tmp_path, test_size):
    write_csv(tmp_path / "data.csv", rows())
    message = refused(lambda: load(tmp_path, test_size=test_size), f"test_size={test_size}", "data.csv",
                      "of 30", "3 labels", "a test_size from 0.100 to 0.900")
    assert "ValueError" not in message


# -- data taken silently ----------------------------------------------------------------------------------------------
def test_a_json_list_in_the_text_field_is_refused(tmp_path):
    lines = [json.dumps({"body": text, "team": label}) for text, label in rows()]
    lines[4] = json.dumps({"body": ["a", "list"], "team": "billing"})
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    refused(lambda: load(tmp_path, data="data.jsonl"), "data.jsonl:5", "column 'body'", "a JSON list")


@pytest.mark.parametrize("labels", [["billing", "out\nage", "feature"], ["billing", "outage\t", "fea\x07ture"],
                                    {"bill\ning": "billing", "outage": "outage"}])
def test_a_label_with_a_control_character_is_refused(labels):
    refused(lambda: declare(labels=labels), "control character")


def test_cp1252_bytes_in_an_fpb_file_are_named():
    raw = b"Sales rose .@positive\r\nThe company\x92s profit fell \x96 sharply .@negative\r\n"
    message = refused(lambda: parse_fpb_bytes(raw, source="Sentences_X.txt", id_prefix="t"),
                      "Sentences_X.txt:2", "0x92", "0x96", "cp1252", "iconv -f CP1252 -t LATIN1")
    assert "\u2019" in message  # what 0x92 was meant to be


def _shipped_name() -> str:
    return next(n for n in published.SHIPPED_SHA256 if n.startswith("gpt4_") and "_5768_" in n)


def test_an_edited_published_replies_file_is_refused_with_both_hashes(tmp_path):
    path = tmp_path / _shipped_name()
    path.write_bytes(b"original_sent,text_output\r\nSales of unit 0 rose .,positive\r\n")
    test = [published.Example(id="t0", text="Sales of unit 0 rose .", label="positive")]
    message = refused(lambda: published.PublishedReplies("published-gpt-4", path, test), str(path),
                      published.SHIPPED_SHA256[path.name], "restore the original")
    assert __import__("hashlib").sha256(path.read_bytes()).hexdigest() in message


@pytest.mark.skipif(not SHIPPED_REPLIES.is_dir(), reason="the published replies folder is not beside the checkout")
def test_the_pinned_hashes_are_those_of_the_shipped_files():
    for name, digest in published.SHIPPED_SHA256.items():
        assert published.check_shipped((SHIPPED_REPLIES / name).read_bytes(), SHIPPED_REPLIES / name) == digest


# -- errors that point the right way ----------------------------------------------------------------------------------
def test_a_valid_csv_with_a_5_mb_field_is_read(tmp_path):
    data = rows()
    data[0] = ("word " * 1_000_000 + "charged twice.", "billing")
    write_csv(tmp_path / "data.csv", data)
    loaded = load(tmp_path)
    assert max(len(e.text) for e in (*loaded.train, *loaded.test)) > 5_000_000


def test_the_data_line_counts_the_exact_repeats_a_declared_task_dropped(tmp_path):
    from harness.report import header_lines

    data = rows()
    write_csv(tmp_path / "data.csv", data + data[:2] + data[:1])  # 3 exact repeats (same text, same label)
    meta = load(tmp_path).meta
    assert meta["data"]["exact_repeats_dropped"] == 3 and meta["data"]["examples"] == 30
    line = header_lines({**meta, "task": "tickets", "rows": []})[0]
    assert ", 30 examples, 0 duplicate lines kept, 3 exact repeats (same text and label) dropped, 0 conflicting" in line
    write_csv(tmp_path / "data.csv", data)
    assert "exact repeats" not in header_lines({**load(tmp_path).meta, "task": "tickets", "rows": []})[0]


def test_a_semicolon_separated_csv_says_so(tmp_path):
    write_csv(tmp_path / "data.csv", rows(), delimiter=";")
    refused(lambda: load(tmp_path), "data.csv:1", ";-separated", "delimiter=';'")


def test_an_unterminated_quote_is_reported_where_it_opens(tmp_path):
    body = "body,team\n" + "".join(f'"{t}",{label}\n' for t, label in rows()[:5])
    body += '"Service 9 is down,outage\n' + "".join(f'"{t}",{label}\n' for t, label in rows()[6:])
    (tmp_path / "data.csv").write_text(body)
    refused(lambda: load(tmp_path), "data.csv:7", "line 7")


def test_text_and_label_naming_one_column_is_refused_at_declaration():
    refused(lambda: declare(text="team", label="team"), "text='team'", "label='team'", "two different columns")


def test_labels_that_differ_only_by_case_say_so():
    message = refused(lambda: declare(labels=["positive", "Positive"]), "differ only by case", "case-insensitively")
    assert "e.g. 'Positive'" not in message


@pytest.mark.parametrize("data, parts", [
    (rows(10, ["billing"]), ("all labelled 'billing'",)),
    (rows(2)[:5], ("cannot split 5 examples", "at least 10")),
    (rows() + [("A lone request.", "other")], ("label 'other' has one item",)),
], ids=["one-class", "five-rows", "a-label-with-one-item"])
def test_a_file_too_small_to_split_is_named(tmp_path, data, parts):
    write_csv(tmp_path / "data.csv", data)
    labels = LABELS + ["other"] if any(label == "other" for _, label in data) else LABELS
    refused(lambda: load(tmp_path, labels=labels), str(tmp_path / "data.csv"), *parts)


# -- baselines: never replaced without asking, their stated F1 checked --------------------------------------------------
def _report(tmp_path: Path) -> Path:
    gold = "012" * 10
    preds = {"m · s": "012" * 9 + "021", "api · zero_shot": "012" * 8 + "x00000"}
    report = {
        "task": "tickets", "partial": [],
        "split": {"method": "stratified", "seed": 1, "n_test": 30, "n_evaluated": 30,
                  "test_fingerprint": "sha256:0123456789abcdef"},
        "rows": [{"model": name.split(" · ")[0], "strategy": name.split(" · ")[1], "n": 30,
                  "weighted_f1": _f1(gold, codes), "weighted_f1_ci95": [0.5, 1.0], "accuracy": 0.9,
                  "parse_failures": codes.count("x"), "errors": 0, "cost": {"per_1k_usd": 1.0, "basis": "billed"}}
                 for name, codes in preds.items()],
        "items": {"labels": LABELS, "ids": [f"id{i}" for i in range(30)], "gold": gold, "preds": preds},
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def _f1(gold: str, codes: str) -> float:
    from harness.metrics import weighted_f1

    return weighted_f1([LABELS[int(g)] for g in gold], [None if c == "x" else LABELS[int(c)] for c in codes], LABELS)


def test_baseline_over_an_existing_one_needs_overwrite(tmp_path, capsys):
    report, out = _report(tmp_path), tmp_path / "baselines" / "tickets.json"
    assert harness_main(["baseline", str(report), "--out", str(out)]) == 0
    before = out.read_bytes()
    assert harness_main(["baseline", str(report), "--out", str(out), "--rows", "m · s"]) == 2
    assert out.read_bytes() == before
    err = capsys.readouterr().err
    assert "existing baseline" in err and "--overwrite" in err and str(out) in err
    assert harness_main(["baseline", str(report), "--out", str(out), "--rows", "m · s", "--overwrite"]) == 0
    assert list(json.loads(out.read_text())["rows"]) == ["m · s"]


@pytest.mark.parametrize("field, value, part", [("weighted_f1", 0.99, "weighted_f1 0.99 but its codes give"),
                                                ("n", 31, "n 31 but codes for 30 items")])
def test_a_baseline_whose_stated_numbers_were_edited_is_refused_naming_the_row(tmp_path, field, value, part):
    out = gate.write_baseline(_report(tmp_path), tmp_path / "b.json")
    assert gate.load_baseline(out)["rows"]["m · s"]["weighted_f1"] == _f1("012" * 10, "012" * 9 + "021")
    baseline = json.loads(out.read_text())
    baseline["rows"]["api · zero_shot"][field] = value
    out.write_text(json.dumps(baseline))
    refused(lambda: gate.load_baseline(out), str(out), "rows['api · zero_shot']", part,
            "python -m harness baseline", "--overwrite")


# -- one run as a user would: the colliding name stops the run before any case, nothing is overwritten -------------
def test_a_suite_declaring_a_task_named_summary_stops_before_any_case(tmp_path):
    import os
    import subprocess
    import sys

    write_csv(tmp_path / "data.csv", rows())
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "summary.md").write_text("the last run's summary\n")
    (tmp_path / "test_summary.py").write_text(
        "import pytest\nfrom harness import ClassificationTask\n"
        "TASK = ClassificationTask(name='summary', data='data.csv', text='body', label='team', "
        f"labels={LABELS!r}, instruction='Route it.')\npytestmark = pytest.mark.harness_task(TASK)\n"
        "def test_summary(harness_case):\n    assert harness_case['error'] is None\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "test_summary.py", "-p", "no:cacheprovider",
                             "--harness-models=tfidf-logreg", f"--rootdir={tmp_path}"], cwd=tmp_path,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_MLFLOW": "off"},
                            capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "name='summary'" in output and "summary.md" in output, output[-3000:]
    assert " passed" not in output and "Traceback" not in output
    assert (tmp_path / "reports" / "summary.md").read_text() == "the last run's summary\n"


@pytest.mark.slow
def test_one_task_declared_in_two_suites_stops_before_any_case(tmp_path):
    from conftest import run_pytest

    write_csv(tmp_path / "data.csv", rows())
    suite = ("import pytest\nfrom harness import ClassificationTask\n"
             "TASK = ClassificationTask(name='tickets', data='data.csv', text='body', label='team', "
             f"labels={LABELS!r}, instruction='Route it.')\npytestmark = pytest.mark.harness_task(TASK)\n"
             "def test_tickets(harness_case):\n    assert harness_case['error'] is None\n")
    (tmp_path / "test_a.py").write_text(suite)
    (tmp_path / "test_b.py").write_text(suite)
    ran = run_pytest("test_a.py", "test_b.py", "--harness-models=tfidf-logreg", f"--rootdir={tmp_path}",
                     cwd=tmp_path, env={"HARNESS_MLFLOW": "off"})
    output = ran.stdout + ran.stderr
    assert ran.returncode == 4 and "test_a.py::test_tickets and test_b.py::test_tickets" in output, ran
    assert " passed" not in output and not (tmp_path / "reports" / "tickets.json").exists()
