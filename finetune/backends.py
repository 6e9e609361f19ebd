"""Training backends: which one runs here, and the base model with LoRA attached.

* ``unsloth``: 4-bit QLoRA through unsloth, CUDA only, when installed;
* ``peft-qlora``: transformers + peft + bitsandbytes 4-bit nf4, CUDA only;
* ``cuda-lora``: peft LoRA over the float32 base on the GPU, bfloat16 autocast (``auto``'s choice on a GPU for
  bases under :data:`QLORA_ABOVE` parameters: quantising a small model saves nothing and costs quality);
* ``cpu-lora``: peft LoRA in float32 on the CPU (bf16 is 5-6x slower on CPUs without bf16 units).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from harness import HarnessError
from finetune.config import TrainConfig

TRAINED_PRECISION = {"cpu-lora": "float32", "cuda-lora": "float32 (bfloat16 autocast)", "peft-qlora": "nf4 4-bit (bitsandbytes), bfloat16 compute",
                     "unsloth": "nf4 4-bit (unsloth), bfloat16 compute"}
"""The base weights' precision the adapter was trained against, recorded on its card: QLoRA adapters learn
around the quantised base, so evaluating them merged into a full-precision base can differ (see the card)."""


QLORA_ABOVE = 3_000_000_000
"""``auto`` on a GPU trains bases with more parameters than this in 4-bit (QLoRA), smaller ones in full precision."""


def pick_backend(requested: str, parameters: int | None = None) -> str:
    """The training backend: ``requested``, checked, or for ``auto`` the first that can work here (on a GPU:
    ``cuda-lora`` for a base of at most :data:`QLORA_ABOVE` parameters, else unsloth, then peft-qlora)."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "auto":
        if not cuda:
            return "cpu-lora"
        if parameters is not None and parameters <= QLORA_ABOVE:
            return "cuda-lora"
        if importlib.util.find_spec("unsloth"):
            return "unsloth"
        if importlib.util.find_spec("bitsandbytes"):
            return "peft-qlora"
        return "cuda-lora"
    if requested in ("unsloth", "peft-qlora", "cuda-lora") and not cuda:
        raise HarnessError(f"--backend={requested} needs a CUDA GPU; none is visible. Use --backend=cpu-lora here.")
    needs = {"unsloth": "unsloth", "peft-qlora": "bitsandbytes"}.get(requested)
    if needs and importlib.util.find_spec(needs) is None:
        raise HarnessError(f"--backend={requested} needs {needs}: pip install 'finetune-or-prompt[gpu]'")
    return requested


def load_model(config: TrainConfig, backend: str) -> tuple[Any, Any, str, str]:
    """Model with LoRA attached, tokenizer, the base's weights id and its provenance line."""
    from harness.models.local_lm import resolve_weights

    weights, provenance = resolve_weights(config.base)
    if backend == "unsloth":
        from unsloth import FastLanguageModel  # imported only on CUDA

        model, tokenizer = FastLanguageModel.from_pretrained(weights, load_in_4bit=True, max_seq_length=512)
        model = FastLanguageModel.get_peft_model(
            model, r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules), random_state=config.seed,
            use_gradient_checkpointing="unsloth" if config.gradient_checkpointing else False)
        return model, tokenizer, weights, provenance
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights)
    if backend == "peft-qlora":
        from peft import prepare_model_for_kbit_training

        from harness.models.local_lm import nf4_config  # the same quantisation the harness evaluates against

        # under DDP (accelerate launch) each process quantises onto its own GPU
        model = AutoModelForCausalLM.from_pretrained(weights, quantization_config=nf4_config(),
                                                     device_map={"": int(os.environ.get("LOCAL_RANK", "0"))})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.enable_input_require_grads()
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tokenizer, weights, provenance


def base_parameters(base: str) -> int | None:
    """The base's parameter count from its config (a meta-device model: no weights read), when a GPU is visible
    (``auto`` chooses between full-precision LoRA and QLoRA by it); None elsewhere or when unreadable."""
    import torch

    if not torch.cuda.is_available():
        return None
    from transformers import AutoConfig

    from harness.models.local_lm import resolve_weights
    from harness.models.random_base import parameter_count

    try:
        return parameter_count(AutoConfig.from_pretrained(resolve_weights(base)[0]))
    except (OSError, ValueError):
        return None
