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
* **Whole files**: a cassette is written to a temporary file and renamed (never half-written).
* **Sealed**: when it is written, a cassette gets a seal in its metadata (``harness_seal``): a sha256 of
  each interaction's request key (method, path, body digest) and whole response, and one sha256 over
  those and the metadata that says what it answers (task, template version, model, strategy, test
  fingerprint, endpoint). Before any answer is replayed the file is checked in one pass: an unsealed
  cassette, a broken seal (an edited reply, token count or digest, an interaction added, dropped or
  duplicated, a metadata field changed), two interactions with the same request but different responses,
  or a secret (as ``python -m harness scan`` finds them) is a :class:`~harness.HarnessError` naming the
  file, what is wrong and the fix. ``python -m harness cassettes --reseal PATH`` seals a cassette whose
  content you trust (see :func:`reseal`). A seal is a checksum, not a signature: it catches hand edits and
  merges, not someone who recomputes it.
* **Redacted**: key-like strings in a recorded reply body are replaced by ``[REDACTED]`` before it is
  stored (:func:`harness.secrets_scan.redact`).
* **Latency**: the wall time of each recorded call is stored with its response (``x-harness-latency-s``,
  ``x-harness-recorded-at``), so replay reports the recorded latency, labelled as such.
* **Layout**: one JSON cassette per (task, model, strategy): ``cassettes/<task>/<model>/<strategy>.json``,
  with metadata (template version, model, endpoint, date). Under xdist a pair runs on one worker.

Only this module imports vcrpy, and only when a cassette is used.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import urlparse

from harness import HarnessError
from harness.files import atomic_write_text
from harness.secrets_scan import env_api_keys, redact, scan_text

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
SECRET_REQUEST_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie")
SECRET_RESPONSE_HEADERS = ("set-cookie", "openai-organization", "openai-project")
DEFAULT_DIR = Path("cassettes")
"""The project's cassette folder, relative to where the harness runs (pytest: the rootdir; --harness-cassette-dir)."""


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
    raw = _body_bytes((response.get("body") or {}).get("string"))
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


