"""Train a LoRA / QLoRA adapter and write it with its card.

The backends (:mod:`finetune.backends`), the collators (:mod:`finetune.collators`), the callbacks
(:mod:`finetune.callbacks`) and the card (:mod:`finetune.card`) live beside this module; this one runs them.
Adapters are written in float16 (half the bytes; LoRA weights are small numbers well inside its range).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from harness import HarnessError
from finetune.backends import QLORA_ABOVE, TRAINED_PRECISION, base_parameters, load_model, pick_backend
from finetune.callbacks import between_steps, nan_guard
from finetune.card import Run, build_card, to_float16
from finetune.collators import OneBatch, PadCollator, shared_prefix_trainer
from finetune.config import TrainConfig
from finetune.data import encode, token_batches, training_data
from harness.models.adapter import CARD
from finetune.shared_prefix import SuffixCollator, common_prefix_length

__all__ = ["QLORA_ABOVE", "TRAINED_PRECISION", "base_parameters", "pick_backend", "refuse_overwrite", "to_float16",
           "train"]


def train(config: TrainConfig) -> dict[str, Any]:
    """Train, save the adapter and its card into ``config.output_dir``, and return the card."""
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

    refuse_overwrite(config)
    set_seed(config.seed)
    backend = pick_backend(config.backend, base_parameters(config.base) if config.backend == "auto" else None)
    labels, label_source, teacher_stats = _labels(config)
    data = training_data(config, labels, label_source)
    model, tokenizer, weights, provenance = load_model(config, backend)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_rows = [encode(e, tokenizer, data.messages) for e in data.train]
    val_rows = [encode(e, tokenizer, data.messages) for e in data.validation]
    train_tokens = sum(len(r["input_ids"]) for r in train_rows)
    if config.batch_tokens:  # each item the trainer sees is one batch of rows, formed by tokens
        train_set: list[Any] = [[train_rows[i] for i in b] for b in token_batches(train_rows, config.batch_tokens, config.seed)]
        val_set: list[Any] = [[val_rows[i] for i in b] for b in token_batches(val_rows, config.batch_tokens, config.seed)]
        per_device = 1
    else:
        train_set, val_set, per_device = train_rows, val_rows, config.batch_size

    overhead = between_steps()()
    epochs = config.epochs
    launched = max(1, int(os.environ.get("WORLD_SIZE", "1")))  # accelerate launch / torchrun: DDP processes
    steps_per_epoch = -(-len(train_set) // (per_device * launched))
    if config.min_steps and epochs * steps_per_epoch < config.min_steps:
        epochs = config.min_steps / steps_per_epoch
    total_steps = config.max_steps if config.max_steps > 0 else int(-(-epochs * steps_per_epoch // 1))
    eval_every = min(config.eval_every, max(2, total_steps // 4))  # a short run still evaluates and early-stops
    validate = bool(val_rows)  # no validation slice (a refit): train exactly the epochs asked, keep the last step
    checkpoints = config.out / "checkpoints"
    cuda = backend != "cpu-lora"
    args = TrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=epochs, max_steps=config.max_steps,
        per_device_train_batch_size=per_device, per_device_eval_batch_size=per_device,
        learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=0.03,
        logging_steps=max(1, min(10, eval_every // 2)), eval_strategy="steps" if validate else "no",
        eval_steps=eval_every, save_strategy="steps" if validate else "no", save_steps=eval_every,
        save_total_limit=2, save_only_model=True, load_best_model_at_end=validate,  # never resumed: no optimiser state
        metric_for_best_model="eval_loss", greater_is_better=False, seed=config.seed, data_seed=config.seed,
        use_cpu=not cuda, bf16=cuda, report_to=[], ddp_find_unused_parameters=False, remove_unused_columns=False, dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if config.group_by_length and not config.batch_tokens else "random",
        prediction_loss_only=True,
    )
    prefix_length = common_prefix_length(train_rows + val_rows) if config.share_prefix and backend == "cpu-lora" else 0
    if prefix_length:
        collator: Any = SuffixCollator(tokenizer.pad_token_id, train_rows[0]["input_ids"][:prefix_length])
        trainer_class: type = shared_prefix_trainer()
    else:
        collator, trainer_class = PadCollator(tokenizer.pad_token_id), Trainer
    if config.batch_tokens:
        collator = OneBatch(collator)
    trainer = trainer_class(
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set if validate else None,
        data_collator=collator,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience), nan_guard(config.learning_rate)(), overhead] if validate
        else [nan_guard(config.learning_rate)(), overhead],
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = trainer.train()
    wall = time.perf_counter() - start
    main, processes, ddp = _processes(trainer)  # several under `accelerate launch`: only the main one writes
    if main:
        config.out.mkdir(parents=True, exist_ok=True)
        trainer.model.save_pretrained(config.out)
        to_float16(config.out / "adapter_model.safetensors")
    peak_gib = (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30
    card = build_card(config, data, Run(
        backend=backend, weights=weights, provenance=provenance, steps=result.global_step, wall=wall,
        log_history=trainer.state.log_history, best_metric=trainer.state.best_metric, overhead=overhead,
        epochs=epochs, eval_every=eval_every, steps_per_epoch=steps_per_epoch, prefix_length=prefix_length,
        train_rows=len(train_rows), train_tokens=train_tokens, batches=len(train_set), per_device=per_device,
        processes=processes, ddp=ddp, peak_gib=peak_gib, teacher_stats=teacher_stats))
    if not main:
        return card  # the main process writes the adapter, its card and the tracking run
    (config.out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    shutil.rmtree(checkpoints, ignore_errors=True)  # the best checkpoint is what was just saved
    from harness import tracking  # after the card is written: a tracking failure is a warning, never a lost adapter

    line = tracking.track_finetune(config.extra.get("mlflow", "off"), card, config.out,
                                   store_dir=Path(config.extra.get("mlflow_store", "reports")))
    if line:
        print(line, flush=True)
    return card


def _processes(trainer: Any) -> tuple[bool, int, str | None]:
    """After training: (this is the main process, how many processes trained, their torch.distributed backend).

    Under ``accelerate launch --num_processes N`` (or torchrun) the Trainer runs DDP itself: each process trains
    on its own ``--batch-size`` examples per step, so a step sees N x batch size. Every process has finished
    (and loaded the best checkpoint) when this returns, so the main one may write the adapter and remove the
    checkpoints; refuse_overwrite ran on every process before any of them trained."""
    processes = max(1, int(trainer.args.world_size))
    if processes == 1:
        return True, 1, None
    import torch.distributed as dist

    trainer.accelerator.wait_for_everyone()
    return trainer.is_world_process_zero(), processes, dist.get_backend() if dist.is_initialized() else None


def refuse_overwrite(config: TrainConfig) -> None:
    """An adapter already in the output folder is kept unless ``--overwrite`` says otherwise."""
    out = config.out
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--output-dir={out} is a file: expected a folder for the adapter; give another path")
    existing = [p.name for p in (out / CARD, out / "adapter_model.safetensors") if p.exists()]
    if existing and not config.overwrite:
        raise HarnessError(f"{out} already holds an adapter ({', '.join(existing)}): expected a new folder. Pass "
                           "--output-dir NEW_FOLDER, or --overwrite to replace it")


def _labels(config: TrainConfig) -> tuple[dict[str, str] | None, str, dict[str, Any] | None]:
    """Gold labels on the whole train side, or a teacher's sentences with its labels (or gold ones)."""
    if config.teacher is None:
        return None, "gold", None
    from harness.tasks.fpb.data import load_fpb, resolve_source
    from finetune.teacher import predictions_folder, teacher_labels

    source = resolve_source(config.data_dir)
    if source.is_sample:
        raise HarnessError("--teacher needs the real Financial PhraseBank (set FPB_DIR); the sample has no published replies")
    examples = load_fpb(source.file_for("allagree")).examples
    found = teacher_labels(config.teacher, examples=examples, seed=config.seed,
                           predictions_dir=predictions_folder(source.directory))
    if config.teacher_labels:
        return found.labels, f"{config.teacher} ({found.stats['teacher_run_date']} replies)", found.stats
    gold = {e.id: e.label for e in examples}
    return {i: gold[i] for i in found.labels}, f"gold, on the sentences {config.teacher} labelled", found.stats


