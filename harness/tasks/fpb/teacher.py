"""Teacher labels for distillation: a published LLM's replies on the train side of FPB's split
(``python -m finetune --teacher``, through :meth:`harness.tasks.fpb.sentiment.FpbSentiment.teacher_labels`).

The published GPT-4 / gpt-3.5-turbo replies (Shah & Chava 2023) cover the test sides of three published
splits. On the default split (seed 5768) the other two splits' test sides fall mostly on its *train* side:
those sentences can be labelled by the teacher instead of FPB's annotators. A reply the harness's parser
cannot read, or a sentence labelled differently in two runs, is left out and counted, never guessed.
"""

from __future__ import annotations

from pathlib import Path

from harness import HarnessError
from harness.models.published import PUBLISHED, PublishedReplies, find_file
from harness.parsing import parse_label
from harness.splits import make_split
from harness.tasks.fpb.data import LABELS, Example
from harness.tasks.training import TeacherLabels

PUBLISHED_SEEDS = (5768, 78516, 944601)


def predictions_folder(data_directory: Path) -> Path | None:
    """$FPB_PREDICTIONS_DIR, else the published replies folder beside the FPB folder (as the harness finds it)."""
    import os

    from harness.models.published import DEFAULT_FOLDER, PREDICTIONS_ENV

    if os.environ.get(PREDICTIONS_ENV):
        return Path(os.environ[PREDICTIONS_ENV])
    sibling = Path(data_directory).parent / DEFAULT_FOLDER
    return sibling if sibling.is_dir() else None


def teacher_labels(teacher: str, *, examples: tuple[Example, ...], seed: int, predictions_dir: Path | None) -> TeacherLabels:
    if teacher not in PUBLISHED:
        raise HarnessError(f"--teacher={teacher}: expected one of {sorted(PUBLISHED)}")
    if predictions_dir is None or not Path(predictions_dir).is_dir():
        raise HarnessError("teacher labels need the published replies folder: set FPB_PREDICTIONS_DIR to "
                           "fpb_llm_predictions_shah_chava_2023 (it sits beside the FPB folder in ../shared/data)")
    if seed not in PUBLISHED_SEEDS:
        raise HarnessError(f"teacher labels exist for the published splits only (seeds {list(PUBLISHED_SEEDS)}), not {seed}")
    split = make_split(examples, seed=seed, method="published")
    train_ids = {e.id for e in split.train}
    gold = {e.id: e.label for e in examples}
    seen: dict[str, set[str]] = {}
    replies = unparsed = 0
    for other in PUBLISHED_SEEDS:
        if other == seed:
            continue
        test = make_split(examples, seed=other, method="published").test
        published = PublishedReplies(teacher, find_file(Path(predictions_dir), teacher, other), test)
        for example in test:
            if example.id not in train_ids:
                continue
            replies += 1
            label = parse_label(published.replies[example.id], LABELS)
            if label is None:
                unparsed += 1
            else:
                seen.setdefault(example.id, set()).add(label)
    labels = {i: next(iter(found)) for i, found in seen.items() if len(found) == 1}
    agree = sum(labels[i] == gold[i] for i in labels)
    stats = {
        "teacher": teacher, "teacher_run_date": PUBLISHED[teacher][2], "from_split_seeds": [s for s in PUBLISHED_SEEDS if s != seed],
        "replies_on_train_side": replies, "unparsed_replies": unparsed,
        "conflicting_sentences": sum(1 for found in seen.values() if len(found) > 1),
        "sentences_labelled": len(labels),
        "agreement_with_gold": round(agree / len(labels), 4) if labels else None,
    }
    return TeacherLabels(teacher=teacher, labels=labels, gold={i: gold[i] for i in labels}, stats=stats)
