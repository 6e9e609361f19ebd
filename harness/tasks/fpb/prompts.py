"""Financial PhraseBank's prompt texts: the one place they are written. Evaluation and fine-tuning of
FPB sentiment, its agreement slices and TFNS (which reuses them) render through :data:`PROMPTS`."""

from __future__ import annotations

from typing import Sequence

from harness.example import Example
from harness.prompts import (CLASSIFY, DEFAULT_SHOTS_PER_LABEL, MAX_NEW_TOKENS, STRATEGIES, Message, Prompt,
                             Prompts)
from harness.prompts import select_shots as _select_shots
from harness.tasks.fpb.data import LABELS

SYSTEM = (
    "You are a financial analyst. Classify the sentiment of a sentence from financial news "
    "from the point of view of an investor in the company: positive, negative or neutral."
)
ANSWER_ONLY = "Answer with one word: positive, negative or neutral."
COT = (
    "Think step by step about what the sentence means for an investor, in at most three short sentences. "
    "Then write a final line of the form 'Answer: positive', 'Answer: negative' or 'Answer: neutral'."
)
USER = "Sentence: {text}"

PROMPTS = Prompts(id="fpb-sentiment", system=SYSTEM, answer_only=ANSWER_ONLY, cot=COT, user=USER, labels=LABELS)
TEMPLATE_VERSION = PROMPTS.version

__all__ = ["ANSWER_ONLY", "CLASSIFY", "COT", "DEFAULT_SHOTS_PER_LABEL", "MAX_NEW_TOKENS", "Message", "PROMPTS",
           "Prompt", "STRATEGIES", "SYSTEM", "TEMPLATE_VERSION", "USER", "render", "select_shots",
           "training_messages"]


def render(strategy: str, text: str, *, shots: Sequence[Example] = ()) -> Prompt:
    return PROMPTS.render(strategy, text, shots=shots)


def training_messages(example: Example, *, strategy: str = "zero_shot",
                      shots: Sequence[Example] = ()) -> tuple[Message, ...]:
    return PROMPTS.training_messages(example, strategy=strategy, shots=shots)


def select_shots(train: Sequence[Example], *, per_label: int = DEFAULT_SHOTS_PER_LABEL, seed: int) -> tuple[Example, ...]:
    return _select_shots(train, LABELS, per_label=per_label, seed=seed)
