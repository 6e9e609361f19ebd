"""Cassettes: record and replay API traffic with vcrpy: body-aware, indexed, private by default, with latency.

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
* **Whole files**: a cassette is written to a temporary file and renamed (never half-written).
* **Sealed**: when it is written, a cassette gets a seal in its metadata (``harness_seal``): a sha256 of
  each interaction's request key (method, path, body digest) and whole response, and one sha256 over
  those and the metadata that says what it answers (task, template version, model, strategy, test
  fingerprint, endpoint). Before any answer is replayed the file is checked in one pass: an unsealed
  cassette, a broken seal (an edited reply, token count or digest, an interaction added, dropped or
  duplicated, a metadata field changed), two interactions with the same request but different responses,
  or a secret (as ``python -m harness scan`` finds them) is a :class:`~harness.HarnessError` naming the
  file, what is wrong and the fix. ``python -m harness cassettes --reseal PATH --reason WHY`` seals a cassette
  whose content you trust (see :func:`reseal`); the cassette keeps when (UTC), why and by what command, sealed
  with the rest, and every report that replays it says "cassette resealed on DATE: WHY" in the row's
  provenance. A seal is a checksum, not a signature: it catches hand edits and merges, not someone who
  recomputes it.
* **Redacted**: key-like strings in a recorded reply body are replaced by ``[REDACTED]`` before it is
  stored (:func:`harness.secrets_scan.redact`).
* **Latency**: the wall time of each recorded call is stored with its response (``x-harness-latency-s``,
  ``x-harness-recorded-at``), so replay reports the recorded latency, labelled as such.
* **Layout**: one JSON cassette per (task, model, strategy): ``cassettes/<task>/<model>/<strategy>.json``,
  with metadata (template version, model, endpoint, date). Under xdist a pair runs on one worker.

The modules: :mod:`~harness.recording.format` (layout, request keys, the stored body),
:mod:`~harness.recording.seal` (the seal and the checks before replay), :mod:`~harness.recording.resealed`
(the reseal record), :mod:`~harness.recording.files` (read, write, reseal, list),
:mod:`~harness.recording.missing` (why a request is not in its cassette, and which option changed it) and
:mod:`~harness.recording.replay` (vcrpy: the only module that imports it, and only when a cassette is used).
"""

from __future__ import annotations

from harness.recording.files import (CassetteInfo, ResealResult, cassette_files, list_cassettes, read_cassette,
                                     replay_caveat, reseal, write_cassette)
from harness.recording.format import (DEFAULT_DIR, DIGEST_KEY, LATENCY_HEADER, LEGACY_SEAL_KEY, RECORD_MODES,
                                      RECORDED_AT_HEADER, RESEAL_COMMAND, RESEALED_KEY, RESEALED_WORDS, SEAL_FORMAT,
                                      SEAL_KEY, SEALED_METADATA, SECRET_REQUEST_HEADERS, SECRET_RESPONSE_HEADERS,
                                      canonical_digest, cassette_path, interaction_key, interactions_digest,
                                      private_body, request_key, safe_name)
from harness.recording.missing import not_recorded
from harness.recording.replay import sealed_persister, use_cassette
from harness.recording.resealed import resealed_caveat
from harness.recording.seal import interaction_seal, make_seal, record_hint, sealed_cassette

__all__ = [
    "DEFAULT_DIR", "DIGEST_KEY", "LATENCY_HEADER", "LEGACY_SEAL_KEY", "RECORDED_AT_HEADER", "RECORD_MODES",
    "RESEALED_KEY", "RESEALED_WORDS", "RESEAL_COMMAND", "SEALED_METADATA", "SEAL_FORMAT", "SEAL_KEY",
    "SECRET_REQUEST_HEADERS", "SECRET_RESPONSE_HEADERS",
    "CassetteInfo", "ResealResult",
    "canonical_digest", "cassette_files", "cassette_path", "interaction_key", "interaction_seal", "interactions_digest",
    "list_cassettes", "make_seal", "not_recorded", "private_body", "read_cassette", "record_hint", "replay_caveat",
    "request_key", "reseal", "resealed_caveat", "safe_name", "sealed_cassette", "sealed_persister", "use_cassette",
    "write_cassette",
]
