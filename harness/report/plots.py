"""The report's plots, drawn by matplotlib (Agg, SVG) and returned as inline ``<svg>`` text.

Each function takes report rows (or a learning curve) and returns a :class:`Plot`: the SVG, and a note
naming the rows it could not place (no price, no latency), which the HTML prints under the figure so no
row is dropped silently. Text stays text in the SVG (``svg.fonttype = none``) so tick labels can be read,
searched and checked; no TeX, no mathtext (a ``$`` in a label is a dollar). matplotlib is imported
lazily: a run that writes no HTML never loads it.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from harness import humanize
from harness.report.curve import LearningCurve
from harness.report.rows import Row

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22")
TUNED_COLOR = "#d62728"
OTHER_COLOR = "#1f77b4"
OTHERS = tuple(c for c in PALETTE if c != TUNED_COLOR)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
LEGEND_LINE_IN = 0.17  # the height of one legend line at 7.5 pt, inches
WIDTH_IN, HEIGHT_IN = 6.6, 4.0
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "harness",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.axisbelow": True,
}
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class Plot:
    svg: str
    note: str = ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot

    return pyplot


def _styled(draw: Callable[..., Plot]) -> Callable[..., Plot]:
    """Run a plot function inside the report's matplotlib style (some settings are read as artists are made)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Plot:
        with _pyplot().rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


def _figure(height: float = HEIGHT_IN, width: float = WIDTH_IN, layout: str | None = None):
    return _pyplot().subplots(figsize=(width, height), dpi=96, layout=layout)


def _svg(fig, title: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no metadata), titled for screen readers."""
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata=NO_METADATA)
    _pyplot().close(fig)
    text = out.getvalue()
    text = text[text.index("<svg"):]
    from markupsafe import escape

    return re.sub(r"<svg\b", f'<svg role="img" aria-label="{escape(title)}" class="plot"', text, count=1)


def colors_for(rows: Sequence[Row], tuned: set[str]) -> dict[str, str]:
    """One colour per row for every plot of a report: fine-tuned rows red, the others in turn."""
    others = [r.name for r in rows if r.name not in tuned]
    return {**{name: OTHERS[i % len(OTHERS)] for i, name in enumerate(others)}, **{name: TUNED_COLOR for name in tuned}}


def markers_for(rows: Sequence[Row], tuned: set[str]) -> dict[str, str]:
    """One marker per row, in turn among the fine-tuned rows and among the others: with :func:`colors_for`'s
    colours no two rows look alike (up to 10 fine-tuned rows and 90 others), so a legend can name them."""
    groups = ([r.name for r in rows if r.name in tuned], [r.name for r in rows if r.name not in tuned])
    return {name: MARKERS[i % len(MARKERS)] for group in groups for i, name in enumerate(group)}


def _not_placed(rows: Iterable[Row], why: str) -> str:
    names = [r.name for r in rows]
    return f"Not shown, {why}: {', '.join(names)}." if names else ""


def _log_limits(values: Sequence[float]) -> tuple[float, float]:
    """Log-axis limits a little beyond ``values``, spanning at least a factor of 10 (so that at least two
    1-2-5 ticks, labelled, fall inside)."""
    lo, hi = min(values) / 1.6, max(values) * 1.6
    if hi / lo < 10:
        widen = math.sqrt(10 / (hi / lo))
        lo, hi = lo / widen, hi * widen
    return lo, hi


def _log_axis(axis, values: Sequence[float], fmt: Callable[[float], str]) -> None:
    """A log axis with ticks at 1-2-5 steps when it spans few decades, labelled by ``fmt``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = _log_limits(values)
    decades = math.log10(hi / lo)
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt(v)))
    axis.set_minor_formatter(NullFormatter())
    return lo, hi


def _f1_limits(ax, values: Sequence[float]) -> None:
    lo, hi = min(values), max(values)
    pad = max(0.02, (hi - lo) * 0.08)
    ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad) if hi + pad < 1.0 else 1.0)


@_styled
def f1_bars(rows: Sequence[Row], tuned: set[str]) -> Plot:
    """Weighted F1 with its 95 % CI, one line per row, best at the top; fine-tuned rows in red."""
    if not rows:
        return Plot("", "No row ran.")
    ordered = sorted(rows, key=lambda r: r.weighted_f1)
    fig, ax = _figure(height=0.9 + 0.32 * len(ordered))
    for i, r in enumerate(ordered):
        lo, hi = r.weighted_f1_ci95
        color = TUNED_COLOR if r.name in tuned else OTHER_COLOR
        ax.errorbar(r.weighted_f1, i, xerr=[[r.weighted_f1 - lo], [hi - r.weighted_f1]], fmt="o",
                    color=color, capsize=3, markersize=5)
        ax.annotate(f"{r.weighted_f1:.3f}", (hi, i), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8, color="#444")
    ax.set_yticks(range(len(ordered)), [r.name for r in ordered])
    ax.set_ylim(-0.6, len(ordered) - 0.4)
    lows = [r.weighted_f1_ci95[0] for r in ordered]
    ax.set_xlim(max(0.0, min(lows) - 0.05), 1.0)
    ax.set_xlabel("weighted F1 with 95% bootstrap CI (fine-tuned rows in red)")
    ax.grid(axis="y", visible=False)
    return Plot(_svg(fig, "weighted F1 with 95% CI per row"))


