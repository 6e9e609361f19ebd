"""The ``--harness-*`` options: added in groups (pytest-benchmark's ``add_*_options``), and read once into
the run's configuration (one :class:`~harness.benchmark.BenchmarkConfig` per task, one
:class:`~harness.session.SessionOptions`), kept in ``config.stash``.

Only :mod:`harness.plugin` uses this module. A bad value is a :class:`pytest.UsageError` that says what was
expected, raised before any case runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from harness import HarnessError, tracking
from harness.benchmark import Benchmark, BenchmarkConfig
from harness.cassettes import RECORD_MODES
from harness.models.precision import PRECISION_CHOICES
from harness.splits import DEFAULT_SEED, METHODS
from harness.tasks import DEFAULT_TASK
from harness.tasks.fpb.data import AGREEMENTS, FPB_ENV

if TYPE_CHECKING:
    from harness.session import SessionOptions

benchmark_key = pytest.StashKey[dict[str, Benchmark]]()
session_options_key = pytest.StashKey["SessionOptions"]()

AddOption = Callable[..., None]


def csv(value: str) -> tuple[str, ...]:
    """``argparse`` type of a comma-separated list (empty parts dropped)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def recording_plugin_active(pluginmanager: pytest.PytestPluginManager) -> bool:
    """pytest-recording (the usual vcrpy plugin) defines ``--record-mode`` too, with the same modes plus
    ``rewrite``; when it is installed (and not disabled with ``-p no:recording``) the harness reads that
    option instead of adding its own, so both plugins work in one session."""
    return importlib.util.find_spec("pytest_recording") is not None and not pluginmanager.is_blocked("recording")


def add_data_options(add: AddOption) -> None:
    """Which data, and how it is split."""
    add("--harness-data", metavar="DIR", default=None,
        help=f"FPB tasks: folder with the Financial PhraseBank Sentences_*.txt files. Default: ${FPB_ENV}, then the "
             "Hugging Face hub, then this repository's small synthetic sample (flagged in every report).")
    add("--harness-predictions", metavar="DIR", default=None,
        help="FPB tasks: folder with the published GPT-4 / gpt-3.5-turbo replies (Shah & Chava 2023). Default: "
             "$FPB_PREDICTIONS_DIR, then fpb_llm_predictions_shah_chava_2023 beside the FPB folder.")
    add("--harness-agreement", default="allagree", choices=sorted(AGREEMENTS),
        help="FPB tasks: agreement level to split. Default: %(default)s.")
    add("--harness-split", default="published", choices=METHODS,
        help="FPB tasks: published = train_test_split(test_size=0.2, random_state=seed) in file order; "
             "stratified = the same, stratified by label. Default: %(default)s.")
    add("--harness-seed", type=int, default=DEFAULT_SEED,
        help="Split seed (FPB's published seeds: 5768, 78516, 944601; a declared task's own seed= wins). "
             "Default: %(default)s.")


def add_run_options(add: AddOption) -> None:
    """What runs, on what, in which batches."""
    add("--harness-models", type=csv, default=None, metavar="A,B",
        help="Comma-separated model names. Default: the task's default models.")
    add("--harness-strategies", type=csv, default=None, metavar="A,B",
        help="Only these strategies (zero_shot, few_shot, cot, supervised, published_zero_shot). Default: all.")
    add("--harness-limit", type=int, default=None, metavar="N", help="Evaluate only the first N test examples.")
    add("--harness-shots", type=int, default=2, metavar="K", help="few_shot examples per label. Default: %(default)s.")
    add("--harness-device", default="auto", choices=("auto", "cpu", "cuda"),
        help="Where local models run: auto = the GPU when CUDA is visible (bfloat16), else the CPU (float32). "
             "Default: %(default)s.")
    add("--harness-precision", default="auto", choices=PRECISION_CHOICES,
        help="Weights of local models: auto = bfloat16 on a GPU, float32 on the CPU; bfloat16 on a CPU with bf16 "
             "matrix units (AMX-BF16, AVX512-BF16) is 3.6x faster but moves some predictions (README). "
             "Default: %(default)s.")
    add("--harness-batch-size", type=int, default=16, metavar="N",
        help="Batch size of local models. Default: %(default)s.")
    add("--harness-batch-tokens", type=int, default=None, metavar="N",
        help="Local models: as many rows per forward pass as fit in N padded tokens (e.g. 16384 on a GPU), instead "
             "of --harness-batch-size rows. Default: rows.")
    add("--harness-bootstrap", type=int, default=1000, metavar="N",
        help="Bootstrap resamples for the 95%% CIs. Default: %(default)s.")


