"""Random-weight models of a real architecture's shape: for speed and memory figures only.

The reference configuration (Llama-3.1-8B-Instruct, 4-bit QLoRA) cannot be downloaded here, and SmolLM2's
weights are too big to carry to a lent GPU beside the repository. :func:`write_random_base` writes a
transformers folder of the same shape (the architecture's config, SmolLM2's tokenizer, weights drawn at
random) whose ``config.json`` carries :data:`MARKER`. Everything that reads it knows: fine-tuning writes
``random_weights`` on the adapter's card, and the harness refuses to score such a model or adapter, since
an F1 from random weights is not a result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import HarnessError

MARKER = "harness_random_weights"
NOTE = "random weights: speed and memory only"
SHAPES: dict[str, dict[str, Any]] = {
    # meta-llama/Llama-3.1-8B-Instruct's config.json (architecture numbers only)
    "llama-3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0,
                         rms_norm_eps=1e-5, tie_word_embeddings=False),
    # HuggingFaceTB/SmolLM2-135M-Instruct's config.json
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0,
                         rms_norm_eps=1e-5, tie_word_embeddings=True),
    # a few MB: for the project's own tests of this path
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
                 tie_word_embeddings=True),
}


def write_random_base(shape: str, out: Path, *, seed: int = 0, dtype: str = "bfloat16",
                      tokenizer: str | Path | None = None) -> Path:
    """A loadable transformers folder of ``shape`` with random weights and ``tokenizer`` (a folder; default
    SmolLM2's, read from its GGUF)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.models.local_lm import resolve_weights

    if shape not in SHAPES:
        raise HarnessError(f"--shape={shape}: expected one of {sorted(SHAPES)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out} is not empty: expected a new folder for the random-weight model")
    source = str(tokenizer) if tokenizer is not None else resolve_weights("smollm2-135m")[0]
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"--tokenizer={source}: expected a folder with a transformers tokenizer "
                           f"(tokenizer.json or tokenizer_config.json); it could not be read ({exc})") from None
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **SHAPES[shape])
    setattr(config, MARKER, {"shape": shape, "seed": seed, "note": NOTE})
    torch.manual_seed(seed)
    n_params = parameter_count(config)
    device = "cuda" if torch.cuda.is_available() else "cpu"  # an 8B random init takes minutes on CPU cores
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=getattr(torch, dtype))
    model.save_pretrained(out)
    del model
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(f"# Random-weight {shape} ({n_params / 1e6:.0f} M parameters)\n\n{NOTE}: written by "
                                   "`python -m finetune random-base`; its quality figures mean nothing.\n")
    return out


def parameter_count(config: Any) -> int:
    """Parameters of the model ``config`` describes, counted on the meta device (no weights made or read)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def random_weights(folder: str | Path) -> dict[str, Any] | None:
    """The marker of a random-weight folder written by :func:`write_random_base`, else None."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get(MARKER)
    except (OSError, ValueError):
        return None
