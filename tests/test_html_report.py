"""The HTML report, checked the way a person would: rendered by headless Chromium with no network.

Chromium is Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it). Outside CI a
machine without it skips the browser tests; in CI (``$CI`` set) a missing browser fails them. The
screenshot is written to ``reports/artifacts/fpb-sentiment-report.png`` (gitignored: the page shows test
sentences) so a person can look at it.

The full report here is built by ``build_report`` from generated cases shaped like the default run's (the
fine-tuned adapter, published GPT-4 and GPT-3.5 replies, a prompted API row without a price, the TF-IDF
floor, on the published AllAgree split's 453 items): the layout is checked in seconds, without a model.
"""

import functools
import html
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_suite
from harness.report import html as html_report
from harness import report as report_mod
from harness.pricing import load_prices
from harness.report import build_report

ARTIFACTS = ROOT / "reports" / "artifacts"
COMMITTED_CURVE = ROOT / "reports" / "learning_curve.json"
LABELS = ("positive", "negative", "neutral")
WIDTH, FOLD = 1400, 900
ADAPTER = "adapter:fpb-sentiment-smollm2-135m"
PUBLISHED_SPLIT = {"method": "published", "seed": 5768, "n_train": 1806, "n_test": 453, "n_evaluated": 453,
                   "test_fingerprint": "sha256:916ae3d31dfd61c6", "leaked_removed_from_train": 4,
                   "repeats_removed_from_train": 1}
DATA = {"file": "Sentences_AllAgree.txt", "source": "env", "directory": "d", "examples": 2264, "duplicate_lines": 6,
        "conflicting_sentences_removed": 0, "is_sample": False,
        "file_sha256": "5fb370b3005b9a2759f708849a691ad2e4d2593d4c995c1afde229398a516594"}
# (model, strategy, kind, share answered right, share unparsed, latency s, fine-tuned)
ROWS = ((ADAPTER, "zero_shot", "local", 0.97, 0.0, 0.031, True),
        ("published-gpt-4", "published_zero_shot", "replayed", 0.93, 0.0, None, False),
        ("published-gpt-3.5-turbo", "published_zero_shot", "replayed", 0.88, 0.01, None, False),
        ("tfidf-logreg", "supervised", "local", 0.86, 0.0, 0.0004, False),
        ("openai:smollm2-135m-instruct-q4_1", "zero_shot", "api", 0.30, 0.25, 0.41, False))


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
             "--hide-scrollbars", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
             "--proxy-bypass-list=<-loopback>"]
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


# -- the report under test ------------------------------------------------------------------------------------

def _cases(n: int = 453, seed: int = 7) -> list[dict]:
    """Cases for the five default rows on ``n`` items; label shares as in AllAgree (mostly neutral)."""
    rng = np.random.default_rng(seed)
    golds = rng.choice(LABELS, size=n, p=(0.25, 0.13, 0.62))
    cases = []
    for model, strategy, kind, right, unparsed, latency, tuned in ROWS:
        draws = rng.random(n)
        for i, gold in enumerate(golds):
            wrong = LABELS[(LABELS.index(gold) + 1 + int(draws[i] * 10) % 2) % 3]
            pred = gold if draws[i] < right else None if draws[i] > 1 - unparsed else wrong
            cases.append({
                "task": "fpb-sentiment", "model": model, "strategy": strategy, "index": i,
                "example_id": f"ex{i:03d}", "gold": str(gold),
                "pred": None if pred is None else str(pred), "reply": "I cannot tell <b>" if pred is None else str(pred), "error": None,
                "latency_s": None if latency is None else float(latency * (0.6 + draws[i])),
                "latency_source": "none" if latency is None else ("recorded" if kind == "api" else "local"),
                "kind": kind, "fine_tuned": tuned, "batch_size": 16 if kind == "local" else 1,
                "input_tokens": 118 if kind == "api" else None, "output_tokens": 3 if kind == "api" else None,
                "cached_input_tokens": 0, "cost_usd": None, "provenance": f"made for the test <i>{model}</i>",
            })
    return cases


