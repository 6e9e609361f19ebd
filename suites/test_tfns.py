"""Twitter Financial News Sentiment (valid split): every model × strategy × tweet; labels mapped to FPB's."""

import pytest

from harness.tasks.fpb.data import LABELS

pytestmark = [pytest.mark.tfns, pytest.mark.harness_task("tfns")]


def test_tfns(harness_case):
    assert harness_case["error"] is None, harness_case["error"]
    assert harness_case["pred"] is None or harness_case["pred"] in LABELS
    assert harness_case["gold"] in LABELS
