"""Train a LoRA / QLoRA adapter and write it with its card.

Backends (``auto`` picks the first that can work here):
* ``unsloth``: 4-bit QLoRA through unsloth, CUDA only, when installed;
* ``peft-qlora``: transformers + peft + bitsandbytes 4-bit nf4, CUDA only;
* ``cuda-lora``: peft LoRA over the float32 base on the GPU, bfloat16 autocast (``auto``'s choice on a GPU for
  bases under :data:`QLORA_ABOVE` parameters: quantising a small model saves nothing and costs quality);
* ``cpu-lora``: peft LoRA in float32 on the CPU (bf16 is 5-6x slower on CPUs without bf16 units).

Adapters are written in float16 (half the bytes; LoRA weights are small numbers well inside its range).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from harness import HarnessError
from finetune.config import TrainConfig
from finetune.data import IGNORE, encode, token_batches, training_data
from harness.models.adapter import CARD
from harness.models.random_base import NOTE, random_weights
from finetune.shared_prefix import SuffixCollator, common_prefix_length, shared_prefix_loss



TRAINED_PRECISION = {"cpu-lora": "float32", "cuda-lora": "float32 (bfloat16 autocast)", "peft-qlora": "nf4 4-bit (bitsandbytes), bfloat16 compute",
                     "unsloth": "nf4 4-bit (unsloth), bfloat16 compute"}
"""The base weights' precision the adapter was trained against, recorded on its card: QLoRA adapters learn
around the quantised base, so evaluating them merged into a full-precision base can differ (see the card)."""


QLORA_ABOVE = 3_000_000_000
"""``auto`` on a GPU trains bases with more parameters than this in 4-bit (QLoRA), smaller ones in full precision."""


def pick_backend(requested: str, parameters: int | None = None) -> str:
    """The training backend: ``requested``, checked, or for ``auto`` the first that can work here (on a GPU:
    ``cuda-lora`` for a base of at most :data:`QLORA_ABOVE` parameters, else unsloth, then peft-qlora)."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "auto":
        if not cuda:
            return "cpu-lora"
        if parameters is not None and parameters <= QLORA_ABOVE:
            return "cuda-lora"
        if importlib.util.find_spec("unsloth"):
            return "unsloth"
        if importlib.util.find_spec("bitsandbytes"):
            return "peft-qlora"
        return "cuda-lora"
    if requested in ("unsloth", "peft-qlora", "cuda-lora") and not cuda:
        raise HarnessError(f"--backend={requested} needs a CUDA GPU; none is visible. Use --backend=cpu-lora here.")
    needs = {"unsloth": "unsloth", "peft-qlora": "bitsandbytes"}.get(requested)
    if needs and importlib.util.find_spec(needs) is None:
        raise HarnessError(f"--backend={requested} needs {needs}: pip install 'finetune-or-prompt[gpu]'")
    return requested


def _load(config: TrainConfig, backend: str) -> tuple[Any, Any, str, str]:
    """Model with LoRA attached, tokenizer, the base's weights id and its provenance line."""
    from harness.models.local_lm import resolve_weights

    weights, provenance = resolve_weights(config.base)
    if backend == "unsloth":
        from unsloth import FastLanguageModel  # imported only on CUDA

        model, tokenizer = FastLanguageModel.from_pretrained(weights, load_in_4bit=True, max_seq_length=512)
        model = FastLanguageModel.get_peft_model(
            model, r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules), random_state=config.seed,
            use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False)
        return model, tokenizer, weights, provenance
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights)
    if backend == "peft-qlora":
        from peft import prepare_model_for_kbit_training

        from harness.models.local_lm import nf4_config  # the same quantisation the harness evaluates against

        # under DDP (accelerate launch) each process quantises onto its own GPU
        model = AutoModelForCausalLM.from_pretrained(weights, quantization_config=nf4_config(),
                                                     device_map={"": int(os.environ.get("LOCAL_RANK", "0"))})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.enable_input_require_grads()
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tokenizer, weights, provenance


class _OneBatch:
    """With ``--batch-tokens`` each dataset item is already a batch of rows: collate that one item's rows."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def __call__(self, items: list[list[dict[str, list[int]]]]) -> dict[str, Any]:
        return self.collate([row for batch in items for row in batch])


class _Collator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _shared_prefix_trainer() -> type:
    from transformers import Trainer

    class SharedPrefixTrainer(Trainer):
        """Computes the loss with the prompt prefix run once per batch (see :mod:`finetune.shared_prefix`)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            causal = model.get_base_model() if hasattr(model, "get_base_model") else model
            loss = shared_prefix_loss(causal, inputs)
            return (loss, {"loss": loss}) if return_outputs else loss

    return SharedPrefixTrainer


