"""Named endpoints: several OpenAI-compatible servers in one run.

A model reaches an endpoint by name: ``openai:MODEL@ENDPOINT`` (a prompted model served there) or
``adapter:NAME@ENDPOINT`` (a fine-tuned adapter served there under its folder's name, still checked against its
card). Endpoints are declared in the project's ``pyproject.toml``::

    [tool.finetune-or-prompt.endpoints.groq]
    base_url = "https://api.groq.com/openai/v1"
    key_env = "GROQ_API_KEY"          # the NAME of the variable holding the key, never the key
    input_per_mtok = 0.05             # optional: USD per 1M tokens (or usd_per_hour for a rented server)
    output_per_mtok = 0.08
    concurrency = 8                   # optional: calls in flight (default: --harness-api-concurrency)

    [tool.finetune-or-prompt.endpoints.local-vllm]
    start = "vllm"                    # the harness starts vLLM for the run (recording only; replay needs no server)
    base_model = "smollm2-135m"       # what it serves as the base, besides every adapter:NAME@local-vllm row
    usd_per_hour = 0.0

or on the command line: ``--harness-endpoint NAME=URL[,key_env=VAR][,concurrency=N][,usd_per_hour=X]
[,input_per_mtok=X,output_per_mtok=Y]`` (``NAME=vllm`` starts vLLM). A name without ``@`` uses ``OPENAI_BASE_URL``
and ``OPENAI_API_KEY``, as before. Each endpoint's calls go to their own cassettes (the model name, endpoint
included, names the cassette folder), so one run replays several endpoints side by side.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlparse

from harness import HarnessError

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

TABLE = "tool.finetune-or-prompt.endpoints"
STARTS = ("vllm",)
RESERVED = ("merged-bf16",)
"""Suffixes that are not endpoints (``adapter:NAME@merged-bf16`` is a GPU variant of a local adapter)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = {"base_url", "key_env", "concurrency", "usd_per_hour", "input_per_mtok", "output_per_mtok", "start",
         "base_model", "python", "args", "note"}
_EXAMPLE = "--harness-endpoint local=http://127.0.0.1:8000/v1,key_env=LOCAL_KEY"


@dataclass(frozen=True)
class EndpointPrice:
    """What an endpoint charges: per token (USD per 1M) or per hour of the server."""

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    usd_per_hour: float | None = None

    def per_call(self, input_tokens: int | None, output_tokens: int | None, latency_s: float | None,
                 concurrency: int) -> float | None:
        """One call's cost: tokens × price, or the server's hour price × the call's share of it (its client-side
        latency divided by the calls in flight); None when what it needs was not measured."""
        if self.usd_per_hour is not None:
            if latency_s is None:
                return None
            return self.usd_per_hour * latency_s / 3600 / max(1, concurrency)
        if input_tokens is None or output_tokens is None:
            return None
        return ((self.input_per_mtok or 0.0) * input_tokens + (self.output_per_mtok or 0.0) * output_tokens) / 1e6

    def describe(self) -> str:
        if self.usd_per_hour is not None:
            return f"${self.usd_per_hour:g}/h of the server × each call's latency ÷ calls in flight"
        return f"${self.input_per_mtok or 0:g} in / ${self.output_per_mtok or 0:g} out per 1M tokens"


@dataclass(frozen=True)
class Endpoint:
    """One named OpenAI-compatible endpoint."""

    name: str
    base_url: str | None
    """None for an endpoint the harness starts (its URL is known once it runs)."""
    key_env: str | None = None
    """The name of the environment variable that holds the key (None: no key, e.g. a server on loopback)."""
    concurrency: int | None = None
    price: EndpointPrice | None = None
    start: str | None = None
    """``vllm``: the harness starts vLLM for the run when it calls the endpoint."""
    base_model: str | None = None
    """What a started server serves as its base (default: the adapters' base)."""
    python: str | None = None
    """The interpreter with vLLM installed (default: ``HARNESS_VLLM_PYTHON``, else this one)."""
    args: tuple[str, ...] = ()
    """More arguments for the started server (``--tensor-parallel-size 4``)."""
    declared_in: str = ""

    def key(self) -> str | None:
        """The key from the named variable (None when the endpoint takes none)."""
        return os.environ.get(self.key_env) if self.key_env else None

    def check_key(self, why: str) -> None:
        """A clear error when the endpoint's key variable is named but unset (before any call)."""
        if self.key_env and not os.environ.get(self.key_env):
            raise refusal(f"endpoint {self.name!r} ({self.declared_in})", f"its key in ${self.key_env}, since {why}",
                          f"${self.key_env} not set", f"export {self.key_env}=..., or replay with --record-mode=none")

    @property
    def shown_url(self) -> str:
        return self.base_url or f"started by the harness ({self.start})"


@dataclass(frozen=True)
class Endpoints:
    """The run's endpoints by name."""

    by_name: Mapping[str, Endpoint] = field(default_factory=dict)

    def get(self, name: str, model: str) -> Endpoint:
        if name not in self.by_name:
            known = sorted(self.by_name)
            raise refusal(f"{model}: unknown endpoint {name!r}", f"one of the declared endpoints: {known or 'none'}",
                          repr(name), f"declare it under [{TABLE}.{name}] in pyproject.toml (base_url, key_env) or "
                          f"with {_EXAMPLE.replace('local', name)}")
        return self.by_name[name]

    def __bool__(self) -> bool:
        return bool(self.by_name)


def refusal(where: str, expected: str, got: str, fix: str) -> HarnessError:
    return HarnessError(f"{where}: expected {expected}, got {got}; fix: {fix}")


