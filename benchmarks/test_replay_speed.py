"""Replay speed: the harness's indexed cassette vs a plain vcrpy cassette matching on the body.

One synthetic JSON cassette of 3 000 chat-completion interactions (written here, labelled synthetic) is
replayed through the real openai client and vcrpy's httpx patch both ways in the same run. The plain
vcrpy cassette scans every stored interaction with every matcher for each request, so it replays a
sample of requests spread over the cassette; the ratio of mean seconds per request is the result.

    pytest benchmarks --benchmark-json=reports/benchmarks/replay.json
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

N_INTERACTIONS = 3000
BASELINE_SAMPLE = 40
URL = "http://127.0.0.1:9/v1"
results: dict[str, float] = {}


def _body(i: int) -> dict:
    return {"model": "gpt-4o-mini", "max_tokens": 8, "temperature": 0, "seed": 5768,
            "messages": [{"role": "system", "content": "Classify the sentiment of a sentence."},
                         {"role": "user", "content": f"Sentence: synthetic sentence number {i} about quarterly sales ."}]}


@pytest.fixture(scope="module")
def cassette(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "synthetic.json"
    interactions = []
    for i in range(N_INTERACTIONS):
        reply = {"id": f"c{i}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": ("positive", "negative", "neutral")[i % 3]}}],
                 "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31}}
        interactions.append({
            "request": {"method": "POST", "uri": f"{URL}/chat/completions", "body": json.dumps(_body(i)),
                        "headers": {"content-type": ["application/json"]}},
            "response": {"status": {"code": 200, "message": "OK"},
                         "headers": {"content-type": ["application/json"], "x-harness-latency-s": ["0.5"]},
                         "body": {"string": json.dumps(reply)}},
        })
    path.write_text(json.dumps({"version": 1, "interactions": interactions,
                                "metadata": {"note": "synthetic, written by benchmarks/test_replay_speed.py"}}))
    return path


def _replay(client, indices):
    for i in indices:
        body = _body(i)
        reply = client.chat.completions.create(**body)
        assert reply.choices[0].message.content == ("positive", "negative", "neutral")[i % 3]


def _client():
    import openai

    return openai.OpenAI(api_key="replay-dummy-key-not-a-secret", base_url=URL, max_retries=0)


def test_vcrpy_body_matcher(benchmark, cassette):
    import vcr

    sample = [round(k * (N_INTERACTIONS - 1) / (BASELINE_SAMPLE - 1)) for k in range(BASELINE_SAMPLE)]
    recorder = vcr.VCR(serializer="json", record_mode="none",
                       match_on=("method", "scheme", "host", "port", "path", "query", "body"))
    client = _client()

    def run():
        with recorder.use_cassette(str(cassette)):
            _replay(client, sample)

    benchmark.pedantic(run, rounds=1, iterations=1)
    results["vcrpy_body_s_per_request"] = benchmark.stats.stats.mean / len(sample)
    benchmark.extra_info.update(requests=len(sample), interactions=N_INTERACTIONS,
                                s_per_request=results["vcrpy_body_s_per_request"])


def test_harness_indexed_cassette(benchmark, cassette):
    from harness.cassettes import use_cassette

    client = _client()

    def run():
        with use_cassette(cassette, record_mode="none", keep_prompts=True):
            _replay(client, range(N_INTERACTIONS))

    benchmark.pedantic(run, rounds=1, iterations=1)
    per_request = benchmark.stats.stats.mean / N_INTERACTIONS
    benchmark.extra_info.update(requests=N_INTERACTIONS, interactions=N_INTERACTIONS, s_per_request=per_request)
    if "vcrpy_body_s_per_request" in results:
        ratio = results["vcrpy_body_s_per_request"] / per_request
        benchmark.extra_info["speedup_vs_vcrpy_body_matcher"] = ratio
        print(f"\nreplay: {per_request * 1000:.3f} ms/request indexed vs "
              f"{results['vcrpy_body_s_per_request'] * 1000:.1f} ms/request with vcrpy's body matcher "
              f"at {N_INTERACTIONS} interactions: {ratio:.0f}x faster (target >= 10x)")
