"""finetune-or-prompt: a benchmark harness for "fine-tune a small model or prompt a large one?".

The library is plain Python (usable from a notebook); only :mod:`harness.plugin` imports pytest.
"""

__version__ = "0.1.0"


class HarnessError(Exception):
    """A user-facing error: the message says what was expected, what came, and how to fix it."""
