"""The fast paths of local models change no answer, and local latency is accounted warm, at batch 1 and N."""

from dataclasses import replace

import pytest

from harness.tasks.fpb.data import LABELS, Example
from harness.models.base import Request
from harness.tasks.fpb.prompts import render

SENTENCES = [
    Example("a", "Operating profit rose 35 % to EUR 12.1 mn from EUR 9.0 mn .", "positive"),
    Example("b", "The company will publish its interim report on 5 May .", "neutral"),
    Example("c", "Net sales decreased by 18 % and the company swung to a pre-tax loss .", "negative"),
    Example("d", "Shares of the group closed higher after the order was announced .", "positive"),
]


@pytest.mark.slow
def test_continuous_batching_equals_generate_one_at_a_time(smollm2):
    """Rows leave the batch at different steps and waiting rows join it: every reply is still token for
    token what ``generate`` writes for that request alone."""
    import torch

    requests = [Request(e, replace(render("cot", e.text), max_new_tokens=24), LABELS) for e in SENTENCES * 2]
    ids = [smollm2.prompt_ids(r) for r in requests]
    stop = smollm2.tokenizer.encode(".", add_special_tokens=False)[0]  # a stop that rows reach early
    forward_batch = smollm2.forward_batch
    smollm2.forward_batch = 3  # 8 rows through 3 places: rows join a batch that is already decoding
    try:
        smollm2.clear_prefix_cache()
        mine = smollm2._generate(requests, ids, stop=stop)
    finally:
        smollm2.forward_batch = forward_batch
    pad = smollm2.tokenizer.pad_token_id
    expected = []
    with torch.inference_mode():
        for x in ids:
            out = smollm2.model.generate(input_ids=torch.tensor([x]), attention_mask=torch.ones(1, len(x), dtype=torch.long),
                                         max_new_tokens=24, do_sample=False, pad_token_id=pad, eos_token_id=stop)
            tokens = [t for t in out[0, len(x):].tolist() if t != pad]
            expected.append(smollm2.tokenizer.decode(tokens, skip_special_tokens=True).strip())
    assert [r.text for r in mine] == expected
    assert len({r.output_tokens for r in mine}) > 1, "expected rows to finish at different steps"


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["zero_shot", "cot"])
def test_length_ordered_batches_answer_in_request_order_as_one_at_a_time(smollm2, strategy):
    """predict() runs rows in length order, 2 at a time here: each reply still belongs to its own request
    and is what that request gets alone."""
    requests = [Request(e, render(strategy, e.text), LABELS) for e in SENTENCES]
    requests = [r if strategy != "cot" else Request(r.example, replace(r.prompt, max_new_tokens=12), LABELS)
                for r in requests]
    lengths = [len(smollm2.prompt_ids(r)) for r in requests]
    assert lengths != sorted(lengths), "expected requests out of length order"
    forward_batch = smollm2.forward_batch
    smollm2.forward_batch = 2
    try:
        smollm2.clear_prefix_cache()
        together = smollm2.predict(requests)
        alone = []
        for r in requests:
            smollm2.clear_prefix_cache()
            alone += smollm2.predict([r])
    finally:
        smollm2.forward_batch = forward_batch
    assert [r.input_tokens for r in together] == lengths
    assert [r.text for r in together] == [r.text for r in alone]
    assert {r.batch_size for r in together} == {2}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["zero_shot", "cot"])
def test_a_token_budget_packs_short_prompts_together_and_answers_as_one_at_a_time(smollm2, strategy):
    """--harness-batch-tokens: rows per forward pass by padded tokens (scoring) or by the longest prompt plus
    its answer limit (decoding). The answers are those of one request at a time; only the batching differs."""
    requests = [Request(e, replace(render(strategy, e.text), max_new_tokens=12), LABELS) for e in SENTENCES]
    lengths = [len(smollm2.prompt_ids(r)) for r in requests]
    budget = 2 * max(lengths) + (24 if strategy == "cot" else 0)  # 2 rows of the longest prompt (+ answers)
    smollm2.batch_tokens = budget
    try:
        smollm2.clear_prefix_cache()
        together = smollm2.predict(requests)
    finally:
        smollm2.batch_tokens = None
    alone = []
    for r in requests:
        smollm2.clear_prefix_cache()
        alone += smollm2.predict([r])
    assert [r.text for r in together] == [r.text for r in alone]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if strategy == "zero_shot":  # greedy in length order: a batch holds what fits at its longest row
        expected, batch = [], []
        for i in order:
            if batch and (len(batch) + 1) * lengths[i] > budget:
                expected += [len(batch)] * len(batch)
                batch = []
            batch.append(i)
        expected += [len(batch)] * len(batch)
        assert [together[i].batch_size for i in order] == expected
        assert max(expected) >= 2
    else:
        assert {r.batch_size for r in together} == {2}


@pytest.mark.slow
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
