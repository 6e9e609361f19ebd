"""A frozen dataclass read from and written back to a JSON object unchanged: :class:`Record`.

Keys a type does not name ride along in ``extra``; ``keys`` remembers which keys the JSON had and in which order,
so a value read and written back is the same JSON, key order included, old files included. A value built in code
(``keys`` empty) writes every field, in the order declared. Report rows (:mod:`harness.report.rows`) and adapter
cards (:mod:`harness.models.card`) are records.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T", bound="Record")
BOOKKEEPING = ("extra", "keys")

__all__ = ["BOOKKEEPING", "Record"]


@dataclass(frozen=True, kw_only=True)
class Record:
    """What every record shares: the JSON keys it does not name, and the keys (in order) it was read from."""

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def _names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in BOOKKEEPING]

    @classmethod
    def from_mapping(cls: type[T], data: Mapping[str, Any], /, **typed: Callable[[Any], Any]) -> T:
        """``cls`` from ``data``; ``typed`` converts a key's JSON value (a nested record, a pair)."""
        names = cls._names()
        values = {k: (typed[k](data[k]) if k in typed else data[k]) for k in names if k in data}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**values, extra=extra, keys=tuple(data))

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
        """The record a report JSON holds (a record with nested records or pairs converts them)."""
        return cls.from_mapping(data)

    def to_json(self) -> dict[str, Any]:
        """The dictionary the report JSON holds, as :meth:`from_json` read it."""
        return self.to_mapping()

    def to_mapping(self, **typed: Any) -> dict[str, Any]:
        """The JSON dictionary; ``typed`` holds the JSON form of fields that are not plain JSON values."""
        values = {name: typed[name] if name in typed else getattr(self, name) for name in self._names()}
        values.update(self.extra)
        if not self.keys:
            return values
        defaults = {f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
                    for f in fields(self) if f.default is not MISSING or f.default_factory is not MISSING}
        changed = [k for k in self._names() if k not in self.keys and getattr(self, k) != defaults.get(k, MISSING)]
        return {k: values[k] for k in (*self.keys, *changed) if k in values}
