"""FPB agreement slices (``-m slices``): how much worse do models get on sentences annotators disagreed on?

The ``Sentences_*Agree`` files are cumulative (a 75 % sentence is also in 66Agree and 50Agree), so each
band is a file minus the next stricter one, by normalised text: **75-99 %** = 75Agree - AllAgree,
**66-74 %** = 66Agree - 75Agree, **50-65 %** = 50Agree - 66Agree. From every band, sentences whose
normalised text is in the AllAgree *train* split (the one the floor and the adapter learned from, and the
few-shot pool) are excluded, and repeats within a band are dropped; the counts of both are reported. The
AllAgree *test* split (same seed as the main job) is evaluated beside them as the **100 %** band, so the
drop from unanimous to contested sentences is paired on one run's models.

Prompts, parser and few-shot examples are the main job's (:mod:`harness.tasks.fpb.prompts`, AllAgree train), so
``adapter:fpb-sentiment-smollm2-135m`` runs on exactly its trained prompt. ``cot`` is not run by default
(~3,000 sentences of generation on a CPU); ``--harness-task-option fpb-slices.cot=1`` adds it.
``--harness-limit N`` evaluates the first N sentences of every band.
The band counts and band rows are typed records (:mod:`harness.tasks.fpb.slice_rows`); the tables read them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from harness import HarnessError
from harness.models.registry import Role, is_api, role_of
from harness.report.rows import rows_of
from harness.tasks.fpb.data import LABELS, Example, load_fpb, resolve_source
from harness.tasks.fpb.prompts import select_shots
from harness.splits import fingerprint, make_split, normalise, without_leaks
from harness.tasks.base import LoadedRun, RunConfig, TaskData
from harness.tasks.fpb.sentiment import FpbPromptTask, fpb_settings
from harness.tasks.fpb.slice_rows import BandCounts, SliceRow, SlicesReport

BANDS: tuple[tuple[str, str, str | None], ...] = (
    # band, file, next stricter file (subtracted)
    ("100 (AllAgree test)", "allagree", None),
    ("75-99", "75agree", "allagree"),
    ("66-74", "66agree", "75agree"),
    ("50-65", "50agree", "66agree"),
)


def make_bands(files: dict[str, tuple[Example, ...]], train: tuple[Example, ...],
               test: tuple[Example, ...]) -> tuple[dict[str, tuple[Example, ...]], dict[str, BandCounts]]:
    """The contested bands (file minus next stricter file), without AllAgree-train sentences, deduplicated;
    and per band what was excluded and why. ``files`` maps agreement level -> examples."""
    train_texts = {normalise(e.text) for e in train}
    bands: dict[str, tuple[Example, ...]] = {BANDS[0][0]: tuple(test)}
    counts = {BANDS[0][0]: BandCounts(in_file=len(test), kept=len(test))}
    for band, level, stricter in BANDS[1:]:
        stricter_texts = {normalise(e.text) for e in files[stricter]}
        kept, excluded, repeats = without_leaks(files[level], stricter_texts | train_texts)
        in_stricter = sum(normalise(e.text) in stricter_texts for e in files[level])
        in_train = excluded - in_stricter  # in the AllAgree train split but not in the stricter file
        bands[band] = tuple(kept)
        counts[band] = BandCounts(in_file=len(files[level]), in_stricter_file=in_stricter,
                                  excluded_in_allagree_train=in_train, repeats_dropped=repeats, kept=len(kept))
    return bands, counts


class FpbSlices(FpbPromptTask):
    name = "fpb-slices"
    marker = "slices"
    description = "FPB agreement slices: 75-99 / 66-74 / 50-65 % agreement, AllAgree train excluded"
    default_models = ("tfidf-logreg", "smollm2-135m", "adapter:fpb-sentiment-smollm2-135m")
    companion_of = "fpb-sentiment"
    """The main job's report shows this task's table when both ran in one session."""

    def companion_table(self, report: dict[str, Any]) -> dict[str, Any]:
        typed = SlicesReport.from_json(report)
        return {"title": "Robustness: weighted F1 by annotator agreement (AllAgree train excluded)",
                "notes": notes(typed) + ["Δ = band minus the 100 % band (same models, same run); n per cell."],
                "table": band_table(typed)}

    def load(self, config: RunConfig) -> TaskData:
        options = config.options_for(self.name)
        if set(options) - {"cot"}:
            raise HarnessError(f"--harness-task-option fpb-slices.{sorted(set(options) - {'cot'})[0]}: unknown key; "
                               "expected fpb-slices.cot=1")
        cot = options.get("cot", "0") not in ("0", "", "false", "no")
        settings = fpb_settings(config)
        source = resolve_source(config.data_dir, root=config.root)
        if source.is_sample:
            raise HarnessError("agreement slices need the real FPB files (Sentences_50Agree.txt and the others); "
                               "set FPB_DIR or --harness-data")
        files = {level: load_fpb(source.file_for(level)).examples for _, level, _ in BANDS}
        split = make_split(files["allagree"], seed=config.seed, method=settings.split)
        bands, counts = make_bands(files, split.train, split.test)
        band_of: dict[str, str] = {}
        test: list[Example] = []
        for band, examples in bands.items():
            chosen = examples[: config.limit] if config.limit else examples
            for e in chosen:
                band_of[e.id] = band
            test.extend(chosen)
            counts[band] = replace(counts[band], evaluated=len(chosen))
        shots = select_shots(split.train, per_label=config.shots_per_label, seed=config.seed)
        test_t = tuple(test)
        return TaskData(
            test=test_t, train=split.train, shots=shots,
            context=dict(full_test=test_t, split_method=settings.split, agreement="slices", is_sample=False,
                         predictions_dir=None, adapter_task="fpb-sentiment", adapter_task_version=1),
            meta={
                "data": {"source": source.kind, "directory": str(source.directory), "is_sample": False, "notes": [],
                         "file": "Sentences_{AllAgree,75Agree,66Agree,50Agree}.txt", "agreement": "slices",
                         "examples": len(test_t), "duplicate_lines": 0, "conflicting_sentences_removed": 0},
                "split": {"method": f"bands of the agreement files; AllAgree {split.method} split seed {split.seed} "
                                    "(train excluded from every band, test = the 100 % band)",
                          "seed": split.seed, "n_train": len(split.train), "n_test": len(test_t),
                          "n_evaluated": len(test_t), "limit": config.limit, "test_fingerprint": fingerprint(test_t),
                          "leaked_removed_from_train": split.leaked_removed_from_train,
                          "repeats_removed_from_train": split.repeats_removed_from_train, "test_repeats_kept": 0},
                "bands": {band: c.to_json() for band, c in counts.items()},
                "few_shot_examples": [e.id for e in shots],
            },
            extra={"band_of": band_of, "cot": cot},
        )

    def model_problem(self, data: TaskData, model: str, strategy: str | None) -> str | None:
        if role_of(model) is Role.PUBLISHED_REPLIES:
            return "published replies exist only for the AllAgree test split (the main job)"
        if strategy == "cot" and not data.extra.get("cot", False) and not is_api(model):  # local compute
            return "cot over ~3,000 sentences takes ~45 min on a 2-core CPU; add it with --harness-task-option fpb-slices.cot=1"
        return None

    def build_report(self, run: LoadedRun, cases: list[dict[str, Any]], *,
                     expected: Mapping[tuple[str, str], int], **common: Any) -> dict[str, Any]:
        from harness import report as report_mod

        band_of = run.data.extra["band_of"]
        meta = run.meta()
        bands = SlicesReport.from_json(meta).bands
        band_reports: dict[str, list[dict[str, Any]]] = {}
        out: dict[str, Any] = {**meta, "band_reports": band_reports}
        first = None
        for band, _, _ in BANDS:
            band_cases = [c for c in cases if band_of[c["example_id"]] == band]
            if not band_cases:
                continue
            built = report_mod.build_report(meta, band_cases, labels=LABELS,
                                            expected={pair: bands[band].evaluated for pair in expected}, **common)
            first = first or built
            band_reports[band] = [SliceRow.of(row).to_json() for row in rows_of(built)]
        for key in ("schema_version", "created_at", "git_sha", "python", "packages", "notice", "partial"):
            out[key] = first.get(key) if first else None
        return out

    def write_report(self, report: dict[str, Any], cases: list[dict[str, Any]], directory: Any,
                     texts: dict[str, str]) -> dict[str, Any]:
        import json
        from pathlib import Path

        from harness.files import atomic_write_text
        from harness.report import predictions_csv

        json_path, markdown_path, csv_path = (Path(directory) / f"{self.name}{end}"
                                              for end in (".json", ".md", "_predictions.csv"))
        atomic_write_text(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        lines = [f"# {self.name}: weighted F1 by annotator agreement", ""]
        typed = SlicesReport.from_json(report)
        lines += [f"> {line}" for line in notes(typed)]
        lines += [""] + ["| " + " | ".join(row) + " |" if i != 1 else "|" + "---|" * len(row)
                         for i, row in enumerate(_with_rule(band_table(typed)))]
        lines += ["", "weighted F1 [95 % bootstrap CI] per band; Δ = band minus the 100 % band (same models, same run).",
                  f"Generated {typed.created_at} at git {typed.git_sha or 'unknown'}.", ""]
        atomic_write_text(markdown_path, "\n".join(lines))
        atomic_write_text(csv_path, predictions_csv(cases))
        return {"json": json_path, "markdown": markdown_path, "csv": csv_path}

    def terminal_lines(self, report: dict[str, Any]) -> list[str]:
        from harness.report import text_table

        typed = SlicesReport.from_json(report)
        return notes(typed) + text_table(band_table(typed))


def notes(report: SlicesReport) -> list[str]:
    """What each band holds and why sentences were left out; the pairs that did not run."""
    lines = []
    for band, c in report.bands.items():
        lines.append(f"band {band}: {c.evaluated or 0} evaluated of {c.kept} kept" + (
            f" ({c.in_file} in its file, {c.in_stricter_file} also in the stricter file, "
            f"{c.excluded_in_allagree_train} excluded as AllAgree train, {c.repeats_dropped} repeats dropped)"
            if c.contested else " (the main job's test split)"))
    for name, reason in report.unavailable.items():
        lines.append(f"not run: {name}: {reason}")
    return lines


def _with_rule(table: list[list[str]]) -> list[list[str]]:
    return [table[0], table[0]] + table[1:]


def band_table(report: SlicesReport) -> list[list[str]]:
    bands = list(report.band_reports)
    head = ["model", "strategy"] + [f"{b} (n)" for b in bands] + [f"Δ {b}" for b in bands[1:]]
    rows = []
    pairs = []
    for band in bands:
        for r in report.band_reports[band]:
            if r.pair not in pairs:
                pairs.append(r.pair)
    for pair in pairs:
        found = {b: next((r for r in report.band_reports[b] if r.pair == pair), None) for b in bands}
        cells = [f"{r.weighted_f1:.3f} [{r.weighted_f1_ci95[0]:.3f}, {r.weighted_f1_ci95[1]:.3f}] ({r.n})"
                 if r else "-" for r in found.values()]
        base = found[bands[0]]
        deltas = [f"{found_b.weighted_f1 - base.weighted_f1:+.3f}" if (found_b := found[b]) and base else "-"
                  for b in bands[1:]]
        rows.append(list(pair) + cells + deltas)
    return [head] + rows


TASK = FpbSlices()
