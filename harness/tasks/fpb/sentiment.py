"""Financial PhraseBank sentiment (Malo et al. 2014): the first task, and the project's main job.

Data (:mod:`harness.tasks.fpb.data`), split (:mod:`harness.splits`), prompts (:mod:`harness.tasks.fpb.prompts`) and parser
(:mod:`harness.parsing`) are the project's original modules; this one only wires them into the task
contract of :mod:`harness.tasks.base`. Reported by :mod:`harness.report` (a label set: classification).
Distillation from the published replies: :mod:`harness.tasks.fpb.teacher`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.example import Example
from harness.splits import METHODS, make_split
from harness.tasks.base import RunConfig, TaskData
from harness.tasks.fpb.data import AGREEMENTS, LABELS, load_fpb, resolve_source
from harness.tasks.fpb.prompts import PROMPTS, select_shots
from harness.tasks.labelled import LabelledTextTask
from harness.tasks.training import TeacherLabels, TrainingData, TrainingRequest, carve_validation, stratified_take

PREDICTIONS_FOLDER = "fpb_llm_predictions_shah_chava_2023"


class FpbPromptTask(LabelledTextTask):
    """FPB's prompts and parser over its three labels: the sentiment task, its slices, and TFNS."""

    labels = LABELS
    prompts = PROMPTS


@dataclass(frozen=True)
class FpbSettings:
    """FPB's own options (``--harness-agreement`` / ``-split`` / ``-predictions``, i.e. ``fpb.KEY=VALUE``)."""

    agreement: str = "allagree"
    split: str = "published"
    predictions: str | None = None


def fpb_settings(config: RunConfig) -> FpbSettings:
    options = config.options_for("fpb")
    unknown = sorted(set(options) - {"agreement", "split", "predictions"})
    if unknown:
        raise HarnessError(f"--harness-task-option fpb.{unknown[0]}: unknown key; expected fpb.agreement, fpb.split "
                           "or fpb.predictions (--harness-agreement, --harness-split, --harness-predictions)")
    settings = FpbSettings(**options)
    if settings.agreement not in AGREEMENTS:
        raise HarnessError(f"--harness-agreement={settings.agreement}: expected one of {list(AGREEMENTS)}")
    if settings.split not in METHODS:
        raise HarnessError(f"--harness-split={settings.split}: expected one of {list(METHODS)}")
    return settings


def published_predictions_dir(option: str | None, source_dir: Path, is_sample: bool) -> Path | None:
    predictions = option or os.environ.get("FPB_PREDICTIONS_DIR")
    if predictions is None and not is_sample:
        sibling = source_dir.parent / PREDICTIONS_FOLDER
        predictions = str(sibling) if sibling.is_dir() else None
    return Path(predictions) if predictions else None


