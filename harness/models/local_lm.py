"""A local transformers causal LM: label scoring for label-only strategies, generation for reasoning.

``predict`` takes up to :data:`CHUNK` requests, orders them by prompt length and runs them
``batch_size`` at a time, so rows of similar length share a forward pass (on the FPB test split, padding
to each batch's longest row in test order doubles the tokens computed; in length order it adds 4 %).
Label scoring runs one batched forward pass and compares the log-probability of each label's first
token at the assistant's first position. The prompt prefix shared by a batch (system prompt, few-shot
turns) is computed once and its KV cache reused across batches; batches are right-padded and read at
each row's last real token, so padding never changes a row's numbers. Reasoning strategies decode
greedily with continuous batching: the shared prefix's KV cache is reused there too, each row's own
tokens are left-padded after it, a row leaves the batch as soon as it has emitted the end-of-turn token,
and waiting rows take the free places, so the batch stays full (on the FPB test split a fixed batch of
16 decodes at a third of its width on average: most replies are short, the longest sets the pace). On
this CPU a row's numbers do not depend on which rows share its batch: ``tests/test_local_fast_paths.py``
checks the replies against ``generate`` one request at a time. Layers append to their KV cache in place
(:mod:`harness.models.growing_cache`) instead of copying it at every step.
``quantize="int8"`` swaps the Linear layers for dynamically quantised int8 ones
(``torch.ao.quantization.quantize_dynamic``): faster, but not the same numbers.
"""

from __future__ import annotations

import copy
import importlib.util
import time
from typing import Any, Sequence

from harness import HarnessError
from harness.models.base import Reply, Request
from harness.models.growing_cache import growing
from harness.models.label_tokens import first_label_tokens
from harness.models.weights import (CACHE_ENV, SMOLLM2_GGUF, SMOLLM2_HUB_ID, cache_dir, file_sha256,  # noqa: F401
                                    materialise_gguf, resolve_weights, smollm2_gguf)  # re-exported: callers import them here

QUANTIZE = (None, "int8")
PRECISIONS = ("float32", "bfloat16", "nf4")


def default_precision(device: str) -> str:
    """bfloat16 on a GPU; float32 on the CPU (bf16 is 5-6x slower on CPUs without bf16 units)."""
    return "bfloat16" if device == "cuda" else "float32"


def nf4_config() -> Any:
    """4-bit nf4 with double quantisation and bfloat16 compute: the quantisation QLoRA trains against."""
    import torch
    from transformers import BitsAndBytesConfig

    if importlib.util.find_spec("bitsandbytes") is None:
        raise HarnessError("nf4 4-bit weights need bitsandbytes: pip install 'finetune-or-prompt[gpu]'")
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """``auto``: the GPU when CUDA is visible, else the CPU. ``cuda`` without a visible GPU is an error."""
    if requested not in DEVICES:
        raise HarnessError(f"--harness-device={requested}: expected one of {list(DEVICES)}")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise HarnessError("--harness-device=cuda: no CUDA GPU is visible to torch here (torch.cuda.is_available() "
                           "is False); use --harness-device=cpu or auto, or install a CUDA build of torch on a GPU machine")
    return "cpu"
CHUNK = 128
"""Requests handed to ``predict`` at once (the benchmark's chunk): sorted by length inside it."""


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every Linear layer (weights int8, activations quantised per batch)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8).eval()


