"""The report as one self-contained HTML file: inline CSS, inline SVG plots, plain inline JS, no network.

Sections: run metadata, leaderboard, fine-tuned vs the rest, Pareto plots (weighted F1 with its CI
against $ per 1k requests and against p50 latency, dominated rows hollow), latency distributions,
confusion matrices, the learning curve (when ``learning_curve.json`` is beside the report) and an error
browser (misclassified sentences with every row's raw reply, filterable by a pair of rows).

The file holds test-set sentences (Financial PhraseBank, CC BY-NC-SA): it is written under ``reports/``,
which is not committed.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Mapping, Sequence

from harness import report as report_mod

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 560, 340, 60, 20, 20, 50
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
MAX_REPLY = 1500

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3} td.num{text-align:right;font-variant-numeric:tabular-nums}
.notice{color:#b00;font-weight:bold} .meta{font-size:13px;color:#444} .plots{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0} figcaption{font-size:12px;color:#555;max-width:560px} .cm{display:inline-block;margin:0 16px 16px 0;vertical-align:top}
.cm caption{font-size:12px;font-weight:bold;text-align:left} .item{border:1px solid #ddd;margin:8px 0;padding:6px 10px}
.item .text{font-weight:600} .ok{color:#1a7f37} .bad{color:#b00} pre{white-space:pre-wrap;margin:0;font-size:12px}
.dominated{color:#888} #browser select{margin-right:12px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _scale(lo: float, hi: float, a: float, b: float, log: bool):
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or 1.0

    def f(v: float) -> float:
        v = math.log10(v) if log else v
        return a + (v - lo) / span * (b - a)
    return f


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    step = (hi - lo) / 5 or 1.0
    return [lo + i * step for i in range(6)]


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.0e}"
    return f"{v:.3g}"


def _axes(xs: tuple[float, float], ys: tuple[float, float], xlabel: str, ylabel: str, log_x: bool) -> tuple[str, Any, Any]:
    x = _scale(*xs, PAD_L, WIDTH - PAD_R, log_x)
    y = _scale(*ys, HEIGHT - PAD_B, PAD_T, False)
    parts = [f'<rect x="{PAD_L}" y="{PAD_T}" width="{WIDTH - PAD_L - PAD_R}" height="{HEIGHT - PAD_T - PAD_B}" '
             'fill="white" stroke="#999"/>']
    for t in _ticks(*xs, log_x):
        if xs[0] <= t <= xs[1]:
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_T}" y2="{HEIGHT - PAD_B}" stroke="#eee"/>'
                         f'<text x="{x(t):.1f}" y="{HEIGHT - PAD_B + 16}" font-size="11" text-anchor="middle">{_fmt_tick(t)}</text>')
    for t in _ticks(*ys, False):
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 6}" y="{y(t) + 4:.1f}" font-size="11" text-anchor="end">{t:.2f}</text>')
    parts.append(f'<text x="{(PAD_L + WIDTH - PAD_R) / 2}" y="{HEIGHT - 12}" font-size="12" text-anchor="middle">{_e(xlabel)}</text>'
                 f'<text transform="translate(14,{(PAD_T + HEIGHT - PAD_B) / 2}) rotate(-90)" font-size="12" '
                 f'text-anchor="middle">{_e(ylabel)}</text>')
    return "".join(parts), x, y


def _svg(body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>{body}</svg>')


def _range(values: Sequence[float], log: bool) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if log:
        return lo / 2, hi * 2
    pad = (hi - lo) * 0.1 or 0.05
    return lo - pad, hi + pad


def pareto_svg(rows: Sequence[Mapping[str, Any]], x_of, key: str, xlabel: str, colors: Mapping[str, str]) -> str:
    """Weighted F1 (with its 95 % CI) against a cost; frontier rows filled, dominated rows hollow."""
    pts = [(r, x_of(r)) for r in rows if x_of(r) is not None and x_of(r) > 0]
    if not pts:
        return "<p>No row has this measure.</p>"
    xs = _range([v for _, v in pts], True)
    ys = _range([v for r, _ in pts for v in r["weighted_f1_ci95"]], False)
    ys = (max(0.0, ys[0]), min(1.0, ys[1]))
    body, x, y = _axes(xs, ys, xlabel, "weighted F1 (95% CI)", True)
    frontier = sorted((v, r["weighted_f1"]) for r, v in pts if (r.get("pareto") or {}).get(key) == "frontier")
    if len(frontier) > 1:
        body += '<polyline fill="none" stroke="#555" stroke-dasharray="4 3" points="' + \
            " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in frontier) + '"/>'
    for r, v in pts:
        name = f"{r['model']} · {r['strategy']}"
        lo, hi = r["weighted_f1_ci95"]
        color = colors[name]
        dominated = (r.get("pareto") or {}).get(key) != "frontier"
        body += (f'<g class="point"><title>{_e(name)}: F1 {r["weighted_f1"]:.3f} [{lo:.3f}, {hi:.3f}], {_fmt_tick(v)}'
                 f'{" (dominated)" if dominated else " (Pareto frontier)"}</title>'
                 f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{y(lo):.1f}" y2="{y(hi):.1f}" stroke="{color}"/>'
                 f'<circle cx="{x(v):.1f}" cy="{y(r["weighted_f1"]):.1f}" r="5" stroke="{color}" stroke-width="2" '
                 f'fill="{"white" if dominated else color}"/></g>')
    return _svg(body, f"weighted F1 vs {xlabel}")


def latency_svg(cases_by_row: Mapping[str, Sequence[float]], colors: Mapping[str, str]) -> str:
    """One horizontal box per row (5th–95th percentile whiskers, quartile box, median), log scale."""
    rows = [(name, sorted(v)) for name, v in cases_by_row.items() if v and min(v) > 0]
    if not rows:
        return "<p>No row has measured latencies.</p>"
    height = PAD_T + PAD_B + 28 * len(rows)
    lo = min(v[0] for _, v in rows) / 2
    hi = max(v[-1] for _, v in rows) * 2
    x = _scale(lo, hi, 330, WIDTH + 300 - PAD_R, True)
    width = WIDTH + 300
    parts = []
    for t in _ticks(lo, hi, True):
        if lo <= t <= hi:
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_T}" y2="{height - PAD_B}" stroke="#eee"/>'
                         f'<text x="{x(t):.1f}" y="{height - PAD_B + 16}" font-size="11" text-anchor="middle">{_fmt_tick(t)}</text>')

    def q(v: Sequence[float], p: float) -> float:
        return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]

    for i, (name, v) in enumerate(rows):
        cy = PAD_T + 14 + 28 * i
        c = colors.get(name, "#333")
        parts.append(f'<text x="325" y="{cy + 4}" font-size="11" text-anchor="end">{_e(name)}</text>'
                     f'<g><title>{_e(name)}: p5 {q(v, .05):.3g} s, median {q(v, .5):.3g} s, p95 {q(v, .95):.3g} s, n={len(v)}</title>'
                     f'<line x1="{x(q(v, .05)):.1f}" x2="{x(q(v, .95)):.1f}" y1="{cy}" y2="{cy}" stroke="{c}"/>'
                     f'<rect x="{x(q(v, .25)):.1f}" y="{cy - 8}" width="{max(1.0, x(q(v, .75)) - x(q(v, .25))):.1f}" height="16" '
                     f'fill="{c}" fill-opacity="0.3" stroke="{c}"/>'
                     f'<line x1="{x(q(v, .5)):.1f}" x2="{x(q(v, .5)):.1f}" y1="{cy - 8}" y2="{cy + 8}" stroke="{c}" stroke-width="2"/></g>')
    parts.append(f'<text x="{(330 + width - PAD_R) / 2}" y="{height - 12}" font-size="12" text-anchor="middle">'
                 'latency per item, seconds (log scale)</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="latency distributions"><title>latency distributions</title>{"".join(parts)}</svg>')


def learning_curve_svg(curve: Mapping[str, Any]) -> str:
    """Weighted F1 (CI band) against training examples, with the baselines as dashed lines."""
    points = sorted((p for p in curve.get("rows", []) if p.get("n") and p.get("weighted_f1") is not None),
                    key=lambda p: p["n"])
    if not points:
        return "<p>The learning-curve file has no rows.</p>"
    baselines = [b for b in curve.get("baselines", []) if b.get("weighted_f1") is not None]
    ns = [p["n"] for p in points]
    log = max(ns) / max(1, min(ns)) > 20
    xs = _range(ns, log) if log else (0.0, max(ns) * 1.05)
    all_y = [v for p in points for v in (p.get("weighted_f1_ci95") or [p["weighted_f1"]] * 2)] + \
        [b["weighted_f1"] for b in baselines]
    ys = _range(all_y, False)
    ys = (max(0.0, ys[0]), min(1.0, ys[1]))
    body, x, y = _axes(xs, ys, "training examples" + (" (log scale)" if log else ""), "weighted F1", log)
    band = [p for p in points if p.get("weighted_f1_ci95")]
    if band:
        upper = " ".join(f"{x(p['n']):.1f},{y(p['weighted_f1_ci95'][1]):.1f}" for p in band)
        lower = " ".join(f"{x(p['n']):.1f},{y(p['weighted_f1_ci95'][0]):.1f}" for p in reversed(band))
        body += f'<polygon points="{upper} {lower}" fill="#1f77b4" fill-opacity="0.15" stroke="none"/>'
    body += '<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="' + \
        " ".join(f"{x(p['n']):.1f},{y(p['weighted_f1']):.1f}" for p in points) + '"/>'
    for p in points:
        body += (f'<circle cx="{x(p["n"]):.1f}" cy="{y(p["weighted_f1"]):.1f}" r="3.5" fill="#1f77b4">'
                 f'<title>n={p["n"]}: F1 {p["weighted_f1"]:.3f}</title></circle>')
    for i, b in enumerate(baselines):
        color = PALETTE[(i + 1) % len(PALETTE)]
        body += (f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(b["weighted_f1"]):.1f}" y2="{y(b["weighted_f1"]):.1f}" '
                 f'stroke="{color}" stroke-dasharray="5 4"/><text x="{WIDTH - PAD_R - 4}" y="{y(b["weighted_f1"]) - 4:.1f}" '
                 f'font-size="11" text-anchor="end" fill="{color}">{_e(b.get("model"))} · {_e(b.get("strategy"))} '
                 f'{b["weighted_f1"]:.3f}</text>')
    return _svg(body, "learning curve")


def _table(rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{_e(c)}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def confusion_html(row: Mapping[str, Any]) -> str:
    conf = row["confusion"]
    matrix = conf["matrix"]
    top = max((v for r in matrix for v in r), default=1) or 1
    head = "".join(f"<th>{_e(c)}</th>" for c in conf["columns"])
    body = ""
    for label, counts in zip(conf["labels"], matrix):
        cells = "".join(f'<td class="num" style="background:rgba(31,119,180,{v / top * 0.8:.2f})">{v}</td>' for v in counts)
        body += f"<tr><th>{_e(label)}</th>{cells}</tr>"
    return (f'<table class="cm"><caption>{_e(row["model"])} · {_e(row["strategy"])}</caption>'
            f"<thead><tr><th>gold \\ pred</th>{head}</tr></thead><tbody>{body}</tbody></table>")


def _browser_data(report: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], texts: Mapping[str, str]) -> dict[str, Any]:
    names = [f"{r['model']} · {r['strategy']}" for r in report["rows"]]
    by_item: dict[str, dict[str, Any]] = {}
    for c in sorted(cases, key=lambda c: c["index"]):
        name = f"{c['model']} · {c['strategy']}"
        item = by_item.setdefault(c["example_id"], {"id": c["example_id"], "text": texts.get(c["example_id"], ""),
                                                    "gold": c["gold"], "r": {}})
        item["r"][name] = [c["pred"], (c["error"] or c["reply"] or "")[:MAX_REPLY]]
    wrong = [i for i in by_item.values() if any(p != i["gold"] for p, _ in i["r"].values())]
    return {"rows": names, "items": wrong}


BROWSER_JS = """
(function(){
  var data = JSON.parse(document.getElementById('browser-data').textContent);
  var a = document.getElementById('row-a'), b = document.getElementById('row-b'), mode = document.getElementById('mode');
  var out = document.getElementById('browser-items'), count = document.getElementById('browser-count');
  data.rows.forEach(function(name, i){
    [a, b].forEach(function(sel, k){ var o = document.createElement('option'); o.value = name; o.textContent = name;
      if ((k === 0 && i === 0) || (k === 1 && i === 1)) o.selected = true; sel.appendChild(o); });
  });
  function wrong(item, row){ var r = item.r[row]; return r !== undefined && r[0] !== item.gold; }
  function right(item, row){ var r = item.r[row]; return r !== undefined && r[0] === item.gold; }
  function keep(item){
    var m = mode.value;
    if (m === 'a-wrong-b-right') return wrong(item, a.value) && right(item, b.value);
    if (m === 'a-right-b-wrong') return right(item, a.value) && wrong(item, b.value);
    if (m === 'both-wrong') return wrong(item, a.value) && wrong(item, b.value);
    if (m === 'a-wrong') return wrong(item, a.value);
    return true;
  }
  function el(tag, cls, text){ var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function render(){
    out.textContent = '';
    var shown = data.items.filter(keep);
    count.textContent = shown.length + ' of ' + data.items.length + ' items that some row got wrong';
    shown.slice(0, 300).forEach(function(item){
      var box = el('div', 'item');
      box.appendChild(el('div', 'text', item.text));
      box.appendChild(el('div', 'meta', item.id + ' · gold: ' + item.gold));
      var t = el('table'); var h = el('tr'); ['row', 'parsed', 'raw reply'].forEach(function(c){ h.appendChild(el('th', '', c)); }); t.appendChild(h);
      data.rows.forEach(function(row){
        var r = item.r[row]; if (r === undefined) return;
        var tr = el('tr'); tr.appendChild(el('td', '', row));
        tr.appendChild(el('td', r[0] === item.gold ? 'ok' : 'bad', r[0] === null ? '(parse failure)' : r[0]));
        var td = el('td'); td.appendChild(el('pre', '', r[1])); tr.appendChild(td); t.appendChild(tr);
      });
      box.appendChild(t); out.appendChild(box);
    });
  }
  [a, b, mode].forEach(function(s){ s.addEventListener('change', render); });
  render();
})();
"""


def render(report: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], texts: Mapping[str, str],
           learning_curve: Mapping[str, Any] | None = None) -> str:
    rows = report["rows"]
    names = [f"{r['model']} · {r['strategy']}" for r in rows]
    colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    latencies: dict[str, list[float]] = {n: [] for n in names}
    for c in cases:
        if c.get("latency_s"):
            latencies.setdefault(f"{c['model']} · {c['strategy']}", []).append(float(c["latency_s"]))
    meta_lines = report_mod.header_lines(report) + report_mod.cost_lines(report)
    data, split = report["data"], report["split"]
    run_meta = [["key", "value"], ["created", report["created_at"]], ["git sha", report.get("git_sha") or "unknown"],
                ["task", f"{report['task']} v{report.get('task_version')}"], ["template", report.get("template_version")],
                ["data", f"{data['file']} sha256 {str(data.get('file_sha256'))[:16]} ({data['source']})"],
                ["split", f"{split['method']} seed {split['seed']}, test fingerprint {split['test_fingerprint']}"],
                ["bootstrap resamples", report.get("bootstrap_resamples")], ["record mode", report.get("record_mode")],
                ["python", report.get("python")]] + \
        [[f"package {k}", v or "not installed"] for k, v in (report.get("packages") or {}).items()]
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(report['task'])} report</title>"
             f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
             f"script-src 'unsafe-inline'; img-src data:\"><style>{CSS}</style></head><body>",
             f"<h1>{_e(report['task'])}: fine-tune or prompt?</h1>"]
    if report.get("notice"):
        parts.append(f'<p class="notice">{_e(report["notice"])}</p>')
    parts.append('<div class="meta">' + "".join(f"<div>{_e(line)}</div>" for line in meta_lines) + "</div>")
    parts.append('<h2 id="leaderboard">Leaderboard</h2>' + _table(report_mod.leaderboard(report), numeric=(2, 4, 5)))
    if report.get("comparisons"):
        parts.append('<h2 id="comparisons">Fine-tuned vs the rest (paired, same items)</h2>'
                     + _table(report_mod.comparison_table(report)))
    parts.append('<h2 id="costs">Cost per row</h2>' + _table(report_mod.cost_table(report), numeric=(2, 3, 4, 5)))
    econ_md = report_mod.economics_markdown(report)
    if (report.get("economics") or {}).get("training"):
        parts.append("<h2>Does fine-tuning pay off?</h2>" + "".join(
            f"<div class=meta>{_e(line.lstrip('- '))}</div>" for line in econ_md if line.startswith("- ")))
        for v in report["economics"]["versus"]:
            sens = v.get("sensitivity")
            if sens:
                head = ["machine $/h \\ API price"] + [f"×{a:g}" for a in sens["api_price_factor"]]
                grid = [[f"${h:.4g}"] + [report_mod.economics.format_requests(n) for n in cells]
                        for h, cells in zip(sens["dollars_per_hour"], sens["break_even_requests"])]
                parts.append(f"<p class=meta>Break-even requests, {_e(v['a'])} vs {_e(v['b'])}:</p>" + _table([head] + grid))
    parts.append('<h2 id="pareto">Pareto view</h2><div class="plots">'
                 f'<figure>{pareto_svg(rows, lambda r: r["cost"]["per_1k_usd"], "cost", "$ per 1k requests (log scale)", colors)}'
                 '<figcaption>Filled: on the Pareto frontier (no row is at least as good and as cheap); hollow: '
                 'dominated. Bars: 95% bootstrap CI of weighted F1. Hover a point for its row.</figcaption></figure>'
                 f'<figure>{pareto_svg(rows, lambda r: r["latency"]["p50_s"], "latency", "p50 latency per item, s (log scale)", colors)}'
                 '<figcaption>The same against median latency per item.</figcaption></figure></div>')
    parts.append('<p class=meta>' + " ".join(f'<span style="color:{colors[n]}">●</span> {_e(n)} &nbsp;' for n in names) + "</p>")
    parts.append('<h2 id="latency">Latency distributions</h2>' + latency_svg(latencies, colors))
    parts.append('<h2 id="confusion">Confusion matrices</h2>' + "".join(confusion_html(r) for r in rows))
    if learning_curve:
        parts.append('<h2 id="learning-curve">Learning curve</h2>' + learning_curve_svg(learning_curve))
    for companion in report.get("companions") or []:
        parts.append(f'<h2 id="{_e(companion["task"])}">{_e(companion["title"])}</h2>')
        if companion.get("not_run"):
            parts.append(f"<p class=meta>{_e(companion['not_run'])}</p>")
            continue
        parts.append("".join(f"<div class=meta>{_e(line)}</div>" for line in companion["notes"])
                     + _table(companion["table"]))
    browser = json.dumps(_browser_data(report, cases, texts), ensure_ascii=False).replace("</", "<\\/")
    parts.append('<h2 id="errors">Error browser</h2><div id="browser">'
                 '<label>row A <select id="row-a"></select></label><label>row B <select id="row-b"></select></label>'
                 '<label>show <select id="mode"><option value="a-wrong-b-right">A wrong, B right</option>'
                 '<option value="a-right-b-wrong">A right, B wrong</option><option value="both-wrong">both wrong</option>'
                 '<option value="a-wrong">A wrong</option><option value="all">all misclassified</option></select></label>'
                 '<p id="browser-count" class="meta"></p><div id="browser-items"></div></div>'
                 f'<script type="application/json" id="browser-data">{browser}</script><script>{BROWSER_JS}</script>')
    parts.append('<h2 id="metadata">Run metadata</h2>' + _table(run_meta)
                 + "<h3>Where each row comes from</h3><ul>"
                 + "".join(f"<li><b>{_e(r['model'])} · {_e(r['strategy'])}</b>: {_e(r['provenance'])}</li>" for r in rows)
                 + "</ul></body></html>\n")
    return "".join(parts)
