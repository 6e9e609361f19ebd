"""Train/test splits of a labelled file, and the fingerprint every report carries.

The default is the published protocol (Shah & Chava 2023): ``train_test_split(test_size=0.2,
random_state=seed)`` over the file in order, seeds 5768 (default), 78516 and 944601. ``stratified`` is the
same call with ``stratify=labels``. After splitting, any *train* item whose text equals a test item's,
exactly or after whitespace/case normalisation, is removed from train (never from test), and so is a
repeated train item; the counts go into the report.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from harness import HarnessError
from harness.example import Example

PUBLISHED_SEEDS: tuple[int, ...] = (5768, 78516, 944601)
DEFAULT_SEED = 5768
METHODS = ("published", "stratified")


@dataclass(frozen=True)
class Split:
    train: tuple[Example, ...]
    test: tuple[Example, ...]
    seed: int
    method: str
    leaked_removed_from_train: int
    """Train items whose (normalised) text is also in test."""
    repeats_removed_from_train: int
    """Train items that repeat an earlier train item's (normalised) text."""
    test_repeats: int
    """Test items repeating an earlier test item's text: kept, since the protocol's test set holds them."""

    @property
    def test_fingerprint(self) -> str:
        return fingerprint(self.test)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def fingerprint(examples: Sequence[Example]) -> str:
    """sha256 over the ordered (id, text, label) triples: equal fingerprints mean the same test items."""
    payload = json.dumps([[e.id, e.text, e.label] for e in examples], ensure_ascii=False)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def make_split(examples: Sequence[Example], *, seed: int = DEFAULT_SEED, method: str = "published",
               test_size: float = 0.2) -> Split:
    from sklearn.model_selection import train_test_split

    if method not in METHODS:
        raise HarnessError(f"unknown split method {method!r}: expected one of {list(METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise HarnessError(f"--harness-seed={seed!r}: expected a whole number from 0 to {2**32 - 1} "
                           f"(the published seeds are {', '.join(map(str, PUBLISHED_SEEDS))})")
    if not 0 < test_size < 1:
        raise HarnessError(f"test_size={test_size!r}: expected a fraction between 0 and 1, e.g. 0.2")
    labels = [e.label for e in examples]
    if len(examples) < 10:
        raise HarnessError(f"cannot split {len(examples)} examples: expected at least 10")
    if len(set(labels)) < 2:
        raise HarnessError(f"cannot split a one-class data set (every label is {labels[0]!r})")
    if method == "stratified":
        smallest = min(Counter(labels).values())
        if smallest < 2:
            raise HarnessError(
                "stratified split needs at least 2 examples of every label; "
                f"got counts {dict(Counter(labels))}. Use --harness-split=published."
            )
    train, test = train_test_split(
        list(examples), test_size=test_size, random_state=seed,
        stratify=labels if method == "stratified" else None,
    )
    test_keys: set[str] = set()
    test_repeats = 0
    for e in test:
        key = normalise(e.text)
        test_repeats += key in test_keys
        test_keys.add(key)
    kept, leaked, repeats = without_leaks(train, test_keys)
    if len({e.label for e in kept}) < 2:
        raise HarnessError(
            f"after removing {leaked} train items that repeat a test item and {repeats} repeated train items, "
            f"the train split holds {len(kept)} items of {len({e.label for e in kept})} label(s): expected at least "
            "two labels to train and to draw few-shot examples from. The data repeats the same sentences; use a "
            "file with distinct sentences."
        )
    return Split(
        train=tuple(kept), test=tuple(test), seed=seed, method=method,
        leaked_removed_from_train=leaked, repeats_removed_from_train=repeats, test_repeats=test_repeats,
    )


def without_leaks(train: Sequence[Example], test_keys: set[str]) -> tuple[list[Example], int, int]:
    """Train items kept (first of each normalised text), how many repeated a test item, how many repeated
    an earlier train item."""
    kept, seen = [], set()
    leaked = repeats = 0
    for e in train:
        key = normalise(e.text)
        if key in test_keys:
            leaked += 1
        elif key in seen:
            repeats += 1
        else:
            seen.add(key)
            kept.append(e)
    return kept, leaked, repeats
