"""The adapter card: what was trained, on what, how, how long and at what memory (``adapter_card.json``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.backends import TRAINED_PRECISION
from finetune.config import TrainConfig
from harness.models.random_base import NOTE, random_weights


@dataclass(frozen=True)
class Run:
    """What one training run did, as measured: the card's numbers come from here and the config."""

    backend: str
    weights: str
    provenance: str
    steps: int
    wall: float
    log_history: list[dict[str, Any]]
    best_metric: float | None
    overhead: Any
    """The :func:`finetune.callbacks.between_steps` callback: seconds between steps, median step."""
    epochs: float
    eval_every: int
    steps_per_epoch: int
    prefix_length: int
    train_rows: int
    train_tokens: int
    batches: int
    """Items of the training set: rows, or token batches with ``--batch-tokens``."""
    per_device: int
    processes: int
    ddp: str | None
    peak_gib: float
    teacher_stats: dict[str, Any] | None
    batching: dict[str, Any]
    """:meth:`finetune.batching.Batching.summary`, with the rows ``--max-length`` cut."""
    estimate: Any
    """The :class:`finetune.estimate.Estimate` printed before training (None under several processes)."""


def build_card(config: TrainConfig, data: Any, run: Run) -> dict[str, Any]:
    """The card's fields, in the order they are written."""
    cuda = run.backend != "cpu-lora"
    wall, overhead, processes = run.wall, run.overhead, run.processes
    losses = [h["loss"] for h in run.log_history if "loss" in h]
    evals = [h["eval_loss"] for h in run.log_history if "eval_loss" in h]
    rows_per_step = run.train_rows / max(1, run.batches) * run.per_device * processes
    tokens_per_step = run.train_tokens / max(1, run.batches) * run.per_device * processes  # unpadded
    tokens_seen = tokens_per_step * run.steps
    card = {
        "card_version": 1,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "base_model": config.base, "base_weights": run.provenance,
        **({"random_weights": True, "note": NOTE} if random_weights(run.weights) else {}),
        "base_sha256": base_sha(config.base),
        **data.meta(),
        "split_seed": config.seed, "split_method": data.split_method or config.split,
        "hyperparameters": config.hyperparameters(),
        "backend": run.backend,
        "gradient_checkpointing": config.gradient_checkpointing,
        "adapter_dtype": "float16",
        "trained_against_precision": TRAINED_PRECISION[run.backend],
        "device": device_name() if cuda else cpu_name(),
        "teacher": run.teacher_stats,
        "shared_prefix_tokens": run.prefix_length, "group_by_length": config.group_by_length,
        "epochs_run": round(run.epochs, 3), "eval_every_used": run.eval_every, "steps": run.steps,
        "wall_seconds": round(wall, 1),
        "eval_and_checkpoint_seconds": round(overhead.seconds, 1),
        "eval_and_checkpoint_share": round(overhead.seconds / wall, 3) if wall else None,
        "train_tokens_per_second": round(tokens_seen / wall, 1) if wall else None,
        "median_step_seconds": round(overhead.median_step(), 4) if overhead.median_step() else None,
        "steady_train_tokens_per_second": round(tokens_per_step / overhead.median_step(), 1)
        if overhead.median_step() else None,
        "peak_memory_gib": round(run.peak_gib, 2),
        "peak_memory_kind": ("GPU allocated" if cuda else "process max RSS") + (", main process" if processes > 1 else ""),
        "processes": processes, "distributed_backend": run.ddp,
        "effective_batch_size": round(rows_per_step, 1) if run.batching["mode"] != "rows" else config.batch_size * processes,
        "steps_per_epoch": run.steps_per_epoch,
        "gpu_hours": round(wall / 3600 * processes, 4) if cuda else 0.0,
        "machine_hours": round(wall / 3600, 4),
        "dollars_per_hour": config.dollars_per_hour,
        "cost_usd": round(wall / 3600 * config.dollars_per_hour, 4) if config.dollars_per_hour else None,
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "eval_losses": evals, "best_eval_loss": run.best_metric,
        "command": config.extra.get("command"),
        "batching": run.batching,
    }
    if run.estimate is not None:
        card["estimate"] = {**run.estimate.card(), "measured_over_projected": round(wall / run.estimate.seconds, 3)
                            if run.estimate.seconds else None}
    if config.extra.get("refit_of"):
        card["refit_of"] = config.extra["refit_of"]
    return card


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


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            name = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        name = ""
    return f"CPU: {name or platform.machine()}, {os.cpu_count()} cores"


def base_sha(base: str) -> str | None:
    from harness.models.local_lm import file_sha256, smollm2_gguf

    if base == "smollm2-135m" and smollm2_gguf() is not None:
        return file_sha256(smollm2_gguf())
    return None
