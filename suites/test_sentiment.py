"""Financial PhraseBank sentiment: every model × strategy × test sentence is one item.

A wrong label is data for the report, not a failed test: items assert only invariants.
"""

import pytest

from harness.tasks.fpb.data import LABELS

pytestmark = [pytest.mark.sentiment, pytest.mark.harness_task("fpb-sentiment")]


def test_sentiment(harness_case):
    assert harness_case["error"] is None, harness_case["error"]
    assert harness_case["pred"] is None or harness_case["pred"] in LABELS
    assert harness_case["gold"] in LABELS
