"""The task registry, and the loaders of the tasks added on it (TAT-QA subset, TFNS, FPB agreement slices)."""

import json
import os
import textwrap
from pathlib import Path

import pytest

from harness import HarnessError
from harness.example import Example
from harness.tasks import Task, TaskData, get_task, registry
from harness.tasks.fpb.slices import BANDS, make_bands
from harness.tasks.tfns import LABEL_MAP, read_tfns

from conftest import ROOT, run_pytest, run_suite


def test_registry_finds_every_task_module_and_they_follow_the_protocol():
    tasks = registry()
    assert {"fpb-sentiment", "tatqa", "tfns", "fpb-slices"} <= set(tasks)
    for name, task in tasks.items():
        assert isinstance(task, Task) and task.name == name
    assert {t.marker for t in tasks.values()} >= {"sentiment", "qa", "tfns", "slices"}
    with pytest.raises(HarnessError, match="unknown task 'no-such-task'"):
        get_task("no-such-task")


TOY_TASK = '''
"""A toy task in one module: 'up' / 'down' words, a keyword parser, the classification report."""
from harness.example import Example
from harness.models.base import Request
from harness.tasks.fpb.prompts import Prompt
from harness.tasks import Task, TaskData

class Toy(Task):
    name = "toy"
    marker = "toy"
    description = "a toy task"
    labels = ("positive", "negative", "neutral")
    strategies = ("zero_shot",)
    template_version = "toy-1"
    default_models = ("tfidf-logreg",)

    def load(self, config):
        words = ("rose", "fell", "stayed")
        items = tuple(Example(f"toy-{i}", f"sales {words[i % 3]} in week {i}", self.labels[i % 3]) for i in range(30))
        return TaskData(test=items[:9], train=items[9:], meta={"split": {"n_evaluated": 9}})

    def request(self, data, strategy, index):
        prompt = Prompt(strategy, ({"role": "user", "content": data.test[index].text},), True, 4)
        return Request(example=data.test[index], prompt=prompt, labels=self.labels)

    def parse(self, data, index, reply):
        return reply if reply in self.labels else None

    def terminal_lines(self, report):
        return [f"toy rows: {len(report['rows'])}"]

    def write_report(self, report, cases, directory, texts):
        import json
        from pathlib import Path
        path = Path(directory) / "toy.json"
        path.write_text(json.dumps({"rows": [[r["model"], r["n"], r["weighted_f1"]] for r in report["rows"]]}))
        return {"json": path}

TASK = Toy()
'''

TOY_SUITE = '''
import pytest

pytestmark = [pytest.mark.toy, pytest.mark.harness_task("toy_task")]


def test_toy(harness_case):
    assert harness_case["gold"] in ("positive", "negative", "neutral")
'''


