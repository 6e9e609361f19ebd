"""The installed plugin (``pytest11`` entry point) stays inert in a project that does not use it: its options
exist, but nothing is loaded, no report or folder is written, and no signal handler is taken."""

from conftest import run_pytest, run_python


def test_a_project_without_harness_suites_is_untouched(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import signal\n\ndef test_plain(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.hasplugin('harness')\n"
        "    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL\n")
    out = run_pytest("-q", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout and "harness" not in out.stdout
    written = {p.name for p in tmp_path.iterdir()} - {"__pycache__", "test_plain.py", ".benchmarks"}  # pytest-benchmark's
    assert not written  # no reports/, cassettes/, mlflow store


def test_its_options_are_listed(tmp_path):
    out = run_python("-m", "pytest", "--help", cwd=tmp_path, timeout=300)
    assert "--harness-models" in out.stdout and "--record-mode" in out.stdout
