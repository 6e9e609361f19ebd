"""Reading a declared task's data files into checked rows: CSV / TSV, JSON Lines, Parquet, or a folder
written by ``datasets``' ``save_to_disk`` (``folder#split`` for a ``DatasetDict``).

Every bad input is refused before any model runs, with the file and row, what was expected, what came and
the fix: a missing column, an empty text, a label outside the declared set, a text given two labels, a
training text that is also a test item. Exact repeats (same text, same label) are dropped and counted.
Used by :class:`harness.tasks.classification.ClassificationTask`.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.example import Example
from harness.splits import normalise

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Columns:
    """Where a declared task's items are in its files: the text and label columns, and the label mapping."""

    text: str
    label: str
    mapping: Mapping[str, str]
    """Raw value in the label column -> label."""


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


def slug(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name)


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def resolve(spec: str, root: Path, what: str) -> Path:
    raw, _, _part = str(spec).partition("#")
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise HarnessError(f"{what} file {path} not found (from {spec!r}, relative to the project root {root}): "
                           "expected a CSV, TSV, JSONL or Parquet file or a datasets save_to_disk folder; fix the "
                           "path in the task declaration")
    return Path(str(path) + (f"#{_part}" if _part else ""))


def read_all(paths: Sequence[Path], columns: Columns) -> Pool:
    rows: list[Row] = []
    hashes: dict[str, str] = {}
    stems = Counter(Path(str(p).partition("#")[0]).stem for p in paths)
    for n, path in enumerate(paths):
        stem = Path(str(path).partition("#")[0]).stem
        prefix = slug(stem if stems[stem] == 1 else f"{stem}{n}")
        records, digest = _records(path)
        hashes[str(path)] = digest
        for where, number, record in records:
            rows.append(_row(where, f"{prefix}-R{number:05d}", record, columns))
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
    limit = csv.field_size_limit(FIELD_LIMIT)  # a valid CSV may hold a long field (a whole filing, a transcript)
    try:
        return _csv_rows(path, text, delimiter)
    finally:
        csv.field_size_limit(limit)


FIELD_LIMIT = 2**31 - 1
"""The CSV field size limit while a declared task's file is read (Python's default, 131072 characters, would
refuse a valid file with one long text)."""
OTHER_DELIMITERS = {";": ";", "\t": "a tab", "|": "|", ",": ","}


def _csv_rows(path: Path, text: str, delimiter: str) -> list[tuple[str, int, Mapping[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        header = next(reader, None)
        if not header:
            raise HarnessError(f"{path}: empty file: expected a header row naming the columns, then labelled rows")
        header = [h.strip() for h in header]
        _refuse_other_delimiter(path, header, delimiter)
        out = []
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line is not a record
            if len(row) != len(header):
                raise HarnessError(f"{path}:{line}: expected {len(header)} fields (header {header}), got {len(row)}: "
                                   f"{row[:4]!r}; quote fields that contain the delimiter")
            out.append((f"{path}:{line}", len(out) + 1, dict(zip(header, row))))
    except csv.Error as exc:
        if "end of data" in str(exc) or reader.line_num > start:
            raise HarnessError(f"{path}:{start}: not valid CSV: expected a closed quoted field, got a quote opened in "
                               f"the record starting on line {start} that runs to line {reader.line_num} ({exc}); fix: "
                               "close the quote, or double a quote inside a quoted field (\"\")") from None
        raise HarnessError(f"{path}:{reader.line_num}: not valid CSV ({exc}); quote fields that hold quotes or "
                           "newlines") from None
    return out


def _refuse_other_delimiter(path: Path, header: list[str], delimiter: str) -> None:
    """A one-column header holding another delimiter: the file is separated by that one."""
    if len(header) != 1:
        return
    other = next((d for d in OTHER_DELIMITERS if d != delimiter and d in header[0]), None)
    if other is not None:
        raise HarnessError(
            f"{path}:1: header {header[0]!r}: expected columns separated by {OTHER_DELIMITERS[delimiter]!r} (the "
            f"{path.suffix} suffix), got one column: the file looks {OTHER_DELIMITERS[other]}-separated. A declared "
            "task reads .csv as comma-separated and .tsv as tab-separated; fix: convert it, e.g. python -c \"import "
            f"csv,sys; csv.writer(sys.stdout).writerows(csv.reader(open(sys.argv[1], newline=''), delimiter="
            f"{other!r}))\" {path.name} > fixed.csv")


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


def _row(where: str, item_id: str, record: Mapping[str, Any], columns: Columns) -> Row:
    for column, role in ((columns.text, "text"), (columns.label, "label")):
        if column not in record:
            raise HarnessError(f"{where}: no column {column!r} (the task's {role} column): the columns are "
                               f"{sorted(map(str, record))}; set {role}=<column> in the task declaration")
    text, raw = record[columns.text], record[columns.label]
    for column, value in ((columns.text, text), (columns.label, raw)):
        if hasattr(value, "__len__") and not isinstance(value, str):  # a JSON list or object, Parquet array, bytes
            kind = {list: "a JSON list", dict: "a JSON object"}.get(type(value), f"a {type(value).__name__}")
            raise HarnessError(f"{where}: column {column!r}: expected a string, got {kind} ({repr(value)[:60]}), "
                               "which would be read as its Python repr; fix: write the text itself in that field")
    if text is None or not str(text).strip():
        raise HarnessError(f"{where}: empty {columns.text!r}: expected the text to classify; remove the row or fill it")
    raw_label = "" if raw is None else str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        raw_label = str(int(raw))  # a numeric label column read as float (Parquet with nulls, pandas)
    if raw_label not in columns.mapping:
        mapped = any(k != v for k, v in columns.mapping.items())
        raise HarnessError(
            f"{where}: label {raw_label!r} in column {columns.label!r}: expected one of {sorted(columns.mapping)}"
            + (" (the raw values of the label mapping)" if mapped else "")
            + f"; add it to labels= (or map it: labels={{{raw_label!r}: <label>, ...}}) or fix the row")
    return Row(where, item_id, " ".join(str(text).split()), raw_label, columns.mapping[raw_label])


def check_pool(pool: Pool) -> list[Example]:
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


def refuse_leaks(train: Pool, test: Pool) -> None:
    test_rows = {normalise(r.text): r for r in test.rows}
    for row in train.rows:
        hit = test_rows.get(normalise(row.text))
        if hit is not None:
            raise HarnessError(f"{row.where}: this training text is also a test item ({hit.where}): {row.text[:80]!r}. "
                               "A test item seen in training inflates every trained row: remove it from one file")
