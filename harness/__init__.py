"""finetune-or-prompt: a benchmark harness for "fine-tune a small model or prompt a large one?".

The library is plain Python (usable from a notebook); only :mod:`harness.plugin` imports pytest. A team's
own task is one declaration (see :class:`harness.tasks.classification.ClassificationTask`)::

    from harness import ClassificationTask
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["ClassificationTask", "HarnessError", "TrainingRequest"]


class HarnessError(Exception):
    """A user-facing error: the message says what was expected, what came, and how to fix it."""


def __getattr__(name: str) -> Any:  # lazy: importing harness loads no task, model or data code
    if name == "ClassificationTask":
        from harness.tasks.classification import ClassificationTask

        return ClassificationTask
    if name == "TrainingRequest":
        from harness.tasks.training import TrainingRequest

        return TrainingRequest
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
