"""Training with the prompt's shared prefix computed once per batch instead of once per example.

Every training example starts with the same tokens (system prompt, instructions, ``Sentence:``): 56 of the
~97 tokens of an FPB example for SmolLM2. The LoRA weights change the prefix's keys and values, so they
cannot be cached across steps, but within one batch they are the same for every row: the prefix runs once
(batch 1, with gradients), its KV cache is repeated to the batch, and only the suffixes (sentence + answer)
run per row. Logits are computed only where a label is, not over the 49k-word vocabulary at every position.

The loss is the one the plain forward gives (mean cross-entropy over the answer tokens of the batch): the
split falls on a token boundary of the same token sequence, so nothing is re-tokenised.
"""

from __future__ import annotations

from typing import Any, Sequence

IGNORE = -100


def common_prefix_length(rows: Sequence[dict[str, list[int]]]) -> int:
    """Tokens that every row starts with, ending at least one token before the first labelled token (the
    position that predicts it must be in the suffix)."""
    first = rows[0]["input_ids"]
    limit = min(next((i for i, x in enumerate(r["labels"]) if x != IGNORE), len(r["labels"])) for r in rows) - 1
    p = 0
    while p < limit and all(r["input_ids"][p] == first[p] for r in rows):
        p += 1
    return p


class SuffixCollator:
    """Right-pads each row's tokens after the shared prefix; the prefix rides along once."""

    def __init__(self, pad_id: int, prefix: Sequence[int]) -> None:
        self.pad_id = pad_id
        self.prefix = list(prefix)

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        p = len(self.prefix)
        suffixes = [(r["input_ids"][p:], r["labels"][p:]) for r in rows]
        width = max(len(ids) for ids, _ in suffixes)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row_ids, row_labels) in enumerate(suffixes):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            labels[i, : len(row_labels)] = torch.tensor(row_labels)
            mask[i, : len(row_ids)] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask,
                "prefix_ids": torch.tensor([self.prefix], dtype=torch.long)}


def shared_prefix_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the labelled suffix tokens, the prefix run once for the whole batch.

    ``model`` is a causal LM with ``.model`` (the decoder) and ``.lm_head`` (a peft model's base model).
    """
    import torch
    import torch.nn.functional as F

    suffix, labels, mask, prefix = batch["input_ids"], batch["labels"], batch["attention_mask"], batch["prefix_ids"]
    n = suffix.shape[0]
    cache = model.model(input_ids=prefix, use_cache=True).past_key_values
    cache.batch_repeat_interleave(n)
    full_mask = torch.cat([torch.ones((n, prefix.shape[1]), dtype=mask.dtype), mask], dim=1)
    hidden = model.model(input_ids=suffix, attention_mask=full_mask, past_key_values=cache,
                         use_cache=True).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = model.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), targets[keep])
