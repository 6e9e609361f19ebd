"""Cassette files: read and check one (each check once per file content in a process), write one whole
(temporary file + rename), reseal one (recording when and why), list them."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.files import atomic_write_text
from harness.recording.format import DEFAULT_DIR, LEGACY_SEAL_KEY, SEAL_KEY, interactions_digest
from harness.recording.resealed import entry_caveat, reseal_reason, reseal_record, resealed_caveat, with_reseal
from harness.recording.seal import (Scanned, check_duplicates, check_seal, check_secrets, seal_problem,
                                    sealed_cassette)

def write_cassette(path: Path, interactions: list[dict[str, Any]], metadata: dict[str, Any]) -> Path:
    """Write a sealed cassette (whole: temp file + rename) from interactions in vcrpy's JSON form, e.g. a
    synthetic one for a benchmark. It is sealed as given: only for content you vouch for."""
    atomic_write_text(Path(path), _cassette_text(sealed_cassette(interactions, metadata)))
    return Path(path)


def _cassette_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=4) + "\n"  # vcrpy's JSON layout, so a reseal diff shows only the seal


@dataclass(frozen=True)
class CassetteInfo:
    path: Path
    interactions: int
    metadata: dict[str, Any]
    exact_duplicates: int = 0
    """Interactions that repeat an earlier one exactly (same request, same response): harmless, counted."""


def _parse(path: Path, raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The cassette's JSON, interactions and metadata; a file that is not a vcrpy JSON cassette is an error."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cassette {path} is not valid JSON ({exc}); delete it and re-record with --record-mode=once") from exc
    interactions = data.get("interactions") if isinstance(data, dict) else None
    if not isinstance(interactions, list) or not all(
        isinstance(i, dict) and isinstance(i.get("request"), dict) and isinstance(i.get("response"), dict)
        and isinstance(i["response"].get("status"), dict) and isinstance(i["response"].get("body"), dict)
        and isinstance(i["request"].get("body"), (str, type(None))) for i in interactions
    ):
        raise HarnessError(
            f"cassette {path}: expected a vcrpy JSON cassette with an 'interactions' list of request/response "
            "pairs (each response with a status and a body); delete it and re-record with --record-mode=once"
        )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise HarnessError(f"cassette {path}: expected 'metadata' to be an object, got {type(metadata).__name__}; "
                           "delete it and re-record with --record-mode=once")
    return data, interactions, metadata


def _verify(path: Path, raw: bytes, interactions: list[dict[str, Any]], metadata: dict[str, Any]) -> CassetteInfo:
    """Every check replay relies on, in one pass: secrets, conflicting duplicates, the seal."""
    check_secrets(path, raw.decode("utf-8"), metadata)
    scanned = Scanned.of(interactions)
    exact = check_duplicates(path, scanned, metadata)
    check_seal(path, metadata, scanned)
    return CassetteInfo(path=Path(path), interactions=len(interactions), metadata=metadata, exact_duplicates=len(exact))


_VERIFIED: dict[tuple[str, str], CassetteInfo] = {}
"""Cassettes already checked in this process, by path and sha256 of their bytes (an edit changes the key)."""
_VERIFIED_MAX = 64
_VERIFIED_LOCK = threading.Lock()


def _remember(key: tuple[str, str], info: CassetteInfo) -> CassetteInfo:
    with _VERIFIED_LOCK:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.pop(next(iter(_VERIFIED)))
        _VERIFIED[key] = info
    return info


def _read(path: Path) -> bytes:
    """The file's bytes; a folder, pipe or device where a cassette should be is an error, not a hang."""
    if Path(path).exists() and not Path(path).is_file():
        raise HarnessError(f"cassette {path}: expected a regular file, found something else (a folder, pipe or "
                           "device); remove it and re-record with --record-mode=once")
    return Path(path).read_bytes()


