"""Training examples: the harness's train split, rendered by the harness's prompts, answer-only labels.

* ``sentiment``: FPB AllAgree, the train side of the harness's split (:func:`load_training_data`);
* ``tfns``: the TFNS train split minus tweets that repeat a test (valid) tweet, labels mapped onto FPB's
  (:func:`load_tfns_training_data`), rendered by FPB's prompts: the in-domain tweet adapter;
* ``tatqa``: TAT-QA ``dev`` (no train file is published; the test set is ``test_gold``), questions whose
  linearised table and paragraphs fit ``max_context_chars`` (:func:`load_tatqa_training_data`).

Either way the prompt is rendered by the task's own prompt module in :mod:`harness`, so the evaluated
prompt is the trained prompt.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from harness import HarnessError
from harness.benchmark import TASK, TASK_VERSION
from harness.data import LABELS, Example, load_fpb, resolve_source
from harness.prompts import TEMPLATE_VERSION, Message, training_messages
from harness.splits import make_split

IGNORE = -100


def _fpb_row(example: Example) -> tuple[str, list[str]]:
    return example.id, [example.id, example.text, example.label]


@dataclass(frozen=True)
class TrainingData:
    train: tuple[Any, ...]
    validation: tuple[Any, ...]
    test_fingerprint: str
    test_ids: tuple[str, ...]
    source: str
    label_source: str = "gold"
    """Where the training labels came from: ``gold`` (FPB's annotators) or a teacher model."""
    task: str = TASK
    task_version: int = TASK_VERSION
    template_version: str = TEMPLATE_VERSION
    messages: Callable[[Any], tuple[Message, ...]] = training_messages
    """The task's renderer: evaluated prompt + gold answer as the assistant turn."""
    row: Callable[[Any], tuple[str, list[str]]] = _fpb_row
    """An item's id and what the train-data hash covers (id, input, answer)."""
    notes: Mapping[str, Any] = field(default_factory=dict)
    """What was left out of the pool and why (counts), for the card."""
    split_method: str | None = None
    """How train and test were separated, when not the harness's FPB split (e.g. ``tfns-valid``)."""

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


def _stratified_take(examples: Sequence[Any], n: int, seed: int, key: Callable[[Any], str] = lambda e: e.label) -> list[Any]:
    from sklearn.model_selection import train_test_split

    if n >= len(examples):
        return list(examples)
    taken, _ = train_test_split(list(examples), train_size=n, random_state=seed, stratify=[key(e) for e in examples])
    return taken


def _carve_validation(pool: list[Any], val_fraction: float, seed: int,
                      key: Callable[[Any], str]) -> tuple[list[Any], list[Any]]:
    from sklearn.model_selection import train_test_split

    if val_fraction == 0:  # a refit: every labelled example trains, the epoch count was chosen on validation before
        return list(pool), []
    keys = [key(e) for e in pool]
    counts = Counter(keys)
    common = counts.most_common(1)[0][0]
    keys = [k if counts[k] >= 2 else common for k in keys]  # a class with one member cannot be split: stratify it with the largest
    n_val = max(len(set(keys)), round(val_fraction * len(pool)))  # a stratified split needs one slot per class
    train, validation = train_test_split(pool, test_size=n_val, random_state=seed, stratify=keys)
    return train, validation


def load_training_data(*, seed: int, split: str = "published", data_dir: str | None = None,
                       val_fraction: float = 0.1, limit: int | None = None,
                       labels: Mapping[str, str] | None = None, label_source: str = "gold") -> TrainingData:
    """The train side of the harness's split, minus a seeded, stratified validation slice.

    ``labels`` (example id -> label) trains on those examples only, with those labels instead of FPB's:
    distillation from a teacher. ``limit`` then takes N of them.
    """
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
    train, validation = _carve_validation(pool, val_fraction, seed, lambda e: e.label)
    return TrainingData(train=tuple(train), validation=tuple(validation), test_fingerprint=parts.test_fingerprint,
                        test_ids=tuple(e.id for e in parts.test),
                        source=f"{source.kind}: {loaded.path.name} sha256:{loaded.sha256[:16]}",
                        label_source=label_source)


def load_tfns_training_data(*, seed: int, data_dir: str | None = None, val_fraction: float = 0.1,
                            limit: int | None = None) -> TrainingData:
    """TFNS train tweets (stratified, seeded when ``limit`` takes N), minus a validation slice; FPB's prompt."""
    from harness.splits import fingerprint
    from harness.tasks.tfns import FILES, MAPPING_TEXT, TASK as tfns, load_split, tfns_dir

    folder = tfns_dir(data_dir)
    split = load_split(folder)
    pool = _stratified_take(split.train, limit, seed) if limit else list(split.train)
    train, validation = _carve_validation(pool, val_fraction, seed, lambda e: e.label)
    return TrainingData(
        train=tuple(train), validation=tuple(validation), test_fingerprint=fingerprint(split.test),
        test_ids=tuple(e.id for e in split.test), source=f"tfns: {FILES['train']} sha256:{split.train_sha256[:16]}",
        task=tfns.name, task_version=tfns.version, template_version=tfns.template_version, split_method="tfns-valid",
        notes={"pool": f"{FILES['train']} ({len(split.train) + split.leaked_removed + split.repeats_removed} tweets)",
               "label_mapping": MAPPING_TEXT, "left_out_repeating_a_test_tweet": split.leaked_removed,
               "left_out_repeating_a_train_tweet": split.repeats_removed,
               "not_taken_by_limit": len(split.train) - len(pool)})


TATQA_MAX_CONTEXT_CHARS = 2000
"""TAT-QA dev questions whose linearised table + paragraphs exceed this are left out of training (counted on
the card): on a CPU a 4,000-character context costs ~4x a median one. 64 % of dev fits; the test is not filtered."""


def _tatqa_row(question: Any) -> tuple[str, list[str]]:
    from harness.tasks.tatqa_prompts import format_answer

    return question.uid, [question.uid, question.question, format_answer(question)]


def load_tatqa_training_data(*, seed: int, data_dir: str | None = None, val_fraction: float = 0.1,
                             limit: int | None = None,
                             max_context_chars: int = TATQA_MAX_CONTEXT_CHARS) -> TrainingData:
    """TAT-QA ``dev`` questions (stratified by answer type when ``limit`` takes N), minus a validation slice."""
    from harness.tasks import get_task
    from harness.tasks.tatqa_data import load_tatqa
    from harness.tasks.tatqa_prompts import TEMPLATE_VERSION as TATQA_TEMPLATE
    from harness.tasks.tatqa_prompts import render_context, training_messages as tatqa_messages

    task = get_task("tatqa")
    dev, test = load_tatqa("dev", data_dir), load_tatqa("test_gold", data_dir)
    shared = {q.context.uid for q in dev.questions} & {q.context.uid for q in test.questions}
    if shared:
        raise HarnessError(f"{len(shared)} TAT-QA contexts are in both dev and test_gold (e.g. {sorted(shared)[0]}): "
                           "the files are not the published ones; check tatqa.data")
    fits = [q for q in dev.questions if len(render_context(q)) <= max_context_chars]
    pool = _stratified_take(fits, limit, seed, key=lambda q: q.answer_type) if limit else fits
    train, validation = _carve_validation(pool, val_fraction, seed, lambda q: q.answer_type)
    return TrainingData(
        train=tuple(train), validation=tuple(validation), test_fingerprint=f"sha256:{test.uids_sha256()[:16]}",
        test_ids=tuple(q.uid for q in test.questions), source=f"tatqa: {dev.path.name} sha256:{dev.sha256[:16]}",
        task=task.name, task_version=task.version, template_version=TATQA_TEMPLATE, messages=tatqa_messages,
        row=_tatqa_row, notes={"pool": f"{dev.path.name} ({len(dev.questions)} questions)",
                               "left_out_context_over_chars": max_context_chars,
                               "left_out_long_context": len(dev.questions) - len(fits),
                               "not_taken_by_limit": len(fits) - len(pool)})


def encode(example: Any, tokenizer: Any,
           messages_of: Callable[[Any], tuple[Message, ...]] = training_messages) -> dict[str, list[int]]:
    """Token ids of the evaluated prompt + gold answer; loss only on the answer tokens."""
    messages = list(messages_of(example))
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}
