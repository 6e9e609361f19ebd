"""Why a request is not in its cassette, as precisely as the cassette tells: replay answers only the requests
recorded, and the cassette keeps each request's parameters and message count (not its text), so a run whose
options change every prompt of a pair (``--harness-shots``: the few-shot examples per label; ``--harness-seed``:
the request's seed) is named with the value recorded and this run's, and the fix."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness import HarnessError
from harness.prompts import DEFAULT_SHOTS_PER_LABEL
from harness.recording.files import load_checked
from harness.recording.format import DIGEST_KEY, PROMPT_FIELDS
from harness.recording.seal import record_hint

OPTIONS = {"seed": "--harness-seed"}
"""Request parameters a harness option sets (the others follow from the model and the strategy)."""
SHOTS_OPTION = "--harness-shots"

Shape = tuple[str, int]
"""A request's parameters (canonical JSON, no messages) and its number of messages."""

_SHAPES: dict[tuple[str, int, int], tuple[Counter[Shape], dict[str, Any]]] = {}
_LOCK = threading.Lock()


def _shape(body: Mapping[str, Any]) -> Shape:
    params = {k: v for k, v in body.items() if k not in (*PROMPT_FIELDS, "n_messages", DIGEST_KEY)}
    count = body.get("n_messages") if "n_messages" in body else len(body.get("messages") or [])
    return json.dumps(params, sort_keys=True), int(count or 0)


def _body(raw: Any) -> Mapping[str, Any]:
    try:
        body = json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _recorded_shapes(path: Path) -> tuple[Counter[Shape], dict[str, Any]]:
    """How many of the cassette's requests have each shape, and its metadata (read once per file version)."""
    stat = Path(path).stat()
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOCK:
        known = _SHAPES.get(key)
    if known is None:
        info, data = load_checked(Path(path), need_data=True)
        assert data is not None
        known = Counter(_shape(_body(i["request"].get("body"))) for i in data["interactions"]), info.metadata
        with _LOCK:
            if len(_SHAPES) >= 16:
                _SHAPES.pop(next(iter(_SHAPES)))
            _SHAPES[key] = known
    return known


def _record(metadata: Mapping[str, Any], options: str = "") -> str:
    """The command that records the missing requests beside the recorded ones (``new_episodes``)."""
    return record_hint(dict(metadata), mode="new_episodes", options=options)


def _other_parameters(path: Path, mine: dict[str, Any], theirs: dict[str, Any], metadata: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    got = ", ".join(f"{k}={mine.get(k)!r}" for k in keys)
    had = ", ".join(f"{k}={theirs.get(k)!r}" + (f" (set by {OPTIONS[k]})" if k in OPTIONS else "") for k in keys)
    named = [k for k in keys if k in OPTIONS]
    fix = (" or ".join(f"pass {OPTIONS[k]} {theirs.get(k)}" for k in named) + " to replay the cassette, or ") if named else ""
    options = "".join(f"{OPTIONS[k]}={mine.get(k)} " for k in named)
    return (f"not in cassette {path}: expected requests with the parameters it was recorded with: {had}; got "
            f"{got}, so none of this pair's requests is recorded; fix: {fix}record them: {_record(metadata, options)}")


def _examples(messages: Sequence[Any]) -> int:
    """The few-shot examples in a prompt: its assistant turns (each example is a user turn and the answer)."""
    return sum(1 for m in messages if isinstance(m, Mapping) and m.get("role") == "assistant")


def _per_label(examples: int, labels: int) -> int | None:
    return examples // labels if labels and examples > 0 and examples % labels == 0 else None


def _other_shots(path: Path, body: Mapping[str, Any], recorded: int, labels: int, metadata: Mapping[str, Any]) -> str:
    count = len(body.get("messages") or [])
    mine = _examples(body.get("messages") or [])
    theirs = mine - (count - recorded) // 2
    mine_k, theirs_k = _per_label(mine, labels), _per_label(theirs, labels)
    if (count - recorded) % 2 or mine_k is None or theirs_k is None:
        return (f"not in cassette {path}: expected prompts of {recorded} messages as recorded, got {count} (their "
                f"layout or their number of few-shot examples changed); fix: record this pair's prompts: "
                f"{_record(metadata)}")

    def said(k: int) -> str:
        return f"{SHOTS_OPTION} {k}" + (", the default" if k == DEFAULT_SHOTS_PER_LABEL else "")

    if mine_k == DEFAULT_SHOTS_PER_LABEL:
        replay = f"pass {SHOTS_OPTION} {theirs_k} to replay the cassette"
    elif theirs_k == DEFAULT_SHOTS_PER_LABEL:
        replay = f"drop {SHOTS_OPTION} to replay the cassette (recorded with the default, {theirs_k})"
    else:
        replay = f"pass {SHOTS_OPTION} {theirs_k} (as recorded) to replay the cassette"
    return (f"not in cassette {path}: expected few-shot prompts with {theirs} examples ({theirs_k} per label: "
            f"recorded with {said(theirs_k)}), got {mine} ({mine_k} per label: this run's {said(mine_k)}), so none "
            f"of this pair's prompts is recorded; fix: {replay}, or record them with this run's "
            f"{SHOTS_OPTION}: {_record(metadata, f'{SHOTS_OPTION}={mine_k} ')}")


def not_recorded(path: Path, body: Mapping[str, Any], labels: Sequence[str] = ()) -> str:
    """A case's error when replay finds no recorded answer for ``body`` (the request as it would be sent) in the
    cassette at ``path``: what differs from the recorded requests (a parameter, the number of few-shot examples),
    the option that set it with the recorded value and this run's, and the fix; else that this request was never
    recorded (a larger ``--harness-limit`` than the recording's) or its text changed."""
    try:
        shapes, metadata = _recorded_shapes(Path(path))
    except (HarnessError, OSError):
        shapes, metadata = Counter(), {}
    params, count = _shape(body)
    same = {n: c for (p, n), c in shapes.items() if p == params}
    if shapes and not same:
        theirs = json.loads(shapes.most_common(1)[0][0][0])
        return _other_parameters(Path(path), json.loads(params), theirs, metadata)
    if same and count not in same:
        return _other_shots(Path(path), body, max(same, key=same.__getitem__), len(labels), metadata)
    held = f"; it holds {sum(same.values())} other request(s) of this shape" if same else ""
    return (f"not in cassette {path}: the prompt changed or was never recorded (e.g. an item past the recording's "
            f"--harness-limit, or its text changed){held}; record it with: {_record(metadata)}")
