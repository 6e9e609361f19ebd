"""The cassette API under its first name: :mod:`harness.recording` holds it (format, seal, files, replay);
these names stay importable from here for code written before the split."""

from __future__ import annotations

from harness.recording import (DEFAULT_DIR, DIGEST_KEY, LATENCY_HEADER, LEGACY_SEAL_KEY, RECORD_MODES,
                               RECORDED_AT_HEADER, RESEAL_COMMAND, SEAL_FORMAT, SEAL_KEY, SEALED_METADATA,
                               SECRET_REQUEST_HEADERS, SECRET_RESPONSE_HEADERS, CassetteInfo, ResealResult,
                               canonical_digest, cassette_files, cassette_path, interaction_key, interaction_seal,
                               interactions_digest, list_cassettes, make_seal, private_body, read_cassette,
                               record_hint, request_key, reseal, safe_name, sealed_cassette, sealed_persister,
                               use_cassette, write_cassette)

__all__ = [
    "DEFAULT_DIR", "DIGEST_KEY", "LATENCY_HEADER", "LEGACY_SEAL_KEY", "RECORDED_AT_HEADER", "RECORD_MODES",
    "RESEAL_COMMAND", "SEALED_METADATA", "SEAL_FORMAT", "SEAL_KEY", "SECRET_REQUEST_HEADERS", "SECRET_RESPONSE_HEADERS",
    "CassetteInfo", "ResealResult",
    "canonical_digest", "cassette_files", "cassette_path", "interaction_key", "interaction_seal", "interactions_digest",
    "list_cassettes", "make_seal", "private_body", "read_cassette", "record_hint", "request_key", "reseal",
    "safe_name", "sealed_cassette", "sealed_persister", "use_cassette", "write_cassette",
]