class FpbSentiment(FpbPromptTask):
    name = "fpb-sentiment"
    marker = "sentiment"
    description = "Financial PhraseBank sentiment (positive / negative / neutral)"
    history = True
    published_replies = True
    adapter_stem = "fpb-sentiment"
    default_models = (
        "tfidf-logreg", "smollm2-135m", "published-gpt-4", "published-gpt-3.5-turbo",
        "openai:gpt-4o", "openai:gpt-4o-mini", "openai:smollm2-135m-instruct-q4_1",
        "adapter:fpb-sentiment-smollm2-135m",
    )

    def load(self, config: RunConfig) -> TaskData:
        settings = fpb_settings(config)
        source = resolve_source(config.data_dir, root=config.root)
        fpb = load_fpb(source.file_for(settings.agreement))
        split = make_split(fpb.examples, seed=config.seed, method=settings.split)
        if config.limit is not None and config.limit > len(split.test):
            raise HarnessError(
                f"--harness-limit={config.limit} but the test split has only {len(split.test)} examples; "
                f"use a limit of at most {len(split.test)}, or leave it out to run them all"
            )
        test = split.test[: config.limit] if config.limit else split.test
        shots = select_shots(split.train, per_label=config.shots_per_label, seed=config.seed)
        return TaskData(
            test=test, train=split.train, shots=shots,
            context=dict(full_test=split.test, split_method=settings.split, agreement=settings.agreement,
                         is_sample=source.is_sample,
                         predictions_dir=published_predictions_dir(settings.predictions, source.directory,
                                                                   source.is_sample)),
            meta=sentiment_meta(source, fpb, split, settings.agreement, config.limit, len(test), shots),
            extra={"source": source, "file": fpb, "split": split},
        )

    def training_data(self, request: TrainingRequest) -> TrainingData:
        """The train side of the run's split (AllAgree), minus a seeded, stratified validation slice.

        ``options["labels"]`` (example id -> label) trains on those examples only, with those labels instead of
        FPB's (distillation from a teacher, named by ``options["label_source"]``); ``limit`` then takes N of them.
        ``options["split"]``: ``published`` (default) or ``stratified``."""
        options = dict(request.options)
        labels, label_source = options.get("labels"), options.get("label_source", "gold")
        split_method = options.get("split", "published")
        if split_method not in METHODS:
            raise HarnessError(f"split {split_method!r}: expected one of {list(METHODS)}")
        source = resolve_source(request.data_dir, root=request.root)
        loaded = load_fpb(source.file_for("allagree"))
        parts = make_split(loaded.examples, seed=request.seed, method=split_method)
        pool = list(parts.train)
        if labels is not None:
            unknown = sorted(set(labels.values()) - set(LABELS))
            if unknown:
                raise HarnessError(f"teacher labels must be among {list(LABELS)}; got {unknown}")
            pool = [replace(e, label=labels[e.id]) for e in pool if e.id in labels]
            if not pool:
                raise HarnessError("none of the relabelled examples is on the train side of this split")
        pool = stratified_take(pool, request.limit, request.seed) if request.limit else pool
        train, validation = carve_validation(pool, request.val_fraction, request.seed)
        return TrainingData(train=tuple(train), validation=tuple(validation), test_fingerprint=parts.test_fingerprint,
                            test_ids=tuple(e.id for e in parts.test),
                            source=f"{source.kind}: {loaded.path.name} sha256:{loaded.sha256[:16]}",
                            task=self.name, task_version=self.version, template_version=self.template_version,
                            messages=self.prompts.training_messages, label_source=label_source,
                            split_method=split_method)

    def teacher_labels(self, teacher: str, request: TrainingRequest) -> TeacherLabels:
        """The published replies of ``teacher`` on the train side of the AllAgree split of ``request.seed``."""
        from harness.tasks.fpb.teacher import predictions_folder, teacher_labels

        source = resolve_source(request.data_dir, root=request.root)
        if source.is_sample:
            raise HarnessError("--teacher needs the real Financial PhraseBank (set FPB_DIR); the sample has no "
                               "published replies")
        examples = load_fpb(source.file_for("allagree")).examples
        return teacher_labels(teacher, examples=examples, seed=request.seed,
                              predictions_dir=predictions_folder(source.directory))


def sentiment_meta(source: Any, fpb: Any, split: Any, agreement: str, limit: int | None, n_evaluated: int,
                   shots: tuple[Example, ...]) -> dict[str, Any]:
    return {
        "data": {
            "source": source.kind,
            "directory": str(source.directory),
            "is_sample": source.is_sample,
            "notes": list(source.notes),
            "file": fpb.path.name,
            "file_sha256": fpb.sha256,
            "agreement": agreement,
            "examples": len(fpb.examples),
            "duplicate_lines": fpb.duplicate_lines,
            "conflicting_sentences_removed": len(fpb.conflicts),
        },
        "split": {
            "method": split.method,
            "seed": split.seed,
            "n_train": len(split.train),
            "n_test": len(split.test),
            "n_evaluated": n_evaluated,
            "limit": limit,
            "test_fingerprint": split.test_fingerprint,
            "leaked_removed_from_train": split.leaked_removed_from_train,
            "repeats_removed_from_train": split.repeats_removed_from_train,
            "test_repeats_kept": split.test_repeats,
        },
        "few_shot_examples": [e.id for e in shots],
    }


TASK = FpbSentiment()
