"""The cassette format: where a cassette lives, how a request is keyed (method, path, sha256 of its canonical
JSON body) and what is stored of its body (a digest and the parameters, not the prompt, by default)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

RECORD_MODES = ("none", "once", "new_episodes", "all")
LATENCY_HEADER = "x-harness-latency-s"
RECORDED_AT_HEADER = "x-harness-recorded-at"
DIGEST_KEY = "harness_body_sha256"
SEAL_KEY = "harness_seal"
LEGACY_SEAL_KEY = "interactions_sha256"
"""The first seal (over the interactions only, optional): accepted by :func:`reseal`, never on replay."""
SEAL_FORMAT = 2
SEALED_METADATA = ("task", "template_version", "model", "strategy", "test_fingerprint", "endpoint")
RESEAL_COMMAND = "python -m harness cassettes --reseal"
RESEALED_KEY = "harness_resealed"
"""Metadata: each time the cassette was resealed, oldest first, as ``{"at": UTC time, "reason": why, "command":
what sealed it}``. Sealed with the rest (it cannot be dropped without breaking the seal), and every report that
replays the cassette says so (:func:`harness.recording.resealed_caveat`)."""
RESEALED_WORDS = "cassette resealed on"
"""How a report's provenance line starts saying that a row was replayed from a resealed cassette."""
SECRET_REQUEST_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie")
SECRET_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")
DEFAULT_DIR = Path("cassettes")
"""The project's cassette folder, relative to where the harness runs (pytest: the rootdir; --harness-cassette-dir)."""


PROMPT_FIELDS = ("messages", "prompt", "input")
"""A request body's prompt text: stored only as a digest (with ``n_messages``) unless prompts are kept."""


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def cassette_path(root: Path, task: str, model: str, strategy: str) -> Path:
    return Path(root) / safe_name(task) / safe_name(model) / f"{safe_name(strategy)}.json"


def body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return bytes(body)


def canonical_digest(body: Any) -> str:
    """sha256 of the JSON body with sorted keys (so key order never matters); raw bytes if not JSON."""
    raw = body_bytes(body)
    try:
        parsed = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        return hashlib.sha256(raw).hexdigest()
    if isinstance(parsed, dict) and DIGEST_KEY in parsed:
        return str(parsed[DIGEST_KEY])
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def private_body(body: Any) -> bytes:
    """The body as stored by default: its digest and parameters, without messages or prompt text."""
    raw = body_bytes(body)
    try:
        parsed = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return json.dumps({DIGEST_KEY: hashlib.sha256(raw).hexdigest()}).encode()
    if not isinstance(parsed, dict) or DIGEST_KEY in parsed:
        return raw
    kept = {k: v for k, v in parsed.items() if k not in PROMPT_FIELDS}
    kept["n_messages"] = len(parsed.get("messages") or [])
    kept[DIGEST_KEY] = canonical_digest(raw)
    return json.dumps(kept, sort_keys=True).encode()


def request_key(request: Any) -> tuple[str, str, str]:
    return (request.method.upper(), request.parsed_uri.path, canonical_digest(request.body))


def interactions_digest(interactions: Any) -> str:
    """sha256 of any JSON value as canonical JSON (sorted keys, no spaces): key order and layout never matter."""
    canonical = json.dumps(interactions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def interaction_key(interaction: dict[str, Any]) -> tuple[str, str, str]:
    """What replay matches a stored interaction on: method, path and request body digest."""
    request = interaction["request"]
    return (str(request.get("method") or "").upper(), urlparse(str(request.get("uri") or "")).path,
            canonical_digest(request.get("body")))
