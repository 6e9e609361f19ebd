"""Root conftest: the harness plugin comes from the installed package's ``pytest11`` entry point
(``pip install -e .``), as in any project that uses it; nothing to load here."""
