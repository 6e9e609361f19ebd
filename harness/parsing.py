"""Strict label extraction from a model's reply.

Rules, in order; the first that applies decides:

1. An answer line (the *last* line starting with ``Answer``, ``Final answer``, ``Label`` or ``Sentiment``
   followed by ``:``) must name exactly one label.
2. Otherwise the first non-empty line, if it names exactly one label.
3. Otherwise the whole reply, if it names exactly one label.

Anything else (no label, or two different labels) is a parse failure, returned as ``None`` and counted:
it is never mapped to "neutral". Labels match as whole words (letters and digits bind, ``_`` does not), case-insensitively (``'NEGATIVE'`` counts).
"""

from __future__ import annotations

import re
from typing import Sequence

_ANSWER_LINE = re.compile(r"^\W*(?:final\s+answer|answer|label|sentiment)\s*[:=\-]", re.IGNORECASE)


def _named(text: str, labels: Sequence[str]) -> set[str]:
    # whole words: not inside a run of letters or digits (an underscore counts as a separator: __positive__)
    pattern = r"(?<![^\W_])(" + "|".join(re.escape(label) for label in labels) + r")(?![^\W_])"
    return {match.lower() for match in re.findall(pattern, text, flags=re.IGNORECASE)}


def parse_label(reply: str | None, labels: Sequence[str]) -> str | None:
    if not reply:
        return None
    lines = [line for line in reply.splitlines() if line.strip()]
    answer_lines = [line for line in lines if _ANSWER_LINE.match(line)]
    if answer_lines:
        named = _named(answer_lines[-1], labels)
        return named.pop() if len(named) == 1 else None
    if lines:
        named = _named(lines[0], labels)
        if len(named) == 1:
            return named.pop()
    named = _named(reply, labels)
    return named.pop() if len(named) == 1 else None
