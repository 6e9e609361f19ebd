"""The labelled-text classification task a team declares for its own data.

:class:`ClassificationTask` is a :class:`harness.tasks.labelled.LabelledTextTask` (prompts, the strict
parser, few-shot examples) whose data comes from files: a few lines in a suite file name the data files, the
columns, the labels and the instruction::

    TASK = ClassificationTask(
        name="tickets", data="data/tickets.csv", text="body", label="team",
        labels={"bill": "billing", "bug": "bug", "other": "other"},   # raw value -> label (or a list)
        instruction="Route the customer support ticket to the team that handles it.",
    )
    pytestmark = pytest.mark.harness_task(TASK)

    def test_tickets(harness_case):
        assert harness_case["error"] is None

Data: CSV / TSV, JSON Lines, Parquet, or a folder written by ``datasets``' ``save_to_disk`` (``folder#split``
for a ``DatasetDict``). Test items: a given ``test`` file, else a seeded stratified split of ``data``
(``test_size``). Relative paths are resolved from the project root (pytest's rootdir; the current folder for
``python -m finetune``). Bad input is refused before any model runs, with the file and row, what was
expected, what came and the fix (:mod:`harness.tasks.records` reads and checks the files).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.example import Example
from harness.prompts import Prompts, select_shots
from harness.splits import fingerprint, make_split
from harness.tasks.base import RunConfig, TaskData
from harness.tasks.labelled import LabelledTextTask
from harness.tasks.names import check_task_name
from harness.tasks.records import Columns, Pool, as_list, check_pool, read_all, refuse_leaks, resolve, slug
from harness.tasks.training import TrainingData, TrainingRequest, carve_validation, stratified_take

__all__ = ["ClassificationTask", "DeclaredSplit", "LabelledTextTask"]

DEFAULT_MODELS = ("tfidf-logreg", "smollm2-135m")


@dataclass(frozen=True)
class ClassificationTask(LabelledTextTask):
    """A labelled-text classification task declared in a suite file (see the module docstring)."""

    history = True
    """A declared task is its project's main job: runs are saved to reports/runs/ and can be gated."""

    name: str
    data: str | Sequence[str]
    """One file (or folder, or a list of them): all items, or the train side when ``test`` is given."""
    labels: Sequence[str] | Mapping[str, str] = field()  # type: ignore[assignment]
    """The label set, or a mapping from raw values in the label column to labels (required: ``field()`` keeps
    the dataclass from taking :attr:`Task.labels`, None, as its default)."""
    instruction: str
    """The system prompt's task sentence; the label set and answer format are appended."""
    text: str = "text"
    """The text column."""
    label: str = "label"
    """The label column."""
    test: str | Sequence[str] | None = None
    """A given test file; None: a seeded, stratified split of ``data`` (``test_size``)."""
    test_size: float = 0.2
    seed: int | None = None
    """The split seed; None: the run's ``--harness-seed`` (``--seed`` of ``python -m finetune``)."""
    marker: str = ""
    """The pytest marker of the suite (``-m``); default: the name with ``-`` as ``_``."""
    description: str = ""
    text_name: str = "Text"
    """What the prompt calls one text (``Text: ...``, ``Ticket: ...``)."""
    default_models: tuple[str, ...] = DEFAULT_MODELS
    version: int = 1
    prompts: Prompts = field(init=False, repr=False, compare=False)
    mapping: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"ClassificationTask(name={self.name!r})"
        check_task_name(self.name, "ClassificationTask")
        if self.text == self.label:
            raise HarnessError(f"{where}: text={self.text!r} and label={self.label!r}: expected two different columns "
                               "(the text to classify and its label), got one column for both; fix: name the label "
                               "column in label=")
        if isinstance(self.labels, Mapping):
            mapping = {str(k).strip(): str(v).strip() for k, v in self.labels.items()}
            labels = tuple(dict.fromkeys(mapping.values()))
        elif isinstance(self.labels, (list, tuple)):
            labels = tuple(str(x).strip() for x in self.labels)
            mapping = {x: x for x in labels}
        else:
            raise HarnessError(f"{where}: labels={self.labels!r}: expected a list of labels or a mapping from raw "
                               "values to labels, e.g. labels=['billing', 'bug'] or labels={'0': 'negative', '1': 'positive'}")
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
            raise HarnessError(f"{where}: labels {list(labels)}: expected at least two distinct, non-empty labels")
        controls = [x for x in (*labels, *mapping) if any(unicodedata.category(c) == "Cc" for c in x)]
        if controls:
            raise HarnessError(f"{where}: label {controls[0]!r}: expected a label on one line, got a control character "
                               "(a newline, tab, ...) that the prompt would show raw; fix: remove it from labels=")
        by_case = Counter(x.casefold() for x in labels)
        same = [x for x in labels if by_case[x.casefold()] > 1]
        if same:
            raise HarnessError(f"{where}: labels {same}: expected labels that differ by more than case, got labels that "
                               "differ only by case, while replies are matched to labels case-insensitively (one could "
                               f"never be told from the other); fix: keep one, or map both raw values to it: "
                               f"labels={{{same[0]!r}: {same[0]!r}, {same[1]!r}: {same[0]!r}, ...}}")
        clashing = [(a, b) for a in labels for b in labels if a != b and re.search(
            r"(?<![^\W_])" + re.escape(a) + r"(?![^\W_])", b, flags=re.IGNORECASE)]
        if clashing:
            a, b = clashing[0]
            raise HarnessError(f"{where}: label {a!r} is a word of label {b!r}, so a reply naming {b!r} also names "
                               f"{a!r} and could never be parsed; rename one (e.g. {b.replace(' ', '_')!r})")
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise HarnessError(f"{where}: instruction: expected the task in one sentence, e.g. 'Route the support "
                               "ticket to the team that handles it.'")
        if not 0 < float(self.test_size) < 1:
            raise HarnessError(f"{where}: test_size={self.test_size!r}: expected a fraction between 0 and 1, e.g. 0.2")
        if not self.data:
            raise HarnessError(f"{where}: data: expected a file (CSV, JSONL, Parquet) or a save_to_disk folder")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "mapping", mapping)
        object.__setattr__(self, "marker", self.marker or slug(self.name))
        object.__setattr__(self, "description", self.description or f"{self.name}: {', '.join(labels)}")
        object.__setattr__(self, "default_models", tuple(self.default_models))
        object.__setattr__(self, "prompts", Prompts.from_instruction(self.name, self.instruction, labels,
                                                                     text_name=self.text_name))

    # -- identity, so a worker's copy and the controller's are the same task -------------------------------
    def spec(self) -> dict[str, Any]:
        """The declaration as plain values (``ClassificationTask(**spec)`` rebuilds it)."""
        out = {}
        for f in fields(self):
            if not f.init:
                continue
            value = vars(self)[f.name]
            if f.name == "labels":
                value = dict(self.mapping) if any(k != v for k, v in self.mapping.items()) else list(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @property
    def columns(self) -> Columns:
        """Where the items are in the data files (:mod:`harness.tasks.records` reads them)."""
        return Columns(text=self.text, label=self.label, mapping=self.mapping)

    # -- data ------------------------------------------------------------------------------------------
    def split(self, seed: int, root: Path | None) -> "DeclaredSplit":
        root = Path(root) if root is not None else Path.cwd()
        seed = self.seed if self.seed is not None else seed
        data_files = [resolve(p, root, "data") for p in as_list(self.data)]
        pool = read_all(data_files, self.columns)
        if self.test is None:
            checked = check_pool(pool)
            self.check_splittable(checked, data_files)
            split = make_split(checked, seed=seed, method="stratified", test_size=float(self.test_size))
            train, test, method = split.train, split.test, "stratified"
            files = data_files
        else:
            test_files = [resolve(p, root, "test") for p in as_list(self.test)]
            test_rows = read_all(test_files, self.columns)
            train_ex, test_ex = check_pool(pool), check_pool(test_rows)
            refuse_leaks(pool, test_rows)
            train, test, method = tuple(train_ex), tuple(test_ex), "given-test-file"
            files = data_files + test_files
        for side, items in (("test", test), ("train", train)):
            missing = [label for label in self.labels if not any(e.label == label for e in items)]
            if missing:
                raise HarnessError(
                    f"task {self.name!r} ({', '.join(map(str, files))}): the {side} side has no item labelled "
                    f"{missing[0]!r} (labels with none: "
                    f"{missing}; counts: {dict(Counter(e.label for e in items))}): expected every declared label on "
                    "both sides. Add labelled examples, drop the label from labels=, or give a larger test_size")
        return DeclaredSplit(train=tuple(train), test=tuple(test), seed=seed, method=method, pool=pool, files=files)

    def check_splittable(self, items: Sequence[Example], files: Sequence[Path]) -> None:
        """A HarnessError naming the files, the counts and what would work when ``items`` cannot be split
        into a train and a test side that both hold every label (sklearn's stratified split)."""
        counts = Counter(e.label for e in items)
        named = ", ".join(str(f) for f in files)
        if len(counts) < 2:
            raise HarnessError(f"{named}: expected items of at least two labels to split into train and test, got "
                               f"{len(items)} items all labelled {next(iter(counts), None)!r}; fix: add items of the "
                               f"other labels {[x for x in self.labels if x not in counts]}, or give test= a test file")
        if len(items) < 10:
            raise HarnessError(f"{named}: cannot split {len(items)} examples: expected at least 10, got {len(items)} "
                               f"(counts {dict(counts)}); fix: add labelled items, or give test= a test file")
        rare = [label for label, n in counts.items() if n < 2]
        if rare:
            raise HarnessError(f"{named}: label {rare[0]!r} has one item: expected at least 2 of every label for a "
                               f"stratified split, got counts {dict(counts)}; fix: add items labelled {rare[0]!r}, "
                               "drop the label, or give test= a test file")
        n_test = -(-len(items) * float(self.test_size) // 1)  # sklearn rounds the test side up
        n_train = len(items) - n_test
        if min(n_test, n_train) < len(counts):
            side = "test" if n_test < len(counts) else "train"
            low = len(counts) / len(items)
            raise HarnessError(
                f"{named}: test_size={self.test_size} leaves {int(n_train)} train and {int(n_test)} test items of "
                f"{len(items)}: expected at least one item of each of the {len(counts)} labels on both sides, got a "
                f"{side} side too small; fix: a test_size from {low:.3f} to {1 - low:.3f} (e.g. 0.2), or give test= "
                "a test file")

    def load(self, config: RunConfig) -> TaskData:
        split = self.split(config.seed, config.root)
        test_all = split.test
        if config.limit is not None and config.limit > len(test_all):
            raise HarnessError(f"--harness-limit={config.limit} but task {self.name!r} has {len(test_all)} test items; "
                               f"use a limit of at most {len(test_all)}, or leave it out to run them all")
        test = test_all[: config.limit] if config.limit else test_all
        shots = select_shots(split.train, self.labels, per_label=config.shots_per_label, seed=split.seed)
        return TaskData(test=test, train=split.train, shots=shots,
                        context={"full_test": test_all}, meta=split.meta(self, config.limit, len(test), shots))

    def training_data(self, request: TrainingRequest) -> TrainingData:
        split = self.split(request.seed, request.root)
        pool = stratified_take(split.train, request.limit, request.seed) if request.limit else list(split.train)
        train, validation = carve_validation(pool, request.val_fraction, request.seed)
        return TrainingData(
            train=tuple(train), validation=tuple(validation), test_fingerprint=fingerprint(split.test),
            test_ids=tuple(e.id for e in split.test), source=split.source(), task=self.name,
            task_version=self.version, template_version=self.template_version,
            messages=self.prompts.training_messages, split_method=split.method,
            notes={"pool": f"{len(split.train)} train items", "not_taken_by_limit": len(split.train) - len(pool),
                   **split.pool.counts()})


@dataclass(frozen=True)
class DeclaredSplit:
    train: tuple[Example, ...]
    test: tuple[Example, ...]
    seed: int
    method: str
    pool: Pool
    files: list[Path]

    def source(self) -> str:
        return "; ".join(f"{Path(f).name} sha256:{h[:16]}" for f, h in self.pool.sha256.items())

    def notes(self, task: ClassificationTask) -> list[str]:
        out = [f"labels: {_mapping_text(task)}"] if any(k != v for k, v in task.mapping.items()) else []
        if self.pool.duplicates:
            out.append(f"{self.pool.duplicates} exact repeats (same text, same label) dropped before splitting")
        return out

    def meta(self, task: ClassificationTask, limit: int | None, n_evaluated: int,
             shots: Sequence[Example]) -> dict[str, Any]:
        return {
            "data": {"source": "declared", "directory": str(Path(str(self.files[0]).partition("#")[0]).parent),
                     "is_sample": False, "notes": self.notes(task),
                     "file": ", ".join(Path(str(f)).name for f in self.files),
                     "file_sha256": ";".join(self.pool.sha256.values()), "agreement": "n/a",
                     "examples": len(self.train) + len(self.test), "duplicate_lines": 0,
                     "exact_repeats_dropped": self.pool.duplicates,
                     "conflicting_sentences_removed": 0, "columns": {"text": task.text, "label": task.label}},
            "split": {"method": "given test file" if self.method == "given-test-file" else
                      f"stratified train_test_split(test_size={task.test_size}, random_state={self.seed})",
                      "seed": self.seed, "n_train": len(self.train), "n_test": len(self.test),
                      "n_evaluated": n_evaluated, "limit": limit, "test_fingerprint": fingerprint(self.test),
                      "leaked_removed_from_train": 0, "repeats_removed_from_train": 0, "test_repeats_kept": 0},
            "few_shot_examples": [e.id for e in shots],
        }


def _mapping_text(task: ClassificationTask) -> str:
    return ", ".join(f"{k} -> {v}" for k, v in task.mapping.items())
