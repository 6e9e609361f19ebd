"""API prices: a dated, sourced price table (``prices.toml``) and the cost of one call.

Prices are USD per 1M tokens. Every entry carries the date it was read (``as_of``) and where it was
read (``source``); a model that is not in the table has no price: :meth:`PriceTable.lookup` returns
``None`` and the caller reports "price unknown" (a missing price is never a price of 0).

Standard library only (``tomllib``, Python >= 3.11; ``tomli`` is used where it is missing).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from harness import HarnessError

DEFAULT_PATH = Path(__file__).with_name("prices.toml")
USER_GIVEN = "user-given"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SNAPSHOT_SUFFIX = re.compile(r"^(?P<base>.+)-\d{4}-\d{2}-\d{2}$")
_MODEL_KEYS = {"input", "cached_input", "output", "as_of", "source", "note", "aliases"}
_REQUIRED_KEYS = ("input", "output", "as_of", "source")
_PRICE_HINT = "expected a number of USD per 1M tokens, 0 or more (e.g. input = 0.15)"


@dataclass(frozen=True)
class Price:
    """One model's price in USD per 1M tokens; ``cached_input`` is ``None`` where none is published."""

    model: str
    input: float
    output: float
    cached_input: float | None
    as_of: str
    source: str


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; ``aliases`` maps snapshot names to the model whose price they share."""

    as_of: str
    prices: Mapping[str, Price]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, model: str) -> Price | None:
        """The price for ``model``, or ``None`` when the table has none (show "price unknown").

        Tries the exact name, then an alias, then the name without a dated snapshot suffix
        (``gpt-4o-2024-08-06`` -> ``gpt-4o``), which again may be a name or an alias.
        """
        if not isinstance(model, str):
            return None
        found = self._exact_or_alias(model)
        if found is not None:
            return found
        match = _SNAPSHOT_SUFFIX.match(model)
        if match is not None:
            return self._exact_or_alias(match.group("base"))
        return None

    def _exact_or_alias(self, name: str) -> Price | None:
        if name in self.prices:
            return self.prices[name]
        target = self.aliases.get(name)
        return self.prices.get(target) if target is not None else None

    def with_override(self, model: str, input: float, output: float, *,
                      cached_input: float | None = None) -> PriceTable:
        """A new table in which ``model`` costs what the user says (``source = "user-given"``, dated today).

        The override wins over an alias or snapshot match of the same name; this table is unchanged.
        """
        where = f"price override for {model!r}"
        if not isinstance(model, str) or not model.strip():
            raise HarnessError(f"{where}: expected a non-empty model name, got {model!r}")
        price = Price(
            model=model,
            input=_check_price(input, f"{where} has input={input!r}", "pass a number, e.g. 0.15"),
            output=_check_price(output, f"{where} has output={output!r}", "pass a number, e.g. 0.60"),
            cached_input=None if cached_input is None else _check_price(
                cached_input, f"{where} has cached_input={cached_input!r}", "pass a number, or None"),
            as_of=dt.date.today().isoformat(),
            source=USER_GIVEN,
        )
        prices = dict(self.prices)
        prices[model] = price
        return replace(self, as_of=max(self.as_of, price.as_of), prices=prices)


def cost_usd(price: Price, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
    """USD for one call. ``input_tokens`` counts all prompt tokens, cached ones included (as OpenAI's
    ``usage.prompt_tokens`` does); ``cached_input_tokens`` of them are billed at ``cached_input``
    (at ``input`` where the model has no cached price), the rest at ``input``.

    >>> p = Price("gpt-4o-mini", input=0.15, output=0.60, cached_input=0.075, as_of="2025-06-03", source="test")
    >>> round(cost_usd(p, input_tokens=1_000_000, output_tokens=1_000_000), 6)
    0.75
    >>> round(cost_usd(p, input_tokens=1_000_000, output_tokens=0, cached_input_tokens=1_000_000), 6)
    0.075
    """
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                        ("cached_input_tokens", cached_input_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise HarnessError(f"cost of {price.model!r}: {name}={value!r}: expected a token count "
                               f"(an int, 0 or more); pass the count from the API's usage block")
    if cached_input_tokens > input_tokens:
        raise HarnessError(
            f"cost of {price.model!r}: cached_input_tokens={cached_input_tokens} is more than "
            f"input_tokens={input_tokens}: expected the cached tokens to be part of the input tokens; "
            f"pass the total prompt tokens as input_tokens (OpenAI's usage.prompt_tokens includes "
            f"prompt_tokens_details.cached_tokens)")
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    uncached = input_tokens - cached_input_tokens
    return (uncached * price.input + cached_input_tokens * cached_rate
            + output_tokens * price.output) / 1_000_000


def load_prices(path: Path | None = None) -> PriceTable:
    """Read and check a price table (default: ``prices.toml`` beside this module).

    Raises :class:`~harness.HarnessError` for a missing or malformed file, saying what was expected,
    what came, and how to fix it.
    """
    path = DEFAULT_PATH if path is None else Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such price table: expected a TOML file with [table] and "
                           f"[models.\"NAME\"] sections; pass the right path, or omit it to use "
                           f"{DEFAULT_PATH}") from None
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read the price table ({exc.strerror or exc}): expected a "
                           f"readable TOML file; check the path and its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path}: not valid TOML ({exc}): fix the syntax at that line") from None

    unknown_top = set(data) - {"table", "models", "machines"}
    if unknown_top:
        raise HarnessError(f"{path}: unexpected top-level key(s) {sorted(unknown_top)}: expected only "
                           f"[table], [models.\"NAME\"] and [machines.\"NAME\"]; remove or rename them")

    table = data.get("table")
    if not isinstance(table, dict):
        raise HarnessError(f"{path}: [table] is {'missing' if table is None else repr(table)}: expected a "
                           f"[table] section with as_of = \"YYYY-MM-DD\", currency = \"USD\", "
                           f"unit = \"per 1M tokens\"; add it")
    table_as_of = _check_date(table.get("as_of"), f"{path}: [table] has as_of={table.get('as_of')!r}")
    for key, expected in (("currency", "USD"), ("unit", "per 1M tokens")):
        if table.get(key, expected) != expected:
            raise HarnessError(f"{path}: [table] has {key}={table[key]!r}: expected {expected!r}, the only "
                               f"{key} this loader understands; convert the prices and set {key} = \"{expected}\"")

    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise HarnessError(f"{path}: [models] is {'missing or empty' if not models else repr(models)}: "
                           f"expected at least one [models.\"NAME\"] section with input, output, as_of "
                           f"and source; add one")

    prices: dict[str, Price] = {}
    aliases: dict[str, str] = {}
    for name, entry in models.items():
        where = f"{path}: model {name!r}"
        if not isinstance(entry, dict):
            raise HarnessError(f"{where} is {entry!r}: expected a table, e.g. [models.\"{name}\"] with "
                               f"input, output, as_of and source keys")
        unknown = set(entry) - _MODEL_KEYS
        if unknown:
            raise HarnessError(f"{where} has unknown key(s) {sorted(unknown)}: expected only "
                               f"{sorted(_MODEL_KEYS)}; fix the spelling (e.g. cached_input, not cached)")
        missing = [key for key in _REQUIRED_KEYS if key not in entry]
        if missing:
            raise HarnessError(f"{where} has no {', '.join(missing)}: expected input and output (USD per 1M "
                               f"tokens), as_of (\"YYYY-MM-DD\", when the price was read) and source (where); "
                               f"add them, or remove the model if its price cannot be sourced")
        cached = entry.get("cached_input")
        price = Price(
            model=name,
            input=_check_price(entry["input"], f"{where} has input={entry['input']!r}"),
            output=_check_price(entry["output"], f"{where} has output={entry['output']!r}"),
            cached_input=None if cached is None else _check_price(cached, f"{where} has cached_input={cached!r}",
                                                                  "or leave cached_input out"),
            as_of=_check_date(entry["as_of"], f"{where} has as_of={entry['as_of']!r}"),
            source=_check_text(entry["source"], f"{where} has source={entry['source']!r}",
                               "expected a non-empty string saying where the price was read (URL and title)"),
        )
        if "note" in entry:
            _check_text(entry["note"], f"{where} has note={entry['note']!r}", "expected a string")
        if price.as_of > table_as_of:
            raise HarnessError(f"{where} has as_of={price.as_of!r}, newer than [table] as_of={table_as_of!r}: "
                               f"expected [table] as_of to be the newest entry date; set it to {price.as_of!r}")
        prices[name] = price
        for alias in _check_aliases(entry.get("aliases", []), where):
            if alias in aliases and aliases[alias] != name:
                raise HarnessError(f"{where} lists alias {alias!r}, already an alias of {aliases[alias]!r}: "
                                   f"expected each alias once; keep it under the model whose price it shares")
            aliases[alias] = name

    for alias, target in aliases.items():
        if alias in prices and alias != target:
            raise HarnessError(f"{path}: {alias!r} is both a model and an alias of {target!r}: expected one "
                               f"or the other; remove the alias or the [models.\"{alias}\"] section")
    return PriceTable(as_of=table_as_of, prices=prices, aliases=aliases)


def _check_price(value: Any, what: str, fix: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise HarnessError(f"{what}: {_PRICE_HINT}{'; ' + fix if fix else ''}")
    return float(value)


def _check_date(value: Any, what: str) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()  # an unquoted TOML date
    if isinstance(value, str) and _DATE.match(value):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise HarnessError(f"{what}: expected a date \"YYYY-MM-DD\" (when the price was read); "
                       f"write it like as_of = \"2025-06-03\"")


def _check_text(value: Any, what: str, expected: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HarnessError(f"{what}: {expected}")
    return value


def _check_aliases(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise HarnessError(f"{where} has aliases={value!r}: expected a list of model names, "
                           f"e.g. aliases = [\"gpt-4o-2024-08-06\"]")
    return value


# -- machine hours: what a local model's measured time costs -------------------------------------------

_MACHINE_KEYS = {"dollars_per_hour", "kind", "default", "description", "as_of", "source", "note", "gpu_match"}
MACHINE_KINDS = ("cpu", "gpu")


@dataclass(frozen=True)
class MachinePrice:
    """An on-demand instance's price in USD per hour, dated and sourced (``[machines."NAME"]``)."""

    name: str
    dollars_per_hour: float
    kind: str
    description: str
    as_of: str
    source: str
    default: bool = False
    gpu_match: tuple[str, ...] = ()
    """GPU names this machine prices (``gpu_match`` in the table), matched as whole words, case-insensitively,
    against the name torch gives the GPU (``torch.cuda.get_device_name``): "H100" matches "NVIDIA H100 80GB HBM3"."""
    selection: str = ""
    """How this machine was chosen for a run, when that is worth saying (e.g. which GPU it matched); "" otherwise."""


