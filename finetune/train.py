"""Train a LoRA / QLoRA adapter and write it with its card.

The backends (:mod:`finetune.backends`), the collators (:mod:`finetune.collators`), the callbacks
(:mod:`finetune.callbacks`) and the card (:mod:`finetune.card`) live beside this module; this one runs them.
Adapters are written in float16 (half the bytes; LoRA weights are small numbers well inside its range).
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from finetune.backends import QLORA_ABOVE, TRAINED_PRECISION, base_parameters, load_model, pick_backend
from finetune.callbacks import between_steps, nan_guard
from finetune.card import Run, build_card, to_float16
from finetune.collators import LabelOnly, OneBatch, PadCollator, shared_prefix_trainer
from finetune.config import TrainConfig
from finetune.data import training_data
from finetune.output import cleaned_on_stop, partial_folder, publish, refuse_overwrite as refuse_existing
from finetune.preflight import batch, encode_all, forecast, schedule
from finetune.step_cost import LEAN_ARGUMENTS, lean_trainer
from harness.models.adapter import CARD
from finetune.shared_prefix import SuffixCollator, common_prefix_length, shared_prefix_loss

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
    train_rows, val_rows, rows_cut = encode_all(config, data, tokenizer)
    train_tokens = sum(len(r["input_ids"]) for r in train_rows)
    cuda = backend != "cpu-lora"
    validate = bool(val_rows)  # no validation slice (a refit): train exactly the epochs asked, keep the last step
    prefix_length = common_prefix_length(train_rows + val_rows) if config.share_prefix and backend == "cpu-lora" else 0
    if prefix_length:
        collate: Any = SuffixCollator(tokenizer.pad_token_id, train_rows[0]["input_ids"][:prefix_length])
        trainer_class: type = shared_prefix_trainer()
    else:  # unsloth computes its own loss (chunked); the others: logits only where a label is
        collate, trainer_class = PadCollator(tokenizer.pad_token_id), Trainer
        collate = collate if backend == "unsloth" else LabelOnly(collate)
    launched = max(1, int(os.environ.get("WORLD_SIZE", "1")))  # accelerate launch / torchrun: DDP processes
    if launched == 1:
        loss_of = ((lambda m, b: shared_prefix_loss(m.get_base_model(), b)) if prefix_length
                   else (lambda m, b: m(**b).loss))
        ahead = forecast(config, model, train_rows, val_rows, prefix_length=prefix_length, collate=collate,
                         loss_of=loss_of, cuda=cuda, validate=validate)
        batching, estimate = ahead.batching, ahead.estimate
    else:  # each process would warm up on its own share: no estimate under DDP
        batching, estimate = batch(config, train_rows, val_rows, prefix_length, cuda), None
    if batching.train:  # each item the trainer sees is one batch of rows, formed by tokens
        train_set: list[Any] = [[train_rows[i] for i in b] for b in batching.train]
        val_set: list[Any] = [[val_rows[i] for i in b] for b in batching.validation]
        per_device = 1
    else:
        train_set, val_set, per_device = train_rows, val_rows, config.batch_size

    overhead = between_steps()()
    when = schedule(config, len(train_set), per_device, launched)
    epochs, steps_per_epoch, eval_every = when.epochs, when.steps_per_epoch, when.eval_every
    partial = partial_folder(config.out)
    checkpoints = partial / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=epochs, max_steps=config.max_steps,
        per_device_train_batch_size=per_device, per_device_eval_batch_size=per_device,
        learning_rate=config.learning_rate, lr_scheduler_type="linear", warmup_steps=0.03,
        logging_steps=max(1, min(10, eval_every // 2)), eval_strategy="steps" if validate else "no",
        eval_steps=eval_every, save_strategy="steps" if validate else "no", save_steps=eval_every,
        save_total_limit=2, save_only_model=True, load_best_model_at_end=validate,  # never resumed: no optimiser state
        metric_for_best_model="eval_loss", greater_is_better=False, seed=config.seed, data_seed=config.seed,
        use_cpu=not cuda, bf16=cuda, report_to=[], ddp_find_unused_parameters=False, remove_unused_columns=False, dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if config.group_by_length and not batching.train else "random",
        prediction_loss_only=True, **LEAN_ARGUMENTS,
    )
    collator = OneBatch(collate) if batching.train else collate
    trainer = lean_trainer(trainer_class)(  # no per-step device sync, module walk or parameter count
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set if validate else None,
        data_collator=collator,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience), nan_guard(config.learning_rate)(), overhead] if validate
        else [nan_guard(config.learning_rate)(), overhead],
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with cleaned_on_stop(partial):
        result = trainer.train()
        wall = time.perf_counter() - start
        main, processes, ddp = _processes(trainer)  # several under `accelerate launch`: only the main one writes
        if main:
            partial.mkdir(parents=True, exist_ok=True)
            trainer.model.save_pretrained(partial)
            to_float16(partial / "adapter_model.safetensors")
        peak_gib = (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30
        card = build_card(config, data, Run(
            backend=backend, weights=weights, provenance=provenance, steps=result.global_step, wall=wall,
            log_history=trainer.state.log_history, best_metric=trainer.state.best_metric, overhead=overhead,
            epochs=epochs, eval_every=eval_every, steps_per_epoch=steps_per_epoch, prefix_length=prefix_length,
            train_rows=len(train_rows), train_tokens=train_tokens, batches=len(train_set), per_device=per_device,
            processes=processes, ddp=ddp, peak_gib=peak_gib, teacher_stats=teacher_stats,
            batching={**batching.summary(), "rows_cut_by_max_length": rows_cut}, estimate=estimate))
        if not main:
            return card  # the main process writes the adapter, its card and the tracking run
        (partial / CARD).write_text(json.dumps(card, indent=2) + "\n")
        publish(partial, config.out)
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
    """An adapter already in the output folder is kept unless ``--overwrite`` says otherwise (see
    :func:`finetune.output.refuse_overwrite`: a stopped run's leftovers too)."""
    refuse_existing(config.out, config.overwrite)


def _labels(config: TrainConfig) -> tuple[dict[str, str] | None, str, dict[str, Any] | None]:
    """Gold labels on the whole train side, or a teacher's sentences with its labels (or gold ones)."""
    if config.teacher is None:
        return None, "gold", None
    from finetune.config import resolve_task
    from harness.tasks.training import TrainingRequest

    found = resolve_task(config.task).teacher_labels(config.teacher, TrainingRequest(seed=config.seed,
                                                                                    data_dir=config.data_dir))
    if config.teacher_labels:
        return found.labels, f"{config.teacher} ({found.stats['teacher_run_date']} replies)", found.stats
    return found.gold, f"gold, on the sentences {config.teacher} labelled", found.stats


