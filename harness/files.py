"""One guarded reader for every file the harness reads, and one atomic writer for every file it writes.

* Regular files only: a missing path, a folder, a named pipe, a device or a socket is refused at once with a
  :class:`~harness.HarnessError` (checked with ``os.stat`` before opening, and opened with ``O_NONBLOCK`` so
  that a pipe swapped in between the check and the open cannot block either).
* The file is named in every error, with what was expected, what came, and the fix.
* Text is decoded with a stated encoding; undecodable bytes are reported once, with their offset.

Writing (:func:`atomic_write_text`, :func:`atomic_write_bytes`): a temp file in the target's folder, flushed and
fsynced, made 0644 (``mkstemp`` makes 0600, unreadable when reports are served from a shared machine), then
renamed over the target with ``os.replace``: a reader sees the old file or the new one, never half of one.

Also small helpers to check the shape of parsed JSON (:func:`need`, :func:`describe`), so a file that is
valid JSON but malformed gives an error naming the file and the field, never a KeyError or an IndexError.
"""

from __future__ import annotations

import codecs
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from harness import HarnessError

PathLike = str | os.PathLike[str]
FILE_MODE = 0o644

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _error(path: PathLike, what: str, expected: str, got: str, fix: str) -> HarnessError:
    return HarnessError(f"{what} {path}: expected {expected}, got {got}; fix: {fix}")


def _stat(path: PathLike, what: str) -> os.stat_result:
    """``os.stat`` of a path that must be a regular file, or a HarnessError saying what is there instead."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        got = "a broken symbolic link" if os.path.islink(path) else "nothing at that path"
        raise _error(path, what, "a file", got, "check the path (and the current folder)") from None
    except NotADirectoryError:
        raise _error(path, what, "a file", "a path through something that is not a folder",
                     "check the path: one of its folders is a file") from None
    except PermissionError:
        raise _error(path, what, "a readable file", "permission denied on the path",
                     "make the file and its folders readable (chmod)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _error(path, what, "a readable file", f"{type(exc).__name__}: {exc}", "check the path") from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(path, what, "a regular file", _kind(info.st_mode),
                     "point at the file itself (a pipe or device would block or never end)")
    return info


def read_bytes(path: PathLike, *, what: str = "file") -> bytes:
    """The bytes of a regular file; a HarnessError naming the file for anything else."""
    _stat(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        raise _error(path, what, "a readable file", "permission denied",
                     "make it readable (chmod u+r) or run as its owner") from None
    except OSError as exc:
        raise _error(path, what, "a readable file", f"{type(exc).__name__}: {exc.strerror or exc}",
                     "check the path") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between the check and the open
            raise _error(path, what, "a regular file", _kind(mode), "point at the file itself")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except IsADirectoryError:
        raise _error(path, what, "a regular file", "a folder", "point at the file itself") from None
    except OSError as exc:
        raise _error(path, what, "a readable file", f"a read error ({type(exc).__name__}: {exc.strerror or exc})",
                     "check the disk or copy the file again") from None
    finally:
        os.close(fd)


def encoding_name(encoding: str) -> str:
    """``utf-8`` and ``utf-8-sig`` -> ``UTF-8``; other codecs by their upper-case name."""
    name = codecs.lookup(encoding).name
    return "UTF-8" if name in ("utf-8", "utf-8-sig") else name.upper()


def _decode_hint(raw: bytes) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return " (it starts with a UTF-16 byte-order mark: the file is UTF-16)"
    if b"\x00" in raw[:200]:
        return " (it holds NUL bytes: UTF-16 or a binary file?)"
    return ""


def decode(raw: bytes, path: PathLike, *, encoding: str = "utf-8", what: str = "file") -> str:
    """``raw`` decoded; undecodable bytes give one HarnessError with their offset and the fix."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding_name(encoding)
        bad = raw[exc.start:exc.start + 4].hex(" ")
        raise _error(path, what, f"{name} text",
                     f"undecodable bytes at offset {exc.start} ({bad}){_decode_hint(raw)}",
                     f"re-save it as {name} (e.g. iconv -f latin1 -t utf-8 OLD > NEW), or fetch a fresh copy") from None


def read_text(path: PathLike, encoding: str = "utf-8", *, what: str = "file") -> str:
    """The text of a regular file in ``encoding`` (stated in the error when the bytes do not decode)."""
    return decode(read_bytes(path, what=what), path, encoding=encoding, what=what)


def read_json(path: PathLike, *, what: str = "file") -> Any:
    """The parsed JSON of a regular UTF-8 file; an empty file or invalid JSON gives one HarnessError."""
    text = read_text(path, what=what)
    if not text.strip():
        raise _error(path, what, "JSON", "an empty file", "write it again (it was probably truncated)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(path, what, "JSON", f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})",
                     "write it again with the command that made it; do not edit it by hand") from None
    except RecursionError:
        raise _error(path, what, "JSON", "nesting too deep to parse", "write it again") from None


# -- writing ------------------------------------------------------------------------------------------------------
def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file beside it, fsync, mode 0644, ``os.replace``); the
    folder is created when missing. A failure leaves ``path`` as it was and no temp file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as ``encoding``, newlines written as given."""
    atomic_write_bytes(path, text.encode(encoding))


# -- the shape of parsed JSON -------------------------------------------------------------------------------------
def describe(value: Any) -> str:
    """A short account of a JSON value for an error message: ``null``, ``a list of 3``, ``the string 'x'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return type(value).__name__


_MISSING = object()
_TYPES = {
    "a string": lambda v: isinstance(v, str),
    "a non-empty string": lambda v: isinstance(v, str) and bool(v.strip()),
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a count (an integer >= 0)": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "a number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v == v,
    "a number or null": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == v),
    "a string or null": lambda v: v is None or isinstance(v, str),
    "a list": lambda v: isinstance(v, list),
    "an object": lambda v: isinstance(v, dict),
}


def need(container: Any, key: str | int, kind: str, *, field: str, path: PathLike, what: str, fix: str) -> Any:
    """``container[key]`` when it is of ``kind`` (a key of the table above), else a HarnessError naming the
    file and the field (``field`` is its dotted name, e.g. ``rows['m · s'].n``)."""
    if isinstance(container, dict):
        value = container.get(key, _MISSING) if isinstance(key, str) else _MISSING
    else:
        value = container[key] if isinstance(key, int) and 0 <= key < len(container) else _MISSING
    if value is _MISSING:
        raise HarnessError(f"{what} {path}: field {field}: expected {kind}, got no such field; fix: {fix}")
    if not _TYPES[kind](value):
        raise HarnessError(f"{what} {path}: field {field}: expected {kind}, got {describe(value)}; fix: {fix}")
    return value


def field_error(path: PathLike, what: str, field: str, expected: str, got: str, fix: str) -> HarnessError:
    """A HarnessError for one malformed field of a parsed file."""
    return HarnessError(f"{what} {path}: field {field}: expected {expected}, got {got}; fix: {fix}")
