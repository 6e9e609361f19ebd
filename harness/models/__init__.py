"""Model names the harness knows, and how each is built. Heavy imports happen only in :func:`build`.

Names: ``tfidf-logreg``, ``smollm2-135m``, ``published-gpt-4``, ``published-gpt-3.5-turbo``, and
``hf:<folder or hub id>`` for any transformers causal LM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import HarnessError
from harness.data import Example
from harness.models.base import Model, Reply, Request
from harness.splits import PUBLISHED_SEEDS

DEFAULT_MODELS: tuple[str, ...] = ("tfidf-logreg", "smollm2-135m", "published-gpt-4", "published-gpt-3.5-turbo")
LOCAL_STRATEGIES = ("zero_shot", "few_shot", "cot")

__all__ = ["DEFAULT_MODELS", "Model", "ModelContext", "Reply", "Request", "build", "strategies_for", "unavailable"]


@dataclass(frozen=True)
class ModelContext:
    """What building a model may use: the train split (never test labels), and where files are."""

    train: tuple[Example, ...]
    test: tuple[Example, ...]
    seed: int
    split_method: str
    agreement: str
    is_sample: bool
    predictions_dir: Path | None
    batch_size: int = 16


def _check_name(name: str) -> None:
    from harness.models.published import PUBLISHED

    if name in ("tfidf-logreg", "smollm2-135m") or name in PUBLISHED or name.startswith("hf:"):
        return
    raise HarnessError(
        f"unknown model {name!r}: expected one of {list(DEFAULT_MODELS)} or hf:<folder or hub id>"
    )


def strategies_for(name: str) -> tuple[str, ...]:
    _check_name(name)
    if name == "tfidf-logreg":
        return ("supervised",)
    if name.startswith("published-"):
        return ("published_zero_shot",)
    return LOCAL_STRATEGIES


def unavailable(name: str, ctx: ModelContext) -> str | None:
    """Why a model cannot run on this data, or None. Cheap: loads nothing."""
    _check_name(name)
    if not name.startswith("published-"):
        return None
    if ctx.is_sample:
        return "published replies exist only for the real FPB AllAgree data, not the sample"
    if ctx.agreement != "allagree" or ctx.split_method != "published" or ctx.seed not in PUBLISHED_SEEDS:
        return (f"published replies exist only for the published AllAgree split (seeds {list(PUBLISHED_SEEDS)}); "
                f"this run uses {ctx.agreement}, {ctx.split_method} split, seed {ctx.seed}")
    if ctx.predictions_dir is None or not ctx.predictions_dir.is_dir():
        return ("published replies folder not found: set FPB_PREDICTIONS_DIR or --harness-predictions to the "
                "fpb_llm_predictions_shah_chava_2023 folder")
    return None


def build(name: str, ctx: ModelContext) -> Model:
    reason = unavailable(name, ctx)
    if reason:
        raise HarnessError(f"{name}: {reason}")
    if name == "tfidf-logreg":
        from harness.models.tfidf import TfidfLogReg

        return TfidfLogReg(ctx.train, seed=ctx.seed)
    if name.startswith("published-"):
        from harness.models.published import PublishedReplies, find_file

        assert ctx.predictions_dir is not None
        return PublishedReplies(name, find_file(ctx.predictions_dir, name, ctx.seed), ctx.test)
    from harness.models.local_lm import CausalLM, resolve_weights

    spec = name[3:] if name.startswith("hf:") else name
    weights, provenance = resolve_weights(spec)
    return CausalLM(name, weights, provenance, batch_size=ctx.batch_size)
