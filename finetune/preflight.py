"""Between encoding and the first step: cut long texts, batch, schedule, estimate, and refuse what will not fit.

Everything here runs before any optimiser step, so a run that would take too long or need too much memory
stops with the numbers and the flags that would fit, not after an hour or an out-of-memory kill.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from harness import HarnessError
from finetune.batching import DEFAULT_MEMORY_GB, DEFAULT_TOKENS, Batching, computed_lengths, cut_texts, plan, row_batches
from finetune.config import TrainConfig
from finetune.data import encode
from finetune.estimate import GPU_REFERENCE, Estimate, Probe, project, refuse_over_budget, warm_up


@dataclass(frozen=True)
class Schedule:
    epochs: float
    steps_per_epoch: int
    total_steps: int
    eval_every: int


def schedule(config: TrainConfig, items: int, per_device: int, launched: int) -> Schedule:
    """Epochs (more with ``--min-steps``), optimiser steps and the evaluation cadence for ``items`` dataset items."""
    epochs = config.epochs
    steps_per_epoch = -(-items // (per_device * launched))
    if config.min_steps and epochs * steps_per_epoch < config.min_steps:
        epochs = config.min_steps / steps_per_epoch
    total_steps = config.max_steps if config.max_steps > 0 else int(-(-epochs * steps_per_epoch // 1))
    eval_every = min(config.eval_every, max(2, total_steps // 4))  # a short run still evaluates and early-stops
    return Schedule(epochs, steps_per_epoch, total_steps, eval_every)


def encode_all(config: TrainConfig, data: Any, tokenizer: Any) -> tuple[list[Any], list[Any], int]:
    """Train and validation rows, texts cut to ``--max-length`` (printed: how many rows were cut)."""
    train, validation = list(data.train), list(data.validation)
    cut = 0
    if config.max_length:
        def length_of(example: Any) -> int:
            return len(encode(example, tokenizer, data.messages)["input_ids"])

        done = cut_texts(train + validation, config.max_length, length_of, tokenizer)
        train, validation, cut = list(done.examples[:len(train)]), list(done.examples[len(train):]), done.cut
        print(f"--max-length={config.max_length}: cut the text of {cut} of {len(done.examples)} rows "
              f"(the longest had {done.longest_before} tokens)", flush=True)
    return ([encode(e, tokenizer, data.messages) for e in train], [encode(e, tokenizer, data.messages) for e in validation],
            cut)


def batch(config: TrainConfig, train_rows: list[Any], val_rows: list[Any], prefix_length: int, cuda: bool,
          cap: int | None = None) -> Batching:
    return plan(computed_lengths(train_rows, prefix_length), computed_lengths(val_rows, prefix_length),
                batch_size=config.batch_size, batch_tokens=config.batch_tokens,
                cap=cap or DEFAULT_TOKENS["cuda" if cuda else "cpu"], seed=config.seed,
                full_train=computed_lengths(train_rows, 0), full_val=computed_lengths(val_rows, 0))


def padded_batches(batching: Batching, lengths: list[int], batches: list[list[int]], batch_size: int) -> list[int]:
    """Padded tokens per batch; for the ``rows`` mode (the trainer's sampler), rows sorted into ``batch_size``."""
    batches = batches or row_batches(lengths, batch_size)
    return [len(b) * max(lengths[i] for i in b) for b in batches]


@dataclass(frozen=True)
class Forecast:
    batching: Batching
    estimate: Estimate


def forecast(config: TrainConfig, model: Any, train_rows: list[Any], val_rows: list[Any], *, prefix_length: int,
             collate: Any, loss_of: Any, cuda: bool, validate: bool) -> Forecast:
    """Batches (re-formed under ``--max-memory`` once the warm-up has measured bytes per token), the projection,
    and the refusals: past ``--max-memory`` or ``--time-budget``."""
    batching = batch(config, train_rows, val_rows, prefix_length, cuda)
    val_lengths = computed_lengths(val_rows, prefix_length)

    def rows_of(indices: list[int], rows: list[Any]) -> Any:
        return collate([rows[i] for i in indices])

    def batches_of(b: Batching) -> list[list[int]]:
        return b.train or row_batches(list(b.lengths), config.batch_size)

    ordered = sorted(batches_of(batching), key=batching.padded)
    median = rows_of(ordered[len(ordered) // 2], train_rows)

    def largest(probe: Probe) -> Any:
        nonlocal batching
        limit = config.max_memory or (None if cuda else DEFAULT_MEMORY_GB)
        if limit and config.batch_tokens is None:
            fits = probe.tokens_within(limit)
            if config.max_memory and fits < max(batching.lengths):
                raise HarnessError(f"--max-memory={config.max_memory:g}: a row of {max(batching.lengths)} tokens needs "
                                   f"about {probe.peak_bytes(max(batching.lengths)) / 2**30:.1f} GB here (measured "
                                   f"{probe.bytes_per_token() / 2**20:.2f} MB per token); pass --max-length "
                                   f"{max(16, fits + prefix_length)} or more memory")
            batching = batch(config, train_rows, val_rows, prefix_length, cuda, cap=max(1, fits))
        return rows_of(max(batches_of(batching), key=batching.padded), train_rows)

    probe = warm_up(model, loss_of, median, largest, cuda)
    when = schedule(config, len(batching.train) or len(train_rows), 1 if batching.train else config.batch_size, 1)
    train_padded = padded_batches(batching, list(batching.lengths), batching.train, config.batch_size)
    val_padded = padded_batches(batching, val_lengths, batching.validation, config.batch_size)
    estimate = project(probe, train_padded, val_padded, steps=when.total_steps, eval_every=when.eval_every,
                       validate=validate, rows=len(train_rows), validation_rows=len(val_rows),
                       real_tokens=sum(batching.lengths))
    memory_kind = "GPU memory" if cuda else "resident memory"
    for line in estimate.lines(batching.mode, batching.cap, when.epochs, memory_kind):
        print(line, flush=True)
    if config.max_memory and estimate.peak_bytes > config.max_memory * 2**30:
        fits = probe.tokens_within(config.max_memory)
        raise HarnessError(f"--max-memory={config.max_memory:g}: the largest batch ({estimate.largest_batch:,} tokens) "
                           f"is projected at {estimate.peak_bytes / 2**30:.1f} GB; pass --batch-tokens {max(1, fits)} "
                           "or leave --batch-tokens out")
    if config.time_budget:
        refuse_over_budget(estimate, config.time_budget, options(config, probe, estimate, train_rows, val_rows,
                                                                 prefix_length, cuda, validate, batching.cap))
    return Forecast(batching, estimate)


def options(config: TrainConfig, probe: Probe, estimate: Estimate, train_rows: list[Any], val_rows: list[Any],
            prefix_length: int, cuda: bool, validate: bool, cap: int | None = None) -> list[tuple[str, float]]:
    """Flags that change the projected time, each with its projection (the refusal lists those that fit)."""
    found: list[tuple[str, float]] = []
    epochs = int(config.epochs * config.time_budget / estimate.seconds * 10) / 10 if config.time_budget else 0
    if epochs >= 0.1 and config.max_steps < 0:
        found.append((f"--epochs {epochs:g}", estimate.seconds * epochs / config.epochs))
    longest = max(len(r["input_ids"]) for r in train_rows)
    for n in (1024, 768, 512, 384, 256, 192, 128, 96, 64):
        if n >= longest or n <= prefix_length + 8:
            continue
        cut_train = [_cut(r, n) for r in train_rows]
        cut_val = [_cut(r, n) for r in val_rows]
        seconds = _projected(config, probe, cut_train, cut_val, prefix_length, cuda, validate, cap)
        rows_cut = sum(len(r["input_ids"]) > n for r in train_rows + val_rows)
        found.append((f"--max-length {n} (cuts {rows_cut} rows)", seconds))
        if config.time_budget and seconds <= config.time_budget:
            break
    for tokens in (2 * (config.batch_tokens or cap or DEFAULT_TOKENS["cuda" if cuda else "cpu"]),):
        wider = replace(config, batch_tokens=tokens)
        seconds = _projected(wider, probe, train_rows, val_rows, prefix_length, cuda, validate)
        found.append((f"--batch-tokens {tokens} (about {probe.peak_bytes(tokens) / 2**30:.1f} GB)", seconds))
    if not cuda:
        gpu = sum(len(r["input_ids"]) for r in train_rows) * config.epochs / GPU_REFERENCE[0]
        found.append(("a GPU (python -m finetune ... on a CUDA machine)", gpu))
    return found


def _cut(row: dict[str, list[int]], n: int) -> dict[str, list[int]]:
    """The row's length after --max-length n would cut its text (the tokens themselves do not matter here)."""
    return row if len(row["input_ids"]) <= n else {"input_ids": row["input_ids"][:n], "labels": row["labels"][:n]}


def _projected(config: TrainConfig, probe: Probe, train_rows: list[Any], val_rows: list[Any], prefix_length: int,
               cuda: bool, validate: bool, cap: int | None = None) -> float:
    b = batch(config, train_rows, val_rows, prefix_length, cuda, cap)
    when = schedule(config, len(b.train) or len(train_rows), 1 if b.train else config.batch_size, 1)
    val = computed_lengths(val_rows, prefix_length)
    return project(probe, padded_batches(b, list(b.lengths), b.train, config.batch_size),
                   padded_batches(b, val, b.validation, config.batch_size), steps=when.total_steps,
                   eval_every=when.eval_every, validate=validate, rows=len(train_rows), validation_rows=len(val_rows),
                   real_tokens=0).seconds
