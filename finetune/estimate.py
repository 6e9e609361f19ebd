"""Before any step: rows, tokens, steps, and the wall time and peak memory this machine will need.

The projection comes from real steps, not a table: after the rows are encoded and batched, the warm-up runs a
forward and backward pass of the run's own loss on a median batch (twice: the first call pays one-time costs)
and on the batch with the most padded tokens, timing each and measuring the memory it grew (the process's
peak resident set on a CPU, reset through ``/proc/self/clear_refs``; torch's allocator on CUDA). A step's time
is fitted as ``a + c x padded tokens`` through those two points and summed over every batch of every epoch,
plus the validation passes (forward only: their share of a step is timed on the median batch too). The warm-up never trains: no
optimiser step is taken, the gradients are dropped and the random state is restored, so the run is the one it
would have been without it; its seconds are printed and recorded apart from the training's.

``--time-budget SECONDS`` refuses a run projected past it, before any training, and names flags that would fit
with their projected times; ``--max-memory GB`` turns the measured bytes per token into the batches' token cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from harness import HarnessError

GPU_REFERENCE = (5873, "an H200 trained FPB at 5 873 tokens/s with 16-row batches (README, 2026-11-27)")
"""A measured GPU rate, for the refusal's "on a GPU" line (labelled as a projection from it)."""


@dataclass(frozen=True)
class Probe:
    """What the warm-up measured."""

    points: tuple[tuple[int, float, int], ...]
    """(padded tokens, seconds, peak bytes in use so far), timed training passes only."""
    base_bytes: int
    """Resident (CPU) or allocated (CUDA) bytes before the warm-up."""
    seconds: float
    """The whole warm-up, cold pass included."""
    state_bytes: int
    """The optimiser's state and the gradients the run will add (AdamW: 3 x trainable float32 parameters)."""
    forward_share: float = 0.5
    """A forward-only pass (evaluation) over a training step, measured on the median batch."""

    def step_seconds(self, tokens: float) -> float:
        (t1, s1, _), (t2, s2, _) = min(self.points), max(self.points)
        if t2 == t1 or s2 < s1:  # one size, or noise (a busy machine) larger than the size's effect: per token
            return (s1 + s2) / (t1 + t2) * tokens
        return max(0.0, s1 + (s2 - s1) / (t2 - t1) * (tokens - t1))

    def bytes_per_token(self) -> float:
        """The peak's growth over the warm-up's start, per token of the widest batch run by then (a cold pass's
        one-time allocations included: an upper bound)."""
        tokens, _, peak = max(self.points, key=lambda p: (p[0], p[2]))
        return max(1.0, (peak - self.base_bytes) / tokens)

    def peak_bytes(self, tokens: int) -> int:
        measured = max((peak for t, _, peak in self.points if t >= tokens), default=0)
        return int(self.state_bytes + (measured or self.base_bytes + self.bytes_per_token() * tokens))

    def tokens_within(self, gigabytes: float) -> int:
        return int((gigabytes * 2**30 - self.base_bytes - self.state_bytes) / self.bytes_per_token())


@dataclass(frozen=True)
class Estimate:
    rows: int
    validation_rows: int
    real_tokens: int
    padded_tokens: int
    """Per epoch, as batched."""
    steps: int
    evaluations: int
    seconds: float
    peak_bytes: int
    warmup_seconds: float
    largest_batch: int
    points: tuple[tuple[int, float, int], ...] = ()

    def lines(self, mode: str, cap: int | None, epochs: float, memory_kind: str) -> list[str]:
        return [f"estimate: {self.rows} rows (+ {self.validation_rows} validation), {self.real_tokens:,} tokens to "
                f"compute per epoch ({self.padded_tokens:,} with padding), {epochs:g} epochs: {self.steps} steps, batches by {mode}"
                + (f" (at most {cap:,} tokens)" if cap else ""),
                f"estimate: about {clock(self.seconds)} of training with {self.evaluations} evaluations, peak "
                f"{memory_kind} about {self.peak_bytes / 2**30:.1f} GB (largest batch {self.largest_batch:,} tokens; "
                f"from {self.warmup_seconds:.1f} s of warm-up steps here, not counted as training: "
                + ", ".join(f"{t:,} tokens in {s:.2f} s" for t, s, _ in self.points) + ")"]

    def card(self) -> dict[str, Any]:
        return {"projected_seconds": round(self.seconds, 1), "projected_peak_gib": round(self.peak_bytes / 2**30, 2),
                "warmup_seconds": round(self.warmup_seconds, 1), "padded_tokens_per_epoch": self.padded_tokens,
                "steps": self.steps, "warmup_points": [[t, round(s, 3), b] for t, s, b in self.points]}


def clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def peak_reset(cuda: bool) -> int:
    """Start a peak measurement; returns the bytes in use now."""
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM, the peak resident set, to the current one
    except OSError:
        pass
    return _status("VmRSS")


def peak_now(cuda: bool) -> int:
    if cuda:
        import torch

        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return _status("VmHWM")


def _status(field: str) -> int:
    try:
        with open("/proc/self/status") as handle:
            return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field + ":"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def warm_up(model: Any, loss_of: Callable[[Any, dict[str, Any]], Any], median: dict[str, Any],
            largest: Callable[[Probe], dict[str, Any]], cuda: bool) -> Probe:
    """Time and measure forward + backward on ``median`` (cold, then timed; then forward only, as evaluation
    runs) and on ``largest(probe so far)`` (the batch with the most padded tokens, chosen once the median pass
    has measured bytes per token). Nothing is trained: no optimiser step, gradients dropped, random state restored."""
    import torch

    state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if cuda else None
    state_bytes = 12 * sum(p.numel() for p in model.parameters() if p.requires_grad)
    base = peak_reset(cuda)
    began = time.perf_counter()
    device = next(model.parameters()).device

    def one(batch: dict[str, Any], train: bool = True) -> tuple[int, float, int]:
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda), torch.set_grad_enabled(train):
            loss = loss_of(model, batch)
        if train:
            loss.backward()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return int(batch["input_ids"].numel()), seconds, peak_now(cuda)

    try:
        model.train()
        cold = one(median)  # the first call pays allocation and thread start-up; its peak is a clean measurement
        timed = one(median)
        forward = one(median, train=False)[1]
        share = min(1.0, forward / timed[1]) if timed[1] else 0.5
        probe = Probe((cold, timed), base, 0.0, state_bytes, share)
        widest = one(largest(probe))
    finally:
        model.zero_grad(set_to_none=True)
        torch.random.set_rng_state(state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
    return Probe(((timed[0], timed[1], max(cold[2], timed[2])), widest), base, time.perf_counter() - began,
                 state_bytes, share)


def project(probe: Probe, train_padded: Sequence[int], val_padded: Sequence[int], *, steps: int, eval_every: int,
            validate: bool, rows: int, validation_rows: int, real_tokens: int) -> Estimate:
    """The run's wall time and peak from the warm-up: every step's batch by its padded tokens (the epoch's batches
    in turn, as many steps as the run takes), and a forward-only pass over the validation batches per evaluation."""
    per_epoch = [probe.step_seconds(t) for t in train_padded]
    full, rest = divmod(steps, len(per_epoch)) if per_epoch else (0, 0)
    mean = sum(per_epoch) / len(per_epoch) if per_epoch else 0.0
    seconds = full * sum(per_epoch) + rest * mean
    evaluations = steps // eval_every if validate else 0
    seconds += evaluations * sum(probe.step_seconds(t) for t in val_padded) * probe.forward_share
    largest = max([*train_padded, *val_padded], default=0)
    return Estimate(rows, validation_rows, real_tokens, sum(train_padded), steps, evaluations, seconds,
                    probe.peak_bytes(largest), probe.seconds, largest, probe.points)


def refuse_over_budget(estimate: Estimate, budget: float, options: list[tuple[str, float]]) -> None:
    """``--time-budget``: a projection past it stops the run here, naming what would fit."""
    if estimate.seconds <= budget:
        return
    fits = [f"  {flag}: about {clock(seconds)}" for flag, seconds in options if seconds <= budget]
    short = [f"  {flag}: about {clock(seconds)}" for flag, seconds in options if seconds > budget]
    raise HarnessError(
        f"--time-budget={budget:g} s: this run is projected at {clock(estimate.seconds)} on this machine "
        f"({estimate.steps} steps, {estimate.padded_tokens:,} padded tokens per epoch), before any training. "
        + ("These would fit:\n" + "\n".join(fits) if fits else "No single flag fits it: combine them, or raise "
           "--time-budget")
        + ("\nThese would not:\n" + "\n".join(short) if short else "")
        + f"\n(all projected from this machine's warm-up steps; {GPU_REFERENCE[1]})")
