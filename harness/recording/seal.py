"""The seal of a cassette and every check made before anything in it is replayed: no secret, no conflicting
duplicates, a seal that matches the interactions and the metadata that says what they answer. Each problem
is a :class:`~harness.HarnessError` that names the file, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError
from harness.recording.format import (LEGACY_SEAL_KEY, RESEAL_COMMAND, RESEALED_KEY, SEAL_FORMAT, SEAL_KEY,
                                      SEALED_METADATA, interaction_key, interactions_digest)
from harness.secrets_scan import scan_text

def interaction_seal(key: Sequence[str], response: Any) -> str:
    """One interaction's seal: sha256 of its request key and its whole response (status, headers, body)."""
    return interactions_digest([list(key), response])


def _sealed_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """What the seal covers of the metadata: what the cassette answers, and its reseal record when it has one (a
    cassette never resealed is sealed as before the record existed, so its seal is unchanged)."""
    fields = {field: metadata.get(field) for field in SEALED_METADATA}
    if RESEALED_KEY in metadata:
        fields[RESEALED_KEY] = metadata[RESEALED_KEY]
    return fields


def _overall(fields: dict[str, Any], seals: Sequence[str]) -> str:
    return interactions_digest({"format": SEAL_FORMAT, "metadata": fields, "interactions": list(seals)})


def make_seal(metadata: dict[str, Any], seals: Sequence[str]) -> dict[str, Any]:
    """The ``harness_seal`` metadata entry for interactions with these seals (see :func:`interaction_seal`)."""
    fields = _sealed_fields(metadata)
    return {"format": SEAL_FORMAT, "algorithm": "sha256", "metadata": fields, "interactions": list(seals),
            "sha256": _overall(fields, seals)}


@dataclass(frozen=True)
class Scanned:
    """One pass over a cassette's interactions: request keys and seals, in file order."""

    keys: tuple[tuple[str, str, str], ...]
    seals: tuple[str, ...]

    @classmethod
    def of(cls, interactions: Sequence[dict[str, Any]]) -> "Scanned":
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


def record_hint(metadata: dict[str, Any], *, mode: str = "all", options: str = "") -> str:
    """The command that re-records this cassette (its task's suite marker when the task is built in), with
    ``options`` (e.g. ``"--harness-shots=3 "``) before ``--record-mode=MODE``."""
    model, strategy = metadata.get("model") or "<model>", metadata.get("strategy") or "<strategy>"
    marker = None
    try:
        from harness.tasks import get_task

        marker = get_task(str(metadata.get("task"))).marker
    except Exception:  # a user's own task, or the registry cannot load here: name the suite generically
        marker = None
    where = f"suites -m {marker}" if marker else "<your suite>"
    return (f"OPENAI_API_KEY=... pytest {where} --harness-models={model} --harness-strategies={strategy} "
            f"{options}--record-mode={mode}")


def _fixes(path: Path, metadata: dict[str, Any], *, reseal: bool = True) -> str:
    fix = f"re-record it: {record_hint(metadata)}"
    if reseal:
        fix += (f"; or, only if you are sure its content is authentic (e.g. restored from git), seal it as it is: "
                f"{RESEAL_COMMAND} {path} --reason '<why you trust it>' (every report that replays it shows the reason)")
    return fix


def _refuse(path: Path, metadata: dict[str, Any], what: str, *, reseal: bool = True) -> HarnessError:
    return HarnessError(f"cassette {path}: {what}. Nothing in it is replayed. Fix: {_fixes(path, metadata, reseal=reseal)}")


def check_secrets(path: Path, text: str, metadata: dict[str, Any]) -> None:
    findings = scan_text(text, path)
    if findings:
        shown = "; ".join(f"line {f.line}: {f.kind} ({f.excerpt})" for f in findings[:3])
        more = f" and {len(findings) - 3} more" if len(findings) > 3 else ""
        raise _refuse(path, metadata, f"holds {len(findings)} secret(s) ({shown}{more}), found as "
                      f"`python -m harness scan {path}` finds them; a credential is never replayed", reseal=False)


def check_duplicates(path: Path, scanned: Scanned, metadata: dict[str, Any]) -> list[int]:
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


def seal_problem(metadata: dict[str, Any], scanned: Scanned) -> str | None:
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
    for field in (*SEALED_METADATA, RESEALED_KEY):
        if metadata.get(field) != seal["metadata"].get(field):
            return (f"metadata field {field!r} is {metadata.get(field)!r}, sealed as {seal['metadata'].get(field)!r}: "
                    "it was edited after recording")
    return None


def check_seal(path: Path, metadata: dict[str, Any], scanned: Scanned) -> None:
    problem = seal_problem(metadata, scanned)
    if problem:
        raise _refuse(path, metadata, problem)


def collapse_recorded(interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One interaction per request key, the newest kept at the first one's place: ``--record-mode=all``
    re-records requests that are already stored, and two identical requests in flight are both recorded."""
    by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    for interaction in interactions:
        by_key[interaction_key(interaction)] = interaction
    return list(by_key.values())


def sealed_cassette(interactions: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    """A vcrpy JSON cassette (as a dict) holding these interactions, with its seal in the metadata."""
    metadata = {k: v for k, v in metadata.items() if k not in (SEAL_KEY, LEGACY_SEAL_KEY)}
    metadata[SEAL_KEY] = make_seal(metadata, Scanned.of(interactions).seals)
    return {"version": 1, "interactions": interactions, "metadata": metadata}
