"""The reseal record: when (UTC), why and by what command a cassette was resealed, kept in its metadata
(``harness_resealed``, sealed with the rest) and shown by every report that replays it (its rows' provenance)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from harness import HarnessError
from harness.recording.format import RESEAL_COMMAND, RESEALED_KEY, RESEALED_WORDS
from harness.secrets_scan import redact

EXAMPLE_REASON = "restored from git after a merge conflict"


def reseal_reason(reason: str | None, what: str = "a reseal") -> str:
    """The reason on one line. A missing or blank one is refused (a reseal vouches for the content, so it says
    why), and so is one that holds a key-like string (it would be written into the cassette)."""
    text = " ".join(str(reason or "").split())
    if not text:
        raise HarnessError(
            f"{what}: expected a reason (why the cassette's content is trusted), got none; it is written into the "
            f"cassette and every report that replays it shows it; fix: {RESEAL_COMMAND} PATH --reason "
            f"'{EXAMPLE_REASON}'")
    if redact(text) != text:
        raise HarnessError(f"{what}: expected a reason in words, got one that holds what looks like a secret (a key, "
                           "token or cookie), which would be written into the cassette; fix: say why without it")
    return text


def reseal_record(reason: str, command: str, before: str, now: dt.datetime | None = None) -> dict[str, str]:
    """One entry of the record: ``{"at": UTC time, "reason": why, "command": what sealed it, "before": what the
    seal check found then}``."""
    at = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return {"at": at.isoformat(timespec="seconds"), "reason": reseal_reason(reason), "command": command,
            "before": before}


def with_reseal(metadata: Mapping[str, Any], entry: dict[str, str]) -> dict[str, Any]:
    """The metadata with ``entry`` added to its reseal record (an earlier record is kept, oldest first)."""
    earlier = metadata.get(RESEALED_KEY)
    history = list(earlier) if isinstance(earlier, list) else ([] if earlier is None else [earlier])
    return {**metadata, RESEALED_KEY: history + [entry]}


def entry_caveat(entry: Any) -> str:
    """"cassette resealed on DATE: REASON" for one entry of the record."""
    if not isinstance(entry, Mapping):
        return f"{RESEALED_WORDS} an unknown date: {entry}"
    return f"{RESEALED_WORDS} {str(entry.get('at') or 'an unknown date')[:10]}: {entry.get('reason') or 'no reason given'}"


def resealed_caveat(metadata: Mapping[str, Any]) -> str | None:
    """:func:`entry_caveat` of each reseal, oldest first, joined by "; "; None for a cassette never resealed."""
    history = metadata.get(RESEALED_KEY)
    if not history:
        return None
    return "; ".join(entry_caveat(e) for e in (history if isinstance(history, list) else [history]))