def _front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The Pareto front of (cost, F1) points, lower cost and higher F1 better, as a step line's corners."""
    front, best = [], -math.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


@_styled
def quality_vs(rows: Sequence[Row], x_of: Callable[[Row], float | None], *,
               xlabel: str, fmt: Callable[[float], str], tuned: set[str], why_missing: str, title: str,
               colors: Mapping[str, str] | None = None) -> Plot:
    """Weighted F1 (with CI) against a cost on a log axis, the Pareto front as a dashed step line. Each row has
    its own marker and colour, named in a legend under the axes: points that cluster carry no text to collide."""
    placed = [(r, x_of(r)) for r in rows if x_of(r) is not None and x_of(r) > 0]
    note = _not_placed([r for r in rows if x_of(r) is None or x_of(r) <= 0], why_missing)
    if not placed:
        return Plot("", note or "No row has this measure.")
    colors = colors or colors_for(rows, tuned)
    markers = markers_for(rows, tuned)
    entries = len(placed) + 1
    fig, ax = _figure(height=HEIGHT_IN + LEGEND_LINE_IN * math.ceil(entries / 2), layout="constrained")
    handles = []  # the rows in the report's order, then the front
    for r, x in placed:
        lo, hi = r.weighted_f1_ci95
        handles.append(ax.errorbar(x, r.weighted_f1, yerr=[[r.weighted_f1 - lo], [hi - r.weighted_f1]],
                                   fmt=markers[r.name], color=colors.get(r.name, OTHER_COLOR), capsize=3,
                                   markersize=6, label=r.name))
    front = _front([(x, r.weighted_f1) for r, x in placed])
    if len(front) > 1:
        xs = [p[0] for p in front]
        ys = [p[1] for p in front]
        handles += ax.step(xs, ys, where="post", linestyle="--", color="#666", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    lo, hi = _log_axis(ax.xaxis, [x for _, x in placed], fmt)
    ax.set_xlim(lo, hi)
    _f1_limits(ax, [v for r, _ in placed for v in r.weighted_f1_ci95])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("weighted F1 (95% CI)")
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=7.5, frameon=False,
               handletextpad=0.4, columnspacing=1.2)
    return Plot(_svg(fig, title), note)


def quality_vs_cost(rows: Sequence[Row], tuned: set[str]) -> Plot:
    return quality_vs(rows, lambda r: r.cost.per_1k_usd, colors=colors_for(rows, tuned),
                      xlabel="$ per 1 000 requests (log scale)",
                      fmt=lambda v: humanize.usd(v, whole=True), tuned=tuned, why_missing="no price",
                      title="weighted F1 against $ per 1 000 requests")


def quality_vs_latency(rows: Sequence[Row], tuned: set[str]) -> Plot:
    return quality_vs(rows, lambda r: r.latency.p50_s, colors=colors_for(rows, tuned),
                      xlabel="median latency per item (log scale)",
                      fmt=humanize.duration, tuned=tuned, why_missing="no measured latency",
                      title="weighted F1 against median latency")


