"""Time an adapter evaluated as the harness would (``adapter.load`` at its card's precision, on the GPU) on the
first N FPB test sentences (256): load seconds, examples/s of label scoring at 16 rows per forward pass and at
each token budget, chain-of-thought decoding of the first 32 (replies/s, generated tokens/s), peak GiB. For a
random-weight adapter's speed only (the harness refuses to score it), called by ``benchmarks/gpu_figures.py``.

    python benchmarks/gpu_inference.py ADAPTER_FOLDER OUT.json [N] [BUDGET,BUDGET]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(folder: str, out: str, n: int = 256, budgets: tuple[int, ...] = ()) -> None:
    """Label scoring at 16 rows per forward pass, then at each token budget (``--harness-batch-tokens``)."""
    import torch

    from harness.benchmark import Benchmark, BenchmarkConfig
    from harness.models import adapter

    bench = Benchmark(BenchmarkConfig(models=("tfidf-logreg",)))
    requests = [bench.request("zero_shot", i) for i in range(min(n, len(bench.test)))]
    card = adapter.read_card(Path(folder))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    model = adapter.load(Path(folder), card, f"adapter:{folder}", 16, device=device)
    loaded = time.perf_counter() - start
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    settings = []
    for budget in (None, *budgets):
        model.batch_tokens = budget
        replies, seconds = timed(model, requests, requests[:16], sync)
        settings.append({"batch": f"{budget} tokens" if budget else "16 rows", "seconds": round(seconds, 3),
                         "examples_per_second": round(len(requests) / seconds, 1),
                         "largest_batch_rows": max(r.batch_size for r in replies)})
    cot = chain_of_thought(model, [bench.request("cot", i) for i in range(min(COT_ROWS, len(requests)))], sync)
    Path(out).write_text(json.dumps({
        "examples": len(requests), "precision": model.precision, "load_seconds": round(loaded, 1),
        "settings": settings, "chain_of_thought": cot,
        "batch": 16, "examples_per_second": settings[0]["examples_per_second"],
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "device": device, "provenance": model.provenance,
        "note": "random weights: speed and memory only"}, indent=2))


COT_ROWS = 32


def timed(model, requests, warm_up, sync):
    """``model``'s replies to ``requests`` and their seconds, after an untimed call on ``warm_up``."""
    model.predict(warm_up)
    sync()
    start = time.perf_counter()
    replies = model.predict(requests)
    sync()
    return replies, time.perf_counter() - start


def chain_of_thought(model, requests, sync) -> dict:
    """Greedy decoding of chain-of-thought replies with continuous batching (16 rows at once): replies/s and
    generated tokens/s. Random weights rarely write the end-of-turn token, so rows run to their answer limit."""
    model.batch_tokens = None
    replies, seconds = timed(model, requests, requests[:2], sync)
    tokens = sum(r.output_tokens or 0 for r in replies)
    return {"rows": len(replies), "seconds": round(seconds, 3), "replies_per_second": round(len(replies) / seconds, 2),
            "generated_tokens": tokens, "generated_tokens_per_second": round(tokens / seconds, 1),
            "answer_limit": requests[0].prompt.max_new_tokens, "rows_at_once": max(r.batch_size for r in replies)}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:4]),
         budgets=tuple(int(x) for x in sys.argv[4].split(",")) if len(sys.argv) > 4 and sys.argv[4] else ())
