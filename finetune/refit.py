"""Refit: train again on train + validation with the epoch count an earlier run's validation slice chose.

The earlier run held out a validation slice (carved from train, never test) and kept the checkpoint with the
lowest validation loss. A refit takes that run's recipe, sets the epochs to where that best checkpoint was,
and trains on every labelled example with no validation slice. Nothing about it looks at the test split.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import HarnessError
from finetune.config import TrainConfig
from harness.models.adapter import CARD

_RECIPE = ("learning_rate", "lora_r", "lora_alpha", "lora_dropout", "batch_size")


def best_step(card: dict[str, Any]) -> int:
    """The optimiser step of the lowest validation loss in ``card`` (evaluations every ``eval_every`` steps,
    plus one at the end when the run stopped between two of them)."""
    losses = card.get("eval_losses") or []
    if not losses:
        raise HarnessError("the card records no validation losses: a refit needs a run that validated "
                           "(train it with --val-fraction > 0 first)")
    every = card.get("eval_every_used") or card["hyperparameters"]["eval_every"]
    index = min(range(len(losses)), key=losses.__getitem__)
    return min((index + 1) * every, card["steps"])


def refit_config(config: TrainConfig, source: Path) -> TrainConfig:
    """``config`` turned into the refit of the adapter in ``source`` (its card must match this run's split)."""
    path = source / CARD
    if not path.is_file():
        raise HarnessError(f"--refit={source}: expected an adapter folder with {CARD}; none found")
    card = json.loads(path.read_text())
    from finetune.data import training_data

    split = training_data(config).split_method or config.split  # what this run's card will say (a declared task: its own)
    checks = {"base_model": config.base, "split_seed": config.seed, "split_method": split}
    wrong = {k: (card.get(k), want) for k, want in checks.items() if card.get(k) != want}
    if wrong:
        detail = ", ".join(f"{k}: card {have!r}, this run {want!r}" for k, (have, want) in wrong.items())
        raise HarnessError(f"--refit={source}: that adapter was trained on another setup ({detail}); "
                           "pass the same --base/--seed, or refit a matching adapter")
    hyper = card["hyperparameters"]
    if hyper.get("limit") or hyper.get("teacher") or not card.get("validation_examples"):
        raise HarnessError(f"--refit={source}: expected a run on all gold train examples with a validation slice; "
                           f"that one has limit={hyper.get('limit')}, teacher={hyper.get('teacher')}, "
                           f"{card.get('validation_examples', 0)} validation examples")
    step = best_step(card)
    steps_per_epoch = card.get("steps_per_epoch") or -(  # older cards: from the rows per step (DDP: N x batch)
        -card["train_examples"] // card.get("effective_batch_size", hyper["batch_size"]))
    epochs = round(step / steps_per_epoch, 2)
    provenance = {"adapter": str(source), "created_at": card.get("created_at"), "best_step": step,
                  "steps_per_epoch": steps_per_epoch, "epochs_chosen": epochs,
                  "best_eval_loss": card.get("best_eval_loss"), "validation_examples": card["validation_examples"],
                  "train_data_sha256": card.get("train_data_sha256")}
    return replace(config, epochs=epochs, max_steps=-1, val_fraction=0.0,
                   target_modules=tuple(hyper["target_modules"]),
                   batch_tokens=hyper.get("batch_tokens"), max_length=hyper.get("max_length"), **{k: hyper[k] for k in _RECIPE}, extra={**config.extra, "refit_of": provenance})
