"""How each built-in model kind is built, and why it cannot run here (:mod:`harness.models.registry` lists them).

Every builder takes ``(name, spec, ctx)``: the model name as given, its spec (``gpt-4o`` of ``openai:gpt-4o``; an
exact name's own spec) and the :class:`~harness.models.ModelContext`. Every reason takes ``(name, spec, ctx,
strategy)`` and loads nothing. Heavy imports happen inside the builders only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import HarnessError, endpoints
from harness.splits import PUBLISHED_SEEDS, fingerprint

if TYPE_CHECKING:
    from harness.endpoints import Endpoint
    from harness.models import ModelContext
    from harness.models.base import Model


# -- builders -------------------------------------------------------------------------------------------------

def build_tfidf(name: str, spec: str, ctx: ModelContext) -> Model:
    from harness.models.tfidf import TfidfLogReg

    return TfidfLogReg(ctx.train, seed=ctx.seed)


def build_published(name: str, spec: str, ctx: ModelContext) -> Model:
    from harness.models.published import PublishedReplies, find_file

    return PublishedReplies(name, find_file(Path(ctx.task_context["predictions_dir"]), name, ctx.seed), ctx.test)


def _client(ctx: ModelContext, endpoint: Endpoint | None) -> dict[str, Any]:
    """What every OpenAI-protocol client of the run shares; a started endpoint is started here (recording only)."""
    if endpoint is not None and endpoint.start and ctx.record_mode != "none":
        from harness.serving.started import ensure_started

        endpoint = ensure_started(endpoint, ctx)
    return dict(task=ctx.task, template_version=ctx.template_version, cassette_dir=ctx.cassette_dir or Path("cassettes"),
                record_mode=ctx.record_mode, keep_prompts=ctx.keep_prompts, concurrency=ctx.api_concurrency,
                seed=ctx.seed, test_fingerprint=fingerprint(ctx.test), marker=ctx.marker, endpoint=endpoint)


def endpoint_of(name: str, spec: str, ctx: ModelContext) -> Endpoint | None:
    """The named endpoint of ``...@ENDPOINT`` (a HarnessError naming the declared ones when unknown), else None."""
    _, named = endpoints.split(spec)
    return ctx.endpoints.get(named, name) if named else None


def build_openai(name: str, spec: str, ctx: ModelContext) -> Model:
    from harness.models.openai_chat import OpenAIChat

    return OpenAIChat(name, **_client(ctx, endpoint_of(name, spec, ctx)))


def build_served_adapter(name: str, spec: str, ctx: ModelContext) -> Model:
    from harness.models import adapter
    from harness.models.served_adapter import ServedAdapter
    from harness.models.weights import resolve_weights

    folder = adapter.adapter_dir(endpoints.split(spec)[0], ctx.adapters_dir)
    card = adapter.read_card(folder)
    return ServedAdapter(name, folder, card, tokenizer_dir=resolve_weights(card.base_model)[0],
                         **_client(ctx, endpoint_of(name, spec, ctx)))


def is_served(spec: str) -> bool:
    """Whether an ``adapter:`` spec names an endpoint (``NAME@ENDPOINT``)."""
    return endpoints.split(spec)[1] is not None


def build_adapter(name: str, spec: str, ctx: ModelContext) -> Model:
    from harness.models import adapter

    folder_spec, merged_bf16 = adapter.split_variant(spec)
    folder = adapter.adapter_dir(folder_spec, ctx.adapters_dir)
    return adapter.load(folder, adapter.read_card(folder), name, ctx.batch_size, device=ctx.device,
                        merged_bf16=merged_bf16, batch_tokens=ctx.batch_tokens, precision=ctx.precision)


def build_causal_lm(name: str, spec: str, ctx: ModelContext) -> Model:
    """SmolLM2 (its spec is ``smollm2-135m``) or any ``hf:`` folder or hub id."""
    from harness.models.local_lm import CausalLM
    from harness.models.weights import resolve_weights

    weights, provenance = resolve_weights(spec)
    return CausalLM(name, weights, provenance, batch_size=ctx.batch_size, device=ctx.device,
                    batch_tokens=ctx.batch_tokens, precision=ctx.precision)


# -- why a kind cannot run here -------------------------------------------------------------------------------

def always_available(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
    return None


def is_random_base(spec: str) -> bool:
    """Whether an ``hf:`` spec is a folder of random weights written by ``python -m finetune random-base``."""
    from harness.models.random_base import random_weights

    return bool(random_weights(spec))


def random_base_problem(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
    from harness.models.random_base import NOTE

    return f"{NOTE}: its F1 is not a result (time it with benchmarks/, never score it)"


def published_problem(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
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


def cassette_problem(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
    """An API pair replays only from a cassette recorded for this model, strategy, task, split and prompts."""
    if strategy is None or ctx.record_mode != "none":
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


def served_adapter_problem(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
    """A served adapter is refused for its card's reasons, as a local one, and replays only from its cassettes."""
    return adapter_problem(name, endpoints.split(spec)[0], ctx, strategy) or cassette_problem(name, spec, ctx, strategy)


def adapter_problem(name: str, spec: str, ctx: ModelContext, strategy: str | None) -> str | None:
    from harness.models import adapter
    from harness.models.weights import file_sha256, smollm2_gguf

    try:
        folder_spec, merged_bf16 = adapter.split_variant(spec)
        if merged_bf16 and ctx.device != "cuda":
            return f"{adapter.MERGED_BF16} is a GPU variant (bfloat16 base); on {ctx.device} the adapter runs merged into float32"
        card = adapter.read_card(adapter.adapter_dir(folder_spec, ctx.adapters_dir))
    except HarnessError as exc:  # a broken adapter is one "not run" line, never a failure per case
        return str(exc)
    if card.random_weights:
        from harness.models.random_base import NOTE

        return f"trained on a base with {NOTE}: its F1 is not a result"
    gguf = smollm2_gguf() if card.base_model == "smollm2-135m" else None
    return adapter.refusal(card, task=ctx.task, task_version=ctx.task_version, template_version=ctx.template_version,
                           test=ctx.test, base_sha256=file_sha256(gguf) if gguf else None,
                           also=(ctx.adapter_task, ctx.adapter_task_version) if ctx.adapter_task else None)
