import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, run_suite
from harness import HarnessError, gate
from harness.cassettes import sealed_cassette

LABELS = ["positive", "negative", "neutral"]
N = 300
BASELINE = ROOT / "baselines" / "fpb-sentiment.json"
CASSETTE = ROOT / "cassettes" / "fpb-sentiment" / "openai-smollm2-135m-instruct-q4_1" / "zero_shot.json"


def _codes(rng, gold: str, accuracy: float) -> str:
    return "".join(g if rng.random() < accuracy else str((int(g) + 1) % 3) for g in gold)


def _report(preds: dict[str, str], gold: str, parse_failures: int = 0, cost: float | None = None) -> dict:
    rows = [{"model": name.split(" · ")[0], "strategy": name.split(" · ")[1], "n": len(gold), "weighted_f1": 0.0,
             "weighted_f1_ci95": [0, 0], "accuracy": 0.0, "parse_failures": parse_failures, "errors": 0,
             "cost": {"per_1k_usd": cost, "basis": "billed" if cost else None}} for name in preds]
    return {"task": "fpb-sentiment", "split": {"method": "published", "seed": 5768, "n_test": len(gold),
                                               "test_fingerprint": "sha256:test"}, "partial": [], "rows": rows,
            "items": {"labels": LABELS, "ids": [f"id{i}" for i in range(len(gold))], "gold": gold, "preds": preds}}


@pytest.fixture
def base():
    rng = np.random.default_rng(0)
    gold = "".join(rng.choice(list("012"), size=N))
    preds = _codes(rng, gold, 0.85)
    return gold, preds, gate.baseline_from_report(_report({"m · s": preds}, gold, parse_failures=3, cost=1.0))


def test_unchanged_and_slightly_noisier_rows_pass(base):
    gold, preds, baseline = base
    same = gate.check(_report({"m · s": preds}, gold, parse_failures=3, cost=1.0), baseline, resamples=300)
    assert not same.failed and same.checks[0].status == "PASS"
    flipped = list(preds)  # three more wrong answers: a drop well inside what 300 items can tell apart
    for i in [i for i, (p, g) in enumerate(zip(preds, gold)) if p == g][:3]:
        flipped[i] = str((int(gold[i]) + 1) % 3)
    noisy = gate.check(_report({"m · s": "".join(flipped)}, gold, parse_failures=3, cost=1.0), baseline, resamples=300)
    assert not noisy.failed, noisy.lines()


def test_a_real_drop_fails_with_the_numbers(base):
    gold, _, baseline = base
    worse = _codes(np.random.default_rng(1), gold, 0.55)
    result = gate.check(_report({"m · s": worse}, gold, parse_failures=3, cost=1.0), baseline, resamples=300)
    assert result.failed
    (line,) = result.lines()
    assert line.startswith("FAIL m · s") and "worse than baseline beyond the margin" in line and "McNemar p=" in line


def test_parse_failures_cost_and_changed_data(base):
    gold, preds, baseline = base
    parse = gate.check(_report({"m · s": preds}, gold, parse_failures=30, cost=1.0), baseline, resamples=300)
    assert parse.failed and "parse failures 30/300" in parse.lines()[0]
    cost = gate.check(_report({"m · s": preds}, gold, parse_failures=3, cost=1.2), baseline, resamples=300)
    assert cost.failed and "cost $1.2/1k > baseline $1/1k" in cost.lines()[0]
    other_gold = "".join(str((int(g) + 1) % 3) for g in gold)
    data = gate.check(_report({"m · s": preds}, other_gold, parse_failures=3, cost=1.0), baseline, resamples=300)
    assert data.failed and "gold labels differ" in data.lines()[0]


def test_missing_rows_fail_and_name_what_is_missing_new_rows_are_skipped(base):
    # the gate judges every baseline row: a run without them must not pass on nothing
    gold, preds, baseline = base
    result = gate.check(_report({"x · y": preds}, gold), baseline, resamples=300)
    assert result.failed
    assert [(c.row, c.status) for c in result.checks] == [("rows", "FAIL"), ("m · s", "FAIL"), ("x · y", "SKIP")]
    assert "expected all 1 baseline rows, compared 0: 1 missing from this run (m · s)" in result.lines()[0]
    both = gate.check(_report({"m · s": preds, "x · y": preds}, gold, parse_failures=3, cost=1.0), baseline,
                      resamples=300)
    assert not both.failed and [c.status for c in both.checks] == ["PASS", "SKIP"]
    with pytest.raises(HarnessError, match="no baseline there; write one with: python -m harness baseline"):
        gate.load_baseline(ROOT / "no-such-baseline.json")


