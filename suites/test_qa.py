"""TAT-QA: every model × strategy × test_gold question (the default seeded subset) is one item.

A wrong answer is data for the report, not a failed test: items assert only invariants.
"""

import pytest

pytestmark = [pytest.mark.qa, pytest.mark.harness_task("tatqa")]


def test_qa(harness_case):
    assert harness_case["error"] is None, harness_case["error"]
    pred = harness_case["pred"]
    assert pred is None or (pred["spans"] and pred["scale"] in ("", "thousand", "million", "billion", "percent"))
    assert harness_case["gold"].startswith("Answer: ")
