"""The decision rule of label scoring, shared by the local path and a served adapter: each label's first token."""

from __future__ import annotations

from typing import Any, Sequence


def first_label_tokens(tokenizer: Any, labels: Sequence[str]) -> list[int] | None:
    """Each label's first token id, in the labels' order, or None when a label has no token or two labels share
    their first one: the decision rule of label scoring (locally, and through a server's ``logit_bias``)."""
    firsts = [tokenizer.encode(label, add_special_tokens=False)[:1] for label in labels]
    if not all(firsts) or len({tuple(f) for f in firsts}) != len(firsts):
        return None
    return [f[0] for f in firsts]