def load_checked(path: Path, *, need_data: bool) -> tuple[CassetteInfo, dict[str, Any] | None]:
    """The checked cassette's info, and its JSON when ``need_data`` (None otherwise); the checks run once per
    file content in this process."""
    raw = _read(path)
    key = (str(Path(path).resolve()), hashlib.sha256(raw).hexdigest())
    known = _VERIFIED.get(key)
    data = None
    if known is None or need_data:
        data, interactions, metadata = _parse(path, raw)
        known = known or _remember(key, _verify(path, raw, interactions, copy.deepcopy(metadata)))
    return replace(known, path=Path(path), metadata=copy.deepcopy(known.metadata)), data  # callers may edit theirs


def read_cassette(path: Path) -> CassetteInfo:
    """Load and check a cassette file before anything is replayed from it: valid JSON in vcrpy's layout, no
    secret, no conflicting duplicates, an intact seal. Each problem is a HarnessError with the fix."""
    return load_checked(path, need_data=False)[0]


@dataclass(frozen=True)
class ResealResult:
    path: Path
    before: str
    """What the seal was: "sealed" (left unchanged), or what was wrong with it."""
    interactions: int
    collapsed: int
    """Exact duplicates removed (same request, same response as an earlier interaction)."""
    recorded: str | None = None
    """What the cassette now says of this reseal ("cassette resealed on DATE: REASON"); None when unchanged."""

    @property
    def changed(self) -> bool:
        return self.before != "sealed"

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.path}: already sealed, unchanged ({self.interactions} interactions)"
        dropped = f", {self.collapsed} exact duplicate(s) removed" if self.collapsed else ""
        recorded = f"; recorded in it: {self.recorded}" if self.recorded else ""
        return f"{self.path}: sealed ({self.interactions} interactions{dropped}); before: {self.before}{recorded}"


def reseal(path: Path, reason: str, *, command: str | None = None) -> ResealResult:
    """Seal a cassette as it is, changing no answer: its interactions are kept byte for byte (exact duplicates
    removed), its metadata gains the seal and a reseal record (when, UTC; ``reason``, required; ``command``)
    that every report replaying it shows. Refused for a cassette that is not a valid vcrpy JSON cassette,
    holds a secret, or holds conflicting duplicates. Only for content you trust: the seal vouches for it."""
    reason = reseal_reason(reason, f"reseal {path}")
    path = Path(path)
    raw = _read(path)
    data, interactions, metadata = _parse(path, raw)
    check_secrets(path, raw.decode("utf-8"), metadata)
    scanned = Scanned.of(interactions)
    exact = check_duplicates(path, scanned, metadata)
    problem = seal_problem(metadata, scanned)
    if problem is None:
        return ResealResult(path, "sealed", len(interactions), 0)
    legacy = metadata.get(LEGACY_SEAL_KEY)
    if SEAL_KEY not in metadata and legacy is not None and legacy != interactions_digest(interactions):
        problem += f"; and its first seal ({LEGACY_SEAL_KEY}) did not match its interactions either"
    skip = set(exact)
    kept = [i for n, i in enumerate(interactions) if n not in skip]
    entry = reseal_record(reason, command or f"harness.recording.reseal({str(path)!r}, reason=...)", problem)
    metadata = with_reseal(metadata, entry)
    sealed = sealed_cassette(kept, metadata)
    extra = {k: v for k, v in data.items() if k not in sealed}  # keep any other top-level field as it was
    atomic_write_text(path, _cassette_text({**sealed, **extra}))
    return ResealResult(path, problem, len(kept), len(exact), entry_caveat(entry))


def replay_caveat(path: Path) -> str:
    """What a report says of the cassette a row replays: "; cassette resealed on DATE: REASON" when it was
    resealed, else "" (also when there is no cassette there, or it cannot be read: replay says why)."""
    try:
        caveat = resealed_caveat(read_cassette(path).metadata) if Path(path).is_file() else None
    except (HarnessError, OSError):
        caveat = None
    return f"; {caveat}" if caveat else ""


def cassette_files(root: Path = DEFAULT_DIR) -> list[Path]:
    """The cassette files under ``root`` (a file is itself), sorted."""
    root = Path(root)
    return [root] if root.is_file() else sorted(p for p in root.rglob("*.json") if p.is_file())


def list_cassettes(root: Path = DEFAULT_DIR) -> list[CassetteInfo]:
    return [read_cassette(path) for path in cassette_files(root)]
