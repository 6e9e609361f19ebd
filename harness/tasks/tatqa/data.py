"""TAT-QA (Zhu et al., ACL 2021): reading ``tatqa_dataset_{dev,test_gold}.json`` into frozen dataclasses.

The files are JSON lists of *contexts* (a table plus paragraphs from one financial report), each with its
questions. A question's ``answer`` is a list of strings (span, multi-span), a number (arithmetic) or a
string of digits (count), with a ``scale`` ("", thousand, million, billion, percent).

Every file is checked against the sha256 recorded in ``PROVENANCE.md`` beside the data (the constants in
:data:`SHA256`), so a re-saved or truncated copy is an error, not a silently different benchmark. A file
that is not TAT-QA's structure is an error; a single question that cannot be scored (unknown answer type or
scale, an answer of the wrong shape, no question text, a repeated uid) is *skipped and reported* in
:attr:`TatqaSplit.skipped`, never dropped silently.

Gold-derived annotations (``rel_paragraphs``, ``facts``, ``mappings``, ...) are not loaded: nothing a model
could be shown at test time comes from them. ``derivation`` is kept for error analysis only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Union

from harness import HarnessError, files

SPLITS: dict[str, str] = {"dev": "tatqa_dataset_dev.json", "test_gold": "tatqa_dataset_test_gold.json"}
SHA256: dict[str, str] = {  # from ../shared/data/tatqa/PROVENANCE.md (tests/test_tatqa.py checks they agree)
    "dev": "8da095a819af6db3c14877c6df2d4d29960e41d1a63dd1fa853507bd2a616af5",
    "test_gold": "c4d08418359c1d76468dec420ee748a37f48c06b63cb8ec2766f19d5d314b597",
}
SOURCE = "GitHub NExTplusplus/TAT-QA, commit 870accc41953dcde885aabeb963d94aabdc0fbc3, folder dataset_raw/"
ANSWER_TYPES: tuple[str, ...] = ("span", "multi-span", "arithmetic", "count")
ANSWER_FROM: tuple[str, ...] = ("table", "text", "table-text")
SCALES: tuple[str, ...] = ("", "thousand", "million", "billion", "percent")
TATQA_ENV = "TATQA_DIR"
DEFAULT_DIR = Path.cwd().resolve().parent / "shared" / "data" / "tatqa"
"""``../shared/data/tatqa`` relative to the repository root."""

Answer = Union[str, tuple[str, ...], int, float]


@dataclass(frozen=True)
class Paragraph:
    uid: str
    order: int
    text: str


@dataclass(frozen=True)
class Context:
    """One table (rows of cell strings, as in the file) and its paragraphs (in ``order``)."""

    uid: str
    table: tuple[tuple[str, ...], ...]
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Question:
    uid: str
    order: int
    question: str
    answer: Answer
    """A tuple of strings (span: one, multi-span: several), a number (arithmetic) or digits (count)."""
    answer_type: str
    answer_from: str
    scale: str
    derivation: str
    context: Context


@dataclass(frozen=True)
class RawContext:
    """An item of the file as it is: its table object, paragraph objects and question objects, read once."""

    table: Any = None
    paragraphs: Any = None
    questions: Any = None

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> RawContext:
        return cls(**{f.name: item.get(f.name, f.default) for f in fields(cls)})


@dataclass(frozen=True)
class RawParagraph:
    """A paragraph object as the file has it (a missing field reads as its default); not an object: itself."""

    uid: Any = ""
    order: Any = None
    text: Any = None

    @classmethod
    def read(cls, item: Any) -> RawParagraph | Any:
        return cls(**{f.name: item.get(f.name, f.default) for f in fields(cls)}) if isinstance(item, dict) else item


@dataclass(frozen=True)
class RawQuestion:
    """A question object as the file has it, each field read once (a missing field reads as its default) and
    checked by :func:`parse_tatqa_bytes` before it becomes a :class:`Question`."""

    uid: Any = ""
    order: Any = None
    question: Any = None
    answer: Any = None
    answer_type: Any = None
    answer_from: Any = ""
    scale: Any = None
    derivation: Any = ""

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> RawQuestion:
        return cls(**{f.name: item.get(f.name, f.default) for f in fields(cls)})


@dataclass(frozen=True)
class ParsedAnswer:
    """What a reply's answer line says: the answer text, its ``; ``-separated spans, and the scale."""

    text: str
    spans: tuple[str, ...]
    scale: str


