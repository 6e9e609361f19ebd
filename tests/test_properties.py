"""Property tests (hypothesis) that extend the examples in test_parsing, test_metrics and test_cassettes:
the parser over arbitrary and adversarial text, every metric against scikit-learn, paired bootstrap CIs,
FPB files round-tripping through the loader, and digests / seals that ignore JSON key order and layout."""

from __future__ import annotations

import json
import math
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import HarnessError
from harness.cassettes import canonical_digest, interactions_digest, private_body
from harness.tasks.fpb.data import LABELS, Example, parse_fpb_bytes
from harness.metrics import score
from harness.parsing import parse_label
from harness.splits import make_split, normalise

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
labels = st.sampled_from(LABELS)
labels_or_none = st.sampled_from((*LABELS, None))


# -- parser ----------------------------------------------------------------------------------------------------
@FAST
@given(st.text(), labels, st.text())
def test_parser_is_total_and_never_invents_a_label(before, label, after):
    for reply in (before, before + label + after, f"{before}\nAnswer: {label}\n{after}"):
        parsed = parse_label(reply, LABELS)
        assert parsed in (*LABELS, None)
        if parsed is not None:  # a label is only ever read (case-insensitively, as the parser does), never guessed
            assert re.search(re.escape(parsed), reply, re.IGNORECASE)


ANSWER_WORDS = re.compile("|".join((*LABELS, "answer", "label", "sentiment")), re.IGNORECASE)
no_label_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",))).filter(lambda t: not ANSWER_WORDS.search(t))


@FAST
@given(no_label_text, labels)
def test_the_last_answer_line_decides(noise, label):
    assert parse_label(f"{noise}\nAnswer: {label.upper()}", LABELS) == label
    assert parse_label(f"Answer: {label}\n{noise}", LABELS) == label


@FAST
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc"))), max_size=6))
def test_line_endings_do_not_change_the_label(lines):
    lf = "\n".join(lines)
    assert parse_label(lf, LABELS) == parse_label(lf.replace("\n", "\r\n"), LABELS) == parse_label(lf + "\n\n", LABELS)


# -- metrics against scikit-learn ------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(labels, labels_or_none), min_size=1, max_size=80))
def test_every_metric_equals_scikit_learn(pairs):
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    as_str = ["<unparsed>" if p is None else p for p in pred]
    s = score(gold, pred, LABELS, resamples=20, seed=0)  # the CIs are tested below and in test_metrics
    wp, wr, wf, _ = precision_recall_fscore_support(gold, as_str, labels=list(LABELS), average="weighted",
                                                    zero_division=0)
    assert (s.weighted_precision, s.weighted_recall, s.weighted_f1) == pytest.approx((wp, wr, wf))
    present = [x for x in LABELS if x in set(gold) | set(as_str)]
    assert s.macro_f1 == pytest.approx(f1_score(gold, as_str, labels=present, average="macro", zero_division=0))
    p, r, f, support = precision_recall_fscore_support(gold, as_str, labels=list(LABELS), zero_division=0)
    for i, label in enumerate(LABELS):
        assert s.per_class[label] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": support[i]})
    full = confusion_matrix(gold, as_str, labels=[*LABELS, "<unparsed>"])
    assert s.confusion == full[: len(LABELS)].tolist()
    assert s.parse_failures == pred.count(None) == sum(row[-1] for row in s.confusion)
    assert s.n == len(gold) == sum(map(sum, s.confusion))
    for low, high in (s.weighted_f1_ci, s.accuracy_ci):
        assert 0 <= low <= high <= 1


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(labels, labels_or_none, labels_or_none), min_size=2, max_size=60), st.integers(0, 2**16))
def test_paired_difference_ci_contains_the_difference(triples, seed):
    from harness.compare import compare

    gold, a, b = (list(column) for column in zip(*triples))
    result = compare(gold, a, b, LABELS, resamples=50, seed=seed)
    low, high = result["f1_difference_ci95"]
    assert low - 1e-9 <= result["f1_difference"] <= high + 1e-9
    assert -1 <= low <= high <= 1
    assert 0 <= result["mcnemar_p"] <= 1


# -- the FPB loader --------------------------------------------------------------------------------------------
latin1_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
                      min_size=1, max_size=60).map(str.strip).filter(bool)


@FAST
@given(st.lists(st.tuples(latin1_text, labels), min_size=1, max_size=30), st.sampled_from(["\r\n", "\n", "\r"]),
       st.booleans())
