"""Training configuration: one frozen dataclass, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.splits import DEFAULT_SEED

BACKENDS = ("auto", "cpu-lora", "peft-qlora", "unsloth")
TASKS = ("sentiment", "tfns", "tatqa")
DEFAULT_OUTPUT = {"sentiment": "adapters/fpb-sentiment-smollm2-135m", "tfns": "adapters/tfns-sentiment-smollm2-135m",
                  "tatqa": "adapters/tatqa-smollm2-135m"}


@dataclass(frozen=True)
class TrainConfig:
    task: str = "sentiment"
    base: str = "smollm2-135m"
    """A harness model name (``smollm2-135m``) or a transformers folder / hub id."""
    seed: int = DEFAULT_SEED
    split: str = "published"
    data_dir: str | None = None
    """The task's data folder (FPB, TFNS or TAT-QA); None: the task's environment variable, then its default."""
    epochs: float = 4.0
    max_steps: int = -1
    """Stop after this many optimiser steps (-1: run ``epochs``)."""
    min_steps: int = 0
    """Run more epochs when ``epochs`` would give fewer optimiser steps (small training sets)."""
    limit: int | None = None
    """Train on the first N (stratified, seeded) train examples only: the learning curve's knob."""
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    batch_size: int = 16
    val_fraction: float = 0.1
    """Held out from train for periodic eval and early stopping; 0 = none (a refit: exactly ``epochs``)."""
    eval_every: int = 50
    patience: int = 3
    backend: str = "auto"
    share_prefix: bool = True
    """cpu-lora: run the prompt prefix every example shares once per batch (same loss, ~2x less work)."""
    group_by_length: bool = True
    """Batch examples of similar length together (less padding)."""
    output_dir: str | None = None
    """Where the adapter goes; None: the task's folder in :data:`DEFAULT_OUTPUT`."""
    teacher: str | None = None
    """Distillation: train only on the sentences this published model labelled (``published-gpt-4``)..."""
    teacher_labels: bool = True
    """...with its labels (True) or with FPB's gold labels on the same sentences (False: the control arm)."""
    max_context_chars: int = 2000
    """tatqa: train on dev questions whose table + paragraphs fit in this many characters (the rest counted)."""
    dollars_per_hour: float = 0.0
    """What the machine costs, for the card's $ figure (0 = not priced)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise HarnessError(f"unknown task {self.task!r}: expected one of {list(TASKS)}")
        if self.backend not in BACKENDS:
            raise HarnessError(f"--backend={self.backend}: expected one of {list(BACKENDS)}")
        if not 0 <= self.val_fraction < 0.5:
            raise HarnessError(f"--val-fraction={self.val_fraction}: expected a fraction in [0, 0.5) "
                               "(0 = no validation slice: a refit that trains exactly --epochs)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise HarnessError(f"--max-steps={self.max_steps}: expected a positive number, or -1 for all epochs")
        if self.epochs <= 0 or self.learning_rate <= 0 or self.lora_r < 1 or self.batch_size < 1:
            raise HarnessError("epochs, learning rate, LoRA rank and batch size must be positive")
        if self.task != "sentiment" and self.teacher:
            raise HarnessError(f"--teacher applies to sentiment only (published FPB replies), not {self.task}")
        if self.limit is not None and self.limit < 6:
            raise HarnessError(f"--limit={self.limit}: expected at least 6 training examples (2 per label)")

    @property
    def out(self) -> Path:
        return Path(self.output_dir or DEFAULT_OUTPUT[self.task])

    def hyperparameters(self) -> dict[str, Any]:
        keep = ("epochs", "max_steps", "min_steps", "limit", "teacher", "teacher_labels", "learning_rate", "lora_r", "lora_alpha", "lora_dropout",
                "target_modules", "batch_size", "val_fraction", "eval_every", "patience")
        return {k: v for k, v in asdict(self).items() if k in keep}
