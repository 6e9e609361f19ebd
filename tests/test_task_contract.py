"""The Task contract (harness.tasks.base): the abstract base class and its defaults, the registry's check
that refuses anything else with a clear error, options that reach a task through the run's configuration,
and a run that leaves the shared, registered task as it found it."""

from __future__ import annotations

import pytest

from harness import HarnessError
from harness.benchmark import BenchmarkConfig
from harness.example import Example
from harness.tasks import Task, TaskData, get_task, register, registry
from harness.tasks.training import TrainingRequest


class Minimal(Task):
    """A task with only what is required: the three abstract methods and three names."""

    name = "minimal-contract"
    marker = "minimal_contract"
    template_version = "minimal-v1"
    labels = ("up", "down")

    def load(self, config):
        return TaskData(test=(Example("m-1", "sales rose", "up"),))

    def request(self, data, strategy, index):
        raise NotImplementedError

    def parse(self, data, index, reply):
        return reply if reply in self.labels else None


def test_a_task_without_its_abstract_methods_cannot_be_made():
    class NoParse(Task):
        name, marker, template_version = "no-parse", "no_parse", "v1"

        def load(self, config):
            return TaskData(test=())

        def request(self, data, strategy, index):
            raise NotImplementedError

    with pytest.raises(TypeError, match="parse"):
        NoParse()


def test_every_optional_member_has_a_default():
    task = Minimal()
    data = task.load(BenchmarkConfig())
    assert task.version == 1 and task.description == "" and task.strategies == ("zero_shot",)
    assert task.default_models == ("smollm2-135m",) and task.adapter_stem == "minimal-contract"
    assert task.history is False and task.published_replies is False and task.companion_of is None
    assert task.model_problem(data, "smollm2-135m", "zero_shot") is None and task.spec() is None
    with pytest.raises(HarnessError, match="task 'minimal-contract' cannot be fine-tuned"):
        task.training_data(TrainingRequest(seed=1))
    with pytest.raises(HarnessError, match="--teacher applies to FPB sentiment only"):
        task.teacher_labels("published-gpt-4", TrainingRequest(seed=1))
    with pytest.raises(HarnessError, match="defines no companion_table"):
        task.companion_table({})


def test_a_task_with_labels_is_reported_by_the_classification_report(monkeypatch, tmp_path):
    from harness import report as report_mod

    calls = []
    monkeypatch.setattr(report_mod, "build_report", lambda meta, cases, **kw: calls.append(("build", meta, kw)) or {})
    monkeypatch.setattr(report_mod, "write", lambda report, cases, directory, texts: calls.append(("write", texts)) or {})
    monkeypatch.setattr(report_mod, "terminal_lines", lambda report: calls.append(("lines",)) or ["a line"])

    class Run:
        data = TaskData(test=())

        def meta(self):
            return {"task": "minimal-contract"}

    task = Minimal()
    task.build_report(Run(), [], seed=1)
    task.write_report({}, [], tmp_path, {"m-1": "sales rose"})
    assert task.terminal_lines({}) == ["a line"]
    assert calls == [("build", {"task": "minimal-contract"}, {"labels": ("up", "down"), "seed": 1}),
                     ("write", {"m-1": "sales rose"}), ("lines",)]


def test_a_task_without_labels_must_report_itself():
    class Unlabelled(Minimal):
        name = "unlabelled-contract"
        labels = None

    with pytest.raises(HarnessError, match="no label set, so it must report itself: define build_report, "
                                           "write_report, terminal_lines"):
        register(Unlabelled(), "test_task_contract.py")
    with pytest.raises(HarnessError, match="no label set, so it must report itself"):
        Unlabelled().terminal_lines({})


def test_a_companion_must_say_what_table_it_shows():
    class Companion(Minimal):
        name = "companion-contract"
        companion_of = "fpb-sentiment"

    with pytest.raises(HarnessError, match="sets companion_of='fpb-sentiment' but defines no companion_table"):
        register(Companion(), "test_task_contract.py")


class LooksLikeATask:
    """Every member of a task, but not a Task subclass: duck typing is not enough."""

    name, marker, template_version, labels = "duck", "duck", "duck-v1", ("a", "b")

    def load(self, config): ...
    def request(self, data, strategy, index): ...
    def parse(self, data, index, reply): ...


@pytest.mark.parametrize("thing", [LooksLikeATask(), "tatqa ", 42, None], ids=["duck", "string", "number", "none"])
def test_a_non_task_object_is_refused_with_a_clear_error(thing):
    with pytest.raises(HarnessError, match=r"is not a harness task: expected an instance of a harness.tasks.Task "
                                           r"subclass, e\.g\. ClassificationTask"):
        register(thing, "suites/test_duck.py")
    assert "duck" not in registry()


def test_a_task_missing_a_required_name_is_refused():
    class Nameless(Task):
        marker, template_version = "nameless", "v1"

        def load(self, config): ...
        def request(self, data, strategy, index): ...
        def parse(self, data, index, reply): ...

    with pytest.raises(HarnessError, match="has no 'name': a Task subclass sets name, marker and template_version"):
        register(Nameless(), "here")


def test_options_reach_a_task_through_the_config():
    config = BenchmarkConfig(task_options=("tfns.cot=1", "tfns.data=/x", "fpb.split=stratified", "tatqa.subset=all"))
    assert config.options_for("tfns") == {"cot": "1", "data": "/x"}
    assert config.options_for("fpb") == {"split": "stratified"} and config.options_for("nobody") == {}


@pytest.mark.parametrize("name, option", [("tfns", "tfns.cot=1"), ("fpb-slices", "fpb-slices.cot=1")])
def test_a_run_keeps_its_state_in_its_data_not_on_the_shared_task(name, option, fpb_dir, tfns_data):
    task = get_task(name)
    before = dict(vars(task))
    opted = task.load(BenchmarkConfig(task=name, data_dir=str(fpb_dir), limit=3, task_options=(option,)))
    plain = task.load(BenchmarkConfig(task=name, data_dir=str(fpb_dir), limit=3))
    assert vars(task) == before  # two runs of one process share the registered task: it holds no run's options
    assert task.model_problem(opted, "smollm2-135m", "cot") is None
    assert "--harness-task-option" in task.model_problem(plain, "smollm2-135m", "cot")
