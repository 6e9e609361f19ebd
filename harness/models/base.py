"""The model protocol: one method, ``predict``, over a batch of requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from harness.example import Example
from harness.prompts import Prompt


@dataclass(frozen=True)
class Request:
    example: Example
    prompt: Prompt
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Reply:
    text: str
    latency_s: float | None
    latency_source: str
    """How ``latency_s`` was measured: ``local``, ``live``, ``recorded`` or ``none``."""
    batch_size: int = 1
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    """Per-label scores, where the model scored labels instead of generating."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What an API reported: served model, system fingerprint, cached input tokens."""


class Model(Protocol):
    name: str
    strategies: tuple[str, ...]
    """The prompt strategies this model answers (a trained floor has its own: ``supervised``)."""
    batch_size: int
    kind: str
    """``api`` (billed per token), ``local`` (runs here) or ``replayed`` (published replies, no cost)."""
    provenance: str
    """One line: what the model is and where it came from, for the report."""

    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        """One reply per request, in order. A failed request is a Reply with ``error`` set."""
        ...
