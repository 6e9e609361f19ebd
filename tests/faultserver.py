"""A real HTTP server on 127.0.0.1 that speaks OpenAI chat completions and misbehaves on cue.

Each request is matched to a *marker* (a substring of its last user message); the n-th request for a
marker gets the n-th fault of its plan (the last one repeats). Unmatched requests are answered normally.
The server counts what it saw, so tests can assert that retries are bounded.

Faults: ``ok``, ``429`` (Retry-After: 1), ``429-long`` (Retry-After: 3600), ``500``, ``503``, ``400``,
``401`` (echoes the key, as a careless proxy would), ``timeout`` (answers after ``hang_s``), ``malformed``
(200 with broken JSON), ``html`` (200 with an HTML page), ``reset`` (TCP reset, no reply), ``truncated``
(Content-Length larger than the body, then close), ``empty`` (an empty reply text), ``huge`` (a 100 KB
reply), ``no_choices`` (an empty ``choices`` list), ``null_content``, ``slow`` (answers after ``slow_s``),
``surrogate`` (a lone UTF-16 surrogate escaped in the JSON), ``bad_utf8`` (bytes that are not UTF-8).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("ok", "429", "429-long", "500", "503", "400", "401", "timeout", "malformed", "html", "reset", "truncated",
          "empty", "huge", "no_choices", "null_content", "slow", "surrogate", "bad_utf8")
HUGE_REPLY_CHARS = 100_000


def answer_for(sentence: str) -> str:
    lowered = sentence.lower()
    if any(word in lowered for word in ("fell", "decreas", "loss", "down")):
        return "negative"
    if any(word in lowered for word in ("rose", "increas", "grew", "up ")):
        return "positive"
    return "neutral"


class FaultServer:
    """``with FaultServer(plan) as server: server.url ...``; ``server.seen[marker]`` counts requests."""

    def __init__(self, plan: dict[str, list[str]] | None = None, *, hang_s: float = 3.0, slow_s: float = 0.0,
                 retry_after_ms: int = 5, stall_after: int | None = None) -> None:
        for faults in (plan or {}).values():
            unknown = set(faults) - set(FAULTS)
            assert not unknown, f"unknown faults {unknown}: expected some of {FAULTS}"
        self.plan = dict(plan or {})
        self.hang_s = hang_s
        self.slow_s = slow_s
        self.retry_after_ms = retry_after_ms
        self.stall_after = stall_after
        """Requests after this many are held ``hang_s`` before the answer (a run to interrupt mid-pair)."""
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.times: dict[str, list[float]] = {}
        self.httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def __enter__(self) -> "FaultServer":
        server = self

        class Handler(_Handler):
            owner = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.httpd is not None
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def total(self) -> int:
        return len(self.requests)

    # -- planning -----------------------------------------------------------------------------------------
    def fault_for(self, sentence: str) -> tuple[str | None, str]:
        with self.lock:
            for marker, faults in self.plan.items():
                if marker in sentence:
                    attempt = self.seen.get(marker, 0)
                    self.seen[marker] = attempt + 1
                    self.times.setdefault(marker, []).append(time.monotonic())
                    return marker, faults[min(attempt, len(faults) - 1)]
            return None, "ok"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        sentence = body["messages"][-1]["content"]
        marker, fault = self.owner.fault_for(sentence)
        with self.owner.lock:
            self.owner.requests.append({"marker": marker, "fault": fault, "sentence": sentence,
                                        "authorization": self.headers.get("authorization")})
            stall = self.owner.stall_after is not None and len(self.owner.requests) > self.owner.stall_after
        if stall:
            time.sleep(self.owner.hang_s)
        getattr(self, "_" + fault.replace("-", "_"))(body, sentence)

    # -- replies ------------------------------------------------------------------------------------------
    def _send(self, status: int, payload: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload) if length is None else length))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _completion(self, body: dict[str, Any], content: Any, choices: bool = True) -> bytes:
        return json.dumps({
            "id": "chatcmpl-fault", "object": "chat.completion", "created": 1, "model": body["model"],
            "system_fingerprint": "fp_fault",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
            if choices else [],
            "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31},
        }).encode()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps({"error": {"message": message, "type": "fault", "code": str(status)}}).encode()
        self._send(status, payload, headers=headers)

    def _ok(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, self._completion(body, answer_for(sentence)))

    def _slow(self, body: dict[str, Any], sentence: str) -> None:
        time.sleep(self.owner.slow_s)
        self._ok(body, sentence)

    def _empty(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, self._completion(body, ""))

    def _null_content(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, self._completion(body, None))

    def _huge(self, body: dict[str, Any], sentence: str) -> None:
        text = (answer_for(sentence) + " ") + "lorem ipsum " * (HUGE_REPLY_CHARS // 12)
        self._send(200, self._completion(body, text[:HUGE_REPLY_CHARS]))

    def _surrogate(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, self._completion(body, answer_for(sentence) + " \ud800"))  # json.dumps escapes it

    def _bad_utf8(self, body: dict[str, Any], sentence: str) -> None:
        payload = self._completion(body, answer_for(sentence) + " MARKBYTES").replace(b"MARKBYTES", b"\xff\xfe\xc3")
        self._send(200, payload)

    def _no_choices(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, self._completion(body, None, choices=False))

    def _retry_fast(self) -> dict[str, str]:
        return {"retry-after-ms": str(self.owner.retry_after_ms)}

    def _429(self, body: dict[str, Any], sentence: str) -> None:
        self._error(429, "Rate limit reached", {"retry-after": "1"})

    def _429_long(self, body: dict[str, Any], sentence: str) -> None:
        self._error(429, "Rate limit reached; quota resets in an hour", {"retry-after": "3600"})

    def _500(self, body: dict[str, Any], sentence: str) -> None:
        self._error(500, "The server had an error", self._retry_fast())

    def _503(self, body: dict[str, Any], sentence: str) -> None:
        self._error(503, "The engine is currently overloaded", self._retry_fast())

    def _400(self, body: dict[str, Any], sentence: str) -> None:
        self._error(400, "Invalid value for 'seed'")

    def _401(self, body: dict[str, Any], sentence: str) -> None:
        self._error(401, f"Incorrect API key provided: {self.headers.get('authorization', '')}")

    def _timeout(self, body: dict[str, Any], sentence: str) -> None:
        time.sleep(self.owner.hang_s)
        try:
            self._ok(body, sentence)
        except OSError:
            pass  # the client gave up

    def _malformed(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, b'{"id": "chatcmpl-fault", "choices": [{"index": 0, "message": {"content": "posi')

    def _html(self, body: dict[str, Any], sentence: str) -> None:
        self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")

    def _reset(self, body: dict[str, Any], sentence: str) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _truncated(self, body: dict[str, Any], sentence: str) -> None:
        payload = self._completion(body, answer_for(sentence))
        self._send(200, payload[: len(payload) // 2], length=len(payload))
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
