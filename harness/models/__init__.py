"""Model names the harness knows, and how each is built. Heavy imports happen only in :func:`build`.

Names: ``tfidf-logreg``, ``smollm2-135m``, ``published-gpt-4``, ``published-gpt-3.5-turbo``, and
``hf:<folder or hub id>`` for any transformers causal LM, and ``openai:<model>`` for any model behind an
OpenAI-compatible endpoint (``OPENAI_BASE_URL``), replayed from its cassettes unless asked to record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness import HarnessError
from harness.example import Example
from harness.models.base import Model, Reply, Request
from harness.splits import PUBLISHED_SEEDS, fingerprint

KINDS = ("tfidf-logreg", "smollm2-135m", "published-gpt-4", "published-gpt-3.5-turbo", "hf:<folder or hub id>",
         "openai:<model>", "adapter:<folder or name under adapters/>")
LOCAL_STRATEGIES = ("zero_shot", "few_shot", "cot")

__all__ = ["KINDS", "Model", "ModelContext", "Reply", "Request", "build", "strategies_for", "unavailable"]


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
    """Where local models run: ``cpu`` (float32) or ``cuda`` (bfloat16), resolved from ``--harness-device``."""
    adapters_dir: Path | None = None
    """Where ``adapter:<name>`` folders are found (the project's ``adapters/``)."""
    task_context: Mapping[str, Any] = field(default_factory=dict)
    """What the task tells its models beyond the items (FPB: ``split_method``, ``agreement``, ``is_sample``,
    ``predictions_dir`` for the published replies)."""


def _check_name(name: str) -> None:
    from harness.models.published import PUBLISHED

    if name in ("tfidf-logreg", "smollm2-135m") or name in PUBLISHED:
        return
    if name.startswith(("hf:", "openai:", "adapter:")) and len(name.split(":", 1)[1]) > 0:
        return
    raise HarnessError(f"unknown model {name!r}: expected one of {list(KINDS)}")


def strategies_for(name: str) -> tuple[str, ...]:
    _check_name(name)
    if name == "tfidf-logreg":
        return ("supervised",)
    if name.startswith("published-"):
        return ("published_zero_shot",)
    if name.startswith("adapter:"):
        return ("zero_shot",)  # the prompt it was trained on
    return LOCAL_STRATEGIES  # local and API language models answer every prompt strategy


def unavailable(name: str, ctx: ModelContext, strategy: str | None = None) -> str | None:
    """Why a model (or one of its strategies) cannot run here, or None. Cheap: loads nothing."""
    _check_name(name)
    if name.startswith("openai:") and strategy is not None:
        return _cassette_problem(name, strategy, ctx)
    if name.startswith("adapter:"):
        return _adapter_problem(name, ctx)
    if name.startswith("hf:"):
        from harness.models.random_base import NOTE, random_weights

        if random_weights(name[3:]):
            return f"{NOTE}: its F1 is not a result (time it with benchmarks/, never score it)"
    if not name.startswith("published-"):
        return None
    task = ctx.task_context
    if task.get("is_sample"):
        return "published replies exist only for the real FPB AllAgree data, not the sample"
    agreement, method = task.get("agreement"), task.get("split_method")
    if agreement != "allagree" or method != "published" or ctx.seed not in PUBLISHED_SEEDS:
        return (f"published replies exist only for the published AllAgree split (seeds {list(PUBLISHED_SEEDS)}); "
                f"this run uses {agreement}, {method} split, seed {ctx.seed}")
    predictions = task.get("predictions_dir")
    if predictions is None or not Path(predictions).is_dir():
        return ("published replies folder not found: set FPB_PREDICTIONS_DIR or --harness-predictions to the "
                "fpb_llm_predictions_shah_chava_2023 folder")
    return None


def _cassette_problem(name: str, strategy: str, ctx: ModelContext) -> str | None:
    if ctx.record_mode != "none":
        return None
    from harness.cassettes import cassette_path, read_cassette
    from harness.models.openai_chat import record_command

    path = cassette_path(ctx.cassette_dir or Path("cassettes"), ctx.task, name, strategy)
    if not path.is_file():
        return f"not recorded (no {path}); record with: {record_command(name, ctx.marker)}"
    metadata = read_cassette(path).metadata
    for key, expected in (("model", name), ("strategy", strategy), ("task", ctx.task)):
        if metadata.get(key, expected) != expected:
            return (f"{path} was recorded for {key} {metadata[key]!r}, not {expected!r} (copied or renamed?): "
                    f"delete it and record with: {record_command(name, ctx.marker)}")
    recorded = metadata.get("template_version")
    if metadata.get("test_fingerprint") != fingerprint(ctx.test):
        return (f"{path} was recorded on another test split ({metadata.get('test_fingerprint')}); this run's is "
                f"{fingerprint(ctx.test)}: use that split, or record this one with: {record_command(name, ctx.marker)}")
    if recorded != ctx.template_version:
        return (f"stale: {path} was recorded with prompt template {recorded}, the prompts are now "
                f"{ctx.template_version}; re-record with: {record_command(name, ctx.marker).replace('once', 'all')}")
    return None


def _adapter_problem(name: str, ctx: ModelContext) -> str | None:
    from harness.models import adapter
    from harness.models.local_lm import file_sha256, smollm2_gguf

    try:
        spec, merged_bf16 = adapter.split_variant(name.split(":", 1)[1])
        if merged_bf16 and ctx.device != "cuda":
            return f"{adapter.MERGED_BF16} is a GPU variant (bfloat16 base); on {ctx.device} the adapter runs merged into float32"
        card = adapter.read_card(adapter.adapter_dir(spec, ctx.adapters_dir))
    except HarnessError as exc:  # a broken adapter is one "not run" line, never a failure per case
        return str(exc)
    if card.get("random_weights"):
        from harness.models.random_base import NOTE

        return f"trained on a base with {NOTE}: its F1 is not a result"
    gguf = smollm2_gguf() if card["base_model"] == "smollm2-135m" else None
    return adapter.refusal(card, task=ctx.task, task_version=ctx.task_version, template_version=ctx.template_version,
                           test=ctx.test, base_sha256=file_sha256(gguf) if gguf else None,
                           also=(ctx.adapter_task, ctx.adapter_task_version) if ctx.adapter_task else None)


def build(name: str, ctx: ModelContext) -> Model:
    reason = unavailable(name, ctx)
    if reason:
        raise HarnessError(f"{name}: {reason}")
    if name == "tfidf-logreg":
        from harness.models.tfidf import TfidfLogReg

        return TfidfLogReg(ctx.train, seed=ctx.seed)
    if name.startswith("published-"):
        from harness.models.published import PublishedReplies, find_file

        return PublishedReplies(name, find_file(Path(ctx.task_context["predictions_dir"]), name, ctx.seed), ctx.test)
    if name.startswith("openai:"):
        from harness.models.openai_chat import OpenAIChat

        return OpenAIChat(name, task=ctx.task, template_version=ctx.template_version,
                          cassette_dir=ctx.cassette_dir or Path("cassettes"), record_mode=ctx.record_mode,
                          keep_prompts=ctx.keep_prompts, concurrency=ctx.api_concurrency, seed=ctx.seed,
                          test_fingerprint=fingerprint(ctx.test), marker=ctx.marker)
    if name.startswith("adapter:"):
        from harness.models import adapter

        spec, merged_bf16 = adapter.split_variant(name.split(":", 1)[1])
        folder = adapter.adapter_dir(spec, ctx.adapters_dir)
        return adapter.load(folder, adapter.read_card(folder), name, ctx.batch_size, device=ctx.device,
                            merged_bf16=merged_bf16, batch_tokens=ctx.batch_tokens)
    from harness.models.local_lm import CausalLM, resolve_weights

    spec = name[3:] if name.startswith("hf:") else name
    weights, provenance = resolve_weights(spec)
    return CausalLM(name, weights, provenance, batch_size=ctx.batch_size, device=ctx.device,
                    batch_tokens=ctx.batch_tokens)