def _meta(**split) -> dict:
    return {"task": "fpb-sentiment", "task_version": 1, "template_version": "t", "bootstrap_resamples": 200,
            "record_mode": "none", "data": DATA, "split": {**PUBLISHED_SPLIT, **split},
            "prices": {"as_of": load_prices().as_of},
            "unavailable": {"openai:gpt-4o": "not recorded (no cassettes/fpb-sentiment/gpt-4o/zero_shot.json); record "
                                             "with: OPENAI_API_KEY=... pytest suites -m sentiment "
                                             "--harness-models=openai:gpt-4o --record-mode=once"},
            "companions": [{"task": "fpb-slices", "title": "FPB agreement slices",
                            "not_run": 'not run in this session: add it with -m "sentiment or slices"'}]}


@functools.lru_cache(maxsize=None)
def _built(split: tuple) -> str:
    cases = _cases()
    report = build_report(_meta(**dict(split)), cases, labels=LABELS, pair_order=[r[:2] for r in ROWS], expected={},
                          root=ROOT, seed=1, resamples=200, prices=load_prices())
    return json.dumps([report, cases])


def full_report(**split) -> tuple[dict, list[dict]]:
    """The five-row report and its cases (built once per split: the paired bootstraps take a while)."""
    report, cases = json.loads(_built(tuple(sorted(split.items()))))
    return report, cases


def _texts() -> dict[str, str]:
    return {f"ex{i:03d}": f"Generated sentence {i} , with FPB-style spacing ." for i in range(453)}


# -- a probe the browser runs: where the verdict is, the page's text, every plot's tick labels --------------

PROBE = """<script>(function(){
  var v = document.getElementById('verdict').getBoundingClientRect();
  document.getElementById('browser-items').textContent = '';
  var plots = [].map.call(document.querySelectorAll('figure.plot-figure'), function(f){
    function ticks(axis){ return [].map.call(f.querySelectorAll('svg g[id^="' + axis + 'tick_"] text'),
      function(t){ return t.textContent.trim(); }).filter(function(s){ return s.length > 0; }); }
    return {id: f.id, svg: !!f.querySelector('svg'), x: ticks('x'), y: ticks('y'),
            note: (f.querySelector('.plot-note') || {textContent: ''}).textContent};
  });
  var out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify({top: v.top, bottom: v.bottom, width: window.innerWidth,
                                    text: document.body.innerText, plots: plots});
  document.body.appendChild(out);
})();</script>"""


def _probe(browser: str, page: Path, tmp_path: Path) -> dict:
    probed = tmp_path / f"probe-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _browse(browser, probed.as_uri(), tmp_path / f"profile-{page.stem}", "--dump-dom",
                  f"--window-size={WIDTH},{FOLD}").stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: " + dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


EMPTY_SENTENCE = (r"\(\s*\)", r":\s*[.;,]", r"[,;]\s*[,;.]", r"\S {2,}\S", r" [.,;:](\s|$)", r"\bNone\b",
                  r"\bundefined\b", r"\{\{|\}\}")


def _text_problems(text: str) -> list[str]:
    problems = [bad for bad in ("**", "e+0", "e-0", "NaN") if bad in text]
    for line in text.splitlines():
        for cell in line.split("\t"):
            problems += [f"{pattern!r} in {cell.strip()!r}" for pattern in EMPTY_SENTENCE if re.search(pattern, cell.strip())]
    return problems


# -- tests ----------------------------------------------------------------------------------------------------