def interactions_digest(interactions: Any) -> str:
    """sha256 of any JSON value as canonical JSON (sorted keys, no spaces): key order and layout never matter."""
    canonical = json.dumps(interactions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def interaction_key(interaction: dict[str, Any]) -> tuple[str, str, str]:
    """What replay matches a stored interaction on: method, path and request body digest."""
    request = interaction["request"]
    return (str(request.get("method") or "").upper(), urlparse(str(request.get("uri") or "")).path,
            canonical_digest(request.get("body")))


def interaction_seal(key: Sequence[str], response: Any) -> str:
    """One interaction's seal: sha256 of its request key and its whole response (status, headers, body)."""
    return interactions_digest([list(key), response])


def _sealed_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    return {field: metadata.get(field) for field in SEALED_METADATA}


def _overall(fields: dict[str, Any], seals: Sequence[str]) -> str:
    return interactions_digest({"format": SEAL_FORMAT, "metadata": fields, "interactions": list(seals)})


def make_seal(metadata: dict[str, Any], seals: Sequence[str]) -> dict[str, Any]:
    """The ``harness_seal`` metadata entry for interactions with these seals (see :func:`interaction_seal`)."""
    fields = _sealed_fields(metadata)
    return {"format": SEAL_FORMAT, "algorithm": "sha256", "metadata": fields, "interactions": list(seals),
            "sha256": _overall(fields, seals)}


@dataclass(frozen=True)
class _Scanned:
    """One pass over a cassette's interactions: request keys and seals, in file order."""

    keys: tuple[tuple[str, str, str], ...]
    seals: tuple[str, ...]

    @classmethod
    def of(cls, interactions: Sequence[dict[str, Any]]) -> "_Scanned":
        keys = tuple(interaction_key(i) for i in interactions)
        return cls(keys, tuple(interaction_seal(k, i["response"]) for k, i in zip(keys, interactions)))

    def duplicates(self) -> tuple[list[int], tuple[int, int] | None]:
        """Indices of exact duplicates (same request, same response as an earlier one), and the first pair of
        conflicting duplicates (same request, another response), if any."""
        first: dict[tuple[str, str, str], int] = {}
        exact: list[int] = []
        for index, key in enumerate(self.keys):
            earlier = first.setdefault(key, index)
            if earlier == index:
                continue
            if self.seals[earlier] != self.seals[index]:
                return exact, (earlier, index)
            exact.append(index)
        return exact, None


def record_hint(metadata: dict[str, Any]) -> str:
    """The command that re-records this cassette (its task's suite marker when the task is built in)."""
    model, strategy = metadata.get("model") or "<model>", metadata.get("strategy") or "<strategy>"
    marker = None
    try:
        from harness.tasks import get_task

        marker = get_task(str(metadata.get("task"))).marker
    except Exception:  # a user's own task, or the registry cannot load here: name the suite generically
        marker = None
    where = f"suites -m {marker}" if marker else "<your suite>"
    return (f"OPENAI_API_KEY=... pytest {where} --harness-models={model} --harness-strategies={strategy} "
            "--record-mode=all")


def _fixes(path: Path, metadata: dict[str, Any], *, reseal: bool = True) -> str:
    fix = f"re-record it: {record_hint(metadata)}"
    if reseal:
        fix += (f"; or, only if you are sure its content is authentic (e.g. restored from git), seal it as it is: "
                f"{RESEAL_COMMAND} {path}")
    return fix


def _refuse(path: Path, metadata: dict[str, Any], what: str, *, reseal: bool = True) -> HarnessError:
    return HarnessError(f"cassette {path}: {what}. Nothing in it is replayed. Fix: {_fixes(path, metadata, reseal=reseal)}")


def _check_secrets(path: Path, text: str, metadata: dict[str, Any]) -> None:
    findings = scan_text(text, path)
    if findings:
        shown = "; ".join(f"line {f.line}: {f.kind} ({f.excerpt})" for f in findings[:3])
        more = f" and {len(findings) - 3} more" if len(findings) > 3 else ""
        raise _refuse(path, metadata, f"holds {len(findings)} secret(s) ({shown}{more}), found as "
                      f"`python -m harness scan {path}` finds them; a credential is never replayed", reseal=False)


def _check_duplicates(path: Path, scanned: _Scanned, metadata: dict[str, Any]) -> list[int]:
    exact, conflict = scanned.duplicates()
    if conflict:
        a, b = conflict
        raise _refuse(path, metadata, (
            f"conflicting duplicates: interactions {a} and {b} are the same request (body digest "
            f"{scanned.keys[a][2][:12]}...) with different responses, so which answer a replay serves would "
            "depend on their order; expected one response per request"), reseal=False)
    return exact


def _locate(sealed: Sequence[str], actual: Sequence[str], keys: Sequence[tuple[str, str, str]]) -> str:
    """Where the interactions differ from the sealed list, in words."""
    at = next((i for i, (s, a) in enumerate(zip(sealed, actual)) if s != a), min(len(sealed), len(actual)))
    if len(actual) == len(sealed) + 1 and list(actual[:at]) + list(actual[at + 1:]) == list(sealed):
        twin = f" (a copy of interaction {list(actual).index(actual[at])})" if actual[at] in actual[:at] else ""
        return f"interaction {at} was added after sealing{twin}; the seal lists {len(sealed)}"
    if len(sealed) == len(actual) + 1 and list(sealed[:at]) + list(sealed[at + 1:]) == list(actual):
        return f"interaction {at} of the {len(sealed)} sealed was removed"
    if sorted(sealed) == sorted(actual):
        return f"the interactions were reordered (first at index {at})"
    count = "" if len(sealed) == len(actual) else f"; the file holds {len(actual)} interactions, the seal {len(sealed)}"
    if at < len(actual):
        return (f"interaction {at} (request digest {keys[at][2][:12]}...) is not the one sealed: its request "
                f"digest or its response (status, headers, body: reply text, token counts) changed{count}")
    return f"interactions were removed or added at the end{count}"


def _seal_problem(metadata: dict[str, Any], scanned: _Scanned) -> str | None:
    """What is wrong with the seal of a cassette whose interactions scanned to ``scanned``, or None."""
    seal = metadata.get(SEAL_KEY)
    if seal is None:
        old = (f" (it has only the first, optional seal {LEGACY_SEAL_KEY!r}, over its interactions without its "
               "metadata)") if LEGACY_SEAL_KEY in metadata else ""
        return f"it is not sealed: no {SEAL_KEY!r} in its metadata{old}, so nothing shows its answers are the ones recorded"
    if not (isinstance(seal, dict) and seal.get("format") == SEAL_FORMAT and isinstance(seal.get("metadata"), dict)
            and isinstance(seal.get("interactions"), list) and all(isinstance(d, str) for d in seal["interactions"])
            and isinstance(seal.get("sha256"), str)):
        return (f"its seal ({SEAL_KEY!r}) is malformed: expected format {SEAL_FORMAT} with 'metadata', "
                "'interactions' (a list of sha256) and 'sha256'; it was edited after recording")
    if _overall(seal["metadata"], seal["interactions"]) != seal["sha256"]:
        return "its seal does not match itself (the seal's own fields were edited after recording)"
    if list(scanned.seals) != seal["interactions"]:
        return f"{_locate(seal['interactions'], scanned.seals, scanned.keys)}: it was edited after recording"
    for field in SEALED_METADATA:
        if metadata.get(field) != seal["metadata"].get(field):
            return (f"metadata field {field!r} is {metadata.get(field)!r}, sealed as {seal['metadata'].get(field)!r}: "
                    "it was edited after recording")
    return None


def _check_seal(path: Path, metadata: dict[str, Any], scanned: _Scanned) -> None:
    problem = _seal_problem(metadata, scanned)
    if problem:
        raise _refuse(path, metadata, problem)


def _collapse_recorded(interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One interaction per request key, the newest kept at the first one's place: ``--record-mode=all``
    re-records requests that are already stored, and two identical requests in flight are both recorded."""
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for interaction in interactions:
        by_key[interaction_key(interaction)] = interaction
    return list(by_key.values())


def sealed_cassette(interactions: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    """A vcrpy JSON cassette (as a dict) holding these interactions, with its seal in the metadata."""
    metadata = {k: v for k, v in metadata.items() if k not in (SEAL_KEY, LEGACY_SEAL_KEY)}
    metadata[SEAL_KEY] = make_seal(metadata, _Scanned.of(interactions).seals)
    return {"version": 1, "interactions": interactions, "metadata": metadata}


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
    _check_secrets(path, raw.decode("utf-8"), metadata)
    scanned = _Scanned.of(interactions)
    exact = _check_duplicates(path, scanned, metadata)
    _check_seal(path, metadata, scanned)
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


def _load(path: Path, *, need_data: bool) -> tuple[CassetteInfo, dict[str, Any] | None]:
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
    return _load(path, need_data=False)[0]


@dataclass(frozen=True)
class ResealResult:
    path: Path
    before: str
    """What the seal was: "sealed" (left unchanged), or what was wrong with it."""
    interactions: int
    collapsed: int
    """Exact duplicates removed (same request, same response as an earlier interaction)."""

    @property
    def changed(self) -> bool:
        return self.before != "sealed"

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.path}: already sealed, unchanged ({self.interactions} interactions)"
        dropped = f", {self.collapsed} exact duplicate(s) removed" if self.collapsed else ""
        return f"{self.path}: sealed ({self.interactions} interactions{dropped}); before: {self.before}"


def reseal(path: Path) -> ResealResult:
    """Seal a cassette as it is, changing no answer: its interactions are kept byte for byte (exact duplicates
    removed), its metadata gains the seal. Refused for a cassette that is not a valid vcrpy JSON cassette,
    holds a secret, or holds conflicting duplicates. Only for content you trust: the seal vouches for it."""
    path = Path(path)
    raw = _read(path)
    data, interactions, metadata = _parse(path, raw)
    _check_secrets(path, raw.decode("utf-8"), metadata)
    scanned = _Scanned.of(interactions)
    exact = _check_duplicates(path, scanned, metadata)
    problem = _seal_problem(metadata, scanned)
    if problem is None:
        return ResealResult(path, "sealed", len(interactions), 0)
    legacy = metadata.get(LEGACY_SEAL_KEY)
    if SEAL_KEY not in metadata and legacy is not None and legacy != interactions_digest(interactions):
        problem += f"; and its first seal ({LEGACY_SEAL_KEY}) did not match its interactions either"
    skip = set(exact)
    kept = [i for n, i in enumerate(interactions) if n not in skip]
    sealed = sealed_cassette(kept, metadata)
    extra = {k: v for k, v in data.items() if k not in sealed}  # keep any other top-level field as it was
    atomic_write_text(path, _cassette_text({**sealed, **extra}))
    return ResealResult(path, problem, len(kept), len(exact))


def _sealed_persister(*, record_mode: str = "none") -> type:
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
                info, data = _load(path, need_data=True)
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
            sealed = sealed_cassette(_collapse_recorded(data["interactions"]), data.get("metadata") or {})
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
    config.register_persister(_sealed_persister(record_mode=record_mode))
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


def cassette_files(root: Path = DEFAULT_DIR) -> list[Path]:
    """The cassette files under ``root`` (a file is itself), sorted."""
    root = Path(root)
    return [root] if root.is_file() else sorted(p for p in root.rglob("*.json") if p.is_file())


def list_cassettes(root: Path = DEFAULT_DIR) -> list[CassetteInfo]:
    return [read_cassette(path) for path in cassette_files(root)]
