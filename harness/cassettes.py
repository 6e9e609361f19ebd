"""Record and replay API traffic with vcrpy: body-aware, indexed, private by default, with latency.

* **Matching** is on method, path and a sha256 of the canonical JSON request body (keys sorted), so an
  unrelated prompt never gets a recorded answer, and host/port are free (replay needs no server).
  vcrpy's own scan calls every matcher on every stored interaction (quadratic; with the ``body``
  matcher a 500-interaction cassette takes ~50 s); :class:`IndexedCassette` looks requests up in a
  dict keyed by that digest instead.
* **Privacy**: by default the stored request body is replaced by its digest plus the non-message
  parameters; the prompt text is not stored. ``keep_prompts=True`` stores the plain body (opt-in).
* **Secrets**: request headers Authorization, api-key, OpenAI-Organization, OpenAI-Project and Cookie,
  and response headers Set-Cookie, OpenAI-Organization and OpenAI-Project are never written.
* **Only successes**: a response that is not a 2xx with a JSON body (429, 5xx, an HTML error page,
  malformed JSON) is never stored, so a retry goes to the server again and a replay never serves a failure.
* **Whole files**: a cassette is written to a temporary file and renamed (never half-written), with a
  sha256 seal over its interactions in the metadata; a sealed cassette whose interactions were edited
  by hand is refused on load.
* **Latency**: the wall time of each recorded call is stored with its response (``x-harness-latency-s``,
  ``x-harness-recorded-at``), so replay reports the recorded latency, labelled as such.
* **Layout**: one JSON cassette per (task, model, strategy): ``cassettes/<task>/<model>/<strategy>.json``,
  with metadata (template version, model, endpoint, date). Under xdist a pair runs on one worker.

Only this module imports vcrpy, and only when a cassette is used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness import HarnessError

RECORD_MODES = ("none", "once", "new_episodes", "all")
LATENCY_HEADER = "x-harness-latency-s"
RECORDED_AT_HEADER = "x-harness-recorded-at"
DIGEST_KEY = "harness_body_sha256"
SEAL_KEY = "interactions_sha256"
SECRET_REQUEST_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie")
SECRET_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "cassettes"


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def cassette_path(root: Path, task: str, model: str, strategy: str) -> Path:
    return Path(root) / safe_name(task) / safe_name(model) / f"{safe_name(strategy)}.json"


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return bytes(body)


def canonical_digest(body: Any) -> str:
    """sha256 of the JSON body with sorted keys (so key order never matters); raw bytes if not JSON."""
    raw = _body_bytes(body)
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
    raw = _body_bytes(body)
    try:
        parsed = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return json.dumps({DIGEST_KEY: hashlib.sha256(raw).hexdigest()}).encode()
    if not isinstance(parsed, dict) or DIGEST_KEY in parsed:
        return raw
    kept = {k: v for k, v in parsed.items() if k not in ("messages", "prompt", "input")}
    kept["n_messages"] = len(parsed.get("messages") or [])
    kept[DIGEST_KEY] = canonical_digest(raw)
    return json.dumps(kept, sort_keys=True).encode()


def request_key(request: Any) -> tuple[str, str, str]:
    return (request.method.upper(), request.parsed_uri.path, canonical_digest(request.body))


def _scrub_response(response: dict[str, Any]) -> dict[str, Any] | None:
    """Drop secret headers; drop the whole response (None: vcrpy stores nothing) unless it is a success."""
    status = (response.get("status") or {}).get("code")
    if not isinstance(status, int) or not 200 <= status < 300:
        return None
    try:
        parsed = json.loads(_body_bytes((response.get("body") or {}).get("string")) or b"")
    except (ValueError, UnicodeDecodeError):
        return None  # an HTML page or a truncated / malformed JSON body
    if isinstance(parsed, dict) and ("error" in parsed or parsed.get("choices") == []):
        return None  # an error in a 200, or a completion without choices: nothing to replay
    headers = response.get("headers") or {}
    response["headers"] = {k: v for k, v in headers.items() if k.lower() not in SECRET_RESPONSE_HEADERS}
    return response


def interactions_digest(interactions: Any) -> str:
    """The seal: sha256 of the interactions as canonical JSON (key order never matters)."""
    canonical = json.dumps(interactions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sealed_persister() -> type:
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serialize import serialize

    class SealedPersister(FilesystemPersister):
        """Writes the cassette whole (temp file + rename) with a seal over its interactions."""

        @staticmethod
        def save_cassette(cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
            data = json.loads(serialize(cassette_dict, serializer))
            data.setdefault("metadata", {})[SEAL_KEY] = interactions_digest(data["interactions"])
            _atomic_write_text(Path(cassette_path), serializer.serialize(data))

    return SealedPersister


@dataclass(frozen=True)
class CassetteInfo:
    path: Path
    interactions: int
    metadata: dict[str, Any]


def read_cassette(path: Path) -> CassetteInfo:
    """Load and check a cassette file; a corrupted one is an error that says how to re-record."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
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
    seal = metadata.get(SEAL_KEY)
    if seal is not None and seal != interactions_digest(interactions):
        raise HarnessError(
            f"cassette {path}: its interactions do not match the seal written when it was recorded "
            f"({SEAL_KEY}): it was edited after recording, so its answers cannot be trusted; "
            "restore it (git checkout) or re-record with --record-mode=all"
        )
    return CassetteInfo(path=Path(path), interactions=len(interactions), metadata=metadata)


