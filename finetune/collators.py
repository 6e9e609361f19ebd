"""Rows of token ids into the tensors a training step takes (right-padded; labels IGNORE on padding)."""

from __future__ import annotations

from typing import Any

from finetune.data import IGNORE


class OneBatch:
    """With ``--batch-tokens`` each dataset item is already a batch of rows: collate that one item's rows."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def __call__(self, items: list[list[dict[str, list[int]]]]) -> dict[str, Any]:
        return self.collate([row for batch in items for row in batch])


class PadCollator:
    """Right-pads whole rows (prompt + answer) to the batch's longest."""

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


class LabelOnly:
    """Logits only where a label is: the model's decoder runs over every token, but the 49k-word head runs only
    at the positions that predict an answer token (transformers' boolean ``logits_to_keep``), and the loss is
    the plain forward's (``shift_labels``: the targets of those positions). Full-vocabulary logits for every
    position of every row (16 rows x 600 tokens x 49 152 x 4 bytes = 1.9 GB, twice with the gradient) are
    never made. The call goes through the model's own forward, so DDP, autocast and peft work as before."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate

    def __call__(self, rows: Any) -> dict[str, Any]:
        import torch

        batch = self.collate(rows)
        labels = batch.pop("labels")
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[:, :-1] = labels[:, 1:] != IGNORE
        targets = labels[:, 1:][keep[:, :-1]]
        return {**batch, "logits_to_keep": keep, "labels": targets, "shift_labels": targets}


def shared_prefix_trainer() -> type:
    """A Trainer whose loss runs the prompt prefix once per batch (see :mod:`finetune.shared_prefix`)."""
    from transformers import Trainer

    from finetune.shared_prefix import shared_prefix_loss

    class SharedPrefixTrainer(Trainer):
        """Computes the loss with the prompt prefix run once per batch (see :mod:`finetune.shared_prefix`)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            causal = model.get_base_model() if hasattr(model, "get_base_model") else model
            loss = shared_prefix_loss(causal, inputs)
            return (loss, {"loss": loss}) if return_outputs else loss

    return SharedPrefixTrainer
