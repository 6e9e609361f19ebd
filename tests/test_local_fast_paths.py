"""The fast paths of local models change no answer, and local latency is accounted warm, at batch 1 and N."""

import pytest

from harness.data import LABELS, Example
from harness.models.base import Request
from harness.prompts import render

SENTENCES = [
    Example("a", "Operating profit rose 35 % to EUR 12.1 mn from EUR 9.0 mn .", "positive"),
    Example("b", "The company will publish its interim report on 5 May .", "neutral"),
    Example("c", "Net sales decreased by 18 % and the company swung to a pre-tax loss .", "negative"),
    Example("d", "Shares of the group closed higher after the order was announced .", "positive"),
]


def test_greedy_with_finished_rows_dropped_equals_generate(smollm2):
    import torch

    ids = [smollm2.prompt_ids(Request(e, render("cot", e.text), LABELS)) for e in SENTENCES]
    width, pad = max(map(len, ids)), smollm2.tokenizer.pad_token_id
    input_ids = torch.full((len(ids), width), pad)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, width - len(x):] = torch.tensor(x)
        mask[row, width - len(x):] = 1
    # a stop token that some rows reach early, so rows leave the batch at different steps
    stop = smollm2.tokenizer.encode(".", add_special_tokens=False)[0]
    mine = smollm2.greedy(input_ids, mask, 24, eos_token_id=stop)
    with torch.inference_mode():
        out = smollm2.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=24, do_sample=False,
                                     pad_token_id=pad, eos_token_id=stop)
    reference = [[t for t in row if t != pad] for row in out[:, width:].tolist()]
    trimmed = [row[: row.index(stop) + 1] if stop in row else row for row in reference]
    assert [[t for t in row if t != pad] for row in mine] == trimmed
    assert len({len(row) for row in mine}) > 1, "expected rows to finish at different steps"


def test_single_request_reuses_the_cached_prefix(smollm2):
    requests = [Request(e, render("zero_shot", e.text), LABELS) for e in SENTENCES]
    smollm2.clear_prefix_cache()
    batched = smollm2.predict(requests)
    prefix = smollm2._prefix_cache[0]
    alone = smollm2.predict(requests[:1])[0]
    assert smollm2._prefix_cache[0] == prefix  # not recomputed for one request
    assert alone.text == batched[0].text
    for label in LABELS:
        assert alone.scores[label] == pytest.approx(batched[0].scores[label], abs=1e-3)


def test_int8_option_is_checked(smollm2):
    from harness import HarnessError
    from harness.models.local_lm import CausalLM

    with pytest.raises(HarnessError, match="quantize='int4'"):
        CausalLM("x", "unused", "unused", quantize="int4")


def test_local_latency_is_warm_and_at_batch_one(tmp_path):
    from harness.benchmark import Benchmark, BenchmarkConfig

    bench = Benchmark(BenchmarkConfig(models=("tfidf-logreg",), limit=4))
    case = bench.case("tfidf-logreg", "supervised", 0)
    assert case.batch1_latency_s is not None and case.batch1_latency_s > 0
    assert case.batch_size == 4
