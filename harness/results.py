"""What one case of a benchmark produced: :class:`CaseResult`, one example answered by one model under one
strategy, with its latency, tokens and cost.

It travels as a dictionary (pytest's ``user_properties``, possibly from an xdist worker) and is rebuilt once,
where the cases are collected (:meth:`CaseResult.of`); the report reads its attributes.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Mapping

from harness import HarnessError


@dataclass(frozen=True)
class CaseResult:
    task: str
    model: str
    strategy: str
    index: int
    example_id: str
    gold: str
    pred: str | None
    reply: str
    latency_s: float | None
    latency_source: str
    batch_size: int
    input_tokens: int | None
    output_tokens: int | None
    error: str | None
    provenance: str
    cost_usd: float | None = None
    """At the price table's prices; None where there is no API price (local models, unknown models)."""
    cached_input_tokens: int | None = None
    kind: str = "local"
    served_model: str | None = None
    """What an API said answered (its ``model`` field), and its ``system_fingerprint``."""
    system_fingerprint: str | None = None
    fine_tuned: bool = False
    batch1_latency_s: float | None = None
    """Local models: seconds for one request alone, after a warm-up (the same for every case of a pair)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseResult:
        """The case as it rode on ``user_properties`` (a :meth:`to_json` dictionary, possibly from an xdist
        worker); keys a newer or older harness added or dropped are ignored or defaulted."""
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING)
            raise HarnessError(f"a harness case lacks {', '.join(missing) or 'a field'} ({exc}): expected the "
                               "dictionary CaseResult.to_json wrote; run the cases with this harness version") from None

    @classmethod
    def of(cls, case: CaseResult | Mapping[str, Any]) -> CaseResult:
        """``case`` typed: a CaseResult as it is, a transported dictionary read once."""
        return case if isinstance(case, CaseResult) else cls.from_json(case)

    @property
    def row(self) -> tuple[str, str]:
        """The report row this case belongs to: ``(model, strategy)``."""
        return self.model, self.strategy

    def to_json(self) -> dict[str, Any]:
        """A plain dictionary (JSON values only) that crosses process boundaries: pytest's ``user_properties``."""
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """The same as :meth:`to_json` (the name the plugin calls)."""
        return self.to_json()
