"""Find credentials in files that get shared: cassettes, reports, logs.

``python -m harness scan [PATHS]`` (default: ``cassettes/`` and ``reports/``) exits 1 when it finds an API
key (``sk-...``, ``sk-proj-...``), a bearer token, an OpenAI organisation or project id, a cookie, or a
secret-bearing header stored in a cassette. Findings name the file, the line and the kind; the secret itself
is never printed whole (a CI log is shared too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

DEFAULT_PATHS = ("cassettes", "reports")
SKIP_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".png", ".jpg", ".zip", ".gz")

PATTERNS: dict[str, re.Pattern[str]] = {
    "api key": re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
    "organization id": re.compile(r"(?<![A-Za-z0-9_-])org-[A-Za-z0-9]{20,}"),
    "project id": re.compile(r"(?<![A-Za-z0-9_-])proj_[A-Za-z0-9]{20,}"),
    "cookie": re.compile(r"\b(?:set-)?cookie\\?[\"']?\s*[:=]\s*[^\s;=]+=[^\s;]+"
                         r"|\b(?:__cf_bm|_cfuvid|__Secure-[\w-]+|__Host-[\w-]+)=[\w.-]{8,}", re.IGNORECASE),
    "secret header": re.compile(r"\\?[\"'](authorization|api-key|x-api-key|openai-organization|openai-project|"
                                r"cookie|set-cookie)\\?[\"']\s*:", re.IGNORECASE),
}


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    kind: str
    excerpt: str
    """The match with all but its first 6 characters masked."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def _mask(text: str) -> str:
    return text[:6] + "*" * min(12, max(0, len(text) - 6))


def scan_text(text: str, path: Path = Path("<text>")) -> list[Finding]:
    findings = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            findings.append(Finding(path, line, kind, _mask(match.group(0).strip())))
    return sorted(findings, key=lambda f: (f.line, f.kind))


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())


def scan_paths(paths: Iterable[str | Path]) -> tuple[list[Finding], int]:
    """Findings in every text file under ``paths``, and how many files were read. A path that does not
    exist is a :class:`~harness.HarnessError`."""
    from harness import HarnessError

    resolved = [Path(p) for p in paths]
    missing = [str(p) for p in resolved if not p.exists()]
    if missing:
        raise HarnessError(f"scan: {', '.join(missing)} not found: expected files or folders to scan, "
                           f"e.g. python -m harness scan {' '.join(DEFAULT_PATHS)}")
    findings: list[Finding] = []
    count = 0
    for file in _files(resolved):
        if file.suffix.lower() in SKIP_SUFFIXES:
            continue
        raw = file.read_bytes()
        if b"\x00" in raw[:4096]:
            continue  # binary
        count += 1
        findings.extend(scan_text(raw.decode("utf-8", errors="replace"), file))
    return findings, count
