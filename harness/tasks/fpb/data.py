"""Financial PhraseBank v1.0: reading the four agreement files and finding them.

Format (Malo et al. 2014): latin-1, CRLF, one ``sentence@label`` per line; split on the *last* ``@``.
Duplicates and conflicting labels are counted and reported by :func:`load_fpb`, never silently kept:
exact duplicate lines stay in the data (the published split protocol runs over the file as it is) and
are reported; sentences that occur with two different labels are removed and reported.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness import HarnessError, files
from harness.example import Example

LABELS: tuple[str, ...] = ("positive", "negative", "neutral")
AGREEMENTS: dict[str, str] = {
    "allagree": "Sentences_AllAgree.txt",
    "75agree": "Sentences_75Agree.txt",
    "66agree": "Sentences_66Agree.txt",
    "50agree": "Sentences_50Agree.txt",
}
FPB_ENV = "FPB_DIR"
SAMPLE_FOLDER = Path("fixtures") / "financial_phrasebank_sample"
"""The project's own small synthetic sample, in this repository (not in the package)."""


def sample_dir(root: str | os.PathLike[str] | None = None) -> Path:
    return (Path(root) if root else Path.cwd()).resolve() / SAMPLE_FOLDER


SAMPLE_DIR = sample_dir()
SAMPLE_FILE = "Sentences_Sample.txt"
HUB_REPO = "takala/financial_phrasebank"
HUB_ZIP = "data/FinancialPhraseBank-v1.0.zip"


@dataclass(frozen=True)
class FpbFile:
    """The examples of one agreement file plus what loading found in it."""

    path: Path
    examples: tuple[Example, ...]
    sha256: str
    duplicate_lines: int
    """Lines that repeat an earlier line exactly (kept, reported)."""
    conflicts: tuple[str, ...]
    """Sentences seen with more than one label (every copy removed, reported)."""


@dataclass(frozen=True)
class DataSource:
    """Where the FPB files came from; ``is_sample`` puts a loud notice on every report."""

    directory: Path
    kind: str  # "option", "env", "hub" or "sample"
    is_sample: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def file_for(self, agreement: str) -> Path:
        if self.is_sample:
            return self.directory / SAMPLE_FILE
        try:
            return self.directory / AGREEMENTS[agreement]
        except KeyError:
            raise HarnessError(
                f"unknown FPB agreement level {agreement!r}: expected one of {sorted(AGREEMENTS)}"
            ) from None


def parse_fpb_bytes(raw: bytes, *, source: str, id_prefix: str) -> list[Example]:
    """Parse FPB bytes. Every malformed line is an error naming the line, never skipped."""
    _check_encoding(raw, source)
    text = raw.decode("latin-1")  # decodes any byte: _check_encoding refused what would decode wrongly
    lines = re.split(r"\r\n|\r|\n", text)  # CRLF as shipped; LF or CR from an edited copy read the same
    while lines and lines[-1] == "":
        lines.pop()
    examples = []
    for number, line in enumerate(lines, start=1):
        sentence, sep, label = line.rpartition("@")
        label = label.strip()
        if not sep:
            raise HarnessError(
                f"{source}:{number}: expected 'sentence@label', got a line without '@': {line[:80]!r}. "
                "Is this a Financial PhraseBank Sentences_*.txt file?"
            )
        if label not in LABELS:
            raise HarnessError(
                f"{source}:{number}: expected a label in {list(LABELS)} after the last '@', got {label!r}"
            )
        if not sentence.strip():
            raise HarnessError(f"{source}:{number}: empty sentence before '@{label}'")
        examples.append(Example(id=f"{id_prefix}-L{number:04d}", text=sentence.strip(), label=label))
    if not examples:
        raise HarnessError(f"{source}: no examples (empty file)")
    return examples


def _check_encoding(raw: bytes, source: str) -> None:
    """Refuse bytes that latin-1 would decode without error but wrongly: UTF-16/32, UTF-8, binary."""
    fix = ("expected the original latin-1 Financial PhraseBank file; use the original, or convert this copy "
           "with: iconv -f {enc} -t LATIN1 FILE > FILE.latin1")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in raw[:200] and raw.count(b"\x00") > len(raw) // 4):
        raise HarnessError(f"{source}: the file looks like UTF-16 or UTF-32 (a byte-order mark or NUL bytes); "
                           + fix.format(enc="UTF-16"))
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise HarnessError(f"{source}:{line}: a NUL byte: expected text; the file is binary or corrupted. "
                           "Restore the original Sentences_*.txt file.")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise HarnessError(f"{source}: the file starts with a UTF-8 byte-order mark; " + fix.format(enc="UTF-8"))
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            _refuse_c1(raw, source)
            return  # latin-1 with accents (the original files are not valid UTF-8)
        raise HarnessError(f"{source}: the file is UTF-8 (it was re-saved): read as latin-1 its accented "
                           "letters would be garbled (\u00c5 as \u00c3\u0085); " + fix.format(enc="UTF-8"))


