"""What a task hands fine-tuning: its training items, rendered by its own prompts (so the evaluated prompt
is the trained prompt), with a seeded validation slice. ``python -m finetune`` asks a task for this through
``task.training_data(TrainingRequest(...))`` and knows nothing else about the task."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from harness.example import Example
from harness.prompts import Message


def example_row(example: Example) -> tuple[str, list[str]]:
    return example.id, [example.id, example.text, example.label]


@dataclass(frozen=True)
class TrainingRequest:
    """What fine-tuning asks of a task: the split seed, how much to hold out and take, where the project is."""

    seed: int
    val_fraction: float = 0.1
    limit: int | None = None
    data_dir: str | None = None
    """The task's data folder, where the task takes one (built-in tasks; a declared task names its files)."""
    root: Path | None = None
    """The project root that relative data paths are resolved from (default: the current directory)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Task-specific settings (FPB: ``labels`` from a teacher, ``split``; TAT-QA: ``max_context_chars``)."""


@dataclass(frozen=True)
class TrainingData:
    train: tuple[Any, ...]
    validation: tuple[Any, ...]
    test_fingerprint: str
    test_ids: tuple[str, ...]
    source: str
    task: str
    task_version: int
    template_version: str
    messages: Callable[[Any], tuple[Message, ...]]
    """The task's renderer: evaluated prompt + gold answer as the assistant turn."""
    label_source: str = "gold"
    """Where the training labels came from: ``gold`` (the data's annotators) or a teacher model."""
    row: Callable[[Any], tuple[str, list[str]]] = example_row
    """An item's id and what the train-data hash covers (id, input, answer)."""
    notes: Mapping[str, Any] = field(default_factory=dict)
    """What was left out of the pool and why (counts), for the card."""
    split_method: str | None = None
    """How train and test were separated (e.g. ``published``, ``stratified``, ``tfns-valid``, ``given-test-file``)."""

    def meta(self) -> dict[str, Any]:
        rows = [self.row(item) for item in self.train]
        payload = json.dumps([r for _, r in rows], ensure_ascii=False).encode()
        return {
            "task": self.task, "task_version": self.task_version, "template_version": self.template_version,
            "train_examples": len(self.train), "validation_examples": len(self.validation),
            "train_data_sha256": hashlib.sha256(payload).hexdigest(), "train_example_ids": [i for i, _ in rows],
            "validation_example_ids": [self.row(item)[0] for item in self.validation],
            "test_fingerprint": self.test_fingerprint, "data_source": self.source, "label_source": self.label_source,
            **({"data_notes": dict(self.notes)} if self.notes else {}),
        }


@dataclass(frozen=True)
class TeacherLabels:
    """A teacher model's labels for train-side items (distillation: ``python -m finetune --teacher``)."""

    teacher: str
    labels: dict[str, str]
    """Example id -> the teacher's label, for the items it labelled (each unambiguously)."""
    gold: dict[str, str]
    """Example id -> the data's own label, for the same items (the control arm: same items, gold labels)."""
    stats: dict[str, Any]
    """What was labelled, left out and why, and the teacher's agreement with gold (for the adapter card)."""


def stratified_take(examples: Sequence[Any], n: int, seed: int,
                    key: Callable[[Any], str] = lambda e: e.label) -> list[Any]:
    from sklearn.model_selection import train_test_split

    if n >= len(examples):
        return list(examples)
    taken, _ = train_test_split(list(examples), train_size=n, random_state=seed, stratify=[key(e) for e in examples])
    return taken


def carve_validation(pool: Sequence[Any], val_fraction: float, seed: int,
                     key: Callable[[Any], str] = lambda e: e.label) -> tuple[list[Any], list[Any]]:
    """A seeded, stratified validation slice of ``pool`` (none when ``val_fraction`` is 0: a refit)."""
    from sklearn.model_selection import train_test_split

    if val_fraction == 0:  # a refit: every labelled example trains, the epoch count was chosen on validation before
        return list(pool), []
    keys = [key(e) for e in pool]
    counts = Counter(keys)
    common = counts.most_common(1)[0][0]
    keys = [k if counts[k] >= 2 else common for k in keys]  # a class with one member cannot be split: stratify it with the largest
    n_val = max(len(set(keys)), round(val_fraction * len(pool)))  # a stratified split needs one slot per class
    train, validation = train_test_split(list(pool), test_size=n_val, random_state=seed, stratify=keys)
    return train, validation
