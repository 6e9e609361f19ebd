"""One benchmark run: data, split, prompts and models, computed case by case (no pytest here).

``Benchmark.case(model, strategy, index)`` returns one example's result. Models answer in batches: the
test list is cut into fixed chunks of the model's batch size, and asking for any case of a chunk computes
the whole chunk once. Chunks depend only on the test list, so a serial run and an xdist run compute the
same numbers.

Latency of local models: before a pair's first chunk, the model answers two requests untimed (warm-up:
one-time allocations, the shared prompt prefix), then the first request alone, timed: the latency at
batch 1. A chunk's wall time is then shared by its items (``latency_s``, at ``batch_size``), so the
report gives both the latency of one request and the throughput at batch N, warm-up excluded.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import HarnessError
from harness.cassettes import DEFAULT_DIR as CASSETTE_DIR
from harness.cassettes import RECORD_MODES
from harness.data import AGREEMENTS, LABELS, DataSource, FpbFile, load_fpb, resolve_source
from harness.models import DEFAULT_MODELS, Model, ModelContext, Reply, Request, build, strategies_for, unavailable
from harness.parsing import parse_label
from harness.prompts import DEFAULT_SHOTS_PER_LABEL, STRATEGIES, TEMPLATE_VERSION, render, select_shots
from harness.pricing import PriceTable, cost_usd, load_prices
from harness.splits import DEFAULT_SEED, METHODS, Split, make_split

TASK = "fpb-sentiment"
TASK_VERSION = 1
MAX_REPLY_CHARS = 4000


@dataclass(frozen=True)
class BenchmarkConfig:
    data_dir: str | None = None
    predictions_dir: str | None = None
    agreement: str = "allagree"
    seed: int = DEFAULT_SEED
    split: str = "published"
    models: tuple[str, ...] = DEFAULT_MODELS
    strategies: tuple[str, ...] | None = None
    limit: int | None = None
    shots_per_label: int = DEFAULT_SHOTS_PER_LABEL
    batch_size: int = 16
    bootstrap: int = 1000
    record_mode: str = "none"
    cassette_dir: str | None = None
    keep_prompts: bool = False
    api_concurrency: int = 4
    price_overrides: tuple[str, ...] = ()
    """``model=input,output`` in USD per 1M tokens, for models the price table does not know."""

    def __post_init__(self) -> None:
        if self.agreement not in AGREEMENTS:
            raise HarnessError(f"--harness-agreement={self.agreement}: expected one of {list(AGREEMENTS)}")
        if self.split not in METHODS:
            raise HarnessError(f"--harness-split={self.split}: expected one of {list(METHODS)}")
        if self.limit is not None and self.limit < 1:
            raise HarnessError(f"--harness-limit={self.limit}: expected a positive number of test examples")
        if self.shots_per_label < 1:
            raise HarnessError(f"--harness-shots={self.shots_per_label}: expected at least 1 few-shot example per "
                               "label; to run without examples, leave few_shot out of --harness-strategies")
        if self.batch_size < 1:
            raise HarnessError(f"--harness-batch-size={self.batch_size}: expected at least 1")
        if self.bootstrap < 100:
            raise HarnessError(f"--harness-bootstrap={self.bootstrap}: expected at least 100 resamples")
        if self.record_mode not in RECORD_MODES:
            raise HarnessError(f"--record-mode={self.record_mode}: expected one of {list(RECORD_MODES)}")
        if self.api_concurrency < 1:
            raise HarnessError(f"--harness-api-concurrency={self.api_concurrency}: expected at least 1")
        if not self.models:
            raise HarnessError("--harness-models is empty: name at least one model")
        for name in self.models:
            strategies_for(name)  # raises on an unknown name
        known = set(STRATEGIES) | {"supervised", "published_zero_shot"}
        for strategy in self.strategies or ():
            if strategy not in known:
                raise HarnessError(f"unknown strategy {strategy!r}: expected some of {sorted(known)}")


@dataclass(frozen=True)
class CaseResult:
    task: str
    model: str
    strategy: str
    index: int
    example_id: str
    gold: str
    pred: str | None
    reply: str
    latency_s: float | None
    latency_source: str
    batch_size: int
    input_tokens: int | None
    output_tokens: int | None
    error: str | None
    provenance: str
    cost_usd: float | None = None
    """At the price table's prices; None where there is no API price (local models, unknown models)."""
    cached_input_tokens: int | None = None
    kind: str = "local"
    served_model: str | None = None
    """What an API said answered (its ``model`` field), and its ``system_fingerprint``."""
    system_fingerprint: str | None = None
    fine_tuned: bool = False
    batch1_latency_s: float | None = None
    """Local models: seconds for one request alone, after a warm-up (the same for every case of a pair)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Benchmark:
    config: BenchmarkConfig
    source: DataSource = field(init=False)
    file: FpbFile = field(init=False)
    split: Split = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        self.source = resolve_source(cfg.data_dir)
        self.file = load_fpb(self.source.file_for(cfg.agreement))
        self.split = make_split(self.file.examples, seed=cfg.seed, method=cfg.split)
        if cfg.limit is not None and cfg.limit > len(self.split.test):
            raise HarnessError(
                f"--harness-limit={cfg.limit} but the test split has only {len(self.split.test)} examples; "
                f"use a limit of at most {len(self.split.test)}, or leave it out to run them all"
            )
        self.test = self.split.test[: cfg.limit] if cfg.limit else self.split.test
        self.shots = select_shots(self.split.train, per_label=cfg.shots_per_label, seed=cfg.seed)
        predictions = cfg.predictions_dir or os.environ.get("FPB_PREDICTIONS_DIR")
        if predictions is None and not self.source.is_sample:
            sibling = self.source.directory.parent / "fpb_llm_predictions_shah_chava_2023"
            predictions = str(sibling) if sibling.is_dir() else None
        self.context = ModelContext(
            train=self.split.train, test=self.split.test, seed=cfg.seed, split_method=cfg.split,
            agreement=cfg.agreement, is_sample=self.source.is_sample,
            predictions_dir=Path(predictions) if predictions else None, batch_size=cfg.batch_size,
            task=TASK, task_version=TASK_VERSION, template_version=TEMPLATE_VERSION, record_mode=cfg.record_mode,
            cassette_dir=Path(cfg.cassette_dir) if cfg.cassette_dir else CASSETTE_DIR,
            keep_prompts=cfg.keep_prompts, api_concurrency=cfg.api_concurrency,
        )
        self.prices: PriceTable = load_prices()
        for override in cfg.price_overrides:
            model, _, numbers = override.partition("=")
            parts = numbers.split(",")
            try:
                values = [float(x) for x in parts]
            except ValueError:
                values = []
            if not model or len(values) not in (2, 3):
                raise HarnessError(f"--harness-price={override}: expected MODEL=INPUT,OUTPUT[,CACHED_INPUT] in USD per 1M "
                                   "tokens, e.g. --harness-price=my-model=0.15,0.60")
            self.prices = self.prices.with_override(model, values[0], values[1],
                                                    cached_input=values[2] if len(values) == 3 else None)
        self.pairs: list[tuple[str, str]] = []
        self.unavailable: dict[str, str] = {}
        for name in cfg.models:
            reason = unavailable(name, self.context)
            if reason:
                self.unavailable[name] = reason
                continue
            for strategy in strategies_for(name):
                if cfg.strategies is not None and strategy not in cfg.strategies:
                    continue
                reason = unavailable(name, self.context, strategy)
                if reason:
                    self.unavailable[f"{name} · {strategy}"] = reason
                else:
                    self.pairs.append((name, strategy))
        if not self.pairs:
            why = "; ".join(f"{name}: {reason}" for name, reason in self.unavailable.items())
            raise HarnessError(
                f"nothing to run: no model × strategy pair of --harness-models={','.join(cfg.models)}"
                + (f" and --harness-strategies={','.join(cfg.strategies)}" if cfg.strategies is not None else "")
                + (f" can run here ({why})" if why else " matches (each model answers only its own strategies: "
                   + ", ".join(f"{m}: {'/'.join(strategies_for(m))}" for m in cfg.models) + ")")
                + "; pick other models or strategies"
            )
        self._models: dict[str, Model] = {}
        self._results: dict[tuple[str, str, int], CaseResult] = {}
        self._batch1: dict[tuple[str, str], float | None] = {}
        self.load_seconds: dict[str, float] = {}

    # -- running -----------------------------------------------------------------------------------------
    def model(self, name: str) -> Model:
        if name not in self._models:
            start = time.perf_counter()
            self._models[name] = build(name, self.context)
            self.load_seconds[name] = time.perf_counter() - start
        return self._models[name]

    def request(self, strategy: str, index: int) -> Request:
        example = self.test[index]
        if strategy in STRATEGIES:
            prompt = render(strategy, example.text, shots=self.shots if strategy == "few_shot" else ())
        else:  # trained floors and published replies get the bare sentence; nothing is prompted
            prompt = render("zero_shot", example.text)
        return Request(example=example, prompt=prompt, labels=LABELS)

    def case(self, name: str, strategy: str, index: int) -> CaseResult:
        key = (name, strategy, index)
        if key not in self._results:
            model = self.model(name)
            size = max(1, model.batch_size)
            first = (index // size) * size
            indices = range(first, min(first + size, len(self.test)))
            requests = [self.request(strategy, i) for i in indices]
            batch1 = self._warm_up(model, strategy)
            try:
                replies = model.predict(requests)
                if len(replies) != len(requests):
                    raise HarnessError(f"{name} returned {len(replies)} replies for {len(requests)} requests")
            except HarnessError:
                raise
            except Exception as exc:  # a model crash is recorded per case, not a lost run
                message = f"{type(exc).__name__}: {exc}"
                replies = [Reply(text="", latency_s=None, latency_source="none", error=message)] * len(requests)
            for i, request, reply in zip(indices, requests, replies):
                self._results[(name, strategy, i)] = replace(
                    self._result(model, strategy, i, request, reply), batch1_latency_s=batch1)
        return self._results[key]

    def _warm_up(self, model: Model, strategy: str) -> float | None:
        """Local models, once per pair: two requests untimed (generating 2 tokens at most), then the first
        request alone, timed. Returns that batch-1 latency in seconds (None for other kinds, or if it failed:
        the chunk then records the error)."""
        key = (model.name, strategy)
        if model.kind != "local":
            return None
        if key not in self._batch1:
            first = self.request(strategy, 0)
            warm = [replace(r, prompt=replace(r.prompt, max_new_tokens=min(2, r.prompt.max_new_tokens)))
                    for r in (first, self.request(strategy, min(1, len(self.test) - 1)))]
            try:
                model.predict(warm)
                start = time.perf_counter()
                model.predict([first])
                self._batch1[key] = time.perf_counter() - start
            except Exception:  # noqa: BLE001 - the chunk's own call records what went wrong
                self._batch1[key] = None
        return self._batch1[key]

    def _cost(self, model: Model, reply: Reply) -> float | None:
        if model.kind != "api" or reply.input_tokens is None or reply.output_tokens is None:
            return None
        price = self.prices.lookup(str(reply.extra.get("served_model") or model.name.split(":", 1)[1]))
        if price is None:
            price = self.prices.lookup(model.name.split(":", 1)[1])
        if price is None:
            return None
        cached = int(reply.extra.get("cached_input_tokens") or 0)
        return cost_usd(price, reply.input_tokens, reply.output_tokens, min(cached, reply.input_tokens))

    def _result(self, model: Model, strategy: str, index: int, request: Request, reply: Reply) -> CaseResult:
        text = _printable(reply.text or "")  # lone surrogates (an escaped "\ud800" in JSON) would break the report
        return CaseResult(
            task=TASK, model=model.name, strategy=strategy, index=index, example_id=request.example.id,
            gold=request.example.label, pred=None if reply.error else parse_label(text, LABELS),
            reply=text[:MAX_REPLY_CHARS], latency_s=reply.latency_s, latency_source=reply.latency_source,
            batch_size=reply.batch_size, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
            error=_printable(reply.error) if reply.error else None, provenance=model.provenance,
            cost_usd=self._cost(model, reply),
            cached_input_tokens=reply.extra.get("cached_input_tokens"), kind=model.kind,
            served_model=reply.extra.get("served_model"), system_fingerprint=reply.extra.get("system_fingerprint"),
            fine_tuned=bool(getattr(model, "fine_tuned", False)),
        )

    # -- describing --------------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        cfg, split = self.config, self.split
        return {
            "task": TASK,
            "task_version": TASK_VERSION,
            "template_version": TEMPLATE_VERSION,
            "data": {
                "source": self.source.kind,
                "directory": str(self.source.directory),
                "is_sample": self.source.is_sample,
                "notes": list(self.source.notes),
                "file": self.file.path.name,
                "file_sha256": self.file.sha256,
                "agreement": cfg.agreement,
                "examples": len(self.file.examples),
                "duplicate_lines": self.file.duplicate_lines,
                "conflicting_sentences_removed": len(self.file.conflicts),
            },
            "split": {
                "method": split.method,
                "seed": split.seed,
                "n_train": len(split.train),
                "n_test": len(split.test),
                "n_evaluated": len(self.test),
                "limit": cfg.limit,
                "test_fingerprint": split.test_fingerprint,
                "leaked_removed_from_train": split.leaked_removed_from_train,
                "repeats_removed_from_train": split.repeats_removed_from_train,
                "test_repeats_kept": split.test_repeats,
            },
            "few_shot_examples": [e.id for e in self.shots],
            "bootstrap_resamples": cfg.bootstrap,
            "models": list(cfg.models),
            "unavailable": dict(self.unavailable),
            "record_mode": cfg.record_mode,
            "prices": {"as_of": self.prices.as_of, "unit": "USD per 1M tokens"},
        }


def _printable(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates become U+FFFD), so every report file can be written."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
