import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.tasks.fpb.data import LABELS
from harness.parsing import parse_label


@pytest.mark.parametrize("reply, expected", [
    ("positive", "positive"),
    ("'NEGATIVE'\n\nThe sentence is negative as share prices fell.", "negative"),
    ("NEUTRAL\nThe sentence is neither positive nor negative.", "neutral"),
    ("The revenue rose.\nAnswer: positive", "positive"),
    ("Positive\n\nAnswer: negative", "negative"),  # the answer line decides
    ("Final answer: Neutral.", "neutral"),
    ("The sentence is positive.", "positive"),
    ("", None),
    ("I cannot tell.", None),
    ("positive or negative", None),  # two labels: a parse failure, never a guess
    ("Answer: positive or neutral", None),
    ("The value of the contracts is about EUR 3.3 million.", None),
    ("positively", None),  # whole words only
])
def test_parse_label(reply, expected):
    assert parse_label(reply, LABELS) == expected


def test_no_reply_is_a_failure_not_neutral():
    assert parse_label(None, LABELS) is None


@given(st.text())
def test_parser_is_total(text):
    assert parse_label(text, LABELS) in (*LABELS, None)


@given(st.sampled_from(LABELS), st.text(alphabet=st.characters(blacklist_categories=("L", "N")), max_size=20))
def test_label_with_punctuation_noise_is_found(label, noise):
    assert parse_label(noise + label.upper() + noise, LABELS) == label
