"""The adapter card (``adapter_card.json``): what ``python -m finetune`` records beside each adapter, typed.

:class:`AdapterCard` names every key a card has held, in the order the trainer writes them, with its type;
``hyperparameters`` and ``refit_of`` are records of their own (:class:`Hyperparameters`, :class:`RefitOf`).
:meth:`AdapterCard.from_json` checks each key it names (a wrong-typed value, or a required key missing, is one
:class:`~harness.HarnessError` naming the card file and the key); :meth:`AdapterCard.to_json` gives the same JSON
back, key order included (see :class:`~harness.record.Record`), so cards written by older versions of the trainer
still read and write back unchanged. Keys the type does not name ride along in ``extra``.

Required are only the keys evaluating an adapter reads (``base_model``, ``task``, ...): a card without, say,
``peak_memory_gib`` still evaluates; its field reads as the default (None: not recorded).
"""

from __future__ import annotations

import typing
from collections import abc
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Mapping, TypeVar

from harness import HarnessError
from harness.record import BOOKKEEPING, Record

CARD = "adapter_card.json"
"""The card's file name in an adapter folder."""
CARD_VERSION = 1
FIX = "the card was edited or is from another tool: re-train with python -m finetune"

R = TypeVar("R", bound=Record)

__all__ = ["CARD", "AdapterCard", "Hyperparameters", "RefitOf", "TrainingCompute"]


def _describe(hint: Any) -> str:
    args = typing.get_args(hint)
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_describe(a) for a in args if a is not NoneType) + (" or null" if NoneType in args else "")
    if typing.get_origin(hint) is tuple:
        return "a list of " + {str: "strings", float: "numbers", int: "whole numbers"}.get(args[0], "values")
    if isinstance(hint, type) and issubclass(hint, Record) or typing.get_origin(hint) in (abc.Mapping, dict):
        return "an object"
    return {str: "a string", int: "an int", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, a) for a in typing.get_args(hint))
    if hint is NoneType:
        return value is None
    if typing.get_origin(hint) is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(v, typing.get_args(hint)[0]) for v in value)
    if isinstance(hint, type) and issubclass(hint, Record) or typing.get_origin(hint) in (abc.Mapping, dict):
        return isinstance(value, Mapping)
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint) and not isinstance(value, bool)


def _checked(cls: type[R], data: Mapping[str, Any], source: str, prefix: str = "") -> R:
    """``cls`` from ``data`` with every named key type-checked: lists become tuples, nested objects records."""
    hints = typing.get_type_hints(cls)
    named = [f for f in fields(cls) if f.name not in BOOKKEEPING]
    missing = [f"{prefix}{f.name}" for f in named
               if f.name not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise HarnessError(f"{source}: expected keys {missing}; re-train with python -m finetune")
    values: dict[str, Any] = {}
    for f in named:
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if not _fits(value, hint):
            raise HarnessError(f"{source}: {prefix}{f.name} is {value!r}, expected {_describe(hint)}; {FIX}")
        record = next((a for a in (hint, *typing.get_args(hint)) if isinstance(a, type) and issubclass(a, Record)), None)
        if record is not None and value is not None:
            value = _checked(record, value, source, f"{prefix}{f.name}.")
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    names = {f.name for f in named}
    return cls(**values, extra={k: v for k, v in data.items() if k not in names}, keys=tuple(data))


def _lists(record: Record, *names: str) -> dict[str, Any]:
    """The JSON form (lists) of tuple fields."""
    return {n: list(getattr(record, n)) for n in names if getattr(record, n) is not None}


@dataclass(frozen=True, kw_only=True)
class Hyperparameters(Record):
    """The recipe (``TrainConfig.hyperparameters()``): every key optional, as cards have always had them."""

    epochs: float | None = None
    max_steps: int | None = None
    min_steps: int | None = None
    limit: int | None = None
    learning_rate: float | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    target_modules: tuple[str, ...] | None = None
    batch_size: int | None = None
    batch_tokens: int | None = None
    """Absent from cards written before token batches (they batched by rows)."""
    max_length: int | None = None
    """Written only when ``--max-length`` was set (it changes the data a recipe sees)."""
    val_fraction: float | None = None
    eval_every: int | None = None
    patience: int | None = None
    teacher: str | None = None
    teacher_labels: bool | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "hyperparameters") -> Hyperparameters:
        return _checked(cls, data, source, "hyperparameters.")

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(**_lists(self, "target_modules"))