def test_html_holds_every_section_and_escapes_replies(tmp_path):
    report, cases = full_report()
    versus = {v["b"]: v for v in report["economics"]["versus"]}
    assert versus["tfidf-logreg · supervised"]["latency_ratio"] > 1 and versus["published-gpt-4 · published_zero_shot"]["cost_ratio"] < 1
    curve = json.loads(COMMITTED_CURVE.read_text())
    wrong = next(c["example_id"] for c in cases if c["pred"] != c["gold"])  # the error browser shows it
    page = html_report.render(report, cases, {wrong: "Sales rose </script><script>alert(1)</script>"}, curve,
                              curve_note="measured here")
    for anchor in ("verdict", "plots", "leaderboard", "comparisons", "costs", "payoff", "latency", "confusion",
                   "learning-curve", "errors", "metadata", "not-run"):
        assert f'id="{anchor}"' in page
    assert page.index('id="verdict"') < page.index('id="plots"') < page.index('id="leaderboard"')
    assert page.index('id="not-run"') > page.index('id="metadata"') and "<details" in page
    # F1 per row, quality vs $, quality vs latency, one break-even, latency distributions, learning curve
    assert page.count("<svg") == 6
    assert page.count("</script>") == 2  # the data block and the browser's code: a sentence cannot close either
    assert "Sales rose <\\/script><script>alert(1)<\\/script>" in page
    assert "made for the test &lt;i&gt;" in page and "made for the test <i>" not in page
    # nothing is fetched: no attribute points outside the file (sources of prices are cited as text only)
    assert not re.search(r'(src|href|action|data)\s*=\s*"(https?:)?//', page) and "<link" not in page
    assert not re.search(r"url\((?!#)", page) and "@import" not in page  # url(#clip) is local


def test_verdict_is_first_in_markdown_and_not_run_rows_are_collapsed_at_the_end(tmp_path):
    report, _ = full_report()
    text = report_mod.markdown(report)
    assert text.index("## Verdict") < text.index("## Leaderboard")
    assert text.rstrip().endswith("</details>") and "openai:gpt-4o" in text.split("<details>")[1]
    assert "not run: openai:gpt-4o" not in text.split("<details>")[0]
    for bad in ("e+0", "e-0", "NaN"):
        assert bad not in text


def test_the_verdict_is_a_top_block_and_the_verdict_in_full_follows_the_comparisons():
    from markupsafe import escape

    report, cases = full_report()
    splits = ["published seed 5768", "published seed 78516", "published seed 944601"]
    report["across_splits"] = {"file": "reports/fpb-sentiment-splits.json", "splits": splits, "lines": ["in words"],
                               "outcomes": [{"a": f"{ADAPTER} · zero_shot", "b": "published-gpt-4 · published_zero_shot",
                                             "verdicts": dict(zip(splits, ("better", "tied", "better")))}]}
    page = html_report.render(report, cases, _texts())
    start = page.index('id="verdict"')
    top = page[start:page.index("</section>", start)]
    assert "better than published-gpt-4 on 2 of 3 splits, tied on one (published seed 78516)" in top
    assert top.count("<li") == 3 and '<a href="#verdict-in-full">More in' in top  # published, API, floor; the pointer
    start = page.index('id="verdict-in-full"')
    in_full = page[start:page.index("</section>", start)]
    v = report_mod.verdicts(report)
    assert [str(escape(t["text"])) in in_full for t in v["in_full"]] == [True] * 5  # 4 sentences, 1 across splits
    assert page.index('id="comparisons"') < page.index('id="verdict-in-full"') < page.index('id="costs"')


def test_report_files_are_world_readable_and_the_package_curve_is_never_read(tmp_path):
    report, cases = full_report()
    paths = report_mod.write(report, cases, tmp_path / "out", texts=_texts())
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    page = paths["html"].read_text()
    assert 'id="plot-learning-curve"' not in page  # reports/learning_curve.json of the package is not this run's
    assert "No learning curve for this run" in page


