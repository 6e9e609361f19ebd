"""Record and replay through vcrpy: a persister that loads only checked cassettes and writes them whole and
sealed, a cassette indexed by request digest that stamps recorded latency, secrets scrubbed on the way in.

Only this module imports vcrpy, and only when a cassette is used.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from harness import HarnessError
from harness.files import atomic_write_text
from harness.recording.files import load_checked
from harness.recording.format import (LATENCY_HEADER, RECORD_MODES, RECORDED_AT_HEADER, SECRET_REQUEST_HEADERS,
                                      SECRET_RESPONSE_HEADERS, body_bytes, private_body, request_key)
from harness.recording.seal import collapse_recorded, sealed_cassette
from harness.secrets_scan import env_api_keys, redact

def _redacted_body(parsed: Any) -> bytes | None:
    """The JSON body with key-like strings in its values replaced by ``[REDACTED]``, or None if it holds none."""
    cleaned = _redact_values(parsed)
    if cleaned == parsed:
        return None
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _redact_values(value: Any, known: tuple[str, ...] | None = None) -> Any:
    """Every string in a JSON value redacted (the same redaction the caller's reply text gets)."""
    known = env_api_keys() if known is None else known
    if isinstance(value, str):
        return redact(value, known=known)
    if isinstance(value, list):
        return [_redact_values(v, known) for v in value]
    if isinstance(value, dict):
        return {k: _redact_values(v, known) for k, v in value.items()}
    return value


def _scrub_response(response: dict[str, Any]) -> dict[str, Any] | None:
    """Drop secret headers and redact key-like strings in the body; drop the whole response (None: vcrpy
    stores nothing) unless it is a success."""
    status = (response.get("status") or {}).get("code")
    if not isinstance(status, int) or not 200 <= status < 300:
        return None
    raw = body_bytes((response.get("body") or {}).get("string"))
    try:
        parsed = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        return None  # an HTML page or a truncated / malformed JSON body
    if isinstance(parsed, dict) and ("error" in parsed or parsed.get("choices") == []):
        return None  # an error in a 200, or a completion without choices: nothing to replay
    headers = response.get("headers") or {}
    headers = {k: v for k, v in headers.items() if k.lower() not in SECRET_RESPONSE_HEADERS}
    cleaned = _redacted_body(parsed)
    if cleaned is not None:  # a reply that quotes a key: store it redacted, never the key
        headers = {k: ([str(len(cleaned))] if k.lower() == "content-length" else v) for k, v in headers.items()}
        response = {**response, "body": {**response["body"], "string": cleaned}}
    return {**response, "headers": headers}


def sealed_persister(*, record_mode: str = "none") -> type:
    from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister
    from vcr.request import Request as VcrRequest
    from vcr.serialize import serialize
    from vcr.serializers import compat

    class SealedPersister(FilesystemPersister):
        """Loads only a cassette that passes :func:`read_cassette`'s checks (the bytes checked are the bytes
        replayed); writes the cassette whole (temp file + rename), one interaction per request, sealed."""

        @classmethod
        def load_cassette(cls, cassette_path: Any, serializer: Any) -> Any:
            path = Path(cassette_path)
            if not path.exists():
                raise CassetteNotFoundError()
            try:
                info, data = load_checked(path, need_data=True)
            except HarnessError as exc:
                if record_mode != "all":
                    raise
                logging.getLogger(__name__).warning("%s; --record-mode=all records it again from scratch", exc)
                raise CassetteNotFoundError() from exc
            assert data is not None
            requests = [VcrRequest._from_dict(i["request"]) for i in data["interactions"]]
            responses = [compat.convert_to_bytes(i["response"]) for i in data["interactions"]]
            return requests, responses, info.metadata

        @staticmethod
        def save_cassette(cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
            data = json.loads(serialize(cassette_dict, serializer))
            sealed = sealed_cassette(collapse_recorded(data["interactions"]), data.get("metadata") or {})
            atomic_write_text(Path(cassette_path), serializer.serialize(sealed))

    return SealedPersister


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

        def _rerecorded_interactions(self) -> list[Any]:
            """``--record-mode=all``: what this run recorded replaces the stored interactions with the same
            request key; the others are kept (vcrpy matches on method and path here, which would drop every
            stored interaction, so a pair recorded in chunks would keep only its last chunk)."""
            loaded, recorded = self.data[: self._loaded_count], self.data[self._loaded_count:]
            if self.drop_unused_requests:
                return recorded
            again = {request_key(request) for request, _ in recorded}
            return [(req, resp) for req, resp in loaded if request_key(req) not in again] + recorded

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
    # The persister checks the file as it loads it (read_cassette's checks): a corrupted, unsealed, edited or
    # secret-bearing cassette is a clear error, never a cassette vcrpy treats as empty.

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
    config.register_persister(sealed_persister(record_mode=record_mode))
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