def load_machine_prices(path: Path | None = None) -> dict[str, MachinePrice]:
    """The ``[machines."NAME"]`` entries of the price table, checked like the model entries."""
    path = DEFAULT_PATH if path is None else Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        load_prices(path)  # raises the same clear error as for the model prices
        raise
    machines = data.get("machines")
    if not isinstance(machines, dict) or not machines:
        raise HarnessError(f"{path}: [machines] is missing or empty: expected [machines.\"NAME\"] sections with "
                           "dollars_per_hour, kind (cpu or gpu), as_of and source; add one")
    found: dict[str, MachinePrice] = {}
    for name, entry in machines.items():
        where = f"{path}: machine {name!r}"
        if not isinstance(entry, dict):
            raise HarnessError(f"{where} is {entry!r}: expected a table with dollars_per_hour, kind, as_of, source")
        unknown = set(entry) - _MACHINE_KEYS
        missing = [k for k in ("dollars_per_hour", "kind", "as_of", "source") if k not in entry]
        if unknown or missing:
            raise HarnessError(f"{where}: expected keys {sorted(_MACHINE_KEYS)} (dollars_per_hour, kind, as_of and "
                               f"source required); got unknown {sorted(unknown)}, missing {missing}: fix the entry")
        if entry["kind"] not in MACHINE_KINDS:
            raise HarnessError(f"{where} has kind={entry['kind']!r}: expected one of {list(MACHINE_KINDS)}")
        hourly = entry["dollars_per_hour"]
        if isinstance(hourly, bool) or not isinstance(hourly, (int, float)) or not math.isfinite(hourly) or hourly <= 0:
            raise HarnessError(f"{where} has dollars_per_hour={hourly!r}: expected a positive number of USD per hour")
        found[name] = MachinePrice(
            name=name, dollars_per_hour=float(hourly), kind=entry["kind"],
            description=str(entry.get("description", name)),
            as_of=_check_date(entry["as_of"], f"{where} has as_of={entry['as_of']!r}"),
            source=_check_text(entry["source"], f"{where} has source={entry['source']!r}",
                               "expected a non-empty string saying where the price was read (URL and title)"),
            default=bool(entry.get("default", False)),
            gpu_match=_check_gpu_match(entry.get("gpu_match"), entry["kind"], where),
        )
    for kind in MACHINE_KINDS:
        defaults = [m.name for m in found.values() if m.kind == kind and m.default]
        if len(defaults) > 1:
            raise HarnessError(f"{path}: machines {defaults} are all marked default for {kind}: expected one; "
                               "remove `default = true` from the others")
    owners: dict[str, str] = {}
    for machine in found.values():
        for token in machine.gpu_match:
            other = owners.setdefault(token.casefold(), machine.name)
            if other != machine.name:
                raise HarnessError(f"{path}: machines {other!r} and {machine.name!r} both have gpu_match {token!r}: "
                                   "expected each GPU name under one machine, so a GPU has one price; remove it from "
                                   "one of them (the other stays choosable with --harness-machine)")
    return found


