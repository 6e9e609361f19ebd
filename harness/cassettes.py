"""The cassette API under its first name: :mod:`harness.recording` holds it (format, seal, files, replay);
these names stay importable from here for code written before the split."""

from __future__ import annotations

from harness.recording import *  # noqa: F403  (the one list of names is recording's __all__)
from harness.recording import __all__  # noqa: F401
