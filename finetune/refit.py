"""Refit: train again on train + validation with the epoch count an earlier run's validation slice chose.

The earlier run held out a validation slice (carved from train, never test) and kept the checkpoint with the
lowest validation loss. A refit takes that run's recipe, sets the epochs to where that best checkpoint was,
and trains on every labelled example with no validation slice. Nothing about it looks at the test split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness import HarnessError
from finetune.config import TrainConfig
from harness.models.card import CARD, AdapterCard

_RECIPE = ("learning_rate", "lora_r", "lora_alpha", "lora_dropout", "batch_size")


def best_step(card: AdapterCard) -> int:
    """The optimiser step of the lowest validation loss in ``card`` (evaluations every ``eval_every`` steps,
    plus one at the end when the run stopped between two of them)."""
    losses = card.eval_losses
    if not losses:
        raise HarnessError("the card records no validation losses: a refit needs a run that validated "
                           "(train it with --val-fraction > 0 first)")
    every = card.eval_every_used or card.hyperparameters.eval_every
    if not every:
        raise HarnessError("the card records neither eval_every_used nor hyperparameters.eval_every, so the step "
                           "of the lowest validation loss is unknown; refit an adapter written by python -m finetune")
    index = min(range(len(losses)), key=losses.__getitem__)
    return min((index + 1) * every, card.steps)


def refit_config(config: TrainConfig, source: Path) -> TrainConfig:
    """``config`` turned into the refit of the adapter in ``source`` (its card must match this run's split)."""
    path = source / CARD
    if not path.is_file():
        raise HarnessError(f"--refit={source}: expected an adapter folder with {CARD}; none found")
    card = AdapterCard.read(path)
    from finetune.data import training_data

    split = training_data(config).split_method or config.split  # what this run's card will say (a declared task: its own)
    checks = {"base_model": (card.base_model, config.base), "split_seed": (card.split_seed, config.seed),
              "split_method": (card.split_method, split)}
    wrong = {k: (have, want) for k, (have, want) in checks.items() if have != want}
    if wrong:
        detail = ", ".join(f"{k}: card {have!r}, this run {want!r}" for k, (have, want) in wrong.items())
        raise HarnessError(f"--refit={source}: that adapter was trained on another setup ({detail}); "
                           "pass the same --base/--seed, or refit a matching adapter")
    hyper = card.hyperparameters
    if hyper.limit or hyper.teacher or not card.validation_examples:
        raise HarnessError(f"--refit={source}: expected a run on all gold train examples with a validation slice; "
                           f"that one has limit={hyper.limit}, teacher={hyper.teacher}, "
                           f"{card.validation_examples} validation examples")
    recipe = {k: getattr(hyper, k) for k in (*_RECIPE, "target_modules")}
    unknown = [k for k, v in recipe.items() if v is None]
    if unknown:
        raise HarnessError(f"--refit={source}: its card's hyperparameters lack {unknown}, so its recipe cannot be "
                           "repeated; refit an adapter written by python -m finetune")
    step = best_step(card)
    steps_per_epoch = card.steps_per_epoch or -(  # older cards: from the rows per step (DDP: N x batch)
        -card.train_examples // (card.effective_batch_size or hyper.batch_size or 1))
    epochs = round(step / steps_per_epoch, 2)
    provenance = {"adapter": str(source), "created_at": card.created_at, "best_step": step,
                  "steps_per_epoch": steps_per_epoch, "epochs_chosen": epochs,
                  "best_eval_loss": card.best_eval_loss, "validation_examples": card.validation_examples,
                  "train_data_sha256": card.train_data_sha256}
    return replace(config, epochs=epochs, max_steps=-1, val_fraction=0.0, batch_tokens=hyper.batch_tokens, max_length=hyper.max_length,
                   **recipe, extra={**config.extra, "refit_of": provenance})
