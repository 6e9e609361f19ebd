"""Financial PhraseBank sentiment (Malo et al. 2014): the first task, and the project's main job.

Data (:mod:`harness.data`), split (:mod:`harness.splits`), prompts (:mod:`harness.prompts`) and parser
(:mod:`harness.parsing`) are the project's original modules; this one only wires them into the task
protocol of :mod:`harness.tasks`. Reported by :mod:`harness.report` (a label set: classification).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.data import LABELS, Example, load_fpb, resolve_source
from harness.models.base import Request
from harness.parsing import parse_label
from harness.prompts import STRATEGIES, TEMPLATE_VERSION, render, select_shots
from harness.splits import make_split
from harness.tasks import TaskData

PREDICTIONS_FOLDER = "fpb_llm_predictions_shah_chava_2023"


class ClassificationTask:
    """Shared by the sentence-classification tasks: the FPB prompts and parser over the three labels."""

    version = 1
    labels = LABELS
    strategies = STRATEGIES
    template_version = TEMPLATE_VERSION
    history = False
    """Whether runs are saved to reports/runs/ and gated (the main job only)."""

    def request(self, data: TaskData, strategy: str, index: int) -> Request:
        example = data.test[index]
        if strategy in STRATEGIES:
            prompt = render(strategy, example.text, shots=data.shots if strategy == "few_shot" else ())
        else:  # trained floors and published replies get the bare sentence; nothing is prompted
            prompt = render("zero_shot", example.text)
        return Request(example=example, prompt=prompt, labels=LABELS)

    def parse(self, data: TaskData, index: int, reply: str) -> Any:
        return parse_label(reply, LABELS)

    def model_problem(self, model: str, strategy: str | None) -> str | None:
        return None


def published_predictions_dir(option: str | None, source_dir: Path, is_sample: bool) -> Path | None:
    predictions = option or os.environ.get("FPB_PREDICTIONS_DIR")
    if predictions is None and not is_sample:
        sibling = source_dir.parent / PREDICTIONS_FOLDER
        predictions = str(sibling) if sibling.is_dir() else None
    return Path(predictions) if predictions else None


class FpbSentiment(ClassificationTask):
    name = "fpb-sentiment"
    marker = "sentiment"
    description = "Financial PhraseBank sentiment (positive / negative / neutral)"
    history = True
    default_models = (
        "tfidf-logreg", "smollm2-135m", "published-gpt-4", "published-gpt-3.5-turbo",
        "openai:gpt-4o", "openai:gpt-4o-mini", "openai:smollm2-135m-instruct-q4_1",
        "adapter:fpb-sentiment-smollm2-135m",
    )

    def load(self, config: Any) -> TaskData:
        from harness import HarnessError

        source = resolve_source(config.data_dir)
        fpb = load_fpb(source.file_for(config.agreement))
        split = make_split(fpb.examples, seed=config.seed, method=config.split)
        if config.limit is not None and config.limit > len(split.test):
            raise HarnessError(
                f"--harness-limit={config.limit} but the test split has only {len(split.test)} examples; "
                f"use a limit of at most {len(split.test)}, or leave it out to run them all"
            )
        test = split.test[: config.limit] if config.limit else split.test
        shots = select_shots(split.train, per_label=config.shots_per_label, seed=config.seed)
        return TaskData(
            test=test, train=split.train, shots=shots,
            context=dict(full_test=split.test, split_method=config.split, agreement=config.agreement,
                         is_sample=source.is_sample,
                         predictions_dir=published_predictions_dir(config.predictions_dir, source.directory,
                                                                   source.is_sample)),
            meta=sentiment_meta(source, fpb, split, config, len(test), shots),
            extra={"source": source, "file": fpb, "split": split},
        )


def sentiment_meta(source: Any, fpb: Any, split: Any, config: Any, n_evaluated: int,
                   shots: tuple[Example, ...]) -> dict[str, Any]:
    return {
        "data": {
            "source": source.kind,
            "directory": str(source.directory),
            "is_sample": source.is_sample,
            "notes": list(source.notes),
            "file": fpb.path.name,
            "file_sha256": fpb.sha256,
            "agreement": config.agreement,
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
            "limit": config.limit,
            "test_fingerprint": split.test_fingerprint,
            "leaked_removed_from_train": split.leaked_removed_from_train,
            "repeats_removed_from_train": split.repeats_removed_from_train,
            "test_repeats_kept": split.test_repeats,
        },
        "few_shot_examples": [e.id for e in shots],
    }


TASK = FpbSentiment()
