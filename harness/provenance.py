"""Where a run's numbers come from: the git commit and the versions of the packages that produced them."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("finetune-or-prompt", "torch", "transformers", "scikit-learn", "scipy", "numpy", "pandas", "pytest")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """``{package: version}`` for each of ``names``; None for a package that is not installed."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_sha(where: Path) -> str | None:
    """The commit checked out at ``where``; None outside a git checkout or without git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