def answer_dict(parsed: ParsedAnswer | None) -> dict[str, Any] | None:
    """A parsed answer as the JSON-able prediction a case records (None: a parse failure)."""
    return None if parsed is None else {"text": parsed.text, "spans": list(parsed.spans), "scale": parsed.scale}


def answer_from_dict(value: dict[str, Any] | None) -> ParsedAnswer | None:
    """The parsed answer of a recorded prediction (:func:`answer_dict` reversed)."""
    return None if value is None else ParsedAnswer(value["text"], tuple(value["spans"]), value["scale"])


@dataclass(frozen=True)
class Skipped:
    uid: str
    reason: str


@dataclass(frozen=True)
class TatqaSplit:
    split: str
    path: Path
    sha256: str
    contexts: int
    questions: tuple[Question, ...]
    skipped: tuple[Skipped, ...]
    """Questions that cannot be scored: reported, never silently dropped."""

    def counts(self) -> dict[str, int]:
        """Questions per answer type, in :data:`ANSWER_TYPES` order."""
        found = Counter(q.answer_type for q in self.questions)
        return {t: found[t] for t in ANSWER_TYPES}

    def uids_sha256(self) -> str:
        """A fingerprint of exactly which questions are in the split (sorted uids)."""
        return hashlib.sha256("\n".join(sorted(q.uid for q in self.questions)).encode()).hexdigest()

    def describe(self) -> str:
        per_type = ", ".join(f"{t} {n}" for t, n in self.counts().items())
        return (f"TAT-QA {self.split}: {len(self.questions)} questions from {self.contexts} contexts "
                f"({per_type}); {len(self.skipped)} skipped")


