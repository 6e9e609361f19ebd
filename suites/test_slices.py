"""FPB agreement slices: every model × strategy × sentence of the 100 / 75-99 / 66-74 / 50-65 % bands."""

import pytest

from harness.tasks.fpb.data import LABELS

pytestmark = [pytest.mark.slices, pytest.mark.harness_task("fpb-slices")]


def test_slices(harness_case):
    assert harness_case["error"] is None, harness_case["error"]
    assert harness_case["pred"] is None or harness_case["pred"] in LABELS
    assert harness_case["gold"] in LABELS
