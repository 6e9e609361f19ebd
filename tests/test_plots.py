"""The report's plots, measured on the figure matplotlib draws: no two pieces of text overlap.

Each plot function is run as the HTML report runs it; ``pyplot.close`` is held off meanwhile so the test can
draw the figure with matplotlib's renderer and take every visible text's bounding box (tick labels in view,
axis labels, legend entries, annotations).
"""

import itertools

import pytest

from harness.report import plots
from harness.report.rows import Cost, Latency, Row

ADAPTER = "adapter:fpb-sentiment-smollm2-135m · zero_shot"
# (model, strategy, weighted F1, its 95% CI, $ per 1k, p50 latency s): the main job's rows at --harness-limit 40
# (2026-12-05), and two priced API rows beside them. Most prompted rows sit low in F1, cheap and around 0.3 s:
# their points cluster.
MEASURED = (
    ("tfidf-logreg", "supervised", 0.830, (0.701, 0.946), 1.08e-06, 4.77e-05),
    ("smollm2-135m", "zero_shot", 0.255, (0.115, 0.418), 0.00938, 0.442),
    ("smollm2-135m", "few_shot", 0.254, (0.119, 0.420), 0.0190, 0.844),
    ("smollm2-135m", "cot", 0.075, (0.0, 0.166), 0.0786, 3.47),
    ("published-gpt-4", "published_zero_shot", 0.975, (0.923, 1.0), 3.06, None),
    ("published-gpt-3.5-turbo", "published_zero_shot", 0.785, (0.634, 0.921), 0.0525, None),
    ("openai:smollm2-135m-instruct-q4_1", "zero_shot", 0.181, (0.074, 0.314), None, 0.251),
    ("openai:smollm2-135m-instruct-q4_1", "few_shot", 0.254, (0.119, 0.420), None, 0.235),
    ("openai:smollm2-135m-instruct-q4_1", "cot", 0.100, (0.020, 0.204), None, 0.352),
    ("adapter:fpb-sentiment-smollm2-135m", "zero_shot", 0.977, (0.932, 1.0), 0.00300, 0.136),
    ("openai:gpt-4o-mini", "zero_shot", 0.240, (0.110, 0.400), 0.0210, 0.410),
    ("openai:gpt-4o-mini", "few_shot", 0.262, (0.125, 0.430), 0.0480, 0.470),
)


def _rows() -> list[Row]:
    return [Row(model=m, strategy=s, n=40, weighted_f1=f1, weighted_f1_ci95=ci,
                cost=Cost(per_1k_usd=usd, per_call_usd=None if usd is None else usd / 1000),
                latency=Latency(source="recorded" if p50 else "none", p50_s=p50))
            for m, s, f1, ci, usd, p50 in MEASURED]


@pytest.fixture
def drawn(monkeypatch):
    """``drawn(plot_function, *args)``: the Plot it returns and the figures it drew, left open (until the next
    call or the test's end)."""
    pyplot = pytest.importorskip("matplotlib.pyplot")
    close = pyplot.close
    close("all")
    monkeypatch.setattr(pyplot, "close", lambda *args, **kwargs: None)

    def draw(plot_function, *args):
        close("all")
        plot = plot_function(*args)
        return plot, [pyplot.figure(n) for n in pyplot.get_fignums()]

    yield draw
    close("all")


def _in_view(text, axes) -> bool:
    """False for a tick label whose tick lies outside its axis' view (matplotlib keeps, but does not draw, it)."""
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if text in (tick.label1, tick.label2):
                    return tick.get_visible() and lo <= tick.get_loc() <= hi
    return True


def overlaps(fig) -> list[tuple[str, str]]:
    """Every pair of drawn, non-empty texts of ``fig`` whose bounding boxes intersect."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and _in_view(t, fig.axes)]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


@pytest.mark.parametrize("plot_function", [plots.quality_vs_cost, plots.quality_vs_latency])
def test_quality_plots_name_every_placed_row_without_overlapping_texts(drawn, plot_function):
    rows = _rows()
    plot, figures = drawn(plot_function, rows, {ADAPTER})
    assert len(figures) == 1 and plot.svg.startswith("<svg")
    assert overlaps(figures[0]) == []
    placed = [r.name for r in rows if r.name not in plot.note]
    assert len(placed) >= 9
    for name in placed:  # every placed row is named in the figure
        assert name in plot.svg


def test_the_other_summary_plots_have_no_overlapping_texts_either(drawn):
    rows = _rows()
    tuned = next(r for r in rows if r.name == ADAPTER)
    others = [r for r in rows if r is not tuned]
    for draw, args in ((plots.f1_bars, (rows, {ADAPTER})),
                       (plots.break_even, (tuned, 0.055, others, 100_000, plots.colors_for(rows, {ADAPTER})))):
        plot, figures = drawn(draw, *args)
        assert len(figures) == 1 and plot.svg, draw.__name__
        assert overlaps(figures[0]) == [], draw.__name__


def test_the_overlap_check_sees_overlapping_texts(drawn):
    pyplot = pytest.importorskip("matplotlib.pyplot")
    fig, ax = pyplot.subplots()
    ax.annotate("smollm2-135m · zero_shot", (0.5, 0.5))
    ax.annotate("smollm2-135m · few_shot", (0.51, 0.505))
    ax.annotate("far away", (0.05, 0.9))
    assert overlaps(fig) == [("smollm2-135m · zero_shot", "smollm2-135m · few_shot")]
