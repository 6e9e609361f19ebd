import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from harness.tasks.fpb.data import LABELS
from harness.metrics import score

labels_or_none = st.sampled_from((*LABELS, None))


def test_hand_computed_three_class_case():
    gold = ["positive", "positive", "negative", "neutral", "neutral", "neutral"]
    pred = ["positive", "neutral", "negative", "neutral", "neutral", None]
    s = score(gold, pred, LABELS, resamples=200, seed=0)
    # positive: P=1, R=1/2, F1=2/3; negative: F1=1; neutral: P=2/3, R=2/3, F1=2/3
    assert s.weighted_f1 == pytest.approx((2 * 2 / 3 + 1 * 1 + 3 * 2 / 3) / 6)
    assert s.macro_f1 == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.parse_failures == 1
    assert s.confusion == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 2, 1]]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), labels_or_none), min_size=2, max_size=60), st.integers(0, 2**16))
def test_equals_scikit_learn_and_ci_holds_the_estimate(pairs, seed):
    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    s = score(gold, pred, LABELS, resamples=100, seed=seed)
    as_str = ["<none>" if p is None else p for p in pred]
    assert s.weighted_f1 == pytest.approx(f1_score(gold, as_str, labels=list(LABELS), average="weighted", zero_division=0))
    assert s.accuracy == pytest.approx(accuracy_score(gold, as_str))
    low, high = s.weighted_f1_ci
    assert low - 1e-9 <= s.weighted_f1 <= high + 1e-9
    low, high = s.accuracy_ci
    assert low - 1e-9 <= s.accuracy <= high + 1e-9


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(1)
    gold = list(rng.choice(LABELS, 100))
    pred = list(rng.choice(LABELS, 100))
    assert score(gold, pred, LABELS, seed=7).weighted_f1_ci == score(gold, pred, LABELS, seed=7).weighted_f1_ci


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="as many predictions"):
        score(["positive"], [], LABELS)


def test_paired_comparison_counts_discordant_items_and_is_exact():
    from harness.compare import compare, holm

    gold = ["positive"] * 10 + ["neutral"] * 10
    a = list(gold)
    b = ["neutral"] * 10 + ["neutral"] * 10  # b misses every positive item
    result = compare(gold, a, b, LABELS, resamples=200, seed=0)
    assert (result["only_a_correct"], result["only_b_correct"]) == (10, 0)
    assert result["mcnemar_p"] == pytest.approx(2 * 0.5 ** 10)  # exact two-sided binomial
    low, high = result["f1_difference_ci95"]
    assert low <= result["f1_difference"] <= high and result["f1_difference"] > 0
    (graded,) = holm([{**result}])
    assert graded["verdict"] == "better"
    same = holm([compare(gold, a, a, LABELS, resamples=200, seed=0)])[0]
    assert same["mcnemar_p"] == 1.0 and same["verdict"] == "tied"
