"""Experiments that train several adapters and evaluate each with the harness on the same test split.

* :func:`learning_curve`: "how many labelled examples beat the prompted LLM?" — the same recipe on
  n = 20, 50, ... labelled examples (stratified, seeded), weighted F1 with its CI against the baselines.
* :func:`distillation`: a teacher's labels instead of gold — the sentences the teacher labelled with its
  labels, the same sentences with gold labels, and all gold.

Each writes ``reports/<name>.json`` and ``.md``: aggregates only (no sentence text), so they can be committed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError
from finetune.config import TrainConfig
from harness.models.card import CARD, AdapterCard, Hyperparameters
from harness.models.registry import Role, role_of

BASELINES = ("published-gpt-4", "published-gpt-3.5-turbo", "tfidf-logreg", "smollm2-135m")
BASELINE_STRATEGIES = ("zero_shot", "published_zero_shot", "supervised")


def evaluate(models: Sequence[str], config: TrainConfig, *, resamples: int = 1000) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Weighted F1 [95 % CI] of each model's zero-shot-style pair on the split's test side (all of it, unless
    ``--eval-limit`` asks for the first N sentences: a smoke test, flagged in the report)."""
    from harness.benchmark import Benchmark, BenchmarkConfig
    from harness.metrics import score

    bench = Benchmark(BenchmarkConfig(data_dir=config.data_dir, seed=config.seed, task_options=(f"fpb.split={config.split}",),
                                      models=tuple(models), strategies=BASELINE_STRATEGIES, bootstrap=resamples,
                                      limit=config.extra.get("eval_limit")))
    rows = []
    for model, strategy in bench.pairs:
        cases = [bench.case(model, strategy, i) for i in range(len(bench.test))]
        s = score([c.gold for c in cases], [c.pred for c in cases], bench.task.labels, resamples=resamples, seed=config.seed)
        rows.append({"model": model, "strategy": strategy, "n_test": s.n, "weighted_f1": round(s.weighted_f1, 4),
                     "weighted_f1_ci95": [round(x, 4) for x in s.weighted_f1_ci], "accuracy": round(s.accuracy, 4),
                     "parse_failures": sum(c.pred is None for c in cases)})
    meta = bench.meta()
    return rows, {"split": meta["split"], "data": {k: meta["data"][k] for k in ("source", "file", "file_sha256")},
                  "not_run": dict(bench.unavailable)}


def _train_or_reuse(config: TrainConfig) -> AdapterCard:
    from finetune.train import train

    card_path = config.out / CARD
    if card_path.is_file():
        card = AdapterCard.read(card_path)
        if card.hyperparameters.to_json() == _recipe(config) and card.split_seed == config.seed:
            return card  # trained before with exactly this recipe: evaluate it again, don't retrain
    return as_card(train(replace(config, overwrite=True)))  # the experiment's own folder, trained with another recipe


def as_card(trained: AdapterCard | dict[str, Any]) -> AdapterCard:
    """The card ``finetune.train.train`` returned (a dict until it returns an :class:`AdapterCard`)."""
    return trained if isinstance(trained, AdapterCard) else AdapterCard.from_json(trained, "the card just trained")


def _same_recipe(hyperparameters: Hyperparameters, config: TrainConfig) -> bool:
    """Same hyper-parameters apart from what the experiment varies (size, labels, the small-set step floor)."""
    varied = ("limit", "min_steps", "teacher", "teacher_labels")
    # as JSON on both sides: the config holds tuples where a card's JSON holds lists
    used = {k: v for k, v in hyperparameters.to_json().items() if k not in varied}
    return used == {k: v for k, v in _recipe(config).items() if k not in varied}


def _recipe(config: TrainConfig) -> dict[str, Any]:
    """The hyper-parameters as a card stores them (JSON: tuples become lists)."""
    return json.loads(json.dumps(config.hyperparameters()))


def _card_summary(card: AdapterCard) -> dict[str, Any]:
    keep = ("train_examples", "validation_examples", "label_source", "steps", "epochs_run", "wall_seconds",
            "train_tokens_per_second", "device", "backend", "best_eval_loss", "train_data_sha256", "created_at")
    written = card.to_json()
    return {k: written.get(k) for k in keep}