C1 = re.compile(rb"[\x80-\x9f]")


def _refuse_c1(raw: bytes, source: str) -> None:
    """Refuse bytes 0x80-0x9F: latin-1 control characters, never in the original files, but cp1252's curly
    quotes, dashes and euro sign (0x92 is ' in cp1252, U+0092 in latin-1)."""
    found = C1.search(raw)
    if found is None:
        return
    line = raw[: found.start()].count(b"\n") + 1
    kinds = sorted({b for b in raw if 0x80 <= b <= 0x9F})
    shown = ", ".join(f"0x{b:02X} ({bytes([b]).decode('cp1252', 'replace')!r} in cp1252)" for b in kinds[:5])
    raise HarnessError(f"{source}:{line}: expected the original latin-1 Financial PhraseBank file, got C1 bytes "
                       f"{shown}{' ...' if len(kinds) > 5 else ''}: latin-1 reads them as control characters, so this "
                       "copy looks re-saved as Windows cp1252; fix: use the original file, or convert this one with: "
                       "iconv -f CP1252 -t LATIN1//TRANSLIT FILE > FILE.latin1")


def load_fpb(path: Path) -> FpbFile:
    """Read one FPB file; report exact duplicates and drop sentences with conflicting labels."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"FPB file not found: {path}. Point {FPB_ENV} or --harness-data at the folder holding it.")
    raw = files.read_bytes(path, what="Financial PhraseBank file")  # a pipe or unreadable file: named, never a hang
    prefix = path.stem.replace("Sentences_", "fpb-").lower()
    examples = parse_fpb_bytes(raw, source=str(path), id_prefix=prefix)
    line_counts = Counter((e.text, e.label) for e in examples)
    labels_by_text: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        labels_by_text[e.text].add(e.label)
    conflicts = tuple(sorted(t for t, labels in labels_by_text.items() if len(labels) > 1))
    kept = tuple(e for e in examples if e.text not in set(conflicts))
    return FpbFile(
        path=path,
        examples=kept,
        sha256=hashlib.sha256(raw).hexdigest(),
        duplicate_lines=sum(n - 1 for n in line_counts.values()),
        conflicts=conflicts,
    )


def resolve_source(option_dir: str | os.PathLike[str] | None = None,
                   root: str | os.PathLike[str] | None = None) -> DataSource:
    """Find the FPB files: the option, then ``$FPB_DIR``, then the Hugging Face hub, then the sample
    (``fixtures/financial_phrasebank_sample`` under the project ``root``, this repository's).

    A named folder that does not hold the files is an error, not a silent fall-back to the sample.
    """
    for kind, value in (("option", option_dir), ("env", os.environ.get(FPB_ENV))):
        if value:
            directory = Path(value).expanduser()
            missing = [name for name in AGREEMENTS.values() if not (directory / name).is_file()]
            if missing:
                raise HarnessError(
                    f"{'--harness-data' if kind == 'option' else FPB_ENV}={value}: expected a folder with the "
                    f"Financial PhraseBank files, but {', '.join(missing)} not found there. "
                    "Pass the FinancialPhraseBank-v1.0 folder (it holds Sentences_AllAgree.txt and the others)."
                )
            return DataSource(directory=directory.resolve(), kind=kind)
    notes = []
    hub_dir, why = _try_hub()
    if hub_dir is not None:
        return DataSource(directory=hub_dir, kind="hub")
    notes.append(why)
    sample = sample_dir(root)
    if not (sample / SAMPLE_FILE).is_file():
        raise HarnessError(f"Financial PhraseBank not found: {notes[0]}, {FPB_ENV} is not set, and there is no sample "
                           f"at {sample}. Set {FPB_ENV} (or --harness-data) to the FinancialPhraseBank-v1.0 folder")
    return DataSource(directory=sample, kind="sample", is_sample=True, notes=tuple(notes))


def _try_hub() -> tuple[Path | None, str]:
    """Fetch the original FPB zip from the hub when online; say why not otherwise."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return None, "HF_HUB_OFFLINE is set: the Hugging Face hub was not tried"
    try:
        from huggingface_hub import hf_hub_download

        zip_path = Path(hf_hub_download(HUB_REPO, HUB_ZIP, repo_type="dataset"))
    except Exception as exc:  # offline, hub error, missing file: all mean "not from the hub"
        return None, f"Hugging Face hub unavailable ({type(exc).__name__})"
    target = zip_path.parent / "FinancialPhraseBank-v1.0"
    if not (target / AGREEMENTS["allagree"]).is_file():
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.namelist():
                if member.startswith("FinancialPhraseBank-v1.0/") and member.endswith(".txt"):
                    archive.extract(member, zip_path.parent)
    return target, "downloaded from the Hugging Face hub"