@pytest.mark.slow
def test_full_report_in_headless_chromium(tmp_path):
    browser = _chromium()
    report, cases = full_report()
    out = tmp_path / "report"
    out.mkdir()
    shutil.copy(COMMITTED_CURVE, out / report_mod.LEARNING_CURVE)  # measured on this task, data and split
    page = report_mod.write(report, cases, out, texts=_texts())["html"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "fpb-sentiment-report.png"
    shot.unlink(missing_ok=True)
    done = _browse(browser, page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},2400")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, distinct = _distinct_pixels_bytes(shot)
    assert (width, height) == (WIDTH, 2400)
    blank = tmp_path / "blank.png"  # the control: what a page with nothing on it looks like
    _browse(browser, "about:blank", tmp_path / "profile2", f"--screenshot={blank}", f"--window-size={WIDTH},2400")
    assert distinct > 4 * _distinct_pixels_bytes(blank)[2], "the screenshot is (nearly) blank"

    seen = _probe(browser, page, tmp_path)
    assert seen["width"] == WIDTH
    assert 0 <= seen["top"] < seen["bottom"] <= FOLD, f"the verdict block ends at {seen['bottom']} px"
    assert _text_problems(seen["text"]) == []
    assert "significantly better" in seen["text"] and "published-gpt-4" in seen["text"]
    ids = {p["id"] for p in seen["plots"]}
    assert {"plot-f1", "plot-cost", "plot-latency", "plot-break-even-0", "plot-latency-dist", "plot-learning-curve"} <= ids
    for plot in seen["plots"]:
        assert plot["svg"], plot
        assert len(plot["x"]) >= 2 and len(plot["y"]) >= 2, f"{plot['id']}: unlabelled ticks {plot}"
    cost_plot = next(p for p in seen["plots"] if p["id"] == "plot-cost")
    assert "openai:smollm2-135m-instruct-q4_1" in cost_plot["note"]  # the unpriced row is named, not dropped


@pytest.mark.slow
def test_a_run_on_another_split_shows_no_foreign_learning_curve(tmp_path):
    browser = _chromium()
    report, cases = full_report(method="random", seed=78516, test_fingerprint="sha256:0123456789abcdef")
    out = tmp_path / "report"
    out.mkdir()
    shutil.copy(COMMITTED_CURVE, out / report_mod.LEARNING_CURVE)
    page = report_mod.write(report, cases, out, texts=_texts())["html"]
    seen = _probe(browser, page, tmp_path)
    assert "plot-learning-curve" not in {p["id"] for p in seen["plots"]}
    assert "belongs to another run" in seen["text"] and "seed 5768" in seen["text"]
    assert _text_problems(seen["text"]) == []


@pytest.mark.slow
def test_html_report_of_a_real_suite_run_renders_without_network(fpb_dir, tmp_path):
    browser = _chromium()
    result = run_suite("--harness-models=tfidf-logreg,published-gpt-4,openai:smollm2-135m-instruct-q4_1",
                       "--harness-strategies=supervised,published_zero_shot,zero_shot", "--harness-bootstrap=200",
                       f"--harness-report-dir={tmp_path}", env={"FPB_DIR": str(fpb_dir)})
    assert result.returncode == 0, result.stdout[-3000:]
    page = tmp_path / "fpb-sentiment.html"
    dom = _browse(browser, page.as_uri(), tmp_path / "profile3", "--dump-dom").stdout
    assert "<table" in dom and ">tfidf-logreg<" in dom and ">published-gpt-4<" in dom  # the leaderboard
    assert dom.count("<svg") >= 4 and 'id="verdict"' in dom
    assert "No fine-tuned row ran" in dom  # this run has none: the verdict says so and how to add one
    assert "items that some row got wrong" in dom  # the error browser's script ran
    seen = _probe(browser, page, tmp_path)
    assert seen["bottom"] <= FOLD and _text_problems(seen["text"]) == []
    report = json.loads((tmp_path / "fpb-sentiment.json").read_text())
    assert all(r["pareto"]["cost"] in ("frontier",) or str(r["pareto"]["cost"]).startswith("dominated") or
               r["pareto"]["cost"] is None for r in report["rows"])
