"""What each row costs, whether fine-tuning pays off, and which rows are worth their price.

Plain functions over typed cases (:class:`~harness.results.CaseResult`) and report rows
(:class:`~harness.report.rows.Row`), no pytest, no model imports:

* :func:`row_cost`: $ per call, per 1k requests and in total. API calls are billed tokens at the price
  table's prices; local models are measured time × an hourly machine price (``harness/prices.toml``
  ``[machines]``, or ``--harness-dollars-per-hour``); replayed published replies have no recorded
  tokens, so their cost is *estimated* from the tokens another row of the run measured on a zero-shot
  prompt, and says so; where nothing can be measured or priced, the cost is ``None`` with the reason.
* :func:`training_cost`: the adapter card's machine hours at its own $/h, or at the price table's.
* :func:`versus`: a fine-tuned row against another: latency and cost ratios, the request volume at
  which training pays for itself, the payback period at a monthly volume, and a sensitivity grid.
* :func:`pareto`: weighted F1 against cost or latency, dominated rows named with what dominates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence

from harness import HarnessError, endpoints, humanize
from harness.models.card import TrainingCompute
from harness.models.registry import Role, find
from harness.pricing import (MachinePrice, PriceTable, cost_usd, default_machine, gpu_machine_for, load_machine_prices,
                             match_gpu, user_machine)
from harness.results import CaseResult

if TYPE_CHECKING:  # only for annotations: the report package imports this module
    from harness.report.rows import Row

HOURLY_FACTORS = (0.5, 1.0, 2.0, 4.0)
API_PRICE_FACTORS = (0.25, 0.5, 1.0, 2.0)
DEFAULT_MONTHLY_VOLUME = 100_000


def machines_for(dollars_per_hour: float | None = None, name: str | None = None, *, device: str = "cpu",
                 gpu_name: str | None = None) -> tuple[MachinePrice, MachinePrice]:
    """The machine local time is priced at, and the GPU machine GPU training hours are priced at.

    Local time: ``--harness-dollars-per-hour`` or ``--harness-machine`` when given; else, on a ``cuda`` device,
    the gpu machine whose ``gpu_match`` names the GPU (``gpu_name``, read from torch when not given), or the
    default gpu machine when none does (its ``selection`` says which); else the table's default cpu machine.
    """
    table = load_machine_prices()
    gpu = default_machine("gpu", table)
    on_gpu = str(device).startswith("cuda")
    if dollars_per_hour is not None:
        return user_machine(dollars_per_hour, kind="gpu" if on_gpu else "cpu"), gpu
    if name is not None:
        if name not in table:
            raise HarnessError(f"--harness-machine={name}: not in harness/prices.toml; expected one of {sorted(table)}, "
                               "or give a price with --harness-dollars-per-hour")
        return table[name], gpu
    if on_gpu:
        return gpu_machine_for(gpu_name if gpu_name is not None else visible_gpu_name(device), table), gpu
    return default_machine("cpu", table), gpu


def visible_gpu_name(device: str) -> str | None:
    """The name torch gives the GPU of a ``cuda`` / ``cuda:N`` device (torch is imported only then); None for
    any other device, or when torch cannot say (the time is then priced at the default gpu machine, saying so)."""
    device = str(device)
    if not device.startswith("cuda"):
        return None
    index = device.partition(":")[2]
    try:
        import torch

        return str(torch.cuda.get_device_name(int(index) if index.isdigit() else 0))
    except Exception:  # noqa: BLE001 - no torch, no driver, a bad index: the price says the name is unknown
        return None


def api_model(name: str) -> str | None:
    """The price-table name behind a row's model name (``openai:gpt-4o`` -> ``gpt-4o``, ``published-gpt-4`` ->
    ``gpt-4``): the spec of an API kind or of published replies; None for the rest."""
    found = find(name)
    if found is None or not (found[0].api or found[0].role is Role.PUBLISHED_REPLIES):
        return None
    return found[1]


def _money(total: float, calls: int, basis: str, note: str | None, **extra: Any) -> dict[str, Any]:
    return {"total_usd": total, "per_call_usd": total / calls, "per_1k_usd": 1000 * total / calls,
            "basis": basis, "note": note, "calls": calls, **extra}


def _none(note: str, basis: str | None = None) -> dict[str, Any]:
    return {"total_usd": None, "per_call_usd": None, "per_1k_usd": None, "basis": basis, "note": note, "calls": 0}


@dataclass(frozen=True)
class ReferenceTokens:
    """Mean input / output tokens per call measured on a zero-shot row (``row``: ``model · strategy``)."""

    row: str
    calls: int
    input: float
    output: float


def reference_tokens(grouped: Mapping[tuple[str, str], Sequence[CaseResult | Mapping[str, Any]]]
                     ) -> ReferenceTokens | None:
    """Mean input / output tokens per call of a zero-shot row that measured them (an API row first)."""
    best = None
    for (model, strategy), row in grouped.items():
        if strategy != "zero_shot":
            continue
        cases = [CaseResult.of(c) for c in row]
        counted = [c for c in cases if c.input_tokens and c.output_tokens is not None]
        if len(counted) < max(1, len(cases) // 2):
            continue
        rank = 0 if cases[0].kind == "api" else 1
        found = ReferenceTokens(row=f"{model} · {strategy}", calls=len(counted),
                                input=sum(c.input_tokens or 0 for c in counted) / len(counted),
                                output=sum(c.output_tokens or 0 for c in counted) / len(counted))
        if best is None or rank < best[0]:
            best = (rank, found)
    return best[1] if best else None


def row_cost(cases: Sequence[CaseResult | Mapping[str, Any]], *, machine: MachinePrice, prices: PriceTable | None,
             reference: ReferenceTokens | None) -> dict[str, Any]:
    """What the cases of one row cost (the report row's ``cost``): billed, machine time or estimated."""
    cases = [CaseResult.of(c) for c in cases]  # a dictionary (a task report that reads them) is read once
    kind = cases[0].kind
    model = cases[0].model
    calls = len(cases)
    if kind == "api":
        costs = [c.cost_usd for c in cases]
        if any(cost is None for cost in costs):
            priced = sum(cost is not None for cost in costs)
            return _none("price unknown" if priced == 0 else f"price unknown for {calls - priced} calls")
        found = find(model)
        declared = found is not None and endpoints.split(found[1])[1] is not None  # model@endpoint: its own price
        return _money(float(sum(cost or 0.0 for cost in costs)), calls, "billed",
                      "the endpoint's declared price" if declared else "tokens × price table")
    if kind == "local":
        times = [c.latency_s for c in cases if c.latency_s is not None]
        if len(times) < calls:
            return _none(f"not computable: {calls - len(times)} of {calls} calls have no measured time")
        hours = sum(times) / 3600
        chosen = {"machine_selection": machine.selection} if machine.selection else {}
        return _money(hours * machine.dollars_per_hour, calls, "machine time",
                      f"measured time × ${machine.dollars_per_hour:g}/h ({machine.name}"
                      + (f"; {machine.selection})" if machine.selection else ")"),
                      machine=machine.name, dollars_per_hour=machine.dollars_per_hour,
                      batch_size=max(c.batch_size for c in cases), machine_seconds=sum(times), **chosen)
    priced_as = api_model(model)
    price = prices.lookup(priced_as) if prices is not None and priced_as else None
    if price is None:
        return _none("not computable: no recorded tokens and no price for this model")
    if reference is None:
        return _none("not computable: no recorded tokens; run a zero-shot API row (e.g. "
                     "openai:smollm2-135m-instruct-q4_1) alongside to estimate them", "estimated")
    per_call = cost_usd(price, round(reference.input), round(reference.output))
    return _money(per_call * calls, calls, "estimated",
                  f"estimated: {priced_as} prices × mean tokens per call measured on {reference.row} "
                  f"({reference.input:.0f} in / {reference.output:.0f} out; its prompt and tokenizer, "
                  "not the published run's own)", reference_row=reference.row)


# -- training ---------------------------------------------------------------------------------------------

def read_cards(models: Iterable[str], adapters_dir: Path) -> dict[str, TrainingCompute]:
    """What training used, from the adapter cards of fine-tuned models (``adapter:<folder>``); unreadable, broken
    or missing cards skipped (their rows were refused as "not run", with the reason)."""
    from harness.models.adapter import adapter_dir, split_variant
    from harness.models.card import CARD, AdapterCard

    cards = {}
    for name in models:
        found = find(name)
        if found is None or not found[0].fine_tuned:
            continue
        folder = adapter_dir(split_variant(endpoints.split(found[1])[0])[0], adapters_dir)  # name[@endpoint]
        try:
            cards[name] = AdapterCard.read(folder / CARD).compute
        except HarnessError:
            continue  # no training cost to show
    return cards


def training_cost(card: TrainingCompute | None, *, machine: MachinePrice, gpu_machine: MachinePrice | None,
                  machines: Mapping[str, MachinePrice] | None = None) -> dict[str, Any]:
    """The card's machine hours priced at its own $/h; else, for GPU hours (gpu_hours > 0), at the machine whose
    ``gpu_match`` names the card's ``device`` (the GPU it trained on; ``machines`` defaults to the price table),
    or ``gpu_machine`` when none does; else at the run's machine."""
    if card is None or card.machine_hours is None:
        return {"usd": None, "note": "not computable: no adapter card with machine_hours"}
    hours = float(card.machine_hours)
    if card.dollars_per_hour:
        rate, where = float(card.dollars_per_hour), "the card's own $/h"
    elif (card.gpu_hours or 0) > 0 and gpu_machine is not None:
        found = match_gpu(card.device, load_machine_prices() if machines is None else machines)
        priced_at = found[0] if found is not None else gpu_machine
        rate, where = priced_at.dollars_per_hour, priced_at.name
    else:
        rate, where = machine.dollars_per_hour, machine.name
    return {"usd": hours * rate, "machine_hours": hours, "dollars_per_hour": rate,
            "note": f"{hours:.3f} machine hours on {card.device} × ${rate:g}/h ({where})"}


# -- fine-tuned vs another row ----------------------------------------------------------------------------

def break_even(training_usd: float, own_per_call: float, other_per_call: float) -> float | None:
    """Requests after which training + serving costs less than the other row; None if never."""
    saving = other_per_call - own_per_call
    if saving <= 0:
        return None
    return training_usd / saving


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


class TrainingPrice(Protocol):
    """What :func:`versus` reads of a training cost: :class:`harness.report.run.Training` (the report package
    imports this module, so it is named here by shape)."""

    @property
    def usd(self) -> float | None: ...

    @property
    def note(self) -> str | None: ...


def versus(tuned: Row, other: Row, training: TrainingPrice, *, monthly_volume: int) -> dict[str, Any]:
    """Latency and cost ratios, break-even volume and payback of a fine-tuned row against another row
    (``training``: :func:`training_cost`'s answer, typed)."""
    a_cost, b_cost = tuned.cost.per_call_usd, other.cost.per_call_usd
    training_usd = training.usd
    out: dict[str, Any] = {
        "a": tuned.name, "b": other.name,
        "latency_ratio": _ratio(tuned.latency.p50_s, other.latency.p50_s),
        "cost_ratio": _ratio(a_cost, b_cost), "other_cost_basis": other.cost.basis,
        "training_usd": training_usd, "monthly_volume": monthly_volume,
        "break_even_requests": None, "payback_months": None, "sensitivity": None,
    }
    if a_cost is None or b_cost is None or training_usd is None:
        missing = [r for r, c in ((tuned.name, a_cost), (other.name, b_cost)) if c is None]
        out["break_even_note"] = ("not computable: no cost for " + " and ".join(missing) if missing
                                  else "not computable: " + str(training.note))
        return out
    n = break_even(training_usd, a_cost, b_cost)
    out["break_even_requests"] = n
    out["payback_months"] = None if n is None else n / monthly_volume
    out["break_even_note"] = ("never: the fine-tuned row costs as much or more per request" if n is None
                              else f"{humanize.requests(n)} requests")
    if tuned.cost.basis == "machine time" and other.cost.basis in ("billed", "estimated"):
        out["sensitivity"] = sensitivity(training_usd, a_cost, b_cost, tuned.cost.extra["dollars_per_hour"])
    return out


def sensitivity(training_usd: float, own_per_call: float, api_per_call: float, dollars_per_hour: float,
                hourly_factors: Sequence[float] = HOURLY_FACTORS,
                api_factors: Sequence[float] = API_PRICE_FACTORS) -> dict[str, Any]:
    """Break-even requests over a grid: machine $/h (scales training and serving) × API price."""
    grid = [[break_even(training_usd * h, own_per_call * h, api_per_call * a) for a in api_factors]
            for h in hourly_factors]
    return {"dollars_per_hour": [dollars_per_hour * h for h in hourly_factors],
            "api_price_factor": list(api_factors), "break_even_requests": grid}


# -- Pareto -----------------------------------------------------------------------------------------------

def pareto(rows: Sequence[Row], cost_of: Callable[[Row], float | None]) -> list[str | None]:
    """For each row: ``"frontier"``, ``"dominated by <row>"``, or None when it has no cost/F1 to place.

    A row is dominated when another has weighted F1 at least as high and cost at most as high, one of
    them strictly. ``cost_of(row)`` gives the x value (lower is better) or None.
    """
    points = [(cost_of(r), r.weighted_f1) for r in rows]
    out: list[str | None] = []
    for i, (x, y) in enumerate(points):
        if x is None or y is None or math.isnan(x):
            out.append(None)
            continue
        by = [j for j, (x2, y2) in enumerate(points) if j != i and x2 is not None and x2 <= x and y2 >= y
              and (x2 < x or y2 > y)]
        if by:
            best = max(by, key=lambda j: points[j][1])
            out.append(f"dominated by {rows[best].name}")
        else:
            out.append("frontier")
    return out


def format_requests(n: float | None) -> str:
    """A request count for people: "< 1", "18", "4 300", "1.2 million"; "never" for None."""
    return humanize.requests(n)


def format_months(months: float | None) -> str:
    """A payback period for people: "under an hour", "5 hours", "3.5 days", "2.4 months"; "never" for None."""
    return humanize.months(months)
