"""One benchmark run of one task: its data, prompts and models, computed case by case (no pytest here).

The task (:mod:`harness.tasks`: FPB sentiment by default, or a team's own declared task) loads the data and
renders and parses; this module knows no data set: models, batching, warm-up and latency, cost, cassettes
keyed by task name, every path resolved from the project root.

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

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import HarnessError, endpoints
from harness.cassettes import RECORD_MODES
from harness.economics import api_model
from harness.models import Model, ModelContext, Reply, Request, build, strategies_for, unavailable
from harness.models.adapter import adapter_dir
from harness.models.registry import is_fine_tuned, resolve
from harness.prompts import DEFAULT_SHOTS_PER_LABEL, STRATEGIES
from harness.pricing import PriceTable, cost_usd, load_prices
from harness.results import CaseResult
from harness.splits import DEFAULT_SEED
from harness.tasks import DEFAULT_TASK, Task, TaskData, get_task

MAX_REPLY_CHARS = 4000


@dataclass(frozen=True)
class BenchmarkConfig:
    root: str | None = None
    """The project root: cassettes/, adapters/ and relative data paths are found from here (pytest's rootdir;
    default: the current directory)."""
    data_dir: str | None = None
    """A built-in task's data folder (FPB's ``--harness-data``); a declared task names its own files."""
    seed: int = DEFAULT_SEED
    models: tuple[str, ...] | None = None
    """None: the task's default models."""
    strategies: tuple[str, ...] | None = None
    limit: int | None = None
    shots_per_label: int = DEFAULT_SHOTS_PER_LABEL
    batch_size: int = 16
    batch_tokens: int | None = None
    """Local models: rows per forward pass by a budget of padded tokens instead of ``batch_size`` (GPU)."""
    bootstrap: int = 1000
    record_mode: str = "none"
    cassette_dir: str | None = None
    """Default: ``<root>/cassettes``."""
    adapters_dir: str | None = None
    """Where ``adapter:<name>`` is found; default: ``<root>/adapters``."""
    device: str = "auto"
    """Local models: ``auto`` (the GPU when CUDA is visible), ``cpu`` or ``cuda``."""
    precision: str = "auto"
    """Local models' weights: ``auto``, ``float32`` or ``bfloat16`` (:mod:`harness.models.precision`)."""
    keep_prompts: bool = False
    api_concurrency: int = 4
    price_overrides: tuple[str, ...] = ()
    """``model=input,output`` in USD per 1M tokens, for models the price table does not know."""
    endpoints: tuple[str, ...] = ()
    """``--harness-endpoint NAME=URL[,key_env=VAR,...]``, besides those of pyproject.toml (:mod:`harness.endpoints`)."""
    task: str = DEFAULT_TASK
    task_options: tuple[str, ...] = ()
    """``task.key=value`` settings a task reads (e.g. ``tatqa.subset=all``, ``fpb.agreement=50agree``)."""

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise HarnessError(f"--harness-seed={self.seed!r}: expected a whole number from 0 to {2**32 - 1}")
        if self.limit is not None and self.limit < 1:
            raise HarnessError(f"--harness-limit={self.limit}: expected a positive number of test examples")
        if self.shots_per_label < 1:
            raise HarnessError(f"--harness-shots={self.shots_per_label}: expected at least 1 few-shot example per "
                               "label; to run without examples, leave few_shot out of --harness-strategies")
        if self.batch_size < 1:
            raise HarnessError(f"--harness-batch-size={self.batch_size}: expected at least 1")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise HarnessError(f"--harness-batch-tokens={self.batch_tokens}: expected a positive number of tokens "
                               "per forward pass (e.g. 16384 on a GPU), or leave it out for --harness-batch-size rows")
        if self.bootstrap < 100:
            raise HarnessError(f"--harness-bootstrap={self.bootstrap}: expected at least 100 resamples")
        if self.record_mode not in RECORD_MODES:
            raise HarnessError(f"--record-mode={self.record_mode}: expected one of {list(RECORD_MODES)}")
        if self.api_concurrency < 1:
            raise HarnessError(f"--harness-api-concurrency={self.api_concurrency}: expected at least 1")
        if self.models is not None and not self.models:
            raise HarnessError("--harness-models is empty: name at least one model")
        for option, values in (("--harness-models", self.models), ("--harness-strategies", self.strategies)):
            repeated = sorted({v for v in values or () if list(values).count(v) > 1})
            if repeated:
                raise HarnessError(f"{option} names {repeated[0]!r} twice: each is run once and counted once; "
                                   "drop the repeat")
        for name in self.models or ():
            strategies_for(name)  # raises on an unknown name
        for option in self.task_options:
            if "." not in option.partition("=")[0] or "=" not in option:
                raise HarnessError(f"--harness-task-option={option}: expected TASK.KEY=VALUE, e.g. tatqa.subset=all")
        known = set(STRATEGIES) | {"supervised", "published_zero_shot"}
        for strategy in self.strategies or ():
            if strategy not in known:
                raise HarnessError(f"unknown strategy {strategy!r}: expected some of {sorted(known)}")

    def options_for(self, task: str) -> dict[str, str]:
        """The ``--harness-task-option`` values addressed to ``task`` (``task.key=value``), as key -> value:
        what a task reads in its ``load`` (:class:`harness.tasks.RunConfig`)."""
        out = {}
        for option in self.task_options:
            key, _, value = option.partition("=")
            owner, _, name = key.partition(".")
            if owner == task:
                out[name] = value
        return out


