"""The one place where prompts are written. Evaluation and fine-tuning both render through here.

A strategy turns a sentence (plus, for ``few_shot``, examples from the train split) into chat messages.
Rendering is pure: no model, no I/O. :data:`TEMPLATE_VERSION` changes whenever a template text changes,
so cached or recorded answers to an older prompt can be recognised as stale.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from harness import HarnessError
from harness.data import LABELS, Example

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}

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

STRATEGIES: tuple[str, ...] = ("zero_shot", "few_shot", "cot")
CLASSIFY = {"zero_shot": True, "few_shot": True, "cot": False}
"""True where the reply is the label alone (a local model may score labels instead of generating)."""
MAX_NEW_TOKENS = {"zero_shot": 8, "few_shot": 8, "cot": 128}
DEFAULT_SHOTS_PER_LABEL = 2

TEMPLATE_VERSION = "fpb-sentiment-" + hashlib.sha256(
    "\x1f".join((SYSTEM, ANSWER_ONLY, COT, USER, ",".join(LABELS))).encode()
).hexdigest()[:8]


@dataclass(frozen=True)
class Prompt:
    """What a model is asked for one example."""

    strategy: str
    messages: tuple[Message, ...]
    classify: bool
    max_new_tokens: int


def select_shots(train: Sequence[Example], *, per_label: int = DEFAULT_SHOTS_PER_LABEL,
                 seed: int) -> tuple[Example, ...]:
    """``per_label`` examples of every label from train, seeded, then shuffled together."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in train:
        by_label[e.label].append(e)
    rng = random.Random(seed)
    shots: list[Example] = []
    for label in LABELS:
        pool = by_label.get(label, [])
        if len(pool) < per_label:
            raise HarnessError(
                f"few_shot needs {per_label} train examples labelled {label!r}, got {len(pool)}. "
                "Lower --harness-shots or use a larger data file."
            )
        shots.extend(rng.sample(pool, per_label))
    rng.shuffle(shots)
    return tuple(shots)


def render(strategy: str, text: str, *, shots: Sequence[Example] = ()) -> Prompt:
    if strategy not in STRATEGIES:
        raise HarnessError(f"unknown prompt strategy {strategy!r}: expected one of {list(STRATEGIES)}")
    if strategy == "few_shot" and not shots:
        raise HarnessError("few_shot needs examples: pass shots=select_shots(train, seed=...)")
    instruction = COT if strategy == "cot" else ANSWER_ONLY
    messages: list[Message] = [{"role": "system", "content": f"{SYSTEM} {instruction}"}]
    if strategy == "few_shot":
        for shot in shots:
            messages.append({"role": "user", "content": USER.format(text=shot.text)})
            messages.append({"role": "assistant", "content": shot.label})
    messages.append({"role": "user", "content": USER.format(text=text)})
    return Prompt(strategy, tuple(messages), CLASSIFY[strategy], MAX_NEW_TOKENS[strategy])


def training_messages(example: Example, *, strategy: str = "zero_shot",
                      shots: Sequence[Example] = ()) -> tuple[Message, ...]:
    """The evaluated prompt plus the gold answer as the assistant turn: what fine-tuning trains on."""
    if not CLASSIFY.get(strategy, False):
        raise HarnessError(f"fine-tuning renders a label-only answer; strategy {strategy!r} expects reasoning")
    prompt = render(strategy, example.text, shots=shots)
    return prompt.messages + ({"role": "assistant", "content": example.label},)
