"""A fine-tuned adapter served by an engine (vLLM) behind a named endpoint: ``adapter:NAME@ENDPOINT``.

Inference goes to the server, where the adapter is a LoRA module named after its folder (vLLM:
``--lora-modules NAME=adapters/NAME``); everything else stays the adapter's own: the card checks, the train/test
leak check, provenance, training cost and break-even (the row is a fine-tuned row).

The decision rule is the local one. Locally an answer-only prompt is scored by the logits of each label's first
token, and the highest wins. Through the server the same choice is asked for with standard chat-completion
parameters: one token, greedy, every label's first token biased by +100 (``logit_bias``), so the token the server
returns is the label whose first token has the highest logit, exactly as locally; ``logprobs`` gives the scores.
Where labels share a first token the server generates the answer and the task's parser reads it, as locally.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from harness.cassettes import replay_caveat
from harness.models.base import Reply, Request
from harness.models.card import AdapterCard
from harness.models.label_tokens import first_label_tokens
from harness.models.openai_chat import OpenAIChat

LABEL_BIAS = 100
"""The largest bias the OpenAI API accepts: the label tokens outrank every other token."""


class ServedAdapter(OpenAIChat):
    """``adapter:NAME@ENDPOINT``: the adapter's card here, its inference on the endpoint."""

    kind = "api"
    strategies = ("zero_shot",)

    def __init__(self, name: str, folder: Path, card: AdapterCard, *, tokenizer_dir: str, **client: Any) -> None:
        super().__init__(name, **client)
        self.folder = folder
        self.card = card
        self.model_id = folder.name  # the LoRA module's name on the server
        self.strategies = ("zero_shot",)
        self._tokenizer_dir = tokenizer_dir
        self._tokenizer: Any = None
        self._firsts: dict[tuple[str, ...], dict[int, str] | None] = {}
        endpoint = client["endpoint"]
        self.provenance = self.served_by = self.card_line = (
            f"{card.base_model} + LoRA r={card.hyperparameters.lora_r} from {folder.name} ({card.train_examples} train "
            f"examples, {card.steps} steps, backend {card.backend} on {card.device}, {card.wall_seconds} s, created "
            f"{card.created_at[:10]}); served as {folder.name!r} at endpoint {endpoint.name} ({endpoint.shown_url}), "
            "label by the highest first-token logit (logit_bias), latency at the client")

    def _served(self, replies: list[Reply], metadata: dict[str, Any]) -> list[Reply]:
        """The API's bookkeeping (cost by the endpoint's price), with the card's provenance line kept."""
        replies = super()._served(replies, metadata)
        self.served_by = self.card_line
        self.provenance = self.card_line + replay_caveat(self.cassette(metadata["strategy"]))
        return replies

    def label_tokens(self, labels: Sequence[str]) -> dict[int, str] | None:
        """Each label's first token id (the base's tokenizer, loaded here: a few MB), or None when two labels share
        one (then the server generates and the parser reads the answer)."""
        key = tuple(labels)
        if key not in self._firsts:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_dir)
            firsts = first_label_tokens(self._tokenizer, labels)
            self._firsts[key] = dict(zip(firsts, labels)) if firsts is not None else None
        return self._firsts[key]

    def _scored(self, request: Request) -> dict[int, str] | None:
        return self.label_tokens(request.labels) if request.prompt.classify else None

    def body(self, request: Request) -> dict[str, Any]:
        body = super().body(request)
        firsts = self._scored(request)
        if firsts:
            body.update(max_tokens=1, logprobs=True, top_logprobs=20,
                        logit_bias={str(token): LABEL_BIAS for token in sorted(firsts)})
        return body

    def reply(self, request: Request, completion: dict[str, Any], headers: Any, wall: float) -> Reply:
        reply = super().reply(request, completion, headers, wall)
        firsts = self._scored(request)
        if reply.error or not firsts:
            return reply
        by_text = {self._tokenizer.decode([token]): label for token, label in firsts.items()}
        label = by_text.get(reply.text)
        if label is None:
            return replace(reply, error=f"the server answered {reply.text!r}, not a label's first token "
                                        f"{sorted(by_text)}: does it honour logit_bias?")
        scores = {}
        choice = (completion.get("choices") or [{}])[0]
        content = ((choice.get("logprobs") or {}).get("content") or [{}])[0] if isinstance(choice, dict) else {}
        for entry in content.get("top_logprobs") or []:
            if isinstance(entry, dict) and entry.get("token") in by_text:
                scores[by_text[entry["token"]]] = float(entry.get("logprob", 0.0))
        return replace(reply, text=label, scores=scores)

