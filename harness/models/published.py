"""Published raw LLM replies replayed as a model (Shah & Chava 2023, "Zero is Not Hero Yet").

The CSVs hold gpt-4 (2023-07-07) and gpt-3.5-turbo (2023-05-13) zero-shot replies on the three published
FPB AllAgree test splits. Each file is valid only on exactly its split: the rows must equal the harness's
test split sentence for sentence, in order, or loading fails. Scoring uses the FPB file's own labels,
not the CSV's ``true_label`` column (which disagrees with FPB in 12 rows).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Sequence

from harness import HarnessError, files
from harness.example import Example
from harness.models.base import Reply, Request

PREDICTIONS_ENV = "FPB_PREDICTIONS_DIR"
DEFAULT_FOLDER = "fpb_llm_predictions_shah_chava_2023"
PUBLISHED = {
    # model name: (file prefix, API model, run date)
    "published-gpt-4": ("gpt4_FPB-sentiment-analysis-allagree_{seed}_", "gpt-4", "2023-07-07"),
    "published-gpt-3.5-turbo": ("chatgpt_FPB-sentiment-analysis-allagree_{seed}_", "gpt-3.5-turbo", "2023-05-13"),
}
SHIPPED_SHA256 = {
    # the six files of gtfintechlab/zero-shot-finance@d8a6aad, as shipped (PROVENANCE.md of the folder)
    "chatgpt_FPB-sentiment-analysis-allagree_5768_13_05_2023_32.csv":
        "b352100122aaf3ff6f3154216123205746177519c7d4338645d52fd40bd28f6e",
    "chatgpt_FPB-sentiment-analysis-allagree_78516_13_05_2023_28.csv":
        "379b02e602fc128f679aa05bbe09e2e3fef98df68692a9d35e09bc62c4cb7002",
    "chatgpt_FPB-sentiment-analysis-allagree_944601_13_05_2023_33.csv":
        "c0d22cbd7c13d71f7d5ffa859f92588f125459b7e3bfdd92075b170a5846648b",
    "gpt4_FPB-sentiment-analysis-allagree_5768_07_07_2023_76.csv":
        "0b2cb9cdd07be40bb18a4c44bc17da2ac4627b52b1adb60c91b181b981001a04",
    "gpt4_FPB-sentiment-analysis-allagree_78516_07_07_2023_70.csv":
        "0b883a007c4724199bdad08d9b116cab2d7d5be774b52421d19409c2d533bc8b",
    "gpt4_FPB-sentiment-analysis-allagree_944601_07_07_2023_65.csv":
        "ce220b3c39f1112d449f5079b56a3150b9e2f6f79c8d4ff3e3875afef7c566a4",
}
"""sha256 of each shipped replies file: a file of one of these names with other bytes is refused (an edited
reply would change a published row's score with no word)."""
CITATION = "Shah & Chava 2023, arXiv:2305.16633; replies from gtfintechlab/zero-shot-finance@d8a6aad (CC BY-NC 4.0)"


def find_file(folder: Path, name: str, seed: int) -> Path:
    prefix = PUBLISHED[name][0].format(seed=seed)
    if not folder.is_dir():
        got = "a file" if folder.exists() else "nothing at that path"
        raise HarnessError(f"{name}: expected the {DEFAULT_FOLDER} folder at {folder}, got {got}; fix: point "
                           f"{PREDICTIONS_ENV} (or --harness-predictions) at that folder")
    matches = sorted(folder.glob(prefix + "*.csv"))
    if len(matches) != 1:
        raise HarnessError(
            f"{name}: expected one file {prefix}*.csv in {folder}, got {len(matches)}"
            + (f" ({', '.join(p.name for p in matches)})" if matches else "")
            + f"; fix: point {PREDICTIONS_ENV} at the {DEFAULT_FOLDER} folder, and keep one file per model and seed"
        )
    return matches[0]


class PublishedReplies:
    strategies = ("published_zero_shot",)
    kind = "replayed"

    def __init__(self, name: str, path: Path, test: Sequence[Example]) -> None:
        if name not in PUBLISHED:
            raise HarnessError(f"unknown published model {name!r}: expected one of {sorted(PUBLISHED)}")
        raw = files.read_bytes(path, what=f"{name} published replies CSV")
        digest = check_shipped(raw, Path(path))
        rows = read_rows(raw, path, name)
        if len(rows) != len(test):
            raise HarnessError(
                f"{path}: expected one row per test sentence ({len(test)}), got {len(rows)} rows. Published replies "
                "exist only for the published split (--harness-split=published, seed 5768/78516/944601, AllAgree)."
            )
        for number, (row, example) in enumerate(zip(rows, test), start=1):
            if row["original_sent"].strip() != example.text:
                raise HarnessError(
                    f"{path} row {number}: sentence differs from test item {example.id}; these replies belong to "
                    "another split. Use the published split of Sentences_AllAgree.txt with the file's seed."
                )
        self.name = name
        self.batch_size = len(rows)
        self.replies = {example.id: row["text_output"] for example, row in zip(test, rows)}
        _, api_model, date = PUBLISHED[name]
        self.provenance = (
            f"raw {api_model} replies from {date} ({CITATION}); file {Path(path).name} "
            f"sha256:{digest[:16]}{'' if Path(path).name in SHIPPED_SHA256 else ' (not a shipped file name: unchecked)'}; the 2023 prompt, not this harness's"
        )

    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        unknown = [r.example.id for r in requests if r.example.id not in self.replies]
        if unknown:
            raise HarnessError(f"{self.name}: expected test items of the published split, got {len(unknown)} others "
                               f"(e.g. {unknown[0]}); fix: run it on --harness-split=published with the file's seed")
        return [Reply(text=self.replies[r.example.id], latency_s=None, latency_source="none") for r in requests]


def check_shipped(raw: bytes, path: Path) -> str:
    """The sha256 of ``raw``; a HarnessError when ``path`` has a shipped file's name but other bytes."""
    digest = hashlib.sha256(raw).hexdigest()
    expected = SHIPPED_SHA256.get(path.name)
    if expected is not None and digest != expected:
        raise HarnessError(f"{path}: published replies file edited: expected sha256 {expected} (the shipped file), "
                           f"got {digest}; fix: restore the original from the {DEFAULT_FOLDER} folder "
                           "(gtfintechlab/zero-shot-finance@d8a6aad): its replies are scored as published")
    return digest


COLUMNS = ("original_sent", "text_output")


def read_rows(raw: bytes, path: Path, name: str) -> list[dict[str, str]]:
    """The CSV's rows, each with both columns as strings; one HarnessError naming the file (and the row) for
    bytes that are not UTF-8, a CSV that does not parse, missing columns or a short row."""
    what = f"{name} published replies CSV"
    text = files.decode(raw, path, encoding="utf-8-sig", what=what)
    try:
        reader = csv.DictReader(text.splitlines(keepends=True))
        rows = list(reader)
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise HarnessError(f"{what} {path}: expected a CSV file, got a parse error ({exc}); fix: fetch a fresh copy "
                           f"of the {DEFAULT_FOLDER} folder") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        got = f"columns {header}" if header else "an empty file"
        raise HarnessError(f"{what} {path}: expected columns {', '.join(COLUMNS)}, got {got} (missing {missing}); "
                           f"fix: point {PREDICTIONS_ENV} at the {DEFAULT_FOLDER} folder")
    for number, row in enumerate(rows, start=1):
        short = [c for c in COLUMNS if not isinstance(row.get(c), str)]
        if short:
            raise HarnessError(f"{what} {path} row {number}: expected a value in every column, got none for "
                               f"{', '.join(short)} (a truncated row?); fix: fetch a fresh copy of the "
                               f"{DEFAULT_FOLDER} folder")
    return rows
