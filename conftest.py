"""Root conftest: loads the harness plugin for this repository only.

The plugin is named here (``pytest_plugins``) rather than through a ``pytest11`` entry point, so that
installing the package never changes another project's pytest run.
"""

pytest_plugins = ["harness.plugin"]
