"""What every labelled-text classification task shares: prompts rendered through one
:class:`harness.prompts.Prompts`, the strict parser over the declared labels, and few-shot examples drawn
from the train side. FPB sentiment, its agreement slices, TFNS and a team's declared
:class:`harness.tasks.classification.ClassificationTask` are subclasses with their own loaders."""

from __future__ import annotations

from typing import Any

from harness.models.base import Request
from harness.models.registry import Role, role_of
from harness.parsing import parse_label
from harness.prompts import STRATEGIES, Prompts
from harness.tasks.base import Task, TaskData


class LabelledTextTask(Task):
    """Shared by the classification tasks: prompts, parser and few-shot examples over ``labels``.

    A subclass sets ``name``, ``marker``, ``description``, ``labels``, ``prompts`` and ``default_models``
    and implements :meth:`load` (and :meth:`training_data` if it can be fine-tuned on)."""

    strategies = STRATEGIES
    labels: tuple[str, ...]
    prompts: Prompts

    @property
    def template_version(self) -> str:  # type: ignore[override]
        return self.prompts.version

    def request(self, data: TaskData, strategy: str, index: int) -> Request:
        example = data.test[index]
        if strategy in STRATEGIES:
            prompt = self.prompts.render(strategy, example.text, shots=data.shots if strategy == "few_shot" else ())
        else:  # trained floors and published replies get the bare text; nothing is prompted
            prompt = self.prompts.render("zero_shot", example.text)
        return Request(example=example, prompt=prompt, labels=tuple(self.labels))

    def parse(self, data: TaskData, index: int, reply: str) -> Any:
        return parse_label(reply, self.labels)

    def model_problem(self, data: TaskData, model: str, strategy: str | None) -> str | None:
        if role_of(model) is Role.PUBLISHED_REPLIES and not self.published_replies:
            return "published replies exist only for FPB AllAgree (the fpb-sentiment task)"
        return None
