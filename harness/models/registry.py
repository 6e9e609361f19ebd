"""Model kinds: what a model name is, the role it plays in "fine-tune or prompt?", the prompt strategies it
answers, how it is built and why it cannot run here. :func:`find` is the one place that reads a name.

A kind is an exact name (``tfidf-logreg``) or a prefix ending in ``:`` (``hf:`` claims ``hf:<folder or hub id>``;
what follows the prefix is the kind's *spec*). Several kinds may share a prefix when all but one say which specs
they ``claims`` (the random-weight base claims the ``hf:`` folders written by ``python -m finetune random-base``).

Other packages add kinds through the entry-point group ``finetune_or_prompt.models``: the entry point names a
function returning one :class:`ModelKind` or several (as simonw/llm's ``register_models`` hook does)::

    # pyproject.toml of your package
    [project.entry-points."finetune_or_prompt.models"]
    mine = "my_package.kinds:kinds"

    # my_package/kinds.py
    from harness.models.registry import ModelKind, Role

    def kinds():
        return ModelKind("vllm:", Role.PROMPTED, ("zero_shot", "few_shot", "cot"), build=build_vllm,
                         shown="vllm:<model>")

``pytest suites --harness-models=vllm:llama-3.1-70b`` then runs it as a row, and the verdict counts it as what its
role says (a prompted LLM here).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Callable

from harness import HarnessError
from harness.models import builtin
from harness.models.published import PUBLISHED

if TYPE_CHECKING:
    from harness.models import ModelContext
    from harness.models.base import Model

ENTRY_POINT_GROUP = "finetune_or_prompt.models"
LOCAL_STRATEGIES = ("zero_shot", "few_shot", "cot")

Builder = Callable[[str, str, "ModelContext"], "Model"]
Reason = Callable[[str, str, "ModelContext", "str | None"], "str | None"]


class Role(enum.Enum):
    """What a row is in the question the harness answers."""

    FINE_TUNED = "fine-tuned"
    """Trained on the task (an ``adapter:``): the rows the verdict compares with every alternative."""
    PROMPTED = "prompted"
    """A language model asked through a prompt strategy, locally or behind an API: a prompted LLM."""
    PUBLISHED_REPLIES = "published replies"
    """Replies an LLM gave once, replayed from a published file."""
    CLASSICAL_FLOOR = "classical floor"
    """A classical classifier trained on the train split (TF-IDF + logistic regression): the floor."""


@dataclass(frozen=True)
class ModelKind:
    """One kind of model name."""

    name: str
    """An exact model name (``tfidf-logreg``), or a prefix ending in ``:`` (``openai:``)."""
    role: Role
    strategies: tuple[str, ...]
    """The prompt strategies it answers (a classical floor its own: ``supervised``)."""
    build: Builder
    """``(name, spec, ctx) -> Model``; import heavy libraries inside."""
    unavailable: Reason = builtin.always_available
    """``(name, spec, ctx, strategy) -> reason or None``: why it (or one strategy) cannot run here. Cheap."""
    shown: str = ""
    """How error messages list it (default: ``name``; a prefix with what follows, ``hf:<folder or hub id>``)."""
    api: bool = False
    """Served behind an API endpoint, billed per token and replayed from cassettes (its spec is the API model)."""
    spec: str = ""
    """An exact name's spec (default: the name): the published replies' API model, ``gpt-4``."""
    claims: Callable[[str], bool] | None = field(default=None, compare=False)
    """For a kind sharing its prefix with another: whether a spec is this kind's (tried before the plain kind)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip(":"):
            raise HarnessError(f"ModelKind name {self.name!r}: expected a model name or a prefix ending in ':'")
        if not isinstance(self.role, Role):
            raise HarnessError(f"ModelKind {self.name!r}: role {self.role!r}, expected one of {[r.name for r in Role]} "
                               "(harness.models.registry.Role)")
        if isinstance(self.strategies, str) or not self.strategies or not all(isinstance(s, str) for s in self.strategies):
            raise HarnessError(f"ModelKind {self.name!r}: strategies {self.strategies!r}, expected a non-empty tuple of "
                               f"strategy names, e.g. {LOCAL_STRATEGIES}")
        if not callable(self.build) or not callable(self.unavailable):
            raise HarnessError(f"ModelKind {self.name!r}: build and unavailable must be callables")
        object.__setattr__(self, "strategies", tuple(self.strategies))

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    @property
    def fine_tuned(self) -> bool:
        return self.role is Role.FINE_TUNED

    @property
    def listed(self) -> str:
        return self.shown or self.name


