"""Training examples: the harness's train split, rendered by the harness's prompts, answer-only labels."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from harness.benchmark import TASK, TASK_VERSION
from harness.data import Example, load_fpb, resolve_source
from harness.prompts import TEMPLATE_VERSION, training_messages
from harness.splits import make_split

IGNORE = -100


@dataclass(frozen=True)
class TrainingData:
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test_fingerprint: str
    test_ids: tuple[str, ...]
    source: str

    def meta(self) -> dict[str, Any]:
        ids = [e.id for e in self.train]
        payload = json.dumps([[e.id, e.text, e.label] for e in self.train], ensure_ascii=False).encode()
        return {
            "task": TASK, "task_version": TASK_VERSION, "template_version": TEMPLATE_VERSION,
            "train_examples": len(self.train), "validation_examples": len(self.validation),
            "train_data_sha256": hashlib.sha256(payload).hexdigest(), "train_example_ids": ids,
            "validation_example_ids": [e.id for e in self.validation],
            "test_fingerprint": self.test_fingerprint, "data_source": self.source,
        }


def _stratified_take(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    from sklearn.model_selection import train_test_split

    if n >= len(examples):
        return list(examples)
    taken, _ = train_test_split(list(examples), train_size=n, random_state=seed, stratify=[e.label for e in examples])
    return taken


def load_training_data(*, seed: int, split: str = "published", data_dir: str | None = None,
                       val_fraction: float = 0.1, limit: int | None = None) -> TrainingData:
    from sklearn.model_selection import train_test_split

    source = resolve_source(data_dir)
    loaded = load_fpb(source.file_for("allagree"))
    parts = make_split(loaded.examples, seed=seed, method=split)
    pool = _stratified_take(parts.train, limit, seed) if limit else list(parts.train)
    train, validation = train_test_split(pool, test_size=val_fraction, random_state=seed,
                                         stratify=[e.label for e in pool])
    return TrainingData(train=tuple(train), validation=tuple(validation), test_fingerprint=parts.test_fingerprint,
                        test_ids=tuple(e.id for e in parts.test),
                        source=f"{source.kind}: {loaded.path.name} sha256:{loaded.sha256[:16]}")


def encode(example: Example, tokenizer: Any) -> dict[str, list[int]]:
    """Token ids of the evaluated prompt + gold answer; loss only on the answer tokens."""
    messages = list(training_messages(example))
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}