def _check_gpu_match(value: Any, kind: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    tokens = [value] if isinstance(value, str) else value
    if not isinstance(tokens, list) or not tokens or not all(
            isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 .-]*", t.strip()) for t in tokens):
        raise HarnessError(f"{where} has gpu_match={value!r}: expected a word of the GPU's name as "
                           "torch.cuda.get_device_name gives it (letters, digits, spaces, dots, dashes), or a list "
                           "of them, e.g. gpu_match = \"H100\"")
    if kind != "gpu":
        raise HarnessError(f"{where} has gpu_match={value!r} but kind={kind!r}: expected gpu_match only on "
                           "kind = \"gpu\" machines; remove it or set kind = \"gpu\"")
    return tuple(t.strip() for t in tokens)


def _names_gpu(token: str, gpu_name: str) -> bool:
    """Whether ``token`` is a whole word of ``gpu_name`` (case-insensitive): "L4" is in "NVIDIA L4", not in
    "NVIDIA L40S"; "H200" is in "NVIDIA H200", not in "NVIDIA GH200 480GB"."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", gpu_name, re.IGNORECASE) is not None


def match_gpu(gpu_name: str | None, machines: Mapping[str, MachinePrice]) -> tuple[MachinePrice, str] | None:
    """The gpu machine whose ``gpu_match`` names this GPU, and the word that matched; None when none does.

    Where several match (a name with two listed words), the longest word wins, then table order.

    >>> m = MachinePrice("box", 1.0, "gpu", "box", "2026-01-01", "x", gpu_match=("H100",))
    >>> match_gpu("NVIDIA H100 80GB HBM3", {"box": m})[1]
    'H100'
    >>> match_gpu("NVIDIA H200", {"box": m}) is None
    True
    """
    if not isinstance(gpu_name, str) or not gpu_name.strip():
        return None
    hits = [(machine, token) for machine in machines.values() if machine.kind == "gpu"
            for token in machine.gpu_match if _names_gpu(token, gpu_name)]
    if not hits:
        return None
    return max(hits, key=lambda hit: len(hit[1]))  # max keeps the first of equals: table order


def gpu_machine_for(gpu_name: str | None, machines: Mapping[str, MachinePrice]) -> MachinePrice:
    """The machine that prices time on this GPU: the one whose ``gpu_match`` names it, else the default gpu
    machine. Its ``selection`` says which happened and names the GPU (shown with the cost)."""
    found = match_gpu(gpu_name, machines)
    if found is not None:
        machine, token = found
        return replace(machine, selection=f"GPU {gpu_name.strip()!r} matched gpu_match {token!r}")
    fallback = default_machine("gpu", machines)
    if isinstance(gpu_name, str) and gpu_name.strip():
        why = f"GPU {gpu_name.strip()!r} matched no gpu_match in harness/prices.toml: the default gpu machine"
    else:
        why = "GPU name unknown (torch gave none): the default gpu machine"
    return replace(fallback, selection=why)


def default_machine(kind: str, machines: Mapping[str, MachinePrice]) -> MachinePrice:
    """The machine marked ``default = true`` for ``kind`` (else the first of that kind)."""
    of_kind = [m for m in machines.values() if m.kind == kind]
    if not of_kind:
        raise HarnessError(f"the price table lists no {kind} machine: expected a [machines.\"NAME\"] entry with "
                           f"kind = \"{kind}\"; add one to harness/prices.toml")
    return next((m for m in of_kind if m.default), of_kind[0])


def user_machine(dollars_per_hour: float, kind: str = "cpu") -> MachinePrice:
    """A user-given hourly price (``--harness-dollars-per-hour``), dated today."""
    if isinstance(dollars_per_hour, bool) or not math.isfinite(dollars_per_hour) or dollars_per_hour <= 0:
        raise HarnessError(f"--harness-dollars-per-hour={dollars_per_hour!r}: expected a positive number of USD "
                           "per hour, e.g. --harness-dollars-per-hour=0.10")
    return MachinePrice(name=USER_GIVEN, dollars_per_hour=float(dollars_per_hour), kind=kind,
                        description=f"user-given ${dollars_per_hour:g}/h", as_of=dt.date.today().isoformat(),
                        source=USER_GIVEN)
