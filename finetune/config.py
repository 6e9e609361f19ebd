"""Training configuration: one frozen dataclass, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.splits import DEFAULT_SEED

BACKENDS = ("auto", "cpu-lora", "cuda-lora", "peft-qlora", "unsloth")


def resolve_task(name: str) -> Any:
    """A task by name (``fpb-sentiment``), marker (``sentiment``), suite file (``suites/test_tickets.py``) or
    module (``my_project.tasks``): whatever the task registry finds."""
    from harness.tasks import get_task

    return get_task(name)


def default_output(task: Any, base: str) -> Path:
    """``adapters/<task's adapter stem>-<base>``: e.g. ``adapters/fpb-sentiment-smollm2-135m``."""
    stem = Path(base.rstrip("/")).name.replace("/", "-") or base
    return Path("adapters") / f"{task.adapter_stem}-{stem}"


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
    batch_tokens: int | None = None
    """Batches by tokens instead of ``batch_size`` rows: as many rows of similar length as fit in this many padded
    tokens (rows x longest row). On a GPU a small model's step costs about the same for 16 rows or 60, so this
    cuts the step count; on a CPU the cost follows the tokens and it changes little."""
    max_length: int | None = None
    """Cut texts so that no row is longer than this many tokens (the prompt around the text and the answer stay
    whole); the run says how many rows it cut. None: rows as long as their texts."""
    max_memory: float | None = None
    """GB a step may take: the warm-up's measured bytes per token set the batches' token cap (None: the default
    cap of :data:`finetune.batching.DEFAULT_TOKENS`)."""
    time_budget: float | None = None
    """Seconds: a run projected past this is refused before training, with the flags that would fit."""
    val_fraction: float = 0.1
    """Held out from train for periodic eval and early stopping; 0 = none (a refit: exactly ``epochs``)."""
    eval_every: int = 50
    patience: int = 3
    backend: str = "auto"
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more compute. Off by default: LoRA
    on a 135M model, or QLoRA on an 8B one at batch 32 x 128 tokens, fits an 80 GB GPU without it."""
    share_prefix: bool = True
    """cpu-lora: run the prompt prefix every example shares once per batch (same loss, ~2x less work)."""
    group_by_length: bool = True
    """Batch examples of similar length together (less padding)."""
    output_dir: str | None = None
    """Where the adapter goes; None: :func:`default_output` (``adapters/<task>-<base>``)."""
    overwrite: bool = False
    """Replace an adapter already in ``output_dir`` (else that is an error: a smoke test never overwrites a
    shipped adapter)."""
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
        task = resolve_task(self.task)  # an unknown task, or a suite file that declares none, fails here
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise HarnessError(f"--seed={self.seed!r}: expected a whole number from 0 to {2**32 - 1}")
        for flag, value in (("--epochs", self.epochs), ("--learning-rate", self.learning_rate),
                            ("--lora-r", self.lora_r), ("--lora-alpha", self.lora_alpha),
                            ("--batch-size", self.batch_size), ("--eval-every", self.eval_every),
                            ("--patience", self.patience)):
            if not (isinstance(value, (int, float)) and value > 0 and value == value and value != float("inf")):
                raise HarnessError(f"{flag}={value!r}: expected a positive number")
        if self.batch_tokens is not None and (isinstance(self.batch_tokens, bool) or not isinstance(self.batch_tokens, int)
                                              or self.batch_tokens < 1):
            raise HarnessError(f"--batch-tokens={self.batch_tokens!r}: expected a positive whole number of tokens "
                               "per batch (e.g. 4096), or leave it out for --batch-size rows per batch")
        for flag, number in (("--max-length", self.max_length), ("--max-memory", self.max_memory),
                             ("--time-budget", self.time_budget)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                                       or not 0 < number < float("inf")):
                raise HarnessError(f"{flag}={number!r}: expected a positive number, or leave it out")
        if self.max_length is not None and (not isinstance(self.max_length, int) or self.max_length < 16):
            raise HarnessError(f"--max-length={self.max_length!r}: expected a whole number of tokens of at least 16 "
                               "(the prompt and the answer must fit), e.g. 256")
        if not 0 <= self.lora_dropout < 1:
            raise HarnessError(f"lora_dropout={self.lora_dropout!r}: expected a fraction in [0, 1)")
        if not self.target_modules:
            raise HarnessError("--target-modules is empty: name the layers LoRA adapts, e.g. q_proj,v_proj")
        if self.teacher and not task.published_replies:
            raise HarnessError(f"--teacher applies to FPB sentiment only (published FPB replies), not {task.name}")
        if self.backend not in BACKENDS:
            raise HarnessError(f"--backend={self.backend}: expected one of {list(BACKENDS)}")
        if not 0 <= self.val_fraction < 0.5:
            raise HarnessError(f"--val-fraction={self.val_fraction}: expected a fraction in [0, 0.5) "
                               "(0 = no validation slice: a refit that trains exactly --epochs)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise HarnessError(f"--max-steps={self.max_steps}: expected a positive number, or -1 for all epochs")
        if self.limit is not None and self.limit < 6:
            raise HarnessError(f"--limit={self.limit}: expected at least 6 training examples (2 per label)")

    @property
    def out(self) -> Path:
        return Path(self.output_dir) if self.output_dir else default_output(resolve_task(self.task), self.base)

    def hyperparameters(self) -> dict[str, Any]:
        keep = ("epochs", "max_steps", "min_steps", "limit", "teacher", "teacher_labels", "learning_rate", "lora_r", "lora_alpha", "lora_dropout",
                "target_modules", "batch_size", "batch_tokens", "val_fraction", "eval_every", "patience")
        # max_length changes the data a recipe sees: recorded when set (older cards hold no such key)
        return {k: v for k, v in asdict(self).items() if k in keep or (k == "max_length" and v is not None)}
