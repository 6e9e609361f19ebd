"""Replay speed: the harness's indexed cassette vs a plain vcrpy cassette matching on the body.

One synthetic JSON cassette of 3 000 chat-completion interactions (written here, labelled synthetic) is
replayed through the real openai client and vcrpy's httpx patch both ways in the same run. The plain
vcrpy cassette scans every stored interaction with every matcher for each request, so it replays a
sample of requests spread over the cassette; the ratio of mean seconds per request is the result.

Then the whole harness path per case (prompt, chunk, client, cassette, parse, case result) over 3 000
cases replayed from a 3 000-interaction cassette in the harness's own private format: at most 1 ms each.

    pytest benchmarks/test_replay_speed.py --benchmark-json=reports/benchmarks/replay.json
"""

from __future__ import annotations

import json
from dataclasses import replace
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
    from harness.cassettes import write_cassette

    write_cassette(path, interactions, {"note": "synthetic, written by benchmarks/test_replay_speed.py"})  # sealed
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


def test_harness_indexed_cassette(benchmark, ratio, cassette):
    from harness.cassettes import use_cassette

    client = _client()

    def run():
        with use_cassette(cassette, record_mode="none", keep_prompts=True):
            _replay(client, range(N_INTERACTIONS))

    benchmark.pedantic(run, rounds=1, iterations=1)
    per_request = benchmark.stats.stats.mean / N_INTERACTIONS
    benchmark.extra_info.update(requests=N_INTERACTIONS, interactions=N_INTERACTIONS, s_per_request=per_request)
    if "vcrpy_body_s_per_request" in results:
        speedup = results["vcrpy_body_s_per_request"] / per_request
        benchmark.extra_info["speedup_vs_vcrpy_body_matcher"] = speedup
        ratio("indexed cassette speed-up vs vcrpy body matcher", speedup, 10.0,
              note=f"{per_request * 1000:.3f} vs {results['vcrpy_body_s_per_request'] * 1000:.1f} ms per request "
                   f"at {N_INTERACTIONS} interactions")


# -- harness overhead per replayed case ------------------------------------------------------------------
OVERHEAD_TARGET_S = 0.001
MODEL = "openai:gpt-4o-mini"


@pytest.fixture(scope="module")
def replay_bench(tmp_path_factory):
    """A harness run on 3 000 synthetic sentences whose API pair replays from a 3 000-interaction cassette
    written the way the harness writes them (private bodies: digest and parameters only)."""
    from harness.benchmark import Benchmark, BenchmarkConfig
    from harness.cassettes import cassette_path, private_body
    from harness.example import Example
    from harness.tasks.fpb.prompts import TEMPLATE_VERSION
    from harness.splits import fingerprint

    root = tmp_path_factory.mktemp("replay-cassettes")
    bench = Benchmark(BenchmarkConfig(models=("tfidf-logreg",), cassette_dir=str(root)))
    labels = ("positive", "negative", "neutral")
    bench.test = tuple(Example(f"synthetic-{i}", f"Synthetic sentence number {i} about quarterly sales .",
                               labels[i % 3]) for i in range(N_INTERACTIONS))
    bench.data = replace(bench.data, test=bench.test)  # the task renders requests from its data
    interactions = []
    for i in range(N_INTERACTIONS):
        request = bench.request("zero_shot", i)
        body = {"model": MODEL.split(":", 1)[1], "messages": list(request.prompt.messages), "temperature": 0,
                "seed": bench.config.seed, "max_tokens": request.prompt.max_new_tokens}
        reply = {"id": f"c{i}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": labels[i % 3]}}],
                 "usage": {"prompt_tokens": 60, "completion_tokens": 1, "total_tokens": 61}}
        interactions.append({
            "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions",
                        "body": private_body(json.dumps(body)).decode(), "headers": {"content-type": ["application/json"]}},
            "response": {"status": {"code": 200, "message": "OK"},
                         "headers": {"content-type": ["application/json"], "x-harness-latency-s": ["0.5"],
                                     "x-harness-recorded-at": ["2026-11-22T00:00:00+00:00"]},
                         "body": {"string": json.dumps(reply)}},
        })
    path = cassette_path(root, bench.context.task, MODEL, "zero_shot")
    path.parent.mkdir(parents=True)
    from harness.cassettes import write_cassette

    write_cassette(path, interactions, {  # sealed, as the harness writes every cassette
        "task": bench.context.task, "template_version": TEMPLATE_VERSION, "model": MODEL, "strategy": "zero_shot",
        "endpoint": "https://api.openai.com/v1", "test_fingerprint": fingerprint(bench.context.test),
        "note": "synthetic, written by benchmarks/test_replay_speed.py"})
    return bench


def test_harness_overhead_per_replayed_case(benchmark, ratio, replay_bench):
    """Everything the harness does per case when the model is a replay: rendering the prompt, chunking,
    the openai client through the indexed cassette, parsing, the case result and its dictionary."""
    bench = replay_bench

    def run():
        bench._results.clear()
        return [bench.case(MODEL, "zero_shot", i).to_dict() for i in range(N_INTERACTIONS)]

    box = []
    benchmark.pedantic(lambda: box.append(run()), rounds=1, iterations=1)
    cases = box[0]
    assert all(c["error"] is None and c["pred"] == c["gold"] for c in cases)
    per_case = benchmark.stats.stats.mean / N_INTERACTIONS
    benchmark.extra_info.update(cases=N_INTERACTIONS, interactions=N_INTERACTIONS, s_per_case=per_case,
                                chunk=bench.model(MODEL).batch_size, target_s_per_case=OVERHEAD_TARGET_S)
    print(f"\nharness overhead per replayed case: {per_case * 1000:.3f} ms at {N_INTERACTIONS} interactions")
    ratio("replay overhead headroom (1 ms / measured per case)", OVERHEAD_TARGET_S / per_case, 1.0,
          note=f"{per_case * 1000:.3f} ms per case at {N_INTERACTIONS} interactions")
