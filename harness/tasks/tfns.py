"""Twitter Financial News Sentiment (TFNS; ``-m tfns``): finance tweets, bearish / bullish / neutral.

The valid split (2,388 tweets) is the test set, as in FinGPT's and FinLoRA's benchmarks; the train split
trains the TF-IDF floor and gives the few-shot examples. Labels are mapped onto FPB's, stated in every
report: **0 bearish -> negative, 1 bullish -> positive, 2 neutral -> neutral**. Prompts and parser are
FPB's (:mod:`harness.tasks.fpb.prompts`), so the FPB-trained adapter (``adapter:fpb-sentiment-smollm2-135m``) is
evaluated cross-domain on exactly the prompt it was trained on, and the TFNS-trained one
(``adapter:tfns-sentiment-smollm2-135m``, ``python -m finetune tfns``) in-domain on the same prompt.
Published weighted-F1 anchors on this split: GPT-4o zero-shot 0.740, Llama-3.1-8B + LoRA 0.932 (FinLoRA),
FinGPT v3.3 0.903.

Only ``zero_shot`` and ``few_shot`` run by default (label scoring); ``cot`` generates up to 128 tokens
per tweet (about 30 minutes for SmolLM2 on a 2-core CPU): ``--harness-task-option tfns.cot=1`` adds it.
Data folder: ``--harness-task-option tfns.data=DIR``, else ``$TFNS_DIR``, else
``../shared/data/twitter_financial_news_sentiment`` from the repository root.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError, files
from harness.example import Example
from harness.models.registry import Role, is_api, role_of
from harness.report.rows import Record
from harness.tasks.fpb.prompts import select_shots
from harness.splits import fingerprint, normalise, without_leaks
from harness.tasks.base import RunConfig, TaskData
from harness.tasks.fpb.sentiment import FpbPromptTask
from harness.tasks.training import TrainingData, TrainingRequest, carve_validation, stratified_take

TFNS_ENV = "TFNS_DIR"
DEFAULT_DIR = Path.cwd().resolve().parent / "shared" / "data" / "twitter_financial_news_sentiment"
TRAIN_FILE, VALID_FILE = "sent_train.csv", "sent_valid.csv"
FILES = {"train": TRAIN_FILE, "valid": VALID_FILE}
LABEL_MAP = {"0": "negative", "1": "positive", "2": "neutral"}
MAPPING_TEXT = "TFNS label 0 bearish -> negative, 1 bullish -> positive, 2 neutral -> neutral"
TRAINED_ON = ("in-domain: tfidf-logreg and adapter:tfns-sentiment-smollm2-135m are trained on TFNS train tweets; "
              "cross-domain: adapter:fpb-sentiment-smollm2-135m is trained on FPB sentences only")
ANCHORS = (("GPT-4o zero-shot (published)", 0.740), ("Llama-3.1-8B + LoRA (FinLoRA, published)", 0.932),
           ("FinGPT v3.3 (published)", 0.903))


@dataclass(frozen=True, kw_only=True)
class F1Anchor(Record):
    """A published weighted F1 on the TFNS valid split: context for the report, never a paired comparison."""

    name: str
    weighted_f1: float


@dataclass(frozen=True, kw_only=True)
class TfnsNotes(Record):
    """What the TFNS notes read of its report: the published anchors and the pairs that did not run."""

    anchors_weighted_f1: Sequence[F1Anchor] = ()
    unavailable: Mapping[str, str] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TfnsNotes:
        return cls.from_mapping(data, anchors_weighted_f1=lambda a: tuple(map(F1Anchor.from_json, a)))

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(anchors_weighted_f1=[a.to_json() for a in self.anchors_weighted_f1])


def tfns_dir(explicit: str | None = None) -> Path:
    named = explicit or os.environ.get(TFNS_ENV)
    folder = Path(named) if named else DEFAULT_DIR
    if not all((folder / f).is_file() for f in FILES.values()):
        raise HarnessError(f"TFNS files not found: expected {sorted(FILES.values())} in {folder}; set {TFNS_ENV} or "
                           "--harness-task-option tfns.data=DIR to the twitter_financial_news_sentiment folder")
    return folder


def read_tfns(path: Path, split: str) -> tuple[tuple[Example, ...], str]:
    """Examples of one TFNS CSV (header ``text,label``; labels 0/1/2), ids by 1-based data row; and its sha256."""
    raw = files.read_bytes(Path(path), what="TFNS file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: expected UTF-8 CSV text, got undecodable bytes; use the original file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["text", "label"]:
        raise HarnessError(f"{path}: expected the header 'text,label', got {header!r}")
    examples = []
    for number, row in enumerate(reader, start=1):
        if len(row) != 2 or row[1].strip() not in LABEL_MAP or not row[0].strip():
            raise HarnessError(f"{path}: data row {number}: expected 'text,label' with label 0, 1 or 2, got {row!r}")
        examples.append(Example(f"tfns-{split}-R{number:05d}", " ".join(row[0].split()), LABEL_MAP[row[1].strip()]))
    if not examples:
        raise HarnessError(f"{path}: no rows")
    return tuple(examples), hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class TfnsSplit:
    """The valid split (the test set) and the train split minus tweets that repeat a test tweet or an earlier
    train tweet (normalised text): what the suite evaluates on and what ``python -m finetune tfns`` trains on."""
    test: tuple[Example, ...]
    train: tuple[Example, ...]
    test_sha256: str
    train_sha256: str
    leaked_removed: int
    repeats_removed: int


def load_split(folder: Path) -> TfnsSplit:
    test, test_sha = read_tfns(folder / VALID_FILE, "valid")
    train_all, train_sha = read_tfns(folder / TRAIN_FILE, "train")
    train, leaked, repeats = without_leaks(train_all, {normalise(e.text) for e in test})
    return TfnsSplit(test, tuple(train), test_sha, train_sha, leaked, repeats)


class Tfns(FpbPromptTask):
    name = "tfns"
    marker = "tfns"
    description = "Twitter Financial News Sentiment (valid split): a tweet-trained adapter and FPB's, cross-domain"
    default_models = ("tfidf-logreg", "smollm2-135m", "adapter:fpb-sentiment-smollm2-135m",
                      "adapter:tfns-sentiment-smollm2-135m", "openai:gpt-4o", "openai:gpt-4o-mini")
    adapter_task = "fpb-sentiment"
    """Adapters trained for FPB are accepted here too (cross-domain), beside this task's own (in-domain)."""
    companion_of = "fpb-sentiment"
    """The main job's report shows this task's table when both ran in one session."""

    def companion_table(self, report: dict[str, Any]) -> dict[str, Any]:
        from harness import report as report_mod

        table = [row[:7] for row in report_mod.leaderboard(report)]  # quality columns; costs are in tfns.md
        return {"title": "Cross-domain: Twitter Financial News Sentiment (valid split)",
                "notes": header_notes(report)
                         + [f"not run: {k}: {v}" for k, v in (TfnsNotes.from_json(report).unavailable or {}).items()],
                "table": table}

    def load(self, config: RunConfig) -> TaskData:
        options = config.options_for(self.name)
        unknown = sorted(set(options) - {"data", "cot"})
        if unknown:
            raise HarnessError(f"--harness-task-option tfns.{unknown[0]}: unknown key; expected tfns.data=DIR or tfns.cot=1")
        cot = options.get("cot", "0") not in ("0", "", "false", "no")
        folder = tfns_dir(options.get("data"))
        split = load_split(folder)
        test_all, train = split.test, split.train
        if config.limit is not None and config.limit > len(test_all):
            raise HarnessError(f"--harness-limit={config.limit} but the TFNS valid split has {len(test_all)} tweets")
        test = test_all[: config.limit] if config.limit else test_all
        shots = select_shots(train, per_label=config.shots_per_label, seed=config.seed)
        return TaskData(
            test=test, train=tuple(train), shots=shots,
            context=dict(full_test=test_all, split_method="tfns-valid", agreement="tfns", is_sample=False,
                         predictions_dir=None, adapter_task=self.adapter_task, adapter_task_version=1),
            meta={
                "data": {"source": "tfns", "directory": str(folder), "is_sample": False, "notes": [MAPPING_TEXT],
                         "file": VALID_FILE, "file_sha256": split.test_sha256, "train_file_sha256": split.train_sha256,
                         "agreement": "n/a", "examples": len(test_all), "duplicate_lines": 0,
                         "conflicting_sentences_removed": 0, "label_mapping": MAPPING_TEXT},
                "split": {"method": "TFNS valid split as test (FinGPT / FinLoRA protocol), train split as train",
                          "seed": config.seed, "n_train": len(train), "n_test": len(test_all), "n_evaluated": len(test),
                          "limit": config.limit, "test_fingerprint": fingerprint(test_all),
                          "leaked_removed_from_train": split.leaked_removed,
                          "repeats_removed_from_train": split.repeats_removed,
                          "test_repeats_kept": 0},
                "few_shot_examples": [e.id for e in shots],
                "anchors_weighted_f1": [F1Anchor(name=n, weighted_f1=v).to_json() for n, v in ANCHORS],
            },
            extra={"cot": cot},
        )

    adapter_stem = "tfns-sentiment"

    def training_data(self, request: TrainingRequest) -> TrainingData:
        """TFNS train tweets (stratified, seeded when ``limit`` takes N), minus a validation slice; FPB's prompt."""
        folder = tfns_dir(request.data_dir)
        split = load_split(folder)
        pool = stratified_take(split.train, request.limit, request.seed) if request.limit else list(split.train)
        train, validation = carve_validation(pool, request.val_fraction, request.seed)
        return TrainingData(
            train=tuple(train), validation=tuple(validation), test_fingerprint=fingerprint(split.test),
            test_ids=tuple(e.id for e in split.test), source=f"tfns: {TRAIN_FILE} sha256:{split.train_sha256[:16]}",
            task=self.name, task_version=self.version, template_version=self.template_version,
            messages=self.prompts.training_messages, split_method="tfns-valid",
            notes={"pool": f"{TRAIN_FILE} ({len(split.train) + split.leaked_removed + split.repeats_removed} tweets)",
                   "label_mapping": MAPPING_TEXT, "left_out_repeating_a_test_tweet": split.leaked_removed,
                   "left_out_repeating_a_train_tweet": split.repeats_removed,
                   "not_taken_by_limit": len(split.train) - len(pool)})

    def model_problem(self, data: TaskData, model: str, strategy: str | None) -> str | None:
        if role_of(model) is Role.PUBLISHED_REPLIES:
            return "published replies exist only for FPB AllAgree"
        if strategy == "cot" and not data.extra.get("cot", False) and not is_api(model):  # local compute
            return "cot over 2,388 tweets is ~30 min on a 2-core CPU; add it with --harness-task-option tfns.cot=1"
        return None

    def terminal_lines(self, report: dict[str, Any]) -> list[str]:
        from harness import report as report_mod

        return header_notes(report) + report_mod.terminal_lines(report)

    def write_report(self, report: dict[str, Any], cases: list[dict[str, Any]], directory: Path,
                     texts: dict[str, str]) -> dict[str, Path]:
        from harness import report as report_mod

        paths = report_mod.write(report, cases, directory, texts=texts)
        markdown = paths["markdown"]
        text = markdown.read_text()
        head, _, rest = text.partition("\n\n")
        extra = "".join(f"> {line}\n" for line in header_notes(report))
        files.atomic_write_text(markdown, f"{head}\n\n{extra}{rest}")
        return paths


def header_notes(report: dict[str, Any]) -> list[str]:
    """What every TFNS table is read with: the label mapping, which rows saw tweets, the published anchors."""
    return [f"labels: {MAPPING_TEXT}", TRAINED_ON, anchor_line(report)]


def anchor_line(report: dict[str, Any]) -> str:
    return ("published weighted-F1 anchors on the TFNS valid split (other models; context, not paired): "
            + "; ".join(f"{a.name} {a.weighted_f1:.3f}" for a in TfnsNotes.from_json(report).anchors_weighted_f1))


TASK = Tfns()
