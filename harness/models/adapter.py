"""A base model plus a LoRA adapter written by ``python -m finetune``, checked against its card.

The card (``adapter_card.json``) must name this task and task version, the current prompt template
(the evaluated prompt must be the trained prompt), a base whose file hash matches what loads here, and
training items disjoint from this run's test split. Otherwise the adapter is refused, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError
from harness.data import Example

CARD = "adapter_card.json"
ADAPTERS_DIR = Path(__file__).resolve().parent.parent.parent / "adapters"


def adapter_dir(spec: str) -> Path:
    """``adapter:<folder>``: a path, or a folder name under the repository's ``adapters/``."""
    path = Path(spec).expanduser()
    return path if path.exists() or path.is_absolute() else ADAPTERS_DIR / spec


def read_card(folder: Path) -> dict[str, Any]:
    card_path = folder / CARD
    if not folder.is_dir():
        raise HarnessError(f"adapter folder {folder} not found; train one with: python -m finetune sentiment "
                           f"--output-dir {folder}")
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise HarnessError(f"{folder} has no {CARD}: the harness evaluates only adapters written by python -m finetune") from None
    except ValueError as exc:
        raise HarnessError(f"{card_path} is not valid JSON ({exc})") from None
    missing = [k for k in ("base_model", "task", "task_version", "template_version", "train_example_ids") if k not in card]
    if missing:
        raise HarnessError(f"{card_path}: expected keys {missing}; re-train with python -m finetune")
    return card


def refusal(card: dict[str, Any], *, task: str, task_version: int, template_version: str,
            test: Sequence[Example], base_sha256: str | None, also: tuple[str, int] | None = None) -> str | None:
    """Why this adapter must not be evaluated on this run, or None. ``also``: another task (and version) whose
    adapters this run accepts, as TFNS accepts FPB's."""
    accepted = [(task, task_version)] + ([also] if also else [])
    if (card["task"], card["task_version"]) not in accepted:
        wanted = " or ".join(f"{t} v{v}" for t, v in accepted)
        return f"trained for {card['task']} v{card['task_version']}, this run {'is' if not also else 'accepts'} {wanted}"
    if card["template_version"] != template_version:
        return (f"trained on prompt template {card['template_version']}, the prompts are now {template_version}: "
                "re-train so that the evaluated prompt is the trained prompt")
    if card.get("base_sha256") and base_sha256 and card["base_sha256"] != base_sha256:
        return f"trained on base file sha256 {card['base_sha256'][:16]}, but {base_sha256[:16]} loads here"
    seen = set(card["train_example_ids"]) | set(card.get("validation_example_ids", []))
    overlap = seen & {e.id for e in test}
    if overlap:
        return (f"{len(overlap)} of this run's test items were in its training data (e.g. {sorted(overlap)[0]}): "
                f"it was trained on split seed {card.get('split_seed')}; evaluate it on that split")
    return None


def load(folder: Path, card: dict[str, Any], name: str, batch_size: int) -> Any:
    from peft import PeftModel

    from harness.models.local_lm import CausalLM, resolve_weights

    weights, base_provenance = resolve_weights(card["base_model"])
    model = CausalLM(name, weights, base_provenance, batch_size=batch_size)
    model.model = PeftModel.from_pretrained(model.model, str(folder)).merge_and_unload().eval()
    model.strategies = ("zero_shot",)
    model.fine_tuned = True
    model.provenance = (
        f"{card['base_model']} + LoRA r={card['hyperparameters'].get('lora_r')} from {folder.name} "
        f"({card['train_examples']} train examples, {card['steps']} steps, backend {card['backend']} on "
        f"{card['device']}, {card['wall_seconds']} s, created {card['created_at'][:10]})"
    )
    return model