class CausalLM:
    strategies = ("zero_shot", "few_shot", "cot")
    kind = "local"

    def __init__(self, name: str, weights: str, provenance: str, *, batch_size: int = 16,
                 quantize: str | None = None, device: str = "cpu", precision: str | None = None,
                 batch_tokens: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if quantize not in QUANTIZE:
            raise HarnessError(f"{name}: quantize={quantize!r}; expected one of {list(QUANTIZE)}")
        if quantize and device != "cpu":
            raise HarnessError(f"{name}: quantize={quantize} is a CPU path (dynamic int8); on {device} drop it")
        precision = precision or default_precision(device)
        if precision not in PRECISIONS:
            raise HarnessError(f"{name}: precision={precision!r}; expected one of {list(PRECISIONS)}")
        if precision == "nf4" and device != "cuda":
            raise HarnessError(f"{name}: nf4 4-bit weights (bitsandbytes) need a CUDA GPU; on {device} use float32")
        self.device = device
        """``cpu`` (float32) or ``cuda`` (bfloat16 unless ``precision`` says otherwise): where the weights live
        and every batch is computed."""
        self.precision = precision
        """The base weights' precision: ``float32``, ``bfloat16`` or ``nf4`` (4-bit, as QLoRA trained against)."""
        self.name = name
        self.forward_batch = batch_size
        self.batch_tokens = batch_tokens
        """None: ``forward_batch`` rows per forward pass; else as many rows as fit in this many padded tokens
        (rows x the longest row, prompt and answer), so short prompts share large batches and long ones small."""
        self.batch_size = max(CHUNK, batch_size, (batch_tokens or 0) // 16)  # requests handed to one predict()
        self.provenance = provenance
        start = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(weights)
            if precision == "nf4":
                self.model = AutoModelForCausalLM.from_pretrained(
                    weights, quantization_config=nf4_config(), dtype=torch.bfloat16, device_map={"": 0}).eval()
            else:
                dtype = getattr(torch, precision)
                self.model = AutoModelForCausalLM.from_pretrained(weights, dtype=dtype).to(device).eval()
        except OSError as exc:
            raise HarnessError(
                f"{name}: could not load {weights!r} ({exc}). Give a local folder with a transformers model, "
                "or a hub id while online."
            ) from exc
        if quantize == "int8":
            self.model = quantize_int8(self.model)
            self.provenance = f"{provenance}, Linear layers int8 (dynamic quantisation)"
        self.quantize = quantize
        self.load_seconds = time.perf_counter() - start
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._prefix_cache: tuple[tuple[int, ...], Any] | None = None
        self._head32: tuple[Any, Any] | None = None
        if device == "cpu" and precision == "bfloat16":
            self.provenance = f"{self.provenance}, bfloat16 weights on the CPU"

    # -- helpers ---------------------------------------------------------------------------------------
    def clear_prefix_cache(self) -> None:
        """Forget the cached prefix KV (the next batch computes its shared prefix again)."""
        self._prefix_cache = None

    def prompt_ids(self, request: Request) -> list[int]:
        """The request's chat messages through the model's chat template, ready for the answer."""
        text = self.tokenizer.apply_chat_template(
            list(request.prompt.messages), tokenize=False, add_generation_prompt=True
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _scorable(self, labels: Sequence[str]) -> bool:
        """Whether answer-only prompts can be scored by each label's first token (distinct first tokens); when
        two labels share one (``bug`` / ``billing``), the model generates the answer and the parser reads it."""
        return first_label_tokens(self.tokenizer, labels) is not None

    def _label_token_ids(self, labels: Sequence[str]) -> list[int]:
        firsts = first_label_tokens(self.tokenizer, labels)
        if firsts is None:
            raise HarnessError(f"{self.name}: labels {list(labels)} share a first token; label scoring needs distinct ones")
        return firsts

    def _prefix(self, prefix: tuple[int, ...]) -> Any:
        import torch

        if self._prefix_cache is None or self._prefix_cache[0] != prefix:
            with torch.inference_mode():
                out = self.model(torch.tensor([prefix], device=self.device), use_cache=True)
            self._prefix_cache = (prefix, out.past_key_values)
        return self._prefix_cache[1]

    def _shared_length(self, ids: Sequence[Sequence[int]]) -> int:
        """How many leading tokens every row shares (each row keeps at least one of its own). A batch uses
        its whole shared prefix (a shorter cached one, e.g. zero-shot's system prompt inside few-shot's
        prompt, would leave the shots to every row); a single request is scored against the cached prefix."""
        shortest = min(len(x) for x in ids)
        p = 0
        while p < shortest - 1 and all(x[p] == ids[0][p] for x in ids):
            p += 1
        cached = self._prefix_cache[0] if self._prefix_cache is not None else ()
        fits = bool(cached) and len(cached) <= p and tuple(ids[0][: len(cached)]) == cached
        if len(ids) > 1:
            # The batch's whole shared prefix, unless the cached one is nearly as long: computing the few
            # extra shared tokens in every row costs less than computing the longer prefix again.
            if fits and len(ids) * (p - len(cached)) <= p:
                return len(cached)
            return p
        return len(cached) if fits else 0  # one request alone: against the cached prefix if it fits

    # -- the protocol ----------------------------------------------------------------------------------
    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        if not requests:
            return []
        ids = [self.prompt_ids(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(ids[i]))  # similar lengths share a batch
        replies: list[Reply | None] = [None] * len(requests)
        if all(r.prompt.classify for r in requests) and self._scorable(requests[0].labels):
            for rows in self._batches(order, ids):
                for i, reply in zip(rows, self._score([requests[i] for i in rows], [ids[i] for i in rows])):
                    replies[i] = reply
        else:
            for i, reply in zip(order, self._generate([requests[i] for i in order], [ids[i] for i in order])):
                replies[i] = reply
        return [r for r in replies if r is not None]

    def _batches(self, order: Sequence[int], ids: Sequence[Sequence[int]]) -> list[list[int]]:
        """``order`` (ascending prompt length) cut into forward passes: ``forward_batch`` rows each, or with a
        token budget as many as fit (a prompt longer than the budget runs alone)."""
        if not self.batch_tokens:
            return [list(order[s:s + self.forward_batch]) for s in range(0, len(order), self.forward_batch)]
        return pack_by_tokens(order, [len(x) for x in ids], self.batch_tokens)

    def _rows_at_once(self, ids: Sequence[Sequence[int]], limits: Sequence[int]) -> int:
        """How many rows decode together: ``forward_batch``, or what the token budget holds at the longest
        prompt plus its answer limit."""
        if not self.batch_tokens:
            return self.forward_batch
        return max(1, self.batch_tokens // (max(len(x) for x in ids) + max(limits)))

    def _head_float32(self) -> Any:
        """The output projection's weights in float32 (cached; for bfloat16 models on the CPU)."""
        weight = self.model.lm_head.weight
        if self._head32 is None or self._head32[0] is not weight:
            self._head32 = (weight, weight.detach().float())
        return self._head32[1]

    def _score(self, requests: Sequence[Request], ids: Sequence[Sequence[int]]) -> list[Reply]:
        import torch

        start = time.perf_counter()
        labels = requests[0].labels
        label_ids = torch.tensor(self._label_token_ids(labels), device=self.device)
        p = self._shared_length(ids)
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
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device), past_key_values=cache,
                use_cache=p > 0,
            ).last_hidden_state
            last = torch.tensor([len(s) - 1 for s in suffixes], device=self.device)
            rows = hidden[torch.arange(n, device=self.device), last]
            # bfloat16 weights on the CPU: the last projection in float32, so labels whose logits differ in the
            # fourth digit are not rounded into a tie (a few rows, one matrix product)
            logits = (rows.float() @ self._head_float32().T if rows.dtype != torch.float32 and self.device == "cpu"
                      else self.model.lm_head(rows))
            logprobs = torch.log_softmax(logits.float(), dim=-1)[:, label_ids].cpu()
        per_item = (time.perf_counter() - start) / n
        replies = []
        for row, x in enumerate(ids):
            scores = {label: float(logprobs[row, j]) for j, label in enumerate(labels)}
            replies.append(Reply(
                text=max(scores, key=scores.__getitem__), latency_s=per_item, latency_source="local",
                batch_size=n, input_tokens=len(x), output_tokens=1, scores=scores,
            ))
        return replies

    def _generate(self, requests: Sequence[Request], ids: Sequence[Sequence[int]], *,
                  stop: int | None = None) -> list[Reply]:
        """Greedy decoding with continuous batching: up to ``forward_batch`` rows decode together; a row
        that has written the end-of-turn token (``stop``) or its ``max_new_tokens`` leaves the batch, and
        waiting rows join it (their own tokens computed against the shared prefix's KV, then left-padded
        to the batch's width), so the batch stays full instead of shrinking to its longest row."""
        import torch

        start = time.perf_counter()
        stop = self.tokenizer.eos_token_id if stop is None else stop
        p = self._shared_length(ids)
        limits = [r.prompt.max_new_tokens for r in requests]
        out: list[list[int]] = [[] for _ in ids]
        waiting = list(range(len(ids)))[::-1]  # pop() takes them in the order given
        rows: list[int] = []  # the request of each batch row
        cache: Any = None
        mask = last = None
        at_once = self._rows_at_once(ids, limits)
        refill = max(1, at_once // 4)  # join when this many slots are free: fewer, larger prefills
        with torch.inference_mode():
            while waiting or rows:
                free = at_once - len(rows)
                if waiting and (not rows or free >= min(refill, len(waiting))):
                    new = [waiting.pop() for _ in range(min(free, len(waiting)))]
                    new_cache, new_mask, first = self._start_rows([ids[i] for i in new], p)
                    for i, token in zip(new, first.tolist()):  # one copy from the device per step, not one per row
                        out[i].append(token)
                    if rows:
                        cache, mask = _join(cache, mask, new_cache, new_mask)
                        last = torch.cat([last, first])
                    else:
                        cache, mask, last = new_cache, new_mask, first
                    rows += new
                else:
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                    width = mask.shape[1]
                    logits = self.model(
                        input_ids=last[:, None], attention_mask=mask, position_ids=mask.sum(-1, keepdim=True) - 1,
                        past_key_values=cache, cache_position=torch.arange(width - 1, width, device=self.device),
                        use_cache=True,
                        logits_to_keep=1,
                    ).logits[:, -1, :]
                    last = logits.argmax(dim=-1)
                    for i, token in zip(rows, last.tolist()):
                        out[i].append(token)
                keep = [j for j, i in enumerate(rows) if out[i][-1] != stop and len(out[i]) < limits[i]]
                if len(keep) < len(rows):
                    rows = [rows[j] for j in keep]
                    if not rows:
                        cache = mask = last = None
                        continue
                    index = torch.tensor(keep, device=self.device)
                    cache.batch_select_indices(index)
                    mask, last = mask[index], last[index]
                    used = int(torch.nonzero(mask.any(dim=0))[0])  # columns no row attends to any more
                    if used:
                        _trim_left(cache, used)
                        mask = mask[:, used:]
        per_item = (time.perf_counter() - start) / len(ids)
        pad = self.tokenizer.pad_token_id
        replies = []
        for x, row_tokens in zip(ids, out):
            tokens = [t for t in row_tokens if t != pad]
            replies.append(Reply(
                text=self.tokenizer.decode(tokens, skip_special_tokens=True).strip(), latency_s=per_item,
                latency_source="local", batch_size=min(at_once, len(ids)), input_tokens=len(x),
                output_tokens=len(tokens),
            ))
        return replies

    def _start_rows(self, ids: Sequence[Sequence[int]], p: int) -> tuple[Any, Any, Any]:
        """New rows' KV cache (shared prefix reused, own tokens left-padded after it), mask and first token."""
        import torch
        from transformers import DynamicCache

        n, width = len(ids), max(len(x) for x in ids) - p
        input_ids = torch.full((n, width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((n, p + width), dtype=torch.long)
        mask[:, :p] = 1
        for row, x in enumerate(ids):
            input_ids[row, width - (len(x) - p):] = torch.tensor(x[p:])
            mask[row, p + width - (len(x) - p):] = 1
        if p:
            cache = copy.deepcopy(self._prefix(tuple(ids[0][:p])))
            cache.batch_repeat_interleave(n)
        else:
            cache = DynamicCache(config=self.model.config)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, p:]
        logits = self.model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=growing(cache),
            cache_position=torch.arange(p, p + width, device=self.device), use_cache=True, logits_to_keep=1,
        ).logits[:, -1, :]
        return cache, mask, logits.argmax(dim=-1)


def pack_by_tokens(order: Sequence[int], lengths: Sequence[int], budget: int,
                   max_rows: int | None = None) -> list[list[int]]:
    """``order`` (indices in ascending ``lengths``) cut greedily into batches of at most ``budget`` padded tokens
    (rows x the batch's longest row, which is the row being added) and ``max_rows`` rows; a row longer than the
    budget is a batch alone. Evaluation (``--harness-batch-tokens``) and fine-tuning (``--batch-tokens``, and the
    default token cap on ``--batch-size`` rows) both batch through this."""
    batches: list[list[int]] = []
    for i in order:
        if (batches and (len(batches[-1]) + 1) * lengths[i] <= budget
                and (max_rows is None or len(batches[-1]) < max_rows)):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _join(cache: Any, mask: Any, new_cache: Any, new_mask: Any) -> tuple[Any, Any]:
    """Stack two batches' KV caches and masks, the narrower one left-padded (masked) to the wider one's width."""
    import torch
    import torch.nn.functional as F

    width = max(mask.shape[1], new_mask.shape[1])
    for layer, new in zip(cache.layers, new_cache.layers):
        a, b = width - layer.keys.shape[-2], width - new.keys.shape[-2]
        layer.keys = torch.cat([F.pad(layer.keys, (0, 0, a, 0)), F.pad(new.keys, (0, 0, b, 0))])
        layer.values = torch.cat([F.pad(layer.values, (0, 0, a, 0)), F.pad(new.values, (0, 0, b, 0))])
    return cache, torch.cat([F.pad(mask, (width - mask.shape[1], 0)), F.pad(new_mask, (width - new_mask.shape[1], 0))])


def _trim_left(cache: Any, columns: int) -> None:
    """Drop the first ``columns`` cached columns of every layer (padding that no row attends to)."""
    for layer in cache.layers:
        layer.keys = layer.keys[..., columns:, :]
        layer.values = layer.values[..., columns:, :]