def add_input_options(add: AddOption, *, record_mode: bool = True) -> None:
    """What the models read: API cassettes (record or replay), adapters, prices, task settings.
    ``record_mode=False`` leaves ``--record-mode`` to pytest-recording."""
    if record_mode:
        add("--record-mode", default="none", choices=RECORD_MODES,
            help="API calls: none = replay cassettes only, never the network (default); once = record pairs that "
                 "have no cassette; new_episodes = replay what is recorded, record the rest; all = re-record.")
    add("--harness-cassette-dir", metavar="DIR", default=None,
        help="Cassette folder (relative to the rootdir). Default: cassettes/.")
    add("--harness-adapters-dir", metavar="DIR", default=None,
        help="Where adapter:<name> is found (relative to the rootdir). Default: adapters/.")
    add("--harness-cassette-prompts", action="store_true", default=False,
        help="Store prompt text in new cassettes (default: only a sha256 digest of each request body).")
    add("--harness-api-concurrency", type=int, default=4, metavar="N",
        help="Concurrent API calls per pair. Default: %(default)s.")
    add("--harness-price", action="append", default=[], metavar="MODEL=IN,OUT",
        help="A user-given price in USD per 1M tokens for a model missing from harness/prices.toml (repeatable).")
    add("--harness-endpoint", action="append", default=[], metavar="NAME=URL[,key_env=VAR,...]",
        help="A named OpenAI-compatible endpoint for openai:MODEL@NAME and adapter:ADAPTER@NAME rows, besides those of "
             "[tool.finetune-or-prompt.endpoints] in pyproject.toml; NAME=vllm starts vLLM for the run (repeatable).")
    add("--harness-task-option", action="append", default=[], metavar="TASK.KEY=VALUE",
        help="A setting of one task, e.g. tatqa.subset=all (every test_gold question) or tatqa.subset=40 "
             "(repeatable; each task documents its keys).")


def add_report_options(add: AddOption) -> None:
    """The decision report: where it goes, costs, run history (harness.economics, harness.history)."""
    add("--harness-report-dir", metavar="DIR", default=None,
        help="Where reports are written. Default: reports/ under the rootdir.")
    add("--harness-dollars-per-hour", type=float, default=None, metavar="USD",
        help="Price local models' measured time at this USD per hour. Default, from harness/prices.toml "
             "[machines]: on the CPU the cpu machine marked default; on a GPU the gpu machine whose gpu_match "
             "names it (e.g. H100), else the gpu machine marked default.")
    add("--harness-machine", default=None, metavar="NAME",
        help="Price local time at this [machines] entry of harness/prices.toml (e.g. aws-g5.xlarge).")
    add("--harness-monthly-volume", type=int, default=100_000, metavar="N",
        help="Requests per month for the fine-tuning payback period. Default: %(default)s.")
    add("--harness-save", default=None, metavar="NAME",
        help="Name of this run in reports/runs/NNNN_NAME.json (every run is saved). "
             "Default: <commit>_<date>_<time>[_uncommitted-changes].")
    add("--harness-compare", nargs="?", const="", default=None, metavar="N",
        help="Compare with saved run N (a number or part of its name); without a value: the previous run.")


def add_gate_options(add: AddOption) -> None:
    """The CI gate (harness.gate)."""
    add("--harness-gate", nargs="?", const="", default=None, metavar="PATH",
        help="Fail the run when a row is worse than its baseline beyond --harness-gate-margin with statistical "
             "support, or its parse failures / API cost exceed the limits. Default PATH: baselines/<task>.json.")
    add("--harness-gate-margin", type=float, default=0.02, metavar="F1",
        help="Non-inferiority margin in weighted F1. Default: %(default)s.")
    add("--harness-gate-parse-slack", type=float, default=0.02, metavar="RATE",
        help="Allowed rise of the parse-failure rate over the baseline (absolute). Default: %(default)s.")
    add("--harness-gate-cost-slack", type=float, default=0.10, metavar="FRACTION",
        help="Allowed rise of billed/estimated API cost per 1k over the baseline (relative). Default: %(default)s.")


def add_tracking_options(add: AddOption) -> None:
    """MLflow logging (harness.tracking)."""
    add("--harness-mlflow", type=tracking.mode, default=tracking.default_mode(), metavar="{auto,off,on}",
        help=f"Log the run to MLflow ($MLFLOW_TRACKING_URI, else sqlite in the report dir): auto = when mlflow is "
             f"installed; on = required ({tracking.INSTALL}). Default: ${tracking.MODE_ENV}, else auto.")