def _write(report: dict[str, Any], name: str, report_dir: Path, markdown: list[str]) -> dict[str, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": report_dir / f"{name}.json", "md": report_dir / f"{name}.md"}
    for kind, text in (("json", json.dumps(report, indent=2) + "\n"), ("md", "\n".join(markdown) + "\n")):
        tmp = paths[kind].with_suffix(paths[kind].suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(paths[kind])
    return paths


def _f1(row: dict[str, Any]) -> str:
    lo, hi = row["weighted_f1_ci95"]
    return f"{row['weighted_f1']:.3f} [{lo:.3f}, {hi:.3f}]"


def learning_curve(config: TrainConfig, sizes: Sequence[int | None], *, full_adapter: Path | None,
                   out_root: Path, report_dir: Path) -> dict[str, Any]:
    """Train the recipe on each size (``None`` = all labelled examples) and evaluate every adapter."""
    runs: list[tuple[int | None, Path, AdapterCard]] = []
    for n in sizes:
        if n is None and full_adapter is not None and (full_adapter / CARD).is_file():
            runs.append((None, full_adapter, AdapterCard.read(full_adapter / CARD)))
            continue
        cfg = replace(config, limit=n, output_dir=str(out_root / (f"n{n}" if n else "all")))
        runs.append((n, cfg.out, _train_or_reuse(cfg)))
    rows, meta = evaluate([f"adapter:{path}" for _, path, _ in runs] + list(BASELINES), config)
    by_model = {r["model"]: r for r in rows}
    curve = []
    for n, path, card in runs:
        row = by_model.get(f"adapter:{path}")
        if row is None:
            raise HarnessError(f"adapter {path} could not be evaluated: {meta['not_run']}")
        labelled = card.train_examples + card.validation_examples
        curve.append({"n": labelled, "requested": n or "all", "adapter": str(path),
                      "same_recipe": _same_recipe(card.hyperparameters, config), **row,
                      "card": _card_summary(card)})
    baselines = [r for r in rows if role_of(r["model"]) is not Role.FINE_TUNED]
    report = {"kind": "learning_curve", "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "recipe": config.hyperparameters(), "base_model": config.base, **meta, "rows": curve, "baselines": baselines}
    report["answers"] = _crossings(curve, baselines)
    md = [f"# Learning curve: SmolLM2-135M + LoRA, F1 vs labelled examples (split seed {config.seed}, "
          f"{meta['split']['n_evaluated']} test sentences)", "",
          "| labelled examples | train / validation | weighted F1 [95 % CI] | accuracy | steps | training time |",
          "|---:|---|---|---:|---:|---:|"]
    for r in curve:
        c = r["card"]
        md.append(f"| {r['n']}{'' if r['same_recipe'] else ' (another recipe: see its card)'} "
                  f"| {c['train_examples']} / {c['validation_examples']} | {_f1(r)} | {r['accuracy']:.3f} "
                  f"| {c['steps']} | {c['wall_seconds']:.0f} s |")
    md += ["", "| baseline | weighted F1 [95 % CI] |", "|---|---|"]
    md += [f"| {b['model']} · {b['strategy']} | {_f1(b)} |" for b in baselines]
    md += ["", *[f"- {line}" for line in report["answers"]], "",
           f"Recipe: {json.dumps(config.hyperparameters())}. Command: `{config.extra.get('command')}`."]
    report["paths"] = {k: str(v) for k, v in _write(report, "learning_curve", report_dir, md).items()}
    return report


def _crossings(curve: list[dict[str, Any]], baselines: list[dict[str, Any]]) -> list[str]:
    """Plain-language answers: the smallest n at or above each baseline, by point estimate and by CI."""
    lines = []
    for b in baselines:
        point = next((r["n"] for r in curve if r["weighted_f1"] >= b["weighted_f1"]), None)
        clear = next((r["n"] for r in curve if r["weighted_f1_ci95"][0] > b["weighted_f1_ci95"][1]), None)
        name = f"{b['model']} · {b['strategy']} ({b['weighted_f1']:.3f})"
        if point is None:
            lines.append(f"{name}: no size reached it")
        else:
            lines.append(f"{name}: reached at n = {point} labelled examples (point estimate); "
                         + (f"CIs separate from n = {clear}" if clear else "the CIs overlap at every size"))
    return lines


def distillation(config: TrainConfig, teacher: str, *, full_adapter: Path | None, out_root: Path,
                 report_dir: Path) -> dict[str, Any]:
    """Teacher labels vs gold labels on the same sentences vs all gold, same recipe, same test split."""
    arms = [("teacher labels", replace(config, teacher=teacher, teacher_labels=True, output_dir=str(out_root / "teacher"))),
            ("gold labels, same sentences", replace(config, teacher=teacher, teacher_labels=False,
                                                     output_dir=str(out_root / "gold-same-sentences")))]
    runs = [(arm, cfg.out, _train_or_reuse(cfg)) for arm, cfg in arms]
    if full_adapter is not None and (full_adapter / CARD).is_file():
        runs.append(("all gold labels", full_adapter, AdapterCard.read(full_adapter / CARD)))
    rows, meta = evaluate([f"adapter:{path}" for _, path, _ in runs] + [teacher], config)
    by_model = {r["model"]: r for r in rows}
    result = [{"arm": arm, "adapter": str(path), "same_recipe": _same_recipe(card.hyperparameters, config),
               **by_model[f"adapter:{path}"], "card": _card_summary(card)} for arm, path, card in runs]
    teacher_row = next(r for r in rows if r["model"] == teacher)
    report = {"kind": "distillation", "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "teacher": runs[0][2].teacher, "recipe": config.hyperparameters(), **meta, "rows": result,
              "teacher_on_test": teacher_row}
    stats = report["teacher"] or {}
    md = [f"# Distillation from {teacher} labels (split seed {config.seed}, {meta['split']['n_evaluated']} test sentences)", "",
          f"The teacher's published replies label {stats.get('sentences_labelled')} train-side sentences (from the test "
          f"sides of splits {stats.get('from_split_seeds')}); they agree with FPB's gold label on "
          f"{stats.get('agreement_with_gold', 0) * 100:.1f} % of them.", "",
          "| training labels | examples (train / validation) | weighted F1 [95 % CI] | accuracy |", "|---|---|---|---:|"]
    for r in result:
        c = r["card"]
        arm = r["arm"] + ("" if r["same_recipe"] else " (another recipe: see its card)")
        md.append(f"| {arm} | {c['train_examples']} / {c['validation_examples']} | {_f1(r)} | {r['accuracy']:.3f} |")
    md += [f"| *the teacher itself on the test split* ({teacher}) | — | {_f1(teacher_row)} | {teacher_row['accuracy']:.3f} |",
           "", f"Recipe: {json.dumps(config.hyperparameters())}."]
    report["paths"] = {k: str(v) for k, v in _write(report, "distillation", report_dir, md).items()}
    return report
