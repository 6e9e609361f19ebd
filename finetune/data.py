"""Training examples: the harness's train split, rendered by the harness's prompts, answer-only labels."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.benchmark import TASK, TASK_VERSION
from harness.data import LABELS, Example, load_fpb, resolve_source
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
    label_source: str = "gold"
    """Where the training labels came from: ``gold`` (FPB's annotators) or a teacher model."""

    def meta(self) -> dict[str, Any]:
        ids = [e.id for e in self.train]
        payload = json.dumps([[e.id, e.text, e.label] for e in self.train], ensure_ascii=False).encode()
        return {
            "task": TASK, "task_version": TASK_VERSION, "template_version": TEMPLATE_VERSION,
            "train_examples": len(self.train), "validation_examples": len(self.validation),
            "train_data_sha256": hashlib.sha256(payload).hexdigest(), "train_example_ids": ids,
            "validation_example_ids": [e.id for e in self.validation],
            "test_fingerprint": self.test_fingerprint, "data_source": self.source, "label_source": self.label_source,
        }


def _stratified_take(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    from sklearn.model_selection import train_test_split

    if n >= len(examples):
        return list(examples)
    taken, _ = train_test_split(list(examples), train_size=n, random_state=seed, stratify=[e.label for e in examples])
    return taken


def load_training_data(*, seed: int, split: str = "published", data_dir: str | None = None,
                       val_fraction: float = 0.1, limit: int | None = None,
                       labels: Mapping[str, str] | None = None, label_source: str = "gold") -> TrainingData:
    """The train side of the harness's split, minus a seeded, stratified validation slice.

    ``labels`` (example id -> label) trains on those examples only, with those labels instead of FPB's:
    distillation from a teacher. ``limit`` then takes N of them.
    """
    from sklearn.model_selection import train_test_split

    source = resolve_source(data_dir)
    loaded = load_fpb(source.file_for("allagree"))
    parts = make_split(loaded.examples, seed=seed, method=split)
    pool = list(parts.train)
    if labels is not None:
        unknown = sorted(set(labels.values()) - set(LABELS))
        if unknown:
            raise HarnessError(f"teacher labels must be among {list(LABELS)}; got {unknown}")
        pool = [replace(e, label=labels[e.id]) for e in pool if e.id in labels]
        if not pool:
            raise HarnessError("none of the relabelled examples is on the train side of this split")
    pool = _stratified_take(pool, limit, seed) if limit else pool
    n_val = max(len(LABELS), round(val_fraction * len(pool)))  # a stratified split needs one slot per label
    train, validation = train_test_split(pool, test_size=n_val, random_state=seed, stratify=[e.label for e in pool])
    return TrainingData(train=tuple(train), validation=tuple(validation), test_fingerprint=parts.test_fingerprint,
                        test_ids=tuple(e.id for e in parts.test),
                        source=f"{source.kind}: {loaded.path.name} sha256:{loaded.sha256[:16]}",
                        label_source=label_source)


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
