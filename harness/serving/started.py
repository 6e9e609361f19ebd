"""Endpoints the harness starts itself (``start = "vllm"``): one server per endpoint and run, started when the
first row that calls it is built (recording or live, never replaying), serving the base and every
``adapter:NAME@ENDPOINT`` row of the run as a LoRA module, stopped when the run ends (even on Ctrl-C)."""

from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import endpoints
from harness.endpoints import Endpoint, refusal

if TYPE_CHECKING:
    from harness.models import ModelContext

_running: dict[str, tuple[Endpoint, Any]] = {}
_lock = threading.Lock()


def base_of(endpoint: Endpoint, adapters: dict[str, Path]) -> str:
    """What the server serves as its base: the endpoint's ``base_model``, else the adapters' one base."""
    from harness.models.card import CARD, AdapterCard

    bases = {AdapterCard.read(folder / CARD).base_model for folder in adapters.values()}
    where = f"endpoint {endpoint.name!r} ({endpoint.declared_in})"
    if endpoint.base_model:
        wrong = sorted(bases - {endpoint.base_model})
        if wrong:
            raise refusal(where, f"adapters trained on its base_model {endpoint.base_model!r}",
                          f"adapters trained on {wrong}", "serve them from an endpoint of their own base")
        return endpoint.base_model
    if len(bases) != 1:
        raise refusal(where, "one base to serve: its base_model, or the one base of its adapter rows",
                      "no adapter row and no base_model" if not bases else f"adapters trained on {sorted(bases)}",
                      "add base_model = \"smollm2-135m\" (say)" if not bases else "give each base its own endpoint")
    return bases.pop()


def ensure_started(endpoint: Endpoint, ctx: ModelContext) -> Endpoint:
    """The endpoint with the URL of its running server, started on first use."""
    with _lock:
        if endpoint.name not in _running:
            from harness.models.weights import resolve_weights
            from harness.serving import vllm

            adapters = dict(ctx.served_adapters.get(endpoint.name, {}))
            base = base_of(endpoint, adapters)
            weights, _ = resolve_weights(base)
            spec = vllm.VLLMSpec(base=Path(weights), adapters=adapters, served_base=base,
                                 extra_args=endpoint.args, **({"python": endpoint.python} if endpoint.python else {}))
            log = Path(ctx.cassette_dir or "cassettes").parent / "reports" / "logs" / f"vllm-{endpoint.name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            server = vllm.start(spec, log_path=log)
            _running[endpoint.name] = (endpoints.with_url(endpoint, server.url), server)
        return _running[endpoint.name][0]


def stop_all() -> None:
    """Stop every server this process started (the plugin calls it at session end; atexit too)."""
    with _lock:
        for _, server in _running.values():
            server.stop()
        _running.clear()


atexit.register(stop_all)
