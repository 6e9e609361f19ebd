import json
import multiprocessing
import re

import pytest

from harness import HarnessError, history

LABELS = ["positive", "negative", "neutral"]


def _report(preds: str, f1: float = 0.5, parse_failures: int = 0) -> dict:
    return {"task": "t", "rows": [{"model": "m", "strategy": "s", "weighted_f1": f1, "parse_failures": parse_failures,
                                   "cost": {"per_1k_usd": None}}],
            "items": {"labels": LABELS, "ids": [f"id{i}" for i in range(len(preds))], "gold": "0120" * (len(preds) // 4),
                      "preds": {"m · s": preds}}}


def _save(args):
    directory, name = args
    return str(history.save({"name": name}, directory, name))


def test_concurrent_saves_get_distinct_numbers(tmp_path):
    names = [f"run{i}" for i in range(8)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        paths = pool.map(_save, [(tmp_path, n) for n in names])
    numbers = sorted(int(re.match(r"(\d{4})_", p.rsplit("/", 1)[1]).group(1)) for p in paths)
    assert numbers == list(range(1, 9))
    saved = history.runs(tmp_path)
    assert len(saved) == 8 and {json.loads(p.read_text())["name"] for _, p in saved} == set(names)


def test_a_number_reserved_by_a_run_still_writing_is_not_reused(tmp_path):
    (tmp_path / ".0001").touch()  # another run reserved 0001 and has not written its file yet
    assert history.save({}, tmp_path, "mine").name == "0002_mine.json"


def test_names_follow_pytest_benchmark_and_compare_finds_earlier_runs(tmp_path):
    name = history.default_name("0123456789abcdef", dirty=True)
    assert re.fullmatch(r"01234567_\d{8}_\d{6}_uncommitted-changes", name)
    first = history.save({}, tmp_path, "first")
    second = history.save({}, tmp_path, "second run/with odd chars")
    third = history.save({}, tmp_path, "third")
    assert second.name == "0002_second-run-with-odd-chars.json"
    assert history.find(tmp_path, None, before=third) == second  # default: the previous run
    assert history.find(tmp_path, "1", before=third) == first
    assert history.find(tmp_path, "second", before=third) == second
    with pytest.raises(HarnessError, match="no run 0009"):
        history.find(tmp_path, "9", before=third)
    with pytest.raises(HarnessError, match="no earlier run saved"):
        history.find(tmp_path, None, before=first)


def test_diff_is_paired_on_shared_items():
    then = _report("0120" * 25, f1=1.0)
    now = _report("2222" * 25, f1=0.3, parse_failures=3)
    (entry,) = history.diff(now, then, resamples=200, seed=1)
    assert entry["n_shared"] == 100 and entry["f1_difference"] < -0.5
    assert entry["f1_difference_ci95"][1] < 0 and entry["mcnemar_p"] < 1e-6
    table = history.diff_table([entry])
    assert table[1][0] == "m · s" and table[1][5] == "0 → 3"
    summary = history.summary_markdown(
        {"task": "t", "rows": [], "split": {"n_evaluated": 100, "method": "published", "seed": 1, "test_fingerprint": "x"}},
        entries=[entry], previous=history.Path("0001_a.json"), gate_lines=["FAIL m · s  worse"])
    assert "Quality gate: FAILED" in summary and "Since run `0001_a.json`" in summary
