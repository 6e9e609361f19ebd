"""A base model plus a LoRA adapter written by ``python -m finetune``, checked against its card.

The card (``adapter_card.json``) must name this task and task version, the current prompt template
(the evaluated prompt must be the trained prompt), a base whose file hash matches what loads here, and
training items disjoint from this run's test split. Otherwise the adapter is refused, with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError
from harness.example import Example
from harness.models.card import CARD, AdapterCard

__all__ = ["CARD", "MERGED_BF16", "WEIGHTS", "AdapterCard", "adapter_dir", "eval_precision", "load", "read_card",
           "refusal", "split_variant"]


def adapter_dir(spec: str, adapters: Path | None = None) -> Path:
    """``adapter:<folder>``: a path, or a folder name under the project's ``adapters/`` (``adapters``;
    default: ``adapters/`` in the current directory)."""
    path = Path(spec).expanduser()
    under = (adapters if adapters is not None else Path("adapters")) / spec
    if path.is_absolute() or under.exists() or not path.exists():
        return path if path.is_absolute() else under
    return path


WEIGHTS = "adapter_model.safetensors"


def read_card(folder: Path) -> AdapterCard:
    """The adapter's card, checked in full (every key loading uses, the training ids, the weights file's
    structure) so that a broken adapter is one clear reason before any case, never a failure per case."""
    card_path = folder / CARD
    if not folder.is_dir():
        raise HarnessError(f"adapter folder {folder} not found; train one with: python -m finetune TASK "
                           f"--output-dir {folder}")
    if not card_path.exists():
        raise HarnessError(f"{folder} has no {CARD}: the harness evaluates only adapters written by python -m finetune")
    card = AdapterCard.read(card_path)
    if not card.train_example_ids:
        raise HarnessError(f"{card_path}: train_example_ids is empty or not a list of ids, so the train/test leak "
                           "check would pass on nothing; re-train with python -m finetune")
    _check_weights(folder / WEIGHTS)
    return card


def _check_weights(path: Path) -> None:
    """The safetensors file is whole: its header parses and every tensor's bytes are inside the file."""
    import json as _json
    import struct

    from harness import files

    raw = files.read_bytes(path, what="adapter weights")
    fix = "the file is truncated or corrupted: copy it again or re-train with python -m finetune"
    if len(raw) < 8:
        raise HarnessError(f"{path}: {len(raw)} bytes, expected a safetensors file; {fix}")
    (size,) = struct.unpack("<Q", raw[:8])
    try:
        header = _json.loads(raw[8:8 + size]) if 8 + size <= len(raw) else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise HarnessError(f"{path}: expected a safetensors header of {size} bytes, got an unreadable one; {fix}")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + size + end > len(raw):
        raise HarnessError(f"{path}: its tensors need {8 + size + end} bytes, the file has {len(raw)}; {fix}")


def refusal(card: AdapterCard, *, task: str, task_version: int, template_version: str,
            test: Sequence[Example], base_sha256: str | None, also: tuple[str, int] | None = None) -> str | None:
    """Why this adapter must not be evaluated on this run, or None. ``also``: another task (and version) whose
    adapters this run accepts, as TFNS accepts FPB's."""
    accepted = [(task, task_version)] + ([also] if also else [])
    if (card.task, card.task_version) not in accepted:
        wanted = " or ".join(f"{t} v{v}" for t, v in accepted)
        return f"trained for {card.task} v{card.task_version}, this run {'is' if not also else 'accepts'} {wanted}"
    if card.template_version != template_version:
        return (f"trained on prompt template {card.template_version}, the prompts are now {template_version}: "
                "re-train so that the evaluated prompt is the trained prompt")
    if card.base_sha256 and base_sha256 and card.base_sha256 != base_sha256:
        return f"trained on base file sha256 {card.base_sha256[:16]}, but {base_sha256[:16]} loads here"
    seen = set(card.train_example_ids) | set(card.validation_example_ids)
    overlap = seen & {e.id for e in test}
    if overlap:
        return (f"{len(overlap)} of this run's test items were in its training data (e.g. {sorted(overlap)[0]}): "
                f"it was trained on split seed {card.split_seed}; evaluate it on that split")
    return None


MERGED_BF16 = "@merged-bf16"
"""Suffix of ``adapter:<name>@merged-bf16``: on a GPU, the adapter merged into a bfloat16 base instead of the
precision its card says it was trained against (so the difference can be reported as two rows)."""


def split_variant(spec: str) -> tuple[str, bool]:
    """``name@merged-bf16`` -> (``name``, True); anything else -> (spec, False)."""
    if spec.endswith(MERGED_BF16):
        return spec[: -len(MERGED_BF16)], True
    return spec, False


def eval_precision(card: AdapterCard, device: str, merged_bf16: bool = False) -> str:
    """The base precision an adapter is evaluated with: on a GPU the one its card says it was trained against
    (``nf4`` for QLoRA, else ``float32``), or ``bfloat16`` on request; on the CPU always ``float32`` (4-bit nf4
    kernels are CUDA only: the provenance line says so)."""
    if device != "cuda":
        return "float32"
    if merged_bf16:
        return "bfloat16"
    return "nf4" if card.trained_against_precision.startswith("nf4") else "float32"


def load(folder: Path, card: AdapterCard, name: str, batch_size: int, device: str = "cpu",
         merged_bf16: bool = False, batch_tokens: int | None = None, precision: str | None = None) -> Any:
    """The adapter merged into its base. On a CPU, ``precision="bfloat16"`` merges in float32 first and then
    casts the merged weights (merging into bfloat16 weights would round the adapter's update into them)."""
    from peft import PeftModel

    from harness.models.local_lm import CausalLM
    from harness.models.weights import resolve_weights

    weights, base_provenance = resolve_weights(card.base_model)
    requested_precision = precision
    precision = eval_precision(card, device, merged_bf16)
    cast_to = "bfloat16" if device != "cuda" and requested_precision == "bfloat16" else None
    model = CausalLM(name, weights, base_provenance, batch_size=batch_size, device=device, precision=precision,
                     batch_tokens=batch_tokens)
    peft = PeftModel.from_pretrained(model.model, str(folder))
    # merging into 4-bit weights would round the adapter into the quantisation: keep it beside them instead
    model.model = (peft.get_base_model() if precision == "nf4" else peft.merge_and_unload()).eval()
    if cast_to:
        import torch

        model.model = model.model.to(getattr(torch, cast_to))
        model.precision = precision = cast_to
    model.strategies = ("zero_shot",)
    trained = card.trained_against_precision
    how = ("unmerged, over the nf4 4-bit base" if precision == "nf4" else "merged in float32, then cast to bfloat16"
           if cast_to else f"merged into a {precision} base")
    model.provenance = (
        f"{card.base_model} + LoRA r={card.hyperparameters.lora_r} from {folder.name} "
        f"({card.train_examples} train examples, {card.steps} steps, backend {card.backend} on "
        f"{card.device}, {card.wall_seconds} s, created {card.created_at[:10]}); trained against {trained}, "
        f"evaluated {how} on {device}"
    )
    return model
