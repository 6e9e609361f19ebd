"""A chat model behind any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama, ...).

Calls use the official ``openai`` SDK at temperature 0 (with a seed, which servers may ignore). The SDK
retries 429 / 5xx / timeouts with exponential backoff and jitter and honours ``Retry-After``; the
harness sets how many times (live and recording only: replay never retries). Calls inside a pair run
concurrently up to a cap. Each pair's traffic goes through its cassette (:mod:`harness.cassettes`):
replay by default, recording only when asked.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError, endpoints
from harness.cassettes import (LATENCY_HEADER, RECORDED_AT_HEADER, cassette_path, not_recorded, replay_caveat,
                               use_cassette)
from harness.endpoints import Endpoint
from harness.models.base import Reply, Request
from harness.secrets_scan import env_api_keys
from harness.secrets_scan import redact as redact_secrets

REPLAY_KEY = "replay-dummy-key-not-a-secret"
NOT_STARTED_URL = "http://127.0.0.1:9/v1"
"""Where a replayed row of a started endpoint (``start = "vllm"``) points: the path a started server has (``/v1``),
and the discard port, so that a call which escaped the cassette would fail instead of reaching anything."""
TIMEOUT_ENV = "HARNESS_API_TIMEOUT_S"
"""Seconds before a live call is abandoned and retried (default 120): raise it for a slow local server."""


class OpenAIChat:
    strategies = ("zero_shot", "few_shot", "cot")
    kind = "api"

    def __init__(self, name: str, *, task: str, template_version: str, cassette_dir: Path, record_mode: str = "none",
                 base_url: str | None = None, keep_prompts: bool = False, concurrency: int = 4,
                 max_retries: int = 4, timeout_s: float = 120.0, seed: int = 0, test_fingerprint: str = "",
                 marker: str = "sentiment", endpoint: Endpoint | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise HarnessError(f"{name} needs the openai SDK: pip install openai vcrpy") from None
        self.name = name
        self.model_id = endpoints.split(name.split(":", 1)[1])[0]  # openai:gpt-4o@groq -> gpt-4o
        self.endpoint = endpoint
        self.task = task
        self.template_version = template_version
        self.cassette_dir = Path(cassette_dir)
        self.record_mode = record_mode
        self.keep_prompts = keep_prompts
        self.concurrency = endpoint.concurrency or concurrency if endpoint else concurrency
        # Replaying, a pair is one chunk: its cassette is read (and its seal checked) once, not once per 64
        # cases. Recording, chunks of 64 keep what a cut run has already paid for.
        self.batch_size = 1_000_000 if record_mode == "none" else 64
        self.seed = seed
        self.test_fingerprint = test_fingerprint
        self.marker = marker
        self._modes: dict[str, str] = {}
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        replay = record_mode == "none"
        key = os.environ.get("OPENAI_API_KEY")
        if endpoint is not None:  # a named endpoint: its own URL and key variable, never OPENAI_*
            if not replay:
                endpoint.check_key(f"--record-mode={record_mode} calls it")
            # a started endpoint that is not running (replaying): its server's path, on a port nothing answers
            self.base_url = endpoint.base_url or NOT_STARTED_URL
            key = endpoint.key() or ("no-key" if not endpoint.key_env else None)
        if not replay and not key:
            raise HarnessError(
                f"{name}: --record-mode={record_mode} calls the API, but OPENAI_API_KEY is not set. "
                "Set it (any value for a local server), or replay with --record-mode=none."
            )
        timeout_s = float(os.environ.get(TIMEOUT_ENV) or timeout_s)  # a slow local server while recording
        self.client = openai.OpenAI(
            api_key=key if not replay else REPLAY_KEY, base_url=self.base_url,
            max_retries=0 if replay else max_retries, timeout=timeout_s,
        )
        self.provenance = self.served_by = (f"{self.model_id} via the OpenAI API protocol"
                                            + (f" at endpoint {endpoint.name}" if endpoint else ""))
        # The HTTP library's Response class (httpx, or httpx2 in newer SDKs): asked for as ``cast_to``, the
        # SDK hands back the raw response instead of parsing it into its models.
        client_class = next(c for c in openai.DefaultHttpxClient.__mro__ if c.__name__ == "Client")
        self._raw_response = sys.modules[client_class.__module__.split(".")[0]].Response

    @property
    def endpoint_label(self) -> str:
        """Where the calls go, as cassettes and provenance name it: ``NAME (URL)`` for a named endpoint."""
        url = self.base_url or "https://api.openai.com/v1"
        return f"{self.endpoint.name} at {url}" if self.endpoint else url

    def cassette(self, strategy: str) -> Path:
        return cassette_path(self.cassette_dir, self.task, self.name, strategy)

    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        if not requests:
            return []
        strategy = requests[0].prompt.strategy
        metadata = {
            "task": self.task, "template_version": self.template_version, "model": self.name,
            "strategy": strategy, "endpoint": self.endpoint_label,
            "test_fingerprint": self.test_fingerprint,
            "prompts_stored": "plain text" if self.keep_prompts else "sha256 digest only",
        }
        path = self.cassette(strategy)
        if strategy not in self._modes:
            # "once" is decided per pair when the pair starts: a cassette that existed before this run is
            # replayed; a new one records every chunk of the pair (vcrpy would freeze it after the first).
            self._modes[strategy] = ("none" if path.exists() else "new_episodes") if self.record_mode == "once" \
                else self.record_mode
        with use_cassette(path, record_mode=self._modes[strategy], keep_prompts=self.keep_prompts, metadata=metadata):
            if self._modes[strategy] == "none":  # replaying waits on nothing: threads would only add switching
                return self._served([self._call(r) for r in requests], metadata)
            pool = ThreadPoolExecutor(max_workers=self.concurrency)
            try:
                replies = list(pool.map(self._call, requests))
            finally:  # on Ctrl-C / SIGTERM, calls not yet started are dropped; the cassette keeps those that ended
                pool.shutdown(wait=True, cancel_futures=True)
        return self._served(replies, metadata)

    def _served(self, replies: list[Reply], metadata: dict[str, Any]) -> list[Reply]:
        """Name what answered (the API's own ``model`` field) in the provenance line, and say when and why its
        cassette was resealed, if it was (:func:`harness.cassettes.replay_caveat`)."""
        served = sorted({str(r.extra["served_model"]) for r in replies if r.extra.get("served_model")})
        if served:
            self.served_by = f"{', '.join(served)} via the OpenAI API protocol ({metadata['endpoint']})"
        self.provenance = self.served_by + replay_caveat(self.cassette(metadata["strategy"]))
        if self.endpoint is not None:  # a named endpoint is priced by its own declaration, or not at all
            price = self.endpoint.price
            replies = [replace(r, extra={**r.extra, "cost_usd": price.per_call(
                r.input_tokens, r.output_tokens, r.latency_s, self.concurrency) if price else None})
                for r in replies]
        return replies

    def body(self, request: Request) -> dict[str, Any]:
        """The chat-completion request body: what ``chat.completions.create`` would send for these arguments."""
        prompt = request.prompt
        return {"model": self.model_id, "messages": list(prompt.messages), "temperature": 0, "seed": self.seed,
                "max_tokens": prompt.max_new_tokens}

    def _call(self, request: Request) -> Reply:
        import openai

        start = time.perf_counter()
        try:
            # The SDK's generic POST (its documented way to reach any endpoint) with the same body, auth,
            # retries and errors as ``chat.completions.create``, minus its per-call type transform and model
            # parsing: most of the harness's replay time per case. The reply is a chat completion in JSON.
            raw = self.client.post("/chat/completions", body=self.body(request), cast_to=self._raw_response)
            content_type = raw.headers.get("content-type", "")
            if "json" not in content_type:  # an HTML error page from a proxy, say
                return Reply(text="", latency_s=None, latency_source="none", error=redact(
                    f"expected a JSON chat completion, got {content_type or 'no content type'}: {raw.text[:80]!r}; "
                    f"check {self.endpoint.declared_in if self.endpoint else 'OPENAI_BASE_URL'} ({self.base_url or 'unset'})"))
            completion = raw.json()
            if not isinstance(completion, dict):
                raise ValueError(f"a JSON {type(completion).__name__}, not an object")
        except openai.APIError as exc:
            return Reply(text="", latency_s=None, latency_source="none", error=_describe(exc, self))
        except Exception as exc:  # a failed call is this case's error, never the whole batch's crash
            if type(exc).__name__ == "CannotOverwriteExistingCassetteException":  # vcrpy: not recorded
                return Reply(text="", latency_s=None, latency_source="none", error=not_recorded(
                    self.cassette(request.prompt.strategy), self.body(request), request.labels))
            what = "malformed JSON in the reply" if isinstance(exc, ValueError) else "the reply could not be read"
            return Reply(text="", latency_s=None, latency_source="none",
                         error=_describe(exc, self, f"{what} from {self.base_url or 'the OpenAI API'}: expected a "
                                                    "chat completion (JSON); "))
        return self.reply(request, completion, raw.headers, time.perf_counter() - start)

    def reply(self, request: Request, completion: dict[str, Any], headers: Any, wall: float) -> Reply:
        """The Reply of one chat completion (JSON) and its response headers."""
        recorded = headers.get(LATENCY_HEADER)
        usage = completion.get("usage") or {}
        choices = completion.get("choices") or []
        message = (choices[0].get("message") or {}) if choices and isinstance(choices[0], dict) else {}
        return Reply(
            text=redact_secrets(str(message.get("content") or ""), known=env_api_keys()),  # as the cassette stores it
            latency_s=float(recorded) if recorded else wall,
            latency_source=f"recorded {headers.get(RECORDED_AT_HEADER, '')[:10]}".strip() if recorded else "live",
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            error=None if choices else "reply had no choices",
            extra={"served_model": completion.get("model"), "system_fingerprint": completion.get("system_fingerprint"),
                   "cached_input_tokens": _cached(usage)},
        )


def _cached(usage: dict[str, Any]) -> int:
    details = usage.get("prompt_tokens_details") or {}
    return int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0


def _describe(exc: Exception, model: OpenAIChat, prefix: str = "") -> str:
    """One line for the report; the API key never appears in it, whole or in part."""
    status = getattr(exc, "status_code", None)
    text = f"{prefix}{type(exc).__name__}{f' (HTTP {status})' if status else ''}: {str(exc)[:300]}"
    return redact(text)


def redact(text: str) -> str:
    """``text`` without this process's API key (whole or all but its last 4 characters: ``<redacted>``) and
    without anything key-like (``[REDACTED]``, :func:`harness.secrets_scan.redact`)."""
    key = os.environ.get("OPENAI_API_KEY")
    if key and len(key) >= 8:
        text = text.replace(key, "<redacted>").replace(key[:-4], "<redacted>")
    return redact_secrets(text)


def record_command(name: str, marker: str = "sentiment") -> str:
    return f"OPENAI_API_KEY=... pytest suites -m {marker} --harness-models={name} --record-mode=once"