def split(spec: str) -> tuple[str, str | None]:
    """``gpt-4o@groq`` -> (``gpt-4o``, ``groq``); a spec without ``@`` (or with a reserved suffix) -> (spec, None)."""
    head, at, tail = spec.rpartition("@")
    if not at or not head or tail in RESERVED:
        return spec, None
    return head, tail


def load(root: Path | None, command_line: Iterable[str] = ()) -> Endpoints:
    """The endpoints of ``<root>/pyproject.toml`` and of ``--harness-endpoint`` (a name given twice is refused)."""
    found: dict[str, Endpoint] = {}
    pyproject = Path(root or ".") / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise refusal(str(pyproject), "valid TOML", str(exc), "correct the file") from None
        table: Any = data.get("tool", {}).get("finetune-or-prompt", {}).get("endpoints", {})
        if not isinstance(table, dict):
            raise refusal(f"{pyproject} [{TABLE}]", "a table of endpoints", type(table).__name__,
                          f"write [{TABLE}.NAME] tables")
        for name, entry in table.items():
            found[name] = _from_table(name, entry, f"{pyproject} [{TABLE}.{name}]")
    for option in command_line:
        endpoint = _from_option(option)
        if endpoint.name in found:
            raise refusal(f"--harness-endpoint {option}", "a new endpoint name",
                          f"{endpoint.name!r}, already declared in {found[endpoint.name].declared_in}",
                          "use another name, or change it there")
        found[endpoint.name] = endpoint
    return Endpoints(found)


def _from_option(option: str) -> Endpoint:
    name, eq, rest = option.partition("=")
    if not eq or not rest:
        raise refusal(f"--harness-endpoint {option!r}", "NAME=URL[,key_env=VAR,...]", repr(option), f"e.g. {_EXAMPLE}")
    url, *pairs = rest.split(",")
    entry: dict[str, Any] = {"start": url} if url in STARTS else {"base_url": url}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise refusal(f"--harness-endpoint {option!r}", "KEY=VALUE after the URL", repr(pair), f"e.g. {_EXAMPLE}")
        entry[key.strip()] = value.strip()
    return _from_table(name.strip(), entry, f"--harness-endpoint {option}")


def _from_table(name: str, entry: Any, where: str) -> Endpoint:
    if not _NAME.match(name) or name in RESERVED:
        raise refusal(where, f"an endpoint name of letters, digits, '.', '_' or '-' (at most 64), not {list(RESERVED)}",
                      f"endpoint name {name!r}", "rename it")
    if not isinstance(entry, dict):
        raise refusal(where, "a table (base_url = ..., key_env = ...)", repr(entry), "write it as a TOML table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise refusal(where, f"some of {sorted(_KEYS)}", f"unknown keys {unknown}", "remove or rename them")
    start = entry.get("start")
    if start is not None and start not in STARTS:
        raise refusal(where, f"start = one of {list(STARTS)}", f"start = {start!r}",
                      "use base_url for a server you run yourself")
    url = entry.get("base_url")
    if (url is None) == (start is None):
        raise refusal(where, "exactly one of base_url (a server you run) or start = \"vllm\" (the harness starts it)",
                      "both" if url is not None else "neither", "keep one of them")
    if url is not None:
        parsed = urlparse(str(url))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise refusal(where, "an http(s) URL with a host", f"base_url {url!r}, not an http(s) URL with a host",
                          "write e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1")
        try:
            parsed.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise refusal(where, "a port from 1 to 65535", f"base_url {url!r} with a bad port",
                          "write e.g. http://127.0.0.1:8000/v1") from None
    key_env = entry.get("key_env")
    if key_env is not None and not (isinstance(key_env, str) and _KEY_ENV.match(key_env)):
        raise refusal(where, "key_env = the NAME of an environment variable (e.g. GROQ_API_KEY), never the key itself",
                      f"key_env = {key_env[:4] + '...' if isinstance(key_env, str) else key_env!r}",
                      "export the key as a variable and name that variable")
    numbers = {k: _number(entry[k], f"{where}: {k}") for k in ("usd_per_hour", "input_per_mtok", "output_per_mtok")
               if k in entry}
    if "usd_per_hour" in numbers and len(numbers) > 1:
        raise refusal(where, "usd_per_hour or input_per_mtok/output_per_mtok, not both", "both", "keep one way to price")
    if len(numbers) == 1 and "usd_per_hour" not in numbers:
        raise refusal(where, "both input_per_mtok and output_per_mtok (USD per 1M tokens)", f"only {next(iter(numbers))}",
                      "add the other")
    concurrency = entry.get("concurrency")
    if concurrency is not None:
        try:
            concurrency = int(concurrency)
        except (TypeError, ValueError):
            concurrency = 0
        if concurrency < 1:
            raise refusal(where, "concurrency = a whole number of at least 1", f"{entry['concurrency']!r}", "change it")
    args = entry.get("args", ())
    if isinstance(args, str):
        args = tuple(args.split())
    return Endpoint(name=name, base_url=str(url).rstrip("/") if url else None, key_env=key_env,
                    concurrency=concurrency, price=EndpointPrice(**numbers) if numbers else None, start=start,
                    base_model=entry.get("base_model"), python=entry.get("python"), args=tuple(map(str, args)),
                    declared_in=where)


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number >= 0:
        raise refusal(what, "a number of USD, 0 or more", repr(value), "change it")
    return number


def with_url(endpoint: Endpoint, url: str) -> Endpoint:
    """A started endpoint, once its server answers."""
    return replace(endpoint, base_url=url.rstrip("/"))
