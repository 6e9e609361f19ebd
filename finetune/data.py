"""Training examples: asked of the task (``task.training_data``), encoded for the trainer.

The task renders every example through its own prompts, so the evaluated prompt is the trained prompt;
this module only turns rendered chat messages into token ids with the loss on the answer tokens. It knows
no data set: FPB, TFNS, TAT-QA and a team's declared task all come through the same call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from harness.prompts import Message
from harness.tasks.training import TrainingData, TrainingRequest

IGNORE = -100

__all__ = ["IGNORE", "TrainingData", "TrainingRequest", "encode", "token_batches", "training_data"]


def training_data(config: Any, labels: dict[str, str] | None = None, label_source: str = "gold") -> TrainingData:
    """The task's training items for ``config`` (a :class:`finetune.config.TrainConfig`)."""
    from finetune.config import resolve_task

    options: dict[str, Any] = {"split": config.split, "max_context_chars": config.max_context_chars}
    if labels is not None:
        options |= {"labels": labels, "label_source": label_source}
    return resolve_task(config.task).training_data(TrainingRequest(
        seed=config.seed, val_fraction=config.val_fraction, limit=config.limit, data_dir=config.data_dir,
        root=Path.cwd(), options=options))


def encode(example: Any, tokenizer: Any, messages_of: Callable[[Any], tuple[Message, ...]]) -> dict[str, list[int]]:
    """Token ids of the evaluated prompt + gold answer; loss only on the answer tokens."""
    messages = list(messages_of(example))
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return {"input_ids": prompt_ids + answer_ids, "labels": [IGNORE] * len(prompt_ids) + answer_ids}


def token_batches(rows: list[dict[str, list[int]]], budget: int, seed: int) -> list[list[int]]:
    """Row indices in batches of at most ``budget`` padded tokens (rows x the batch's longest row), rows of
    similar length together; ties broken at random by ``seed``. A row longer than the budget is a batch alone.

    The batches are formed once; the trainer shuffles their order every epoch. A GPU step costs about the
    same whether it holds 16 short rows or 60 (launch overhead, not arithmetic, on a small model), so a token
    budget fills each step as far as memory allows instead of fixing the row count."""
    from finetune.batching import by_tokens

    return by_tokens([len(r["input_ids"]) for r in rows], budget, seed)
