"""How encoded rows become training steps, with the memory of a step bounded by design.

A CPU step's memory grows with the tokens it computes: SmolLM2-135M with LoRA on every linear layer keeps about
2-4 MB of activations per token (more for long rows: attention) for the backward pass (measured: 2 rows of 567 tokens after the prefix took 4.2 GB; 16 such rows held 19 GB). So unless
``--batch-tokens`` says otherwise, a batch holds up to ``--batch-size`` rows *and* at most :data:`DEFAULT_TOKENS`
computed tokens (rows x the longest row; on the CPU, after the shared prefix, which runs once per batch); on
a CPU the cap is what the warm-up measured to fit in :data:`DEFAULT_MEMORY_GB` (or ``--max-memory``, see
:mod:`finetune.estimate`). Rows short enough that ``--batch-size`` of them always fit keep the trainer's own
length-grouped row batches; longer rows are packed by length, fewer per step (FPB on a CPU: its longest
sentences, 197 tokens after the prefix, are packed; on a GPU its recipe is unchanged). ``--max-length`` cuts long texts (the answer
and the prompt's own words are kept) and says how many rows it cut.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from harness import HarnessError

DEFAULT_TOKENS = {"cpu": 768, "cuda": 8192}
"""Computed tokens per step before the warm-up has measured this machine (and under several processes, where
there is no warm-up). CPU: at the ~3 MB per token measured for SmolLM2-135M (LoRA r=16 on every linear layer,
float32, 600-token rows), about 2.5 GB. GPU: 16 rows of FPB (at most ~4 k tokens) are never split; a 600-token
row shares a step with at most 12 others."""

DEFAULT_MEMORY_GB = 3.5
"""On a CPU, a single-process run's token cap is what the warm-up measured to fit in this much resident memory
(``--max-memory`` replaces it): the run's peak, evaluation and the optimiser included, stays under 4 GB, and a
16 GB laptop keeps room for everything else."""


@dataclass(frozen=True)
class Batching:
    """The batches of one run, and how they were formed (the card records this)."""

    train: list[list[int]]
    """Row indices per training batch (every train row once)."""
    validation: list[list[int]]
    mode: str
    """``rows`` (``--batch-size`` rows, the trainer's own length-grouped sampler), ``rows, token cap`` (at most
    ``--batch-size`` rows and ``cap`` tokens, packed by length) or ``tokens`` (``--batch-tokens``)."""
    cap: int | None
    lengths: tuple[int, ...]
    """Train rows' computed lengths (after the shared prefix on the CPU path)."""

    def padded(self, batch: Sequence[int]) -> int:
        return len(batch) * max(self.lengths[i] for i in batch)

    def summary(self) -> dict[str, Any]:
        sizes = [len(b) for b in self.train]
        return {"mode": self.mode, "token_cap": self.cap, "batches": len(self.train),
                "padded_tokens": sum(self.padded(b) for b in self.train), "real_tokens": sum(self.lengths),
                "largest_batch_tokens": max((self.padded(b) for b in self.train), default=0),
                "rows_per_batch_max": max(sizes, default=0)}


def computed_lengths(rows: Sequence[dict[str, list[int]]], prefix_length: int) -> list[int]:
    """Tokens each row costs a step: the whole row, or with a shared prefix, what follows it."""
    return [len(r["input_ids"]) - prefix_length for r in rows]


def plan(train_lengths: Sequence[int], val_lengths: Sequence[int], *, batch_size: int, batch_tokens: int | None,
         cap: int, seed: int, full_train: Sequence[int] | None = None,
         full_val: Sequence[int] | None = None) -> Batching:
    """The run's batches. ``batch_tokens`` (the flag) packs by the rows' full lengths, as it always has
    (``full_train``/``full_val``, default the computed ones); otherwise ``batch_size`` rows, capped at ``cap``
    computed tokens when some batch could exceed it."""
    full_train = train_lengths if full_train is None else full_train
    full_val = val_lengths if full_val is None else full_val
    if batch_tokens:
        return Batching(by_tokens(full_train, batch_tokens, seed), by_tokens(full_val, batch_tokens, seed), "tokens",
                        batch_tokens, tuple(train_lengths))
    longest = max([*train_lengths, *val_lengths], default=0)
    if batch_size * longest <= cap:
        return Batching([], [], "rows", cap, tuple(train_lengths))
    return Batching(by_tokens(train_lengths, cap, seed, batch_size), by_tokens(val_lengths, cap, seed, batch_size),
                    "rows, token cap", cap, tuple(train_lengths))


def by_tokens(lengths: Sequence[int], budget: int, seed: int, max_rows: int | None = None) -> list[list[int]]:
    """Row indices in batches of at most ``budget`` padded tokens (and ``max_rows`` rows), similar lengths
    together, ties broken at random by ``seed``; a row longer than the budget is a batch alone."""
    import random

    from harness.models.local_lm import pack_by_tokens

    rng = random.Random(seed)
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    return pack_by_tokens(order, lengths, budget, max_rows)


def row_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """For an estimate of the ``rows`` mode: batches of ``batch_size`` rows, similar lengths together (the
    trainer's length-grouped sampler pads about as little)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class Cut:
    examples: tuple[Any, ...]
    cut: int
    """How many examples had their text cut."""
    longest_before: int


def cut_texts(examples: Sequence[Any], max_length: int, length_of: Callable[[Any], int],
              tokenizer: Any) -> Cut:
    """Examples whose encoded row is longer than ``max_length`` tokens get their text cut (from the end) until it
    fits; the prompt around the text and the answer stay whole. An example without a ``text`` field, or
    whose prompt alone is longer, is refused with the fix."""
    out, cut, longest = [], 0, 0
    for example in examples:
        length = length_of(example)
        longest = max(longest, length)
        if length <= max_length:
            out.append(example)
            continue
        if not isinstance(getattr(example, "text", None), str):
            raise HarnessError(f"--max-length={max_length}: a row of {length} tokens has no text field to cut "
                               f"({type(example).__name__}); use the task's own limit (tatqa: --max-context-chars)")
        ids = tokenizer(example.text, add_special_tokens=False)["input_ids"]
        keep = max(0, len(ids) - (length - max_length))
        while True:
            shorter = replace(example, text=tokenizer.decode(ids[:keep]).rstrip())
            if length_of(shorter) <= max_length:
                break
            if keep == 0:
                raise HarnessError(f"--max-length={max_length}: row {getattr(example, 'id', '?')} needs "
                                   f"{length_of(shorter)} tokens with no text at all (prompt + answer): expected "
                                   f"a --max-length above that")
            keep = max(0, keep - max(1, (length_of(shorter) - max_length)))
        out.append(shorter)
        cut += 1
    return Cut(tuple(out), cut, longest)