@_styled
def break_even(tuned: Row, training_usd: float | None, others: Sequence[Row],
               monthly_volume: int, colors: Mapping[str, str] | None = None) -> Plot:
    """First-month total cost against monthly volume: training + serving the fine-tuned row vs each other
    priced row; where the lines cross is the break-even volume."""
    own = tuned.cost.per_call_usd
    if own is None or training_usd is None:
        why = "it has no cost per call" if own is None else "its training cost is unknown (no adapter card)"
        return Plot("", f"No break-even plot for {tuned.name}: {why}.")
    priced = [r for r in others if r.cost.per_call_usd is not None]
    note = _not_placed([r for r in others if r.cost.per_call_usd is None], "no price")
    import numpy as np

    volumes = np.logspace(1, 8, 200)
    fig, ax = _figure()
    ax.plot(volumes, training_usd + own * volumes, color=TUNED_COLOR, linewidth=2.2,
            label=f"{tuned.name} (training {humanize.usd(training_usd)} + serving)")
    for i, r in enumerate(priced):
        color = (colors or {}).get(r.name, OTHERS[i % len(OTHERS)])
        per_call = r.cost.per_call_usd
        ax.plot(volumes, per_call * volumes, color=color, linewidth=1.4, label=r.name)
        if per_call > own:
            n = training_usd / (per_call - own)
            if volumes[0] <= n <= volumes[-1]:
                ax.plot([n], [per_call * n], "o", color=color, markersize=5)
    ax.axvline(monthly_volume, color="#999", linestyle=":", linewidth=1)
    ax.annotate(f"{humanize.requests(monthly_volume)} / month", (monthly_volume, 0.02),
                xycoords=("data", "axes fraction"), xytext=(3, 0), textcoords="offset points", fontsize=7.5, color="#666")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(volumes[0], volumes[-1])
    _log_axis(ax.xaxis, [volumes[0], volumes[-1]], humanize.requests)
    ys = [training_usd + own * volumes[0], training_usd + own * volumes[-1]] + \
        [v for r in priced for v in (r.cost.per_call_usd * volumes[0], r.cost.per_call_usd * volumes[-1])]
    ys = [y for y in ys if y > 0]
    lo, hi = _log_axis(ax.yaxis, ys, lambda v: humanize.usd(v, whole=True))
    ax.set_ylim(max(lo, min(ys) / 2), hi)
    ax.set_xlabel("requests per month (log scale)")
    ax.set_ylabel("first month's total cost (log scale)")
    ax.legend(loc="upper left", fontsize=7.5, frameon=False)
    return Plot(_svg(fig, f"break-even: {tuned.name} against each priced row"), note)


def _horizontal() -> dict[str, Any]:
    """boxplot's horizontal switch: ``orientation`` from matplotlib 3.10, ``vert`` before (deprecated since)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


@_styled
def latency_boxes(latencies: Mapping[str, Sequence[float]]) -> Plot:
    """One horizontal box per row (whiskers at the 5th and 95th percentiles), log scale."""
    rows = [(name, values) for name, values in latencies.items() if values and min(values) > 0]
    note = "Not shown, no measured latency: " + ", ".join(n for n, v in latencies.items() if not v) + "." \
        if any(not v for v in latencies.values()) else ""
    if not rows:
        return Plot("", note or "No row has measured latencies.")
    fig, ax = _figure(height=0.9 + 0.36 * len(rows), width=WIDTH_IN * 1.6)
    ax.boxplot([v for _, v in rows], **_horizontal(), whis=(5, 95), showfliers=False, widths=0.55,
               medianprops={"color": TUNED_COLOR, "linewidth": 1.6})
    ax.set_yticks(range(1, len(rows) + 1), [n for n, _ in rows])
    ax.set_xscale("log")
    lo, hi = _log_axis(ax.xaxis, [x for _, v in rows for x in v], humanize.duration)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("latency per item (log scale); box: quartiles, whiskers: 5th-95th percentile")
    ax.grid(axis="y", visible=False)
    return Plot(_svg(fig, "latency distributions"), note)


@_styled
def learning_curve(curve: LearningCurve | Mapping[str, Any]) -> Plot:
    """Weighted F1 (CI band) against training examples, the run's other rows as dashed lines."""
    curve = LearningCurve.of(curve)
    points = sorted((p for p in curve.rows if p.n and p.weighted_f1 is not None), key=lambda p: p.n or 0)
    if not points:
        return Plot("", "The learning-curve file has no measured rows.")
    baselines = [b for b in curve.baselines if b.weighted_f1 is not None]
    fig, ax = _figure(height=3.8, width=WIDTH_IN * 1.1)
    ns = [p.n for p in points]
    band = [p for p in points if p.weighted_f1_ci95]
    if band:
        ax.fill_between([p.n for p in band], [p.weighted_f1_ci95[0] for p in band],  # type: ignore[index]
                        [p.weighted_f1_ci95[1] for p in band], color=TUNED_COLOR, alpha=0.15, linewidth=0)  # type: ignore[index]
    ax.plot(ns, [p.weighted_f1 for p in points], "o-", color=TUNED_COLOR, label="fine-tuned adapter (95% CI)")
    for i, b in enumerate(baselines):
        color = OTHERS[i % len(OTHERS)]
        ax.axhline(b.weighted_f1, color=color, linestyle="--", linewidth=1,
                   label=f"{b.model or None} · {b.strategy or None} {b.weighted_f1:.3f}")
    ax.set_xscale("log")
    lo, hi = _log_axis(ax.xaxis, ns, lambda v: humanize.number(v, 3))
    ax.set_xlim(lo, hi)
    _f1_limits(ax, [v for p in points for v in (p.weighted_f1_ci95 or [p.weighted_f1] * 2)]
               + [b.weighted_f1 for b in baselines])
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel("weighted F1")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    return Plot(_svg(fig, "learning curve"))