def train(config: TrainConfig) -> dict[str, Any]:
    """Train, save the adapter and its card into ``config.output_dir``, and return the card."""
    import torch
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    refuse_overwrite(config)
    set_seed(config.seed)
    backend = pick_backend(config.backend, base_parameters(config.base) if config.backend == "auto" else None)
    labels, label_source, teacher_stats = _labels(config)
    data = training_data(config, labels, label_source)
    model, tokenizer, weights, provenance = _load(config, backend)
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

    class NanGuard(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            loss = (logs or {}).get("loss")
            if loss is not None and loss != loss:
                raise HarnessError(f"training loss became NaN at step {state.global_step}: lower --learning-rate "
                                   f"(now {config.learning_rate}) or check the data")

    overhead = _between_steps()()
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
        trainer_class: type = _shared_prefix_trainer()
    else:
        collator, trainer_class = _Collator(tokenizer.pad_token_id), Trainer
    if config.batch_tokens:
        collator = _OneBatch(collator)
    trainer = trainer_class(
        model=model, args=args, train_dataset=train_set, eval_dataset=val_set if validate else None,
        data_collator=collator,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience), NanGuard(), overhead] if validate
        else [NanGuard(), overhead],
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
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    evals = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    peak_gib = (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30
    rows_per_step = len(train_rows) / max(1, len(train_set)) * per_device * processes
    tokens_per_step = train_tokens / max(1, len(train_set)) * per_device * processes  # unpadded
    tokens_seen = tokens_per_step * result.global_step
    card = {
        "card_version": 1,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "base_model": config.base, "base_weights": provenance,
        **({"random_weights": True, "note": NOTE} if random_weights(weights) else {}),
        "base_sha256": _base_sha(config.base),
        **data.meta(),
        "split_seed": config.seed, "split_method": data.split_method or config.split,
        "hyperparameters": config.hyperparameters(),
        "backend": backend,
        "gradient_checkpointing": config.gradient_checkpointing,
        "adapter_dtype": "float16",
        "trained_against_precision": TRAINED_PRECISION[backend],
        "device": torch.cuda.get_device_name(0) if cuda else _cpu_name(),
        "teacher": teacher_stats,
        "shared_prefix_tokens": prefix_length, "group_by_length": config.group_by_length,
        "epochs_run": round(epochs, 3), "eval_every_used": eval_every, "steps": result.global_step,
        "wall_seconds": round(wall, 1),
        "eval_and_checkpoint_seconds": round(overhead.seconds, 1),
        "eval_and_checkpoint_share": round(overhead.seconds / wall, 3) if wall else None,
        "train_tokens_per_second": round(tokens_seen / wall, 1) if wall else None,
        "median_step_seconds": round(overhead.median_step(), 4) if overhead.median_step() else None,
        "steady_train_tokens_per_second": round(tokens_per_step / overhead.median_step(), 1)
        if overhead.median_step() else None,
        "peak_memory_gib": round(peak_gib, 2),
        "peak_memory_kind": ("GPU allocated" if cuda else "process max RSS") + (", main process" if processes > 1 else ""),
        "processes": processes, "distributed_backend": ddp, "effective_batch_size": round(rows_per_step, 1) if config.batch_tokens else config.batch_size * processes,
        "steps_per_epoch": steps_per_epoch,
        "gpu_hours": round(wall / 3600 * processes, 4) if cuda else 0.0,
        "machine_hours": round(wall / 3600, 4),
        "dollars_per_hour": config.dollars_per_hour,
        "cost_usd": round(wall / 3600 * config.dollars_per_hour, 4) if config.dollars_per_hour else None,
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "eval_losses": evals, "best_eval_loss": trainer.state.best_metric,
        "command": config.extra.get("command"),
    }
    if config.extra.get("refit_of"):
        card["refit_of"] = config.extra["refit_of"]
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


def base_parameters(base: str) -> int | None:
    """The base's parameter count from its config (a meta-device model: no weights read), when a GPU is visible
    (``auto`` chooses between full-precision LoRA and QLoRA by it); None elsewhere or when unreadable."""
    import torch

    if not torch.cuda.is_available():
        return None
    from transformers import AutoConfig

    from harness.models.local_lm import resolve_weights
    from harness.models.random_base import parameter_count

    try:
        return parameter_count(AutoConfig.from_pretrained(resolve_weights(base)[0]))
    except (OSError, ValueError):
        return None


def to_float16(path: Path) -> None:
    """Rewrite a safetensors file's float32 tensors as float16 (loading casts them back to the model's dtype)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    tensors = {k: v.to(torch.float16) if v.dtype == torch.float32 else v for k, v in tensors.items()}
    save_file(tensors, str(path), metadata=metadata)


def _between_steps() -> type:
    from transformers import TrainerCallback

    class BetweenSteps(TrainerCallback):
        """Seconds spent between one optimiser step's end and the next one's start: evaluation, checkpoints and
        logging, the cadence's cost (the card reports it as a share of training time)."""

        def __init__(self) -> None:
            self.seconds = 0.0
            self.step_seconds: list[float] = []
            self._ended: float | None = None
            self._began: float | None = None

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self._ended = time.perf_counter()
            if self._began is not None:
                self.step_seconds.append(self._ended - self._began)

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self._close()
            self._began = time.perf_counter()

        def median_step(self) -> float | None:
            """The median optimiser step's seconds: the steady rate, without the first step's compilation."""
            steps = sorted(self.step_seconds)
            return steps[len(steps) // 2] if steps else None

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self._close()

        def _close(self) -> None:
            if self._ended is not None:
                self.seconds += time.perf_counter() - self._ended
                self._ended = None

    return BetweenSteps


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
    from finetune.config import resolve_task
    from harness.tasks.training import TrainingRequest

    found = resolve_task(config.task).teacher_labels(config.teacher, TrainingRequest(seed=config.seed,
                                                                                    data_dir=config.data_dir))
    if config.teacher_labels:
        return found.labels, f"{config.teacher} ({found.stats['teacher_run_date']} replies)", found.stats
    return found.gold, f"gold, on the sentences {config.teacher} labelled", found.stats


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        name = ""
    return f"CPU: {name or platform.machine()}, {os.cpu_count()} cores"


def _base_sha(base: str) -> str | None:
    from harness.models.local_lm import file_sha256, smollm2_gguf

    if base == "smollm2-135m" and smollm2_gguf() is not None:
        return file_sha256(smollm2_gguf())
    return None