@dataclass(frozen=True, kw_only=True)
class RefitOf(Record):
    """The validated run a refit took its epochs from (``python -m finetune --refit``)."""

    adapter: str | None = None
    created_at: str | None = None
    best_step: int | None = None
    steps_per_epoch: int | None = None
    epochs_chosen: float | None = None
    best_eval_loss: float | None = None
    validation_examples: int | None = None
    train_data_sha256: str | None = None
    eval_losses: tuple[float, ...] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "refit_of") -> RefitOf:
        return _checked(cls, data, source, "refit_of.")

    def to_json(self) -> dict[str, Any]:
        return self.to_mapping(**_lists(self, "eval_losses"))


@dataclass(frozen=True)
class TrainingCompute:
    """What training used, as its card states it: what pricing the training (:func:`harness.economics.training_cost`)
    reads. None: not recorded."""

    machine_hours: float | None = None
    gpu_hours: float | None = None
    dollars_per_hour: float | None = None
    device: str | None = None


@dataclass(frozen=True, kw_only=True)
class AdapterCard(Record):
    """An adapter's card. Fields without a default are required; the rest read as their default when absent."""

    card_version: int = CARD_VERSION
    created_at: str
    base_model: str
    base_weights: str | None = None
    random_weights: bool = False
    """Trained on a base with random weights (a pipeline check): written only when true."""
    note: str | None = None
    base_sha256: str | None = None
    task: str
    task_version: int
    template_version: str
    train_examples: int
    validation_examples: int = 0
    train_data_sha256: str | None = None
    train_example_ids: tuple[str, ...]
    validation_example_ids: tuple[str, ...] = ()
    test_fingerprint: str | None = None
    data_source: str | None = None
    label_source: str | None = None
    data_notes: Mapping[str, Any] | None = None
    """What the task left out of the pool and why (counts); written only when the task says."""
    split_seed: int | None = None
    split_method: str | None = None
    hyperparameters: Hyperparameters
    backend: str
    gradient_checkpointing: bool | None = None
    adapter_dtype: str | None = None
    trained_against_precision: str = "float32"
    """The base precision it was trained against; cards from before the key trained in float32 on a CPU."""
    device: str
    teacher: Mapping[str, Any] | None = None
    """Distillation: the teacher's label statistics."""
    shared_prefix_tokens: int | None = None
    group_by_length: bool | None = None
    epochs_run: float | None = None
    eval_every_used: int | None = None
    steps: int
    wall_seconds: float
    eval_and_checkpoint_seconds: float | None = None
    eval_and_checkpoint_share: float | None = None
    train_tokens_per_second: float | None = None
    median_step_seconds: float | None = None
    steady_train_tokens_per_second: float | None = None
    peak_memory_gib: float | None = None
    peak_memory_kind: str | None = None
    processes: int | None = None
    distributed_backend: str | None = None
    effective_batch_size: float | None = None
    steps_per_epoch: int | None = None
    gpu_hours: float | None = None
    machine_hours: float | None = None
    dollars_per_hour: float | None = None
    cost_usd: float | None = None
    loss_first: float | None = None
    loss_last: float | None = None
    eval_losses: tuple[float, ...] = ()
    best_eval_loss: float | None = None
    command: str | None = None
    refit_of: RefitOf | None = None
    weights_float16: Mapping[str, Any] | None = None
    """A float32 adapter converted to float16 after training: when, from which file, how it was checked."""

    WRITTEN_WHEN_SET: typing.ClassVar[tuple[str, ...]] = ("random_weights", "note", "data_notes", "refit_of",
                                                          "weights_float16")
    """Keys a card built in code writes only when they hold something (the rest it always writes)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str | Path = CARD) -> AdapterCard:
        """The card in ``data`` (the parsed ``adapter_card.json``; ``source`` names it in errors), checked."""
        if not isinstance(data, Mapping):
            raise HarnessError(f"{source}: expected a JSON object, got {type(data).__name__}; re-train with python -m finetune")
        return _checked(cls, data, str(source))

    @classmethod
    def read(cls, path: Path) -> AdapterCard:
        """The card in the file ``path``, checked (an unreadable file or bad JSON is one clear error too)."""
        from harness import files

        return cls.from_json(files.read_json(path, what="adapter card"), path)

    def to_json(self) -> dict[str, Any]:
        """The card's JSON: for a card read from a file, that file's keys in its order, with its values."""
        out = self.to_mapping(hyperparameters=self.hyperparameters.to_json(),
                              refit_of=self.refit_of.to_json() if self.refit_of is not None else None,
                              **_lists(self, "train_example_ids", "validation_example_ids", "eval_losses"))
        if self.keys:
            return out
        unset = {f.name for f in fields(self) if f.name in self.WRITTEN_WHEN_SET and getattr(self, f.name) == f.default}
        return {k: v for k, v in out.items() if k not in unset}

    @property
    def compute(self) -> TrainingCompute:
        return TrainingCompute(machine_hours=self.machine_hours, gpu_hours=self.gpu_hours,
                               dollars_per_hour=self.dollars_per_hour, device=self.device)