def tatqa_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: ``explicit``, else ``$TATQA_DIR``, else ``../shared/data/tatqa`` from the repo root."""
    named = explicit or os.environ.get(TATQA_ENV)
    folder = Path(named) if named else DEFAULT_DIR
    if not folder.is_dir():
        origin = "given" if explicit else (f"${TATQA_ENV}" if named else "the default")
        raise HarnessError(
            f"TAT-QA folder not found: expected a folder holding {sorted(SPLITS.values())}, got {origin} "
            f"{str(folder)!r}, which does not exist. Set {TATQA_ENV} to the folder (from the repository root: "
            f"{TATQA_ENV}=../shared/data/tatqa), or copy the files from {SOURCE}."
        )
    return folder


def load_tatqa(split: str, directory: str | os.PathLike | None = None, *, verify: bool = True) -> TatqaSplit:
    """Read one split. ``verify=False`` skips the sha256 check (for a deliberately different file)."""
    if split not in SPLITS:
        raise HarnessError(f"unknown TAT-QA split {split!r}: expected one of {list(SPLITS)} "
                           "(no train file is shipped; few-shot and fine-tuning data come from dev)")
    path = tatqa_dir(directory) / SPLITS[split]
    if not path.is_file():
        raise HarnessError(f"TAT-QA file missing: expected {path}, got no such file. Copy "
                           f"{SPLITS[split]} from {SOURCE} into {path.parent}.")
    raw = files.read_bytes(path, what="TAT-QA file")
    digest = hashlib.sha256(raw).hexdigest()
    if verify and digest != SHA256[split]:
        raise HarnessError(
            f"{path}: sha256 mismatch: expected {SHA256[split]} (PROVENANCE.md), got {digest}. The file is not "
            f"the recorded copy (re-saved, truncated or another version). Copy it again from {SOURCE}, or load "
            "it with verify=False if the change is deliberate (its scores are then not comparable)."
        )
    return parse_tatqa_bytes(raw, split=split, path=path, sha256=digest)


def parse_tatqa_bytes(raw: bytes, *, split: str, path: Path, sha256: str = "") -> TatqaSplit:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HarnessError(f"{path}: expected TAT-QA JSON (UTF-8), got unreadable content: {error}. "
                           f"Copy the file again from {SOURCE}.") from None
    if not isinstance(data, list) or not data:
        got = "an empty list" if isinstance(data, list) else f"a JSON {type(data).__name__}"
        raise HarnessError(f"{path}: expected a non-empty JSON list of contexts ({{table, paragraphs, "
                           f"questions}}), got {got}. Is this a tatqa_dataset_*.json file?")
    questions: list[Question] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        context, item_questions = _context(item, f"{path}: context {index}")
        for item_question in item_questions:
            q = RawQuestion.read(item_question) if isinstance(item_question, dict) else None
            uid = str(q.uid) if q else ""
            reason = _unusable(q, seen) if q else f"not an object: {type(item_question).__name__}"
            if reason or q is None:
                skipped.append(Skipped(uid or f"context {index}", str(reason)))
                continue
            seen.add(uid)
            questions.append(Question(
                uid=uid, order=_int(q.order), question=q.question.strip(),
                answer=tuple(q.answer) if isinstance(q.answer, list) else q.answer,
                answer_type=q.answer_type, answer_from=q.answer_from, scale=q.scale,
                derivation=str(q.derivation), context=context,
            ))
    return TatqaSplit(split, path, sha256, len(data), tuple(questions), tuple(skipped))


def _context(item: object, where: str) -> tuple[Context, list[Any]]:
    """The context of one item of the file, and its question objects (checked one by one by the caller)."""
    fix = "Is this an unmodified tatqa_dataset_*.json file?"
    if not isinstance(item, dict) or not {"table", "paragraphs", "questions"} <= item.keys():
        got = sorted(item) if isinstance(item, dict) else type(item).__name__
        raise HarnessError(f"{where}: expected an object with table, paragraphs and questions, got {got}. {fix}")
    raw = RawContext.read(item)
    table, paragraphs = raw.table, raw.paragraphs
    rows = table.get("table") if isinstance(table, dict) else None
    if (not isinstance(rows, list) or not all(isinstance(r, list) for r in rows)
            or not all(isinstance(c, str) for r in rows for c in r)):
        raise HarnessError(f"{where}: expected table.table to be a list of rows of strings, got "
                           f"{type(rows).__name__}. {fix}")
    read = [RawParagraph.read(p) for p in paragraphs] if isinstance(paragraphs, list) else None
    if read is None or not all(isinstance(p, RawParagraph) and isinstance(p.text, str) for p in read):
        raise HarnessError(f"{where}: expected paragraphs to be a list of {{uid, order, text}}. {fix}")
    if not isinstance(raw.questions, list):
        raise HarnessError(f"{where}: expected questions to be a list, got {type(raw.questions).__name__}. {fix}")
    ordered = sorted(read, key=lambda p: _int(p.order))
    context = Context(
        uid=str(table.get("uid", "")),
        table=tuple(tuple(row) for row in rows),
        paragraphs=tuple(Paragraph(str(p.uid), _int(p.order), p.text) for p in ordered),
    )
    return context, raw.questions


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _unusable(q: RawQuestion, seen: set[str]) -> str | None:
    """Why a question cannot be scored, or None."""
    uid, answer, kind = q.uid, q.answer, q.answer_type
    if not isinstance(uid, str) or not uid:
        return "no uid"
    if uid in seen:
        return "repeated uid"
    if not isinstance(q.question, str) or not q.question.strip():
        return "no question text"
    if kind not in ANSWER_TYPES:
        return f"unknown answer_type {kind!r}"
    if q.scale not in SCALES:
        return f"unknown scale {q.scale!r}"
    if kind in ("span", "multi-span"):
        if not isinstance(answer, list) or not answer or not all(isinstance(s, str) and s.strip() for s in answer):
            return f"{kind} answer is not a non-empty list of strings: {answer!r}"[:200]
        if kind == "span" and len(answer) != 1:
            return f"span answer has {len(answer)} spans"
    elif kind == "arithmetic":
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
            return f"arithmetic answer is not a number: {answer!r}"[:200]
    elif not (isinstance(answer, (str, int)) and not isinstance(answer, bool) and str(answer).strip().isdigit()):
        return f"count answer is not a whole number: {answer!r}"[:200]
    return None
