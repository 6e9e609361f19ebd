"""Labelled-text classification: the generic task, and the one a team declares for its own data.

:class:`LabelledTextTask` is what every classification task shares: prompts rendered through one
:class:`harness.prompts.Prompts`, the strict parser over the declared labels, few-shot examples drawn from
the train side, the train/test leak and repeat filter, and the training data that ``python -m finetune``
asks for. FPB sentiment, its agreement slices and TFNS are subclasses with their own loaders.

:class:`ClassificationTask` is the declared task: a few lines in a suite file name the data files, the
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
expected, what came and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.example import Example
from harness.models.base import Request
from harness.models.registry import Role, role_of
from harness.parsing import parse_label
from harness.prompts import STRATEGIES, Prompts, select_shots
from harness.splits import fingerprint, make_split, normalise
from harness.tasks import TaskData
from harness.tasks.training import TrainingData, TrainingRequest, carve_validation, stratified_take

DEFAULT_MODELS = ("tfidf-logreg", "smollm2-135m")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class LabelledTextTask:
    """Shared by the classification tasks: prompts, parser and few-shot examples over ``labels``.

    A subclass sets ``name``, ``marker``, ``description``, ``labels``, ``prompts`` and ``default_models``
    and implements :meth:`load` (and :meth:`training_data` if it can be fine-tuned on)."""

    version = 1
    strategies = STRATEGIES
    history = False
    """Whether runs are saved to reports/runs/ and gated by default (the main job)."""
    published_replies = False
    """Whether the ``published-*`` replay models apply (FPB only)."""
    labels: tuple[str, ...]
    prompts: Prompts

    @property
    def template_version(self) -> str:
        return self.prompts.version

    @property
    def adapter_stem(self) -> str:
        """The default adapter folder is ``adapters/<adapter_stem>-<base>``."""
        return self.name  # type: ignore[attr-defined]

    def request(self, data: TaskData, strategy: str, index: int) -> Request:
        example = data.test[index]
        if strategy in STRATEGIES:
            prompt = self.prompts.render(strategy, example.text, shots=data.shots if strategy == "few_shot" else ())
        else:  # trained floors and published replies get the bare text; nothing is prompted
            prompt = self.prompts.render("zero_shot", example.text)
        return Request(example=example, prompt=prompt, labels=tuple(self.labels))

    def parse(self, data: TaskData, index: int, reply: str) -> Any:
        return parse_label(reply, self.labels)

    def model_problem(self, model: str, strategy: str | None) -> str | None:
        if role_of(model) is Role.PUBLISHED_REPLIES and not self.published_replies:
            return "published replies exist only for FPB AllAgree (the fpb-sentiment task)"
        return None

    def training_data(self, request: TrainingRequest) -> TrainingData:
        raise HarnessError(f"task {self.name!r} has no training data to fine-tune on")  # type: ignore[attr-defined]


def _slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


@dataclass(frozen=True)
class ClassificationTask(LabelledTextTask):
    """A labelled-text classification task declared in a suite file (see the module docstring)."""

    history = True
    """A declared task is its project's main job: runs are saved to reports/runs/ and can be gated."""

    name: str
    data: str | Sequence[str]
    """One file (or folder, or a list of them): all items, or the train side when ``test`` is given."""
    labels: Sequence[str] | Mapping[str, str]
    """The label set, or a mapping from raw values in the label column to labels."""
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
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise HarnessError(f"ClassificationTask name={self.name!r}: expected letters, digits, '-', '_' or '.' "
                               "(it names the report files and the cassette folder), e.g. name='support-tickets'")
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
        object.__setattr__(self, "marker", self.marker or _slug(self.name))
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
            value = getattr(self, f.name)
            if f.name == "labels":
                value = dict(self.mapping) if any(k != v for k, v in self.mapping.items()) else list(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    # -- data ------------------------------------------------------------------------------------------
    def split(self, seed: int, root: Path | None) -> "DeclaredSplit":
        root = Path(root) if root is not None else Path.cwd()
        seed = self.seed if self.seed is not None else seed
        data_files = [_resolve(p, root, "data") for p in _as_list(self.data)]
        pool = _read_all(data_files, self)
        if self.test is None:
            checked = _check_pool(pool, self)
            split = make_split(checked, seed=seed, method="stratified", test_size=float(self.test_size))
            train, test, method = split.train, split.test, "stratified"
            files = data_files
        else:
            test_files = [_resolve(p, root, "test") for p in _as_list(self.test)]
            test_rows = _read_all(test_files, self)
            train_ex, test_ex = _check_pool(pool, self), _check_pool(test_rows, self)
            _refuse_leaks(pool, test_rows)
            train, test, method = tuple(train_ex), tuple(test_ex), "given-test-file"
            files = data_files + test_files
        for side, items in (("test", test), ("train", train)):
            missing = [label for label in self.labels if not any(e.label == label for e in items)]
            if missing:
                raise HarnessError(
                    f"task {self.name!r}: the {side} side has no item labelled {missing[0]!r} (labels with none: "
                    f"{missing}; counts: {dict(Counter(e.label for e in items))}): expected every declared label on "
                    "both sides. Add labelled examples, drop the label from labels=, or give a larger test_size")
        return DeclaredSplit(train=tuple(train), test=tuple(test), seed=seed, method=method, pool=pool, files=files)

    def load(self, config: Any) -> TaskData:
        split = self.split(config.seed, getattr(config, "root", None))
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


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def _resolve(spec: str, root: Path, what: str) -> Path:
    raw, _, _part = str(spec).partition("#")
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise HarnessError(f"{what} file {path} not found (from {spec!r}, relative to the project root {root}): "
                           "expected a CSV, TSV, JSONL or Parquet file or a datasets save_to_disk folder; fix the "
                           "path in the task declaration")
    return Path(str(path) + (f"#{_part}" if _part else ""))


@dataclass(frozen=True)
class Row:
    where: str
    """``file:line`` (CSV, JSONL) or ``file row N`` (Parquet, datasets)."""
    id: str
    text: str
    raw_label: str
    label: str


@dataclass(frozen=True)
class Pool:
    rows: tuple[Row, ...]
    sha256: dict[str, str]
    duplicates: int = 0

    def counts(self) -> dict[str, int]:
        return {"exact_duplicates_removed": self.duplicates}


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


# -- reading -------------------------------------------------------------------------------------------------
def _read_all(paths: Sequence[Path], task: ClassificationTask) -> Pool:
    rows: list[Row] = []
    hashes: dict[str, str] = {}
    stems = Counter(Path(str(p).partition("#")[0]).stem for p in paths)
    for n, path in enumerate(paths):
        stem = Path(str(path).partition("#")[0]).stem
        prefix = _slug(stem if stems[stem] == 1 else f"{stem}{n}")
        records, digest = _records(path)
        hashes[str(path)] = digest
        for where, number, record in records:
            rows.append(_row(where, f"{prefix}-R{number:05d}", record, task))
    if not rows:
        raise HarnessError(f"{', '.join(map(str, paths))}: no rows: expected a header and labelled rows")
    return Pool(tuple(rows), hashes)


def _records(path: Path) -> tuple[list[tuple[str, int, Mapping[str, Any]]], str]:
    """(where, 1-based row number, record) of one file, and a sha256 of what was read."""
    raw_path, _, part = str(path).partition("#")
    real = Path(raw_path)
    if real.is_dir():
        return _dataset_records(real, part)
    kind = SUFFIXES.get(real.suffix.lower())
    if kind is None:
        raise HarnessError(f"{real}: unknown file type {real.suffix!r}: expected .csv, .tsv, .jsonl, .ndjson, "
                           ".parquet, or a folder written by datasets' save_to_disk")
    raw = _read_bytes(real)
    digest = hashlib.sha256(raw).hexdigest()
    if kind == "parquet":
        return _parquet_records(real, raw), digest
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HarnessError(f"{real}:{line}: expected UTF-8 text, got undecodable bytes at offset {exc.start} "
                           f"({raw[exc.start:exc.start + 4]!r}); convert the file, e.g. iconv -f LATIN1 -t UTF-8 "
                           f"{real.name} > fixed{real.suffix}") from None
    if kind == "jsonl":
        return _jsonl_records(real, text), digest
    return _csv_records(real, text, "\t" if kind == "tsv" else ","), digest


def _read_bytes(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read it ({exc.strerror}); expected a readable data file") from None
    if not stat.S_ISREG(mode):
        raise HarnessError(f"{path}: expected a regular file, got a pipe, device or socket; copy the data to a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None


def _csv_records(path: Path, text: str, delimiter: str) -> list[tuple[str, int, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if not header:
            raise HarnessError(f"{path}: empty file: expected a header row naming the columns, then labelled rows")
        header = [h.strip() for h in header]
        out = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line is not a record
            if len(row) != len(header):
                raise HarnessError(f"{path}:{line}: expected {len(header)} fields (header {header}), got {len(row)}: "
                                   f"{row[:4]!r}; quote fields that contain the delimiter")
            out.append((f"{path}:{line}", len(out) + 1, dict(zip(header, row))))
    except csv.Error as exc:
        raise HarnessError(f"{path}:{reader.line_num}: not valid CSV ({exc}); quote fields that hold quotes or "
                           "newlines") from None
    return out


def _jsonl_records(path: Path, text: str) -> list[tuple[str, int, Mapping[str, Any]]]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise HarnessError(f"{path}:{number}: expected one JSON object per line, got invalid JSON ({exc}): "
                               f"{line[:80]!r}") from None
        if not isinstance(record, dict):
            raise HarnessError(f"{path}:{number}: expected a JSON object per line, got {type(record).__name__}")
        out.append((f"{path}:{number}", len(out) + 1, record))
    return out


def _parquet_records(path: Path, raw: bytes) -> list[tuple[str, int, Mapping[str, Any]]]:
    try:
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(raw))
    except ImportError as exc:
        raise HarnessError(f"{path}: reading Parquet needs pyarrow ({exc}): pip install pyarrow") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file: say which
        raise HarnessError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    return [(f"{path} row {i + 1}", i + 1, record) for i, record in enumerate(frame.to_dict("records"))]


def _dataset_records(folder: Path, part: str) -> tuple[list[tuple[str, int, Mapping[str, Any]]], str]:
    try:
        from datasets import Dataset, DatasetDict, load_from_disk
    except ImportError:
        raise HarnessError(f"{folder} is a folder: reading a datasets save_to_disk folder needs the datasets "
                           "package: pip install datasets") from None
    try:
        loaded = load_from_disk(str(folder))
    except Exception as exc:  # noqa: BLE001
        raise HarnessError(f"{folder}: expected a folder written by datasets' save_to_disk ({type(exc).__name__}: "
                           f"{exc}); or name a CSV, JSONL or Parquet file") from None
    if isinstance(loaded, DatasetDict):
        if part not in loaded:
            raise HarnessError(f"{folder} holds a DatasetDict with splits {sorted(loaded)}: name one as "
                               f"'{folder}#{next(iter(loaded))}'" + (f" (got #{part})" if part else ""))
        loaded = loaded[part]
    elif part:
        raise HarnessError(f"{folder} holds one Dataset, not a DatasetDict: drop '#{part}'")
    assert isinstance(loaded, Dataset)
    digest = getattr(loaded, "_fingerprint", "") or hashlib.sha256(str(folder).encode()).hexdigest()
    where = f"{folder}" + (f"#{part}" if part else "")
    return [(f"{where} row {i + 1}", i + 1, record) for i, record in enumerate(loaded)], digest


def _row(where: str, item_id: str, record: Mapping[str, Any], task: ClassificationTask) -> Row:
    for column, role in ((task.text, "text"), (task.label, "label")):
        if column not in record:
            raise HarnessError(f"{where}: no column {column!r} (the task's {role} column): the columns are "
                               f"{sorted(map(str, record))}; set {role}=<column> in the task declaration")
    text, raw = record[task.text], record[task.label]
    if text is None or not str(text).strip():
        raise HarnessError(f"{where}: empty {task.text!r}: expected the text to classify; remove the row or fill it")
    raw_label = "" if raw is None else str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        raw_label = str(int(raw))  # a numeric label column read as float (Parquet with nulls, pandas)
    if raw_label not in task.mapping:
        mapped = any(k != v for k, v in task.mapping.items())
        raise HarnessError(
            f"{where}: label {raw_label!r} in column {task.label!r}: expected one of {sorted(task.mapping)}"
            + (" (the raw values of the label mapping)" if mapped else "")
            + f"; add it to labels= (or map it: labels={{{raw_label!r}: <label>, ...}}) or fix the row")
    return Row(where, item_id, " ".join(str(text).split()), raw_label, task.mapping[raw_label])


def _check_pool(pool: Pool, task: ClassificationTask) -> list[Example]:
    """Examples of ``pool`` minus exact repeats (same text, same label: the first kept, counted). A text
    that occurs with two labels is an error naming both rows."""
    first: dict[str, Row] = {}
    kept: list[Example] = []
    duplicates = 0
    for row in pool.rows:
        key = normalise(row.text)
        earlier = first.get(key)
        if earlier is None:
            first[key] = row
            kept.append(Example(row.id, row.text, row.label))
        elif earlier.label != row.label:
            raise HarnessError(
                f"{row.where}: the same text as {earlier.where} with another label ({row.raw_label!r} here, "
                f"{earlier.raw_label!r} there): {row.text[:80]!r}. Expected one label per text: fix or remove one row")
        else:
            duplicates += 1
    object.__setattr__(pool, "duplicates", duplicates)
    return kept


def _refuse_leaks(train: Pool, test: Pool) -> None:
    test_rows = {normalise(r.text): r for r in test.rows}
    for row in train.rows:
        hit = test_rows.get(normalise(row.text))
        if hit is not None:
            raise HarnessError(f"{row.where}: this training text is also a test item ({hit.where}): {row.text[:80]!r}. "
                               "A test item seen in training inflates every trained row: remove it from one file")