@pytest.mark.slow
def test_a_new_task_is_one_module_plus_its_suite(tmp_path):
    (tmp_path / "toy_task.py").write_text(TOY_TASK)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "test_toy.py").write_text(textwrap.dedent(TOY_SUITE))
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = run_pytest("suites", "-m", "toy", f"--harness-report-dir={tmp_path / 'reports'}", "--harness-bootstrap=100",
                        cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "9 passed" in result.stdout and "toy rows: 1" in result.stdout
    rows = json.loads((tmp_path / "reports" / "toy.json").read_text())["rows"]
    assert rows[0][:2] == ["tfidf-logreg", 9]


def test_tatqa_subset_is_stratified_seeded_and_in_file_order():
    from harness.tasks.tatqa.task import stratified_subset

    class Q:
        def __init__(self, uid, answer_type):
            self.uid, self.answer_type = uid, answer_type

    questions = tuple(Q(f"q{i}", t) for i, t in enumerate(["span"] * 50 + ["arithmetic"] * 40 + ["multi-span"] * 7 + ["count"] * 3))
    subset = stratified_subset(questions, 12, seed=1)
    kinds = [q.answer_type for q in subset]
    assert len(subset) == 12 and {k: kinds.count(k) for k in set(kinds)} == {"span": 4, "arithmetic": 4, "multi-span": 2, "count": 2}
    assert [q.uid for q in subset] == sorted((q.uid for q in subset), key=lambda u: int(u[1:]))
    assert stratified_subset(questions, 12, seed=1) == subset and stratified_subset(questions, 12, seed=2) != subset
    assert stratified_subset(questions, 500, seed=1) == questions
    with pytest.raises(HarnessError, match="at least 8"):
        stratified_subset(questions, 5, seed=1)


def test_tfns_reader_maps_labels_and_reads_quoted_commas(tmp_path):
    path = tmp_path / "sent_valid.csv"
    path.write_bytes(b'text,label\r\n$X - X pulls outlook,0\r\n"$Y up, target raised",1\r\nZ holds meeting,2\r\n')
    examples, sha = read_tfns(path, "valid")
    assert [(e.id, e.text, e.label) for e in examples] == [
        ("tfns-valid-R00001", "$X - X pulls outlook", "negative"),
        ("tfns-valid-R00002", "$Y up, target raised", "positive"),
        ("tfns-valid-R00003", "Z holds meeting", "neutral")]
    assert LABEL_MAP == {"0": "negative", "1": "positive", "2": "neutral"} and len(sha) == 64
    path.write_text("tweet,sentiment\nx,0\n")
    with pytest.raises(HarnessError, match="header 'text,label'"):
        read_tfns(path, "valid")
    path.write_text("text,label\nx,3\n")
    with pytest.raises(HarnessError, match="row 1"):
        read_tfns(path, "valid")


def test_agreement_bands_subtract_the_stricter_file_exclude_train_and_dedupe():
    def ex(level, i, text, label="neutral"):
        return Example(f"{level}-{i}", text, label)

    allagree = (ex("all", 1, "A rose"), ex("all", 2, "B fell"), ex("all", 3, "C same"))
    train, test = allagree[:2], allagree[2:]
    files = {
        "allagree": allagree,
        "75agree": allagree + (ex("75", 4, "D up"), ex("75", 5, "d  UP"), ex("75", 6, "E down")),
        "66agree": allagree + (ex("66", 4, "D up"), ex("66", 5, "d  UP"), ex("66", 6, "E down"), ex("66", 7, "F flat")),
        "50agree": allagree + (ex("50", 4, "D up"), ex("50", 5, "d  UP"), ex("50", 6, "E down"), ex("50", 7, "F flat"),
                               ex("50", 8, "a ROSE"), ex("50", 9, "G odd")),
    }
    bands, counts = make_bands(files, train, test)
    assert [b for b, _, _ in BANDS] == list(bands)
    assert [e.text for e in bands["100 (AllAgree test)"]] == ["C same"]
    assert [e.text for e in bands["75-99"]] == ["D up", "E down"]  # "d  UP" repeats "D up" after normalising
    assert counts["75-99"].to_json() == {"in_file": 6, "in_stricter_file": 3, "excluded_in_allagree_train": 0,
                               "repeats_dropped": 1, "kept": 2}
    assert [e.text for e in bands["66-74"]] == ["F flat"]
    assert [e.text for e in bands["50-65"]] == ["G odd"]  # "a ROSE" is AllAgree train, by normalised text
    assert counts["50-65"].excluded_in_allagree_train == 0 and counts["50-65"].in_stricter_file == 8
    assert counts["100 (AllAgree test)"].to_json() == {"in_file": 1, "kept": 1}  # no stricter file to subtract


@pytest.mark.slow
def test_one_session_runs_sentiment_and_qa_and_replays_the_recorded_qa_cassettes(fpb_dir, tmp_path):
    from harness.tasks.tatqa.data import DEFAULT_DIR, TATQA_ENV

    if not Path(os.environ.get(TATQA_ENV) or DEFAULT_DIR).is_dir():
        pytest.skip("TAT-QA data not found: set TATQA_DIR (../shared/data/tatqa)")
    if not (ROOT / "cassettes" / "tatqa" / "openai-smollm2-135m-instruct-q4_1" / "zero_shot.json").is_file():
        pytest.fail("cassettes/tatqa/openai-smollm2-135m-instruct-q4_1/zero_shot.json is missing (see cassettes/README.md)")
    env = {"FPB_DIR": str(fpb_dir), "OPENAI_BASE_URL": None}  # None: unset
    result = run_pytest("suites", "-m", "sentiment or qa",
                        "--harness-models=openai:smollm2-135m-instruct-q4_1", "--harness-strategies=zero_shot",
                        "--harness-limit=3", "--harness-bootstrap=100", f"--harness-report-dir={tmp_path}",
                        env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "tatqa leaderboard" in result.stdout and "fpb-sentiment leaderboard" in result.stdout
    sentiment = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    assert [(r["model"], r["n"]) for r in sentiment["rows"]] == [("openai:smollm2-135m-instruct-q4_1", 3)]
    qa = json.loads((tmp_path / "tatqa.json").read_text())
    (row,) = qa["rows"]
    assert (row["model"], row["strategy"], row["n"]) == ("openai:smollm2-135m-instruct-q4_1", "zero_shot", 3)
    assert row["latency"]["source"].startswith("recorded") and row["errors"] == 0
    assert qa["split"]["n_total"] == 1663 and qa["split"]["n_evaluated"] == 3
    assert set(row["per_type"]) <= {"span", "multi-span", "arithmetic", "count"}
    assert 0 <= row["em"] <= row["f1"] <= 1 and row["em_ci95"][0] <= row["em"] <= row["em_ci95"][1]
    assert [a["em"] for a in qa["anchors_em"]] == [71.9, 76.4, 84.1]
    assert qa["findings"][0].startswith("openai:smollm2-135m-instruct-q4_1 · zero_shot: EM ")
    markdown = (tmp_path / "tatqa.md").read_text()
    assert "evaluated 3 of 1663 test_gold questions" in markdown and "Where it fails" in markdown
    assert "not run: openai:" not in markdown  # only the named model was asked for


def test_api_timeout_can_be_raised_for_a_slow_local_server(monkeypatch, tmp_path):
    from harness.models.openai_chat import TIMEOUT_ENV, OpenAIChat

    def client_timeout():
        chat = OpenAIChat("openai:m", task="t", template_version="v", cassette_dir=tmp_path)
        return chat.client.timeout

    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert client_timeout() == 120.0
    monkeypatch.setenv(TIMEOUT_ENV, "900")
    assert client_timeout() == 900.0


@pytest.mark.slow
def test_the_sentiment_report_shows_the_slice_and_tfns_tables_run_in_the_same_session(fpb_dir, tfns_data, tmp_path):
    env = {"FPB_DIR": str(fpb_dir), "HARNESS_MLFLOW": "off"}
    result = run_pytest("suites", "-m", "sentiment or slices or tfns", "--harness-models=tfidf-logreg",
                        "--harness-limit=30", "--harness-bootstrap=100", f"--harness-report-dir={tmp_path}",
                        env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    slices = json.loads((tmp_path / "fpb-slices.json").read_text())
    tfns = json.loads((tmp_path / "tfns.json").read_text())
    sentiment = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    companions = {c["task"]: c for c in sentiment["companions"]}
    assert set(companions) == {"fpb-slices", "tfns"} and not any(c.get("not_run") for c in companions.values())
    band_row = companions["fpb-slices"]["table"][1]
    f1 = [rows[0]["weighted_f1"] for rows in slices["band_reports"].values()]
    assert list(slices["band_reports"]) == [band for band, _, _ in BANDS]
    assert band_row[:2] == ["tfidf-logreg", "supervised"] and band_row[2].startswith(f"{f1[0]:.3f} [")
    assert band_row[-1] == f"{f1[-1] - f1[0]:+.3f}"  # the drop from unanimous to the most contested band
    (tfns_row,) = tfns["rows"]
    assert companions["tfns"]["table"][1][3].startswith(f"{tfns_row['weighted_f1']:.3f} [")
    markdown = (tmp_path / "fpb-sentiment.md").read_text()
    assert "## Robustness: weighted F1 by annotator agreement" in markdown and "## Cross-domain: Twitter" in markdown
    assert "bearish -> negative" in markdown and "GPT-4o zero-shot (published) 0.740" in markdown
    html = (tmp_path / "fpb-sentiment.html").read_text()
    assert 'id="fpb-slices"' in html and 'id="tfns"' in html


@pytest.mark.slow
def test_a_sentiment_run_alone_says_how_to_add_the_companion_tables(fpb_dir, tmp_path):
    result = run_suite("--harness-models=tfidf-logreg", "--harness-limit=12", "--harness-bootstrap=100",
                       f"--harness-report-dir={tmp_path}", env={"FPB_DIR": str(fpb_dir), "HARNESS_MLFLOW": "off"})
    assert result.returncode == 0, result.stdout[-3000:]
    markdown = (tmp_path / "fpb-sentiment.md").read_text()
    assert 'not run in this session: add it with -m "sentiment or slices"' in markdown
    assert 'not run in this session: add it with -m "sentiment or tfns"' in markdown


def test_the_cot_opt_in_of_the_large_tasks_is_about_local_compute_only():
    for name in ("tfns", "fpb-slices"):
        task = get_task(name)
        plain, opted_in = TaskData(test=()), TaskData(test=(), extra={"cot": True})  # what load() keeps of the option
        assert "add it with --harness-task-option" in task.model_problem(plain, "smollm2-135m", "cot")
        assert task.model_problem(opted_in, "smollm2-135m", "cot") is None
        assert task.model_problem(plain, "openai:gpt-4o", "cot") is None  # an API pair is replayed or "not recorded"
