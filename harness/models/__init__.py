"""Model names the harness knows, and how each is built. Heavy imports happen only in :func:`build`.

Names: ``tfidf-logreg``, ``smollm2-135m``, ``published-gpt-4``, ``published-gpt-3.5-turbo``, and
``hf:<folder or hub id>`` for any transformers causal LM, and ``openai:<model>`` for any model behind an
OpenAI-compatible endpoint (``OPENAI_BASE_URL``), replayed from its cassettes unless asked to record, and
``adapter:<folder>`` for a LoRA adapter written by ``python -m finetune``. Each is a kind of
:mod:`harness.models.registry` (with its role: fine-tuned, prompted, published replies, classical floor), where
other packages add theirs through the ``finetune_or_prompt.models`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness import HarnessError
from harness.endpoints import Endpoints
from harness.example import Example
from harness.models.base import Model, Reply, Request
from harness.models.registry import BUILT_IN, LOCAL_STRATEGIES, ModelKind, Role, resolve, role_of

KINDS = tuple(dict.fromkeys(kind.listed for kind in BUILT_IN))
"""The built-in names as error messages list them (an installed package's kinds are listed after them)."""

__all__ = ["KINDS", "LOCAL_STRATEGIES", "Model", "ModelContext", "ModelKind", "Reply", "Request", "Role", "build",
           "role_of", "strategies_for", "unavailable"]


@dataclass(frozen=True)
class ModelContext:
    """What building a model may use: the train split (never test labels), and where files are."""

    train: tuple[Example, ...]
    test: tuple[Example, ...]
    seed: int
    batch_size: int = 16
    batch_tokens: int | None = None
    """Local models: rows per forward pass by this budget of padded tokens instead of ``batch_size``."""
    task: str = "fpb-sentiment"
    task_version: int = 1
    template_version: str = ""
    cassette_dir: Path | None = None
    record_mode: str = "none"
    keep_prompts: bool = False
    api_concurrency: int = 4
    adapter_task: str = ""
    """A task whose adapters this run accepts besides its own (an FPB adapter evaluated cross-domain on TFNS)."""
    adapter_task_version: int = 0
    marker: str = "sentiment"
    """The pytest marker of the task's suite, for the commands the harness prints."""
    device: str = "cpu"
    """Where local models run: ``cpu`` or ``cuda``, resolved from ``--harness-device``."""
    precision: str | None = None
    """Local models' weights (``float32``, ``bfloat16``), resolved from ``--harness-precision``; None: the
    device's default (float32 on a CPU, bfloat16 on a GPU)."""
    adapters_dir: Path | None = None
    """Where ``adapter:<name>`` folders are found (the project's ``adapters/``)."""
    endpoints: Endpoints = field(default_factory=Endpoints)
    """The run's named endpoints (``openai:MODEL@ENDPOINT``, ``adapter:NAME@ENDPOINT``): :mod:`harness.endpoints`."""
    served_adapters: Mapping[str, Mapping[str, Path]] = field(default_factory=dict)
    """Per endpoint, the run's ``adapter:NAME@ENDPOINT`` rows (served name -> folder): what a started server serves."""
    task_context: Mapping[str, Any] = field(default_factory=dict)
    """What the task tells its models beyond the items (FPB: ``split_method``, ``agreement``, ``is_sample``,
    ``predictions_dir`` for the published replies)."""


def strategies_for(name: str) -> tuple[str, ...]:
    """The prompt strategies a model answers (a HarnessError for an unknown name)."""
    return resolve(name)[0].strategies


def unavailable(name: str, ctx: ModelContext, strategy: str | None = None) -> str | None:
    """Why a model (or one of its strategies) cannot run here, or None. Cheap: loads nothing."""
    kind, spec = resolve(name)
    return kind.unavailable(name, spec, ctx, strategy)


def build(name: str, ctx: ModelContext) -> Model:
    reason = unavailable(name, ctx)
    if reason:
        raise HarnessError(f"{name}: {reason}")
    kind, spec = resolve(name)
    return kind.build(name, spec, ctx)