class _Clock:
    """Start times of requests that are about to be recorded, by request key (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[tuple[str, str, str], list[float]] = {}

    def start(self, key: tuple[str, str, str]) -> None:
        with self.lock:
            self.started.setdefault(key, []).append(time.perf_counter())

    def stop(self, key: tuple[str, str, str]) -> float | None:
        with self.lock:
            starts = self.started.get(key)
            if not starts:
                return None
            began = starts.pop(0)
            if not starts:
                del self.started[key]
            return time.perf_counter() - began


def _indexed_cassette_class() -> type:
    from vcr.cassette import Cassette
    from vcr.record_mode import RecordMode

    class IndexedCassette(Cassette):
        """A vcrpy cassette that finds responses by request digest in O(1) and stamps recorded latency."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._index: dict[tuple[str, str, str], list[int]] = {}
            self._indexed = 0
            self._index_lock = threading.Lock()
            self._clock = _Clock()

        def _refresh(self) -> None:
            with self._index_lock:
                while self._indexed < len(self.data):
                    self._index.setdefault(request_key(self.data[self._indexed][0]), []).append(self._indexed)
                    self._indexed += 1

        def _responses(self, request: Any) -> Iterator[tuple[int, Any]]:
            # vcrpy asks twice per request (can it play? play it): filter and digest the body once
            key = getattr(request, "_harness_key", None)
            if key is None:
                filtered = self._before_record_request(request)
                if not filtered:
                    return
                key = request._harness_key = request_key(filtered)
            self._refresh()
            for index in self._index.get(key, ()):
                yield index, self.data[index][1]

        def can_play_response_for(self, request: Any) -> bool:
            playable = bool(super().can_play_response_for(request))
            if not playable and not self.write_protected and self.record_mode != RecordMode.NONE:
                filtered = self._before_record_request(request)
                if filtered:
                    self._clock.start(request_key(filtered))
            return playable

        def append(self, request: Any, response: Any) -> None:
            latency = None
            if self._clock.started:  # something is being recorded now; loaded interactions skip the digest
                filtered = self._before_record_request(request)
                latency = self._clock.stop(request_key(filtered)) if filtered else None
            if latency is not None:  # recorded now (not loaded from the file): stamp it
                response = {**response, "headers": {
                    **(response.get("headers") or {}),
                    LATENCY_HEADER: [f"{latency:.6f}"],
                    RECORDED_AT_HEADER: [dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")],
                }}
            super().append(request, response)

    return IndexedCassette


class _QuietAppend(logging.Filter):
    """vcrpy logs every recorded response whole at INFO: its headers (cookies, organisation and project ids)
    and its body (which a careless server may fill with the caller's key). Keep the status only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Appending request") and isinstance(record.args, tuple) and len(record.args) == 2:
            request, response = record.args
            status = (response.get("status") or {}).get("code") if isinstance(response, dict) else None
            record.args = (request, f"<HTTP {status}: headers and body not logged>")
        return True


def _quiet_vcr_logs() -> None:
    logger = logging.getLogger("vcr.cassette")
    if not any(isinstance(f, _QuietAppend) for f in logger.filters):
        logger.addFilter(_QuietAppend())


def use_cassette(path: Path, *, record_mode: str = "none", keep_prompts: bool = False,
                 metadata: dict[str, Any] | None = None):
    """A context manager: API calls inside it replay from, or record into, the cassette at ``path``."""
    try:
        import vcr
        from vcr.cassette import CassetteContextDecorator
    except ImportError:
        raise HarnessError("recording and replaying API calls needs vcrpy: pip install openai vcrpy") from None
    if record_mode not in RECORD_MODES:
        raise HarnessError(f"--record-mode={record_mode}: expected one of {list(RECORD_MODES)}")
    _quiet_vcr_logs()
    if Path(path).exists():
        read_cassette(path)  # fail clearly on a corrupted file instead of vcrpy treating it as empty

    def before_request(request: Any) -> Any:
        for header in list(request.headers):
            if header.lower() in SECRET_REQUEST_HEADERS:
                del request.headers[header]
        if not keep_prompts:
            request.body = private_body(request.body)
        return request

    config = vcr.VCR(
        serializer="json",
        record_mode=record_mode,
        decode_compressed_response=True,
        before_record_request=before_request,
        before_record_response=_scrub_response,
        match_on=("method", "path"),  # the index adds the body digest
    )
    config.register_persister(_sealed_persister())
    config = config.get_merged_config(path=str(path), allow_playback_repeats=True)  # temperature 0: same request, same answer
    cassette_class = _indexed_cassette_class()
    decorator = CassetteContextDecorator.from_args(cassette_class, **config)
    return _WithMetadata(decorator, metadata or {})


class _WithMetadata:
    """Enter the vcrpy context, and store our metadata in the cassette when it records."""

    def __init__(self, decorator: Any, metadata: dict[str, Any]) -> None:
        self.decorator = decorator
        self.metadata = metadata

    def __enter__(self) -> Any:
        cassette = self.decorator.__enter__()
        if not cassette.write_protected:
            for key, value in self.metadata.items():
                cassette._metadata[key] = value  # vcrpy saves it beside the interactions
        return cassette

    def __exit__(self, *exc_info: Any) -> Any:
        return self.decorator.__exit__(*exc_info)


def list_cassettes(root: Path = DEFAULT_DIR) -> list[CassetteInfo]:
    return [read_cassette(path) for path in sorted(Path(root).rglob("*.json"))]