def test_fpb_files_round_trip_or_are_refused_as_ambiguous(rows, newline, final_newline):
    raw = (newline.join(f"{text}@{label}" for text, label in rows) + (newline if final_newline else "")).encode("latin-1")
    try:
        raw.decode("utf-8")
        ambiguous = not raw.isascii()  # also valid UTF-8: latin-1 and UTF-8 readings differ
    except UnicodeDecodeError:
        ambiguous = False
    if ambiguous:
        with pytest.raises(HarnessError, match="the file is UTF-8"):
            parse_fpb_bytes(raw, source="gen.txt", id_prefix="g")
        return
    if any(0x80 <= b <= 0x9F for b in raw):  # C1 controls: a cp1252 copy, refused with the byte and the fix
        with pytest.raises(HarnessError, match="C1 bytes 0x"):
            parse_fpb_bytes(raw, source="gen.txt", id_prefix="g")
        return
    parsed = parse_fpb_bytes(raw, source="gen.txt", id_prefix="g")
    assert [(e.text, e.label) for e in parsed] == [(text.strip(), label) for text, label in rows]
    assert [e.id for e in parsed] == [f"g-L{i:04d}" for i in range(1, len(rows) + 1)]


@FAST
@given(st.lists(st.tuples(st.sampled_from(["Sales rose .", "Profit fell .", "Net sales were flat .", "A @ sign ."]),
                          labels), min_size=1, max_size=25))
def test_duplicates_and_conflicts_are_counted_exactly(tmp_path_factory, rows):
    from collections import Counter

    from harness.tasks.fpb.data import load_fpb

    path = tmp_path_factory.mktemp("gen") / "Sentences_Gen.txt"
    path.write_bytes(("\r\n".join(f"{t}@{label}" for t, label in rows) + "\r\n").encode("latin-1"))
    loaded = load_fpb(path)
    labels_of = {t: {label for tt, label in rows if tt == t} for t, _ in rows}
    conflicts = {t for t, ls in labels_of.items() if len(ls) > 1}
    assert set(loaded.conflicts) == conflicts
    assert [(e.text, e.label) for e in loaded.examples] == [(t, label) for t, label in rows if t not in conflicts]
    assert loaded.duplicate_lines == sum(n - 1 for n in Counter(rows).values())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abc xyz", min_size=1, max_size=12), labels), min_size=10, max_size=80),
       st.integers(0, 2**32 - 1))
def test_splits_never_leak_test_text_into_train(rows, seed):
    examples = [Example(f"e{i}", text, label) for i, (text, label) in enumerate(rows)]
    try:
        split = make_split(examples, seed=seed)
    except HarnessError:
        return  # one class, or nothing left to train on: refused with a message (tested in test_bad_input)
    assert {normalise(e.text) for e in split.train}.isdisjoint({normalise(e.text) for e in split.test})
    assert len(split.test) == math.ceil(0.2 * len(examples))
    assert len(split.train) + split.leaked_removed_from_train + split.repeats_removed_from_train + len(split.test) \
        == len(examples)
    assert make_split(examples, seed=seed).test_fingerprint == split.test_fingerprint


# -- digests and seals -----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


def _shuffled(value, rng: random.Random):
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@FAST
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6), st.integers(0, 1000),
       st.sampled_from([None, 2, 4]), st.booleans())
def test_request_digest_ignores_key_order_and_layout(body, seed, indent, ascii_only):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], **body}
    shuffled = _shuffled(body, random.Random(seed))
    text = json.dumps(shuffled, indent=indent, ensure_ascii=ascii_only)
    assert canonical_digest(text) == canonical_digest(json.dumps(body)) == canonical_digest(text.encode())
    assert canonical_digest(private_body(text)) == canonical_digest(body and json.dumps(body))


@FAST
@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6), st.integers(0, 1000))
def test_request_digest_changes_with_any_value(body, seed):
    key = sorted(body)[seed % len(body)]
    changed = {**body, key: [body[key], "changed"]}
    assert canonical_digest(json.dumps(changed)) != canonical_digest(json.dumps(body))


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(["request", "response", "x"]), json_values, max_size=3), max_size=5),
       st.integers(0, 1000))
def test_cassette_seal_ignores_key_order_and_layout(interactions, seed):
    shuffled = _shuffled(interactions, random.Random(seed))
    assert interactions_digest(json.loads(json.dumps(shuffled, indent=4))) == interactions_digest(interactions)
