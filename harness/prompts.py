"""Prompt rendering for labelled-text classification: the one place where a classification prompt becomes
chat messages, for evaluation and for fine-tuning alike.

A task owns its texts as one :class:`Prompts` (FPB's are in :mod:`harness.tasks.fpb.prompts`; a user's task
gets them from its instruction and label set). A strategy turns a text (plus, for ``few_shot``, examples
from the train side) into chat messages. Rendering is pure: no model, no I/O. :attr:`Prompts.version`
changes whenever a template text or the label set changes, so recorded answers to an older prompt, and
adapters trained on one, are recognised as stale.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from harness import HarnessError
from harness.example import Example

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}

STRATEGIES: tuple[str, ...] = ("zero_shot", "few_shot", "cot")
CLASSIFY = {"zero_shot": True, "few_shot": True, "cot": False}
"""True where the reply is the label alone (a local model may score labels instead of generating)."""
MAX_NEW_TOKENS = {"zero_shot": 8, "few_shot": 8, "cot": 128}
DEFAULT_SHOTS_PER_LABEL = 2


@dataclass(frozen=True)
class Prompt:
    """What a model is asked for one example."""

    strategy: str
    messages: tuple[Message, ...]
    classify: bool
    max_new_tokens: int


@dataclass(frozen=True)
class Prompts:
    """A classification task's prompt texts. The system message is ``system`` plus the strategy's
    instruction (``answer_only`` or ``cot``); each text (and each shot) is a user turn ``user``."""

    id: str
    """The version's prefix: the task (or prompt family) these texts belong to."""
    system: str
    answer_only: str
    cot: str
    user: str
    labels: tuple[str, ...]

    @property
    def version(self) -> str:
        digest = hashlib.sha256("\x1f".join((self.system, self.answer_only, self.cot, self.user,
                                             ",".join(self.labels))).encode()).hexdigest()[:8]
        return f"{self.id}-{digest}"

    @classmethod
    def from_instruction(cls, id: str, instruction: str, labels: Sequence[str], *, text_name: str = "Text") -> "Prompts":
        """Prompts for a user's task: the instruction, then the label set spelled out."""
        names = ", ".join(labels[:-1]) + f" or {labels[-1]}"
        forms = ", ".join(f"'Answer: {label}'" for label in labels)
        return cls(id=id, system=instruction.strip(), answer_only=f"Answer with one label: {names}.",
                   cot=("Think step by step, in at most three short sentences. Then write a final line of the "
                        f"form {forms}."),
                   user=f"{text_name}: {{text}}", labels=tuple(labels))

    def render(self, strategy: str, text: str, *, shots: Sequence[Example] = ()) -> Prompt:
        if strategy not in STRATEGIES:
            raise HarnessError(f"unknown prompt strategy {strategy!r}: expected one of {list(STRATEGIES)}")
        if strategy == "few_shot" and not shots:
            raise HarnessError("few_shot needs examples: pass shots=select_shots(train, labels, seed=...)")
        instruction = self.cot if strategy == "cot" else self.answer_only
        messages: list[Message] = [{"role": "system", "content": f"{self.system} {instruction}"}]
        if strategy == "few_shot":
            for shot in shots:
                messages.append({"role": "user", "content": self.user.format(text=shot.text)})
                messages.append({"role": "assistant", "content": shot.label})
        messages.append({"role": "user", "content": self.user.format(text=text)})
        return Prompt(strategy, tuple(messages), CLASSIFY[strategy], MAX_NEW_TOKENS[strategy])

    def training_messages(self, example: Example, *, strategy: str = "zero_shot",
                          shots: Sequence[Example] = ()) -> tuple[Message, ...]:
        """The evaluated prompt plus the gold answer as the assistant turn: what fine-tuning trains on."""
        if not CLASSIFY.get(strategy, False):
            raise HarnessError(f"fine-tuning renders a label-only answer; strategy {strategy!r} expects reasoning")
        return self.render(strategy, example.text, shots=shots).messages + (
            {"role": "assistant", "content": example.label},)


def select_shots(train: Sequence[Example], labels: Sequence[str], *, per_label: int = DEFAULT_SHOTS_PER_LABEL,
                 seed: int) -> tuple[Example, ...]:
    """``per_label`` examples of every label from train, seeded, then shuffled together."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in train:
        by_label[e.label].append(e)
    rng = random.Random(seed)
    shots: list[Example] = []
    for label in labels:
        pool = by_label.get(label, [])
        if len(pool) < per_label:
            raise HarnessError(
                f"few_shot needs {per_label} train examples labelled {label!r}, got {len(pool)}. "
                "Lower --harness-shots, leave few_shot out (--harness-strategies), or use a larger data file."
            )
        shots.extend(rng.sample(pool, per_label))
    rng.shuffle(shots)
    return tuple(shots)