@dataclass
class Benchmark:
    config: BenchmarkConfig
    task: Task = field(init=False)
    data: TaskData = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        from harness.models.local_lm import resolve_device
        from harness.models.precision import resolve_precision

        self.device = resolve_device(cfg.device)  # --harness-device=cuda without a GPU stops here, before any data
        self.precision = resolve_precision(cfg.precision, self.device)
        self.task = get_task(cfg.task)
        self.data = self.task.load(cfg)
        self.test = self.data.test
        self.shots = self.data.shots
        for name, value in self.data.extra.items():  # e.g. FPB's source, file and split, for callers that read them
            if name in ("source", "file", "split"):
                setattr(self, name, value)
        context = dict(self.data.context)
        root = Path(cfg.root) if cfg.root else Path.cwd()
        self.context = ModelContext(
            train=tuple(self.data.train), test=tuple(context.pop("full_test", self.test)), seed=cfg.seed,
            task=self.task.name, task_version=self.task.version, marker=self.task.marker,
            template_version=self.task.template_version, record_mode=cfg.record_mode,
            cassette_dir=_under(root, cfg.cassette_dir, "cassettes"),
            adapters_dir=_under(root, cfg.adapters_dir, "adapters"), device=self.device, precision=self.precision,
            keep_prompts=cfg.keep_prompts, api_concurrency=cfg.api_concurrency,
            batch_size=int(context.pop("batch_size", cfg.batch_size)),  # a task may lower it (long prompts)
            batch_tokens=cfg.batch_tokens,
            adapter_task=str(context.pop("adapter_task", "")),
            adapter_task_version=int(context.pop("adapter_task_version", 0)),
            task_context=context,
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
        self.models = tuple(cfg.models if cfg.models is not None else self.task.default_models)
        self.endpoints = endpoints.load(root, cfg.endpoints)
        served: dict[str, dict[str, Path]] = {}
        for name in self.models:  # an unknown endpoint stops the run here, before any case
            kind, spec = resolve(name)
            bare, named = endpoints.split(spec)
            if kind.api and named:
                self.endpoints.get(named, name)
                if kind.fine_tuned:
                    folder = adapter_dir(bare, self.context.adapters_dir)
                    served.setdefault(named, {})[folder.name] = folder
        self.context = replace(self.context, endpoints=self.endpoints, served_adapters=served)
        self.pairs: list[tuple[str, str]] = []
        self.unavailable: dict[str, str] = {}
        for name in self.models:
            reason = self.task.model_problem(self.data, name, None) or unavailable(name, self.context)
            if reason:
                self.unavailable[name] = reason
                continue
            for strategy in strategies_for(name):
                if cfg.strategies is not None and strategy not in cfg.strategies:
                    continue
                reason = self.task.model_problem(self.data, name, strategy) or unavailable(name, self.context, strategy)
                if reason:
                    self.unavailable[f"{name} · {strategy}"] = reason
                else:
                    self.pairs.append((name, strategy))
        if not self.pairs:
            why = "; ".join(f"{name}: {reason}" for name, reason in self.unavailable.items())
            raise HarnessError(
                f"nothing to run for {self.task.name}: no model × "
                f"strategy pair of --harness-models={','.join(self.models)}"
                + (f" and --harness-strategies={','.join(cfg.strategies)}" if cfg.strategies is not None else "")
                + (f" can run here ({why})" if why else " matches (each model answers only its own strategies: "
                   + ", ".join(f"{m}: {'/'.join(strategies_for(m))}" for m in self.models) + ")")
                + "; pick other models or strategies"
            )
        self._models: dict[str, Model] = {}
        self._broken: dict[str, str] = {}
        self._results: dict[tuple[str, str, int], CaseResult] = {}
        self._batch1: dict[tuple[str, str], float | None] = {}
        self.load_seconds: dict[str, float] = {}

    # -- running -----------------------------------------------------------------------------------------
    def model(self, name: str) -> Model:
        """The model, built once; a model that failed to build fails every later case at once, with the
        same error, and is never rebuilt (a broken adapter is one clear error, loaded once)."""
        if name in self._broken:
            raise HarnessError(self._broken[name])
        if name not in self._models:
            start = time.perf_counter()
            try:
                self._models[name] = build(name, self.context)
            except HarnessError as exc:
                self._broken[name] = str(exc)
                raise
            except Exception as exc:  # a truncated weights file, a wrong shape: name the model, never a traceback
                self._broken[name] = f"{name} could not be loaded ({type(exc).__name__}: {exc})"
                raise HarnessError(self._broken[name]) from None
            self.load_seconds[name] = time.perf_counter() - start
        return self._models[name]

    def request(self, strategy: str, index: int) -> Request:
        return self.task.request(self.data, strategy, index)

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
        if model.kind != "api":
            return None
        if "cost_usd" in reply.extra:  # a named endpoint's own price (None: it declares none)
            return reply.extra["cost_usd"]
        if reply.input_tokens is None or reply.output_tokens is None:
            return None
        priced_as = api_model(model.name) or model.name  # openai:gpt-4o -> gpt-4o
        price = self.prices.lookup(str(reply.extra.get("served_model") or priced_as))
        if price is None:
            price = self.prices.lookup(priced_as)
        if price is None:
            return None
        cached = int(reply.extra.get("cached_input_tokens") or 0)
        return cost_usd(price, reply.input_tokens, reply.output_tokens, min(cached, reply.input_tokens))

    def _result(self, model: Model, strategy: str, index: int, request: Request, reply: Reply) -> CaseResult:
        text = _printable(reply.text or "")  # lone surrogates (an escaped "\ud800" in JSON) would break the report
        return CaseResult(
            task=self.task.name, model=model.name, strategy=strategy, index=index, example_id=request.example.id,
            gold=request.example.label, pred=None if reply.error else self.task.parse(self.data, index, text),
            reply=text[:MAX_REPLY_CHARS], latency_s=reply.latency_s, latency_source=reply.latency_source,
            batch_size=reply.batch_size, input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
            error=_printable(reply.error) if reply.error else None, provenance=model.provenance,
            cost_usd=self._cost(model, reply),
            cached_input_tokens=reply.extra.get("cached_input_tokens"), kind=model.kind,
            served_model=reply.extra.get("served_model"), system_fingerprint=reply.extra.get("system_fingerprint"),
            fine_tuned=is_fine_tuned(model.name),
        )

    # -- describing --------------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "task": self.task.name,
            "task_version": self.task.version,
            "template_version": self.task.template_version,
            **self.data.meta,
            "bootstrap_resamples": cfg.bootstrap,
            "models": list(self.models),
            "unavailable": dict(self.unavailable),
            "record_mode": cfg.record_mode,
            "adapters_dir": str(self.context.adapters_dir),
            "device": self.device,
            "prices": {"as_of": self.prices.as_of, "unit": "USD per 1M tokens"},
        }


def _under(root: Path, option: str | None, default: str) -> Path:
    path = Path(option).expanduser() if option else Path(default)
    return path if path.is_absolute() else root / path


def _printable(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates become U+FFFD), so every report file can be written."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
