"""A training step's work besides its arithmetic, cut to what the run needs.

Profiled on the tiny random shape (``python -m finetune random-base --shape tiny``), where a step is nearly all
fixed cost, the Trainer did this every step besides the forward, the backward and the optimiser:

* ``torch.isnan(loss) or torch.isinf(loss)`` (``logging_nan_inf_filter``): two host-device synchronisations per
  step on a GPU, to keep a NaN loss out of the log, which also kept it from :func:`finetune.callbacks.nan_guard`.
  Without the filter the loss is read only at logging steps, and a NaN or infinite loss stops the run there;
* ``floating_point_ops``: ``model.num_parameters(exclude_embeddings=True)``, a walk over every module and
  parameter, to add 6 x tokens x parameters to ``total_flos``: the count is taken once;
* ``model.train()``: a walk over every module, though the model is still in training mode except after an
  evaluation: it runs only then;
* ``model.zero_grad()``: a walk over every module for the gradients of the few trainable (LoRA) parameters:
  those are cleared directly.

At SmolLM2-135M's depth (2 500 modules with LoRA) these three walks took about 6, 8 and 4 ms a step on this
project's CPU. What is left besides the arithmetic: the gradient norm's walk over every parameter (inside the
Trainer's private clipping method, about 4 ms there), the data loader, the progress bar's update, and on a GPU
the boolean ``logits_to_keep`` mask of :class:`finetune.collators.LabelOnly`, whose indexing waits for the device
inside the forward (the number of answer positions decides the logits' shape).

The progress bar, the loss at logging steps, evaluation, early stopping and every number on the card are the
same; ``benchmarks/test_step_overhead.py`` measures the fixed cost per step with and without these cuts.
"""

from __future__ import annotations

import contextlib
import functools
from types import MappingProxyType
from typing import Any, Iterator

LEAN_ARGUMENTS = MappingProxyType({"logging_nan_inf_filter": False})
"""``TrainingArguments`` that drop per-step work: no NaN/inf check (two device syncs) after every step."""


def lean_trainer(base: type) -> type:
    """``base`` (a transformers ``Trainer`` class) without the per-step walks over the model's modules."""

    class LeanTrainer(base):  # type: ignore[misc, valid-type]
        def train(self, *args: Any, **kwargs: Any) -> Any:
            with trainable_zeroed(self.model):
                return super().train(*args, **kwargs)

        @functools.cached_property
        def flops_parameters(self) -> int | None:
            """The model's parameters without embeddings, counted once (the Trainer counts them every step)."""
            model = self.model
            return model.num_parameters(exclude_embeddings=True) if hasattr(model, "num_parameters") else None

        def floating_point_ops(self, inputs: dict[str, Any]) -> int:
            main_input = getattr(self.model, "main_input_name", "input_ids")
            if main_input in inputs and self.flops_parameters is not None:
                return 6 * inputs[main_input].numel() * self.flops_parameters
            return 0

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            if not model.training:  # the first step, or the first after an evaluation: switch every module over
                return super().training_step(model, inputs, num_items_in_batch)
            with train_mode_kept(model):
                return super().training_step(model, inputs, num_items_in_batch)

    LeanTrainer.__name__ = LeanTrainer.__qualname__ = f"Lean{base.__name__}"
    return LeanTrainer


@contextlib.contextmanager
def trainable_zeroed(model: Any) -> Iterator[None]:
    """Within the block ``model.zero_grad()`` sets the trainable parameters' gradients to None (frozen ones have
    none) instead of walking every module to find them."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    walk = type(model).zero_grad

    def zero_grad(set_to_none: bool = True) -> None:
        if not set_to_none:  # zeroed in place: torch's own way
            walk(model, set_to_none)
            return
        for parameter in trainable:
            parameter.grad = None

    model.zero_grad = zero_grad
    try:
        yield
    finally:
        del model.zero_grad


@contextlib.contextmanager
def train_mode_kept(model: Any) -> Iterator[None]:
    """Within the block ``model.train()`` returns at once (``model`` is already in training mode); ``model.eval()``
    still switches it."""
    switch = type(model).train
    model.train = lambda mode=True: model if mode else switch(model, mode)  # an instance attribute hides the method
    try:
        yield
    finally:
        del model.train