BUILT_IN: tuple[ModelKind, ...] = (
    ModelKind("tfidf-logreg", Role.CLASSICAL_FLOOR, ("supervised",), builtin.build_tfidf),
    ModelKind("smollm2-135m", Role.PROMPTED, LOCAL_STRATEGIES, builtin.build_causal_lm),
    *(ModelKind(name, Role.PUBLISHED_REPLIES, ("published_zero_shot",), builtin.build_published,
                builtin.published_problem, spec=api_model) for name, (_, api_model, _) in PUBLISHED.items()),
    ModelKind("hf:", Role.PROMPTED, LOCAL_STRATEGIES, builtin.build_causal_lm, builtin.random_base_problem,
              shown="hf:<folder or hub id>", claims=builtin.is_random_base),
    ModelKind("hf:", Role.PROMPTED, LOCAL_STRATEGIES, builtin.build_causal_lm, shown="hf:<folder or hub id>"),
    ModelKind("openai:", Role.PROMPTED, LOCAL_STRATEGIES, builtin.build_openai, builtin.cassette_problem,
              shown="openai:<model>[@<endpoint>]", api=True),
    ModelKind("adapter:", Role.FINE_TUNED, ("zero_shot",), builtin.build_adapter, builtin.adapter_problem,
              shown="adapter:<folder or name under adapters/>"),  # zero_shot: the prompt it was trained on
    # served by an engine behind a named endpoint; billed and replayed as an API row, checked as an adapter
    ModelKind("adapter:", Role.FINE_TUNED, ("zero_shot",), builtin.build_served_adapter,
              builtin.served_adapter_problem, shown="adapter:<name>@<endpoint>", api=True, claims=builtin.is_served),
)
"""In the order error messages list them; the random-weight base (first ``hf:``) is refused as a quality row."""


@cache
def kinds() -> tuple[ModelKind, ...]:
    """The built-in kinds, then those of the ``finetune_or_prompt.models`` entry points (read once per process;
    ``kinds.cache_clear()`` reads them again)."""
    from importlib.metadata import entry_points

    found = list(BUILT_IN)
    origin = {id(kind): "the harness" for kind in found}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {point.name} = {point.value} (group {ENTRY_POINT_GROUP})"
        try:
            hook = point.load()
            made = hook() if callable(hook) else hook
            added = (made,) if isinstance(made, ModelKind) else tuple(made)
        except HarnessError as exc:
            raise HarnessError(f"{where}: {exc}") from None
        except Exception as exc:  # a broken plugin is named, never a bare traceback
            raise HarnessError(f"{where} failed ({type(exc).__name__}: {exc}); fix or uninstall its package") from exc
        for kind in added:
            if not isinstance(kind, ModelKind):
                raise HarnessError(f"{where} gave {kind!r}: expected harness.models.registry.ModelKind objects")
            origin[id(kind)] = where
        found += added
    plain: dict[str, ModelKind] = {}
    for kind in found:
        if kind.claims is None:
            if kind.name in plain:
                raise HarnessError(f"model kind {kind.name!r} is registered twice, by {origin[id(plain[kind.name])]} and "
                                   f"by {origin[id(kind)]}: uninstall one, or give one a claims= test")
            plain[kind.name] = kind
    return tuple(found)


def find(name: str) -> tuple[ModelKind, str] | None:
    """The kind of a model name and its spec, or None when no kind claims the name. The only prefix matching."""
    head, colon, rest = name.partition(":")
    matches = [k for k in kinds() if (k.name == head + colon and bool(rest) if k.is_prefix else k.name == name)]
    for kind in sorted(matches, key=lambda k: k.claims is None):  # kinds that claim specs first
        spec = rest if kind.is_prefix else (kind.spec or name)
        if kind.claims is None or kind.claims(spec):
            return kind, spec
    return None


def resolve(name: str) -> tuple[ModelKind, str]:
    """:func:`find`, or a HarnessError listing the names the harness knows."""
    found = find(name)
    if found is None:
        raise HarnessError(f"unknown model {name!r}: expected one of {list(dict.fromkeys(k.listed for k in kinds()))}")
    return found


def kind_of(name: str) -> ModelKind | None:
    """The kind of a model name, or None for a name no kind claims (a row of a report written elsewhere)."""
    found = find(name)
    return found[0] if found else None


def role_of(name: str) -> Role:
    """The role of a model name (a HarnessError for an unknown name)."""
    return resolve(name)[0].role


def is_api(name: str) -> bool:
    """Whether a model name is served behind an API, billed per token, replayed from cassettes (False if unknown)."""
    kind = kind_of(name)
    return kind is not None and kind.api


def is_fine_tuned(name: str) -> bool:
    """Whether a model name is a fine-tuned kind (False if unknown)."""
    kind = kind_of(name)
    return kind is not None and kind.fine_tuned