def add_options(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Every harness option, in one ``harness`` group of ``pytest --help``."""
    add = parser.getgroup("harness", "fine-tune or prompt: benchmark harness").addoption
    add_data_options(add)
    add_run_options(add)
    # pytest-recording owns --record-mode when installed: one option for both
    add_input_options(add, record_mode=not recording_plugin_active(pluginmanager))
    add_report_options(add)
    add_gate_options(add)
    add_tracking_options(add)


def record_mode(config: pytest.Config) -> str:
    """The run's ``--record-mode`` (the harness's or pytest-recording's; both default to replay only)."""
    mode = config.getoption("record_mode", None) or "none"
    if mode == "rewrite":
        raise pytest.UsageError("--record-mode=rewrite is pytest-recording's mode; the harness re-records its API "
                                "cassettes with --record-mode=all")
    return mode


def benchmark_config(config: pytest.Config, task: str = DEFAULT_TASK) -> BenchmarkConfig:
    """The options that shape one task's benchmark, as its :class:`BenchmarkConfig`."""
    opt = config.getoption
    fpb = [f"fpb.agreement={opt('harness_agreement')}", f"fpb.split={opt('harness_split')}"] + (
        [f"fpb.predictions={opt('harness_predictions')}"] if opt("harness_predictions") else [])
    kwargs: dict[str, Any] = dict(
        root=str(config.rootpath), data_dir=opt("harness_data"), seed=opt("harness_seed"),
        strategies=opt("harness_strategies"), limit=opt("harness_limit"), shots_per_label=opt("harness_shots"),
        batch_size=opt("harness_batch_size"), batch_tokens=opt("harness_batch_tokens"), bootstrap=opt("harness_bootstrap"),
        record_mode=record_mode(config), cassette_dir=opt("harness_cassette_dir"),
        adapters_dir=opt("harness_adapters_dir"), device=opt("harness_device"),
        precision=opt("harness_precision"),
        keep_prompts=opt("harness_cassette_prompts"), api_concurrency=opt("harness_api_concurrency"),
        price_overrides=tuple(opt("harness_price")), endpoints=tuple(opt("harness_endpoint")), task=task,
        task_options=tuple(fpb) + tuple(opt("harness_task_option")),
    )
    if opt("harness_models") is not None:  # an empty list is an error, never the defaults
        kwargs["models"] = opt("harness_models")
    return BenchmarkConfig(**kwargs)


def session_options(config: pytest.Config) -> SessionOptions:
    """The end-of-session options (report dir, prices, volume, gate), validated once, before any case runs."""
    if session_options_key not in config.stash:
        from harness import session as session_mod

        opt = config.getoption
        root = config.rootpath
        gate_path = None
        if opt("harness_gate") is not None:
            gate_path = Path(opt("harness_gate")) if opt("harness_gate") else None
            gate_path = gate_path if gate_path is None or gate_path.is_absolute() else root / gate_path
        report_dir = Path(opt("harness_report_dir")) if opt("harness_report_dir") else root / "reports"
        try:
            from harness import gate

            if opt("harness_gate") is not None:  # a bad limit or baseline stops the run now, not after every case
                gate.validate_limits(opt("harness_gate_margin"), opt("harness_gate_parse_slack"),
                                     opt("harness_gate_cost_slack"))
                if gate_path is not None:
                    gate.load_baseline(gate_path)
            config.stash[session_options_key] = session_mod.SessionOptions(
                root=root, report_dir=report_dir if report_dir.is_absolute() else root / report_dir,
                dollars_per_hour=opt("harness_dollars_per_hour"), machine=opt("harness_machine"),
                monthly_volume=opt("harness_monthly_volume"), save=opt("harness_save"), compare=opt("harness_compare"),
                gate=gate_path, gate_default=opt("harness_gate") == "", gate_margin=opt("harness_gate_margin"),
                gate_parse_slack=opt("harness_gate_parse_slack"), gate_cost_slack=opt("harness_gate_cost_slack"),
                mlflow=opt("harness_mlflow"))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.stash[session_options_key]


def get_benchmark(config: pytest.Config, task: str = DEFAULT_TASK) -> Benchmark:
    """The run's benchmark of ``task``, built on first use (a plain ``pytest tests`` never loads FPB).
    The session's options are validated first, so a bad price or volume stops the run before any case."""
    benchmarks = config.stash.setdefault(benchmark_key, {})
    if task not in benchmarks:
        session_options(config)
        try:
            benchmarks[task] = Benchmark(benchmark_config(config, task))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    return benchmarks[task]
