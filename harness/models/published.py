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

from harness import HarnessError
from harness.data import Example
from harness.models.base import Reply, Request

PREDICTIONS_ENV = "FPB_PREDICTIONS_DIR"
DEFAULT_FOLDER = "fpb_llm_predictions_shah_chava_2023"
PUBLISHED = {
    # model name: (file prefix, API model, run date)
    "published-gpt-4": ("gpt4_FPB-sentiment-analysis-allagree_{seed}_", "gpt-4", "2023-07-07"),
    "published-gpt-3.5-turbo": ("chatgpt_FPB-sentiment-analysis-allagree_{seed}_", "gpt-3.5-turbo", "2023-05-13"),
}
CITATION = "Shah & Chava 2023, arXiv:2305.16633; replies from gtfintechlab/zero-shot-finance@d8a6aad (CC BY-NC 4.0)"


def find_file(folder: Path, name: str, seed: int) -> Path:
    prefix = PUBLISHED[name][0].format(seed=seed)
    matches = sorted(folder.glob(prefix + "*.csv"))
    if len(matches) != 1:
        raise HarnessError(
            f"{name}: expected one file {prefix}*.csv in {folder}, found {len(matches)}. "
            f"Point {PREDICTIONS_ENV} at the {DEFAULT_FOLDER} folder."
        )
    return matches[0]


class PublishedReplies:
    strategies = ("published_zero_shot",)
    kind = "replayed"

    def __init__(self, name: str, path: Path, test: Sequence[Example]) -> None:
        if name not in PUBLISHED:
            raise HarnessError(f"unknown published model {name!r}: expected one of {sorted(PUBLISHED)}")
        raw = Path(path).read_bytes()
        rows = list(csv.DictReader(raw.decode("utf-8").splitlines(keepends=True)))
        missing = {"original_sent", "text_output"} - set(rows[0] if rows else {})
        if missing:
            raise HarnessError(f"{path}: expected columns original_sent and text_output, missing {sorted(missing)}")
        if len(rows) != len(test):
            raise HarnessError(
                f"{path}: {len(rows)} rows, but the test split has {len(test)} sentences. Published replies "
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
            f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}; the 2023 prompt, not this harness's"
        )

    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(text=self.replies[r.example.id], latency_s=None, latency_source="none") for r in requests]