def test_fewer_items_another_split_or_a_partial_run_fail(base):
    gold, preds, baseline = base
    fewer = _report({"m · s": preds[:200]}, gold[:200], parse_failures=3, cost=1.0)
    (line,) = gate.check(fewer, baseline, resamples=300).lines()
    assert line.startswith("FAIL m · s") and "expected the 300 items the baseline holds for this row, compared 200" in line
    other = _report({"m · s": preds}, gold, parse_failures=3, cost=1.0)
    other["split"]["test_fingerprint"] = "sha256:other"
    (line,) = gate.check(other, baseline, resamples=300).lines()
    assert line.startswith("FAIL split") and "sha256:other" in line
    partial = _report({"m · s": preds}, gold, parse_failures=3, cost=1.0)
    partial["partial"] = ["m · s"]
    with pytest.raises(HarnessError, match="expected a complete run, got a partial one"):
        gate.baseline_from_report(partial)
    result = gate.check(partial, baseline, resamples=300)
    assert result.failed and result.checks[0].row == "run" and "partial" in result.checks[0].message


def test_a_subset_baseline_gates_only_its_rows(base):
    gold, preds, baseline = base
    two = gate.baseline_from_report(_report({"m · s": preds, "x · y": preds}, gold, parse_failures=3, cost=1.0))
    only = gate.subset(two, ["m · s"])
    assert list(only["rows"]) == ["m · s"] and list(two["rows"]) == ["m · s", "x · y"]
    assert not gate.check(_report({"m · s": preds}, gold, parse_failures=3, cost=1.0), only, resamples=300).failed
    with pytest.raises(HarnessError, match="expected rows it holds, got z · z"):
        gate.subset(two, ["z · z"])


def test_committed_baseline_holds_no_sentence_text():
    baseline = json.loads(BASELINE.read_text())
    assert set(baseline["rows"]) >= {"tfidf-logreg · supervised", "openai:smollm2-135m-instruct-q4_1 · zero_shot"}
    text = BASELINE.read_text()
    assert all(len(row["preds"]) == len(baseline["ids"]) for row in baseline["rows"].values())
    assert set(baseline["gold"]) <= set("012") and " the " not in text and "EUR" not in text


@pytest.mark.slow
def test_gate_passes_the_unchanged_run_and_fails_a_damaged_cassette_under_xdist(fpb_dir, tmp_path):
    args = ["--harness-models=tfidf-logreg,openai:smollm2-135m-instruct-q4_1", "--harness-strategies=supervised,zero_shot",
            "--harness-bootstrap=300"]
    env = {"FPB_DIR": str(fpb_dir)}
    # the gate judges every row of its baseline: this job runs two of the committed baseline's rows, so it is
    # gated against a baseline of those two (a run missing baseline rows fails: tested above)
    rows = ["tfidf-logreg · supervised", "openai:smollm2-135m-instruct-q4_1 · zero_shot"]
    two_rows = tmp_path / "two-rows.json"
    two_rows.write_text(json.dumps(gate.subset(gate.load_baseline(BASELINE), rows)))
    args.append(f"--harness-gate={two_rows}")
    ok = run_suite(*args, f"--harness-report-dir={tmp_path / 'ok'}", env=env)
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert "quality gate vs" in ok.stdout and "passed" in ok.stdout
    assert "PASS tfidf-logreg · supervised" in ok.stdout
    assert "PASS openai:smollm2-135m-instruct-q4_1 · zero_shot" in ok.stdout

    damaged_dir = tmp_path / "cassettes" / CASSETTE.relative_to(ROOT / "cassettes").parent
    damaged_dir.mkdir(parents=True)
    cassette = json.loads(CASSETTE.read_text())
    for interaction in cassette["interactions"]:  # every reply says "negative": a broken model that still parses
        body = json.loads(interaction["response"]["body"]["string"])
        body["choices"][0]["message"]["content"] = "negative"
        interaction["response"]["body"]["string"] = json.dumps(body)
    # sealed again, as a re-recording of a worse model would be (a hand edit without a seal is refused on replay)
    (damaged_dir / CASSETTE.name).write_text(json.dumps(sealed_cassette(cassette["interactions"], cassette["metadata"])))
    shutil.copy(CASSETTE.parent.parent / "README.md", tmp_path / "cassettes") if (CASSETTE.parent.parent / "README.md").exists() else None
    bad = run_suite(*args, f"--harness-cassette-dir={tmp_path / 'cassettes'}",
                    f"--harness-report-dir={tmp_path / 'bad'}", "-n", "2", env=env)
    assert bad.returncode == 1, bad.stdout[-3000:]
    assert "quality gate vs" in bad.stdout and "FAILED" in bad.stdout
    assert "FAIL openai:smollm2-135m-instruct-q4_1 · zero_shot" in bad.stdout
    assert "worse than baseline beyond the margin" in bad.stdout
    assert "PASS tfidf-logreg · supervised" in bad.stdout
    report = json.loads((tmp_path / "bad" / "fpb-sentiment.json").read_text())  # the report is still written
    assert {r["model"] for r in report["rows"]} == {"tfidf-logreg", "openai:smollm2-135m-instruct-q4_1"}
    assert "Quality gate: FAILED" in (tmp_path / "bad" / "summary.md").read_text()
