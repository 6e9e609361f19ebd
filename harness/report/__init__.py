"""Turning case results into the report, one module per concern:

* :mod:`~harness.report.build`: the report as data (rows, comparisons, economics, the items table);
* :mod:`~harness.report.rows`: its records typed (Row, Comparison, Versus, DataInfo, SplitInfo; from_json/to_json);
* :mod:`~harness.report.run`: the whole report typed (RunReport: economics, items, companions, ...);
* :mod:`~harness.report.verdict`: the answer to "fine-tune or prompt?" as data;
* :mod:`~harness.report.tables`: the leaderboard, cost and comparison tables as text cells;
* :mod:`~harness.report.text`: the terminal's lines; :mod:`~harness.report.markdown`: the Markdown report;
* :mod:`~harness.report.html` and :mod:`~harness.report.plots`: the self-contained HTML page and its SVG plots;
* :mod:`~harness.report.curve`: the learning curve beside a report; :mod:`~harness.report.write`: the files.

Knows nothing of pytest or of models. The names below are the ones other modules use.
"""

from harness.report.build import SAMPLE_NOTICE, build_report, decode_items, items_table
from harness.report.curve import LEARNING_CURVE, curve_mismatch, read_learning_curve
from harness.report.markdown import (economics_markdown, markdown, markdown_table, not_run_markdown,
                                     verdict_in_full_markdown, verdict_markdown)
from harness.report.rows import (Comparison, Cost, DataInfo, Latency, Pareto, Record, Row, SplitInfo, Versus,
                                 comparisons_of, rows_of, versus_of)
from harness.report.run import (SCHEMA_VERSION, AcrossSplits, Companion, Economics, Items, Machine, Mde, Prices,
                                Report, RunReport, Training)
from harness.report.tables import (comparison_table, cost_table, delta_cell, leaderboard, payoff, row_name,
                                   sensitivity_table)
from harness.report.text import (TERMINAL_WIDTH, comparison_lines, cost_lines, header_lines, leaderboard_lines,
                                 not_run_items, not_run_lines, terminal_lines, text_table, verdict_in_full_lines,
                                 verdict_lines, wrap)
from harness.report.verdict import ALTERNATIVES, TOP_LINES, Line, Sentence, Verdict, alternative_kind, verdict, verdicts
from harness.report.write import CSV_FIELDS, predictions_csv, write

__all__ = [
    "Comparison", "Cost", "DataInfo", "Latency", "Pareto", "Record", "Row", "SplitInfo", "Versus",
    "comparisons_of", "rows_of", "versus_of",
    "AcrossSplits", "Companion", "Economics", "Items", "Machine", "Mde", "Prices", "Report", "RunReport", "Training",
    "ALTERNATIVES", "Line", "Sentence", "TOP_LINES", "Verdict", "CSV_FIELDS", "LEARNING_CURVE", "SAMPLE_NOTICE", "SCHEMA_VERSION", "TERMINAL_WIDTH",
    "alternative_kind", "build_report", "comparison_lines", "comparison_table", "cost_lines", "cost_table",
    "curve_mismatch", "decode_items", "delta_cell", "economics_markdown", "header_lines", "items_table",
    "leaderboard", "leaderboard_lines", "markdown", "markdown_table", "not_run_items", "not_run_lines",
    "not_run_markdown", "payoff", "predictions_csv", "read_learning_curve", "row_name", "sensitivity_table",
    "terminal_lines", "text_table", "verdict", "verdict_in_full_lines", "verdict_in_full_markdown",
    "verdict_lines", "verdict_markdown", "verdicts", "wrap", "write",
]
