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
import math
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
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig

    from harness.models.weights import resolve_weights

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
    config.architectures = ["LlamaForCausalLM"]
    config.dtype = dtype
    out.mkdir(parents=True, exist_ok=True)
    seconds, n_params = _write_weights(config, out, seed=seed, dtype=getattr(torch, dtype))
    config.save_pretrained(out)
    GenerationConfig.from_model_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(f"# Random-weight {shape} ({n_params / 1e6:.0f} M parameters)\n\n{NOTE}: written by "
                                   "`python -m finetune random-base`; its quality figures mean nothing.\n")
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    gib = size / 2**30
    print(f"random-base: {n_params / 1e6:.0f} M parameters, {gib:.1f} GiB drawn and written in {seconds:.1f} s "
          f"({gib / max(seconds, 1e-9):.2f} GiB/s) to {out}", flush=True)
    return out


SHARD_BYTES = 2 * 2**30


def _write_weights(config: Any, out: Path, *, seed: int, dtype: Any) -> tuple[float, int]:
    """Draw every weight of ``config``'s model (matrices N(0, initializer_range), norms 1) on the GPU when there is
    one, and write them as safetensors shards of at most :data:`SHARD_BYTES` with their index, the layout
    ``from_pretrained`` reads. Nothing goes through a whole model in memory: the writing of one shard overlaps
    the drawing of the next, so an 8B shape costs about its 16 GB of writes (on an H200 on 2026-11-27 the
    earlier way, a model initialised on the GPU and ``save_pretrained``, took 247 s in all). Returns the seconds
    and the parameter count (a tied head counted once, as :func:`parameter_count` does)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    with torch.device("meta"):
        shapes = [(name, tuple(p.shape)) for name, p in AutoModelForCausalLM.from_config(config).named_parameters()]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device=device).manual_seed(seed)
    itemsize = torch.empty((), dtype=dtype).element_size()
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    in_shard = 0  # bytes in the last group
    for name, shape in shapes:  # consecutive parameters, a shard at most SHARD_BYTES (a bigger tensor alone)
        size = math.prod(shape) * itemsize
        if groups[-1] and in_shard + size > SHARD_BYTES:
            groups.append([])
            in_shard = 0
        groups[-1].append((name, shape))
        in_shard += size
    files = ["model.safetensors"] if len(groups) == 1 else [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
                                                           for i in range(len(groups))]
    std = getattr(config, "initializer_range", 0.02)
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = []
        for group, file in zip(groups, files):
            tensors = {}
            for name, shape in group:
                weight = torch.empty(shape, dtype=dtype, device=device)
                if len(shape) == 1:  # RMSNorm scales
                    weight.fill_(1.0)
                else:
                    weight.normal_(0.0, std, generator=generator)
                tensors[name] = weight.cpu()
            pending.append(writer.submit(save_file, tensors, str(out / file), metadata={"format": "pt"}))
            if len(pending) > 1:  # at most one shard waiting in host memory beside the one being drawn
                pending.pop(0).result()
        for job in pending:
            job.result()
    n_params = sum(math.prod(s) for _, s in shapes)
    if len(files) > 1:
        index = {"metadata": {"total_size": n_params * itemsize},
                 "weight_map": {name: file for group, file in zip(groups, files) for name, _ in group}}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return time.perf_counter() - started, n_params


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
