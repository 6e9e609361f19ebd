"""The HTML report, checked the way a person would: rendered by headless Chromium with no network.

Chromium is Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it). Outside CI a
machine without it skips the browser test; in CI (``$CI`` set) a missing browser fails it. The
screenshot is kept as a test artifact in ``reports/artifacts/`` (gitignored: the page shows FPB text).
"""

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, run_suite
from harness import html_report
from harness.report import build_report

ARTIFACTS = ROOT / "reports" / "artifacts"
LABELS = ("positive", "negative", "neutral")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI: Debian's chromium is required for the HTML report test (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium); CI installs it and runs this test")
    return found


def _browse(browser: str, url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    return subprocess.run([browser, *flags, *extra, url], capture_output=True, text=True, timeout=120)


def _distinct_pixels_bytes(png: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the decompressed image data (stdlib only)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def _cases():
    """Two rows on 40 synthetic items: a fine-tuned local row and a billed API row."""
    cases = []
    for i in range(40):
        gold = LABELS[i % 3]
        common = dict(strategy="zero_shot", index=i, example_id=f"ex{i}", gold=gold, batch_size=8, error=None,
                      provenance="made <i>here</i>", input_tokens=100, output_tokens=2, cached_input_tokens=0)
        cases.append({**common, "model": "adapter:a", "pred": gold if i % 5 else LABELS[(i + 1) % 3],
                      "reply": "x", "latency_s": 0.05, "latency_source": "local", "kind": "local", "fine_tuned": True,
                      "cost_usd": None})
        cases.append({**common, "model": "openai:b", "pred": gold if i % 3 else None, "reply": "no idea <b>",
                      "latency_s": 0.4, "latency_source": "recorded", "kind": "api", "fine_tuned": False,
                      "cost_usd": 0.001})
    return cases


def test_html_holds_every_section_and_escapes_replies(tmp_path):
    meta = {"task": "fpb-sentiment", "template_version": "t", "bootstrap_resamples": 200,
            "data": {"file": "f", "source": "test", "directory": "d", "examples": 40, "duplicate_lines": 0,
                     "conflicting_sentences_removed": 0, "is_sample": False},
            "split": {"method": "m", "seed": 1, "n_train": 0, "n_test": 40, "n_evaluated": 40, "test_fingerprint": "x",
                      "leaked_removed_from_train": 0, "repeats_removed_from_train": 0}}
    cases = _cases()
    report = build_report(meta, cases, labels=LABELS, pair_order=[("adapter:a", "zero_shot"), ("openai:b", "zero_shot")],
                          expected={}, root=tmp_path, seed=1, resamples=200)
    (versus,) = report["economics"]["versus"]
    assert versus["latency_ratio"] == pytest.approx(0.125) and versus["cost_ratio"] is not None
    curve = {"rows": [{"n": 100, "weighted_f1": 0.6, "weighted_f1_ci95": [0.5, 0.7]},
                      {"n": 400, "weighted_f1": 0.8, "weighted_f1_ci95": [0.75, 0.85]}],
             "baselines": [{"model": "openai:b", "strategy": "zero_shot", "weighted_f1": 0.7}]}
    page = html_report.render(report, cases, {"ex0": "Sales rose </script><script>alert(1)</script>"}, curve)
    for anchor in ("leaderboard", "comparisons", "costs", "pareto", "latency", "confusion", "learning-curve", "errors",
                   "metadata"):
        assert f'id="{anchor}"' in page
    assert page.count("<svg") == 4  # two Pareto plots, latency, learning curve
    assert page.count("</script>") == 2  # the data block and the browser's code: a sentence cannot close either
    assert "Sales rose <\\/script><script>alert(1)<\\/script>" in page
    assert "made &lt;i&gt;here&lt;/i&gt;" in page and "made <i>" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page.split("<h2 id=\"metadata\"")[0]


def test_html_report_renders_in_headless_chromium_without_network(fpb_dir, tmp_path):
    browser = _chromium()
    result = run_suite("--harness-models=tfidf-logreg,published-gpt-4,openai:smollm2-135m-instruct-q4_1",
                       "--harness-strategies=supervised,published_zero_shot,zero_shot", "--harness-bootstrap=200",
                       f"--harness-report-dir={tmp_path}", env={"FPB_DIR": str(fpb_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    page = tmp_path / "fpb-sentiment.html"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "fpb-sentiment-report.png"
    shot.unlink(missing_ok=True)
    done = _browse(browser, page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2200")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, distinct = _distinct_pixels_bytes(shot)
    assert (width, height) == (1400, 2200)

    blank = tmp_path / "blank.png"  # the control: what a page with nothing on it looks like
    _browse(browser, "about:blank", tmp_path / "profile2", f"--screenshot={blank}", "--window-size=1400,2200")
    assert distinct > 4 * _distinct_pixels_bytes(blank)[2], "the screenshot is (nearly) blank"

    dom = _browse(browser, page.as_uri(), tmp_path / "profile3", "--dump-dom").stdout
    assert "<table" in dom and ">tfidf-logreg<" in dom and ">published-gpt-4<" in dom  # the leaderboard
    assert dom.count("<svg") >= 3 and "<circle" in dom  # Pareto plots with points, latency plot
    assert "items that some row got wrong" in dom  # the error browser's script ran
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    assert all(r["pareto"]["cost"] in ("frontier",) or str(r["pareto"]["cost"]).startswith("dominated") or
               r["pareto"]["cost"] is None for r in report["rows"])
