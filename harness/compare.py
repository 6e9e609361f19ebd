"""Paired comparison of two rows on the same test items: is the difference real?

* McNemar's test on per-item correctness, exact (binomial on the discordant items) via statsmodels;
* a paired bootstrap 95 % CI for the difference in weighted F1 (the same resampled items for both rows);
* Holm's correction across all comparisons of a run (statsmodels ``multipletests``).

A verdict is ``better`` or ``worse`` only when the Holm-adjusted p-value is below alpha *and* the CI of
the F1 difference excludes 0; otherwise ``tied``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from harness.metrics import bootstrap_ci, coded_weighted_f1, encode, weighted_f1
from harness.results import CaseResult


def compare(golds: Sequence[str], preds_a: Sequence[str | None], preds_b: Sequence[str | None],
            labels: Sequence[str], *, resamples: int, seed: int) -> dict[str, Any]:
    from statsmodels.stats.contingency_tables import mcnemar

    gold, a, b = encode(labels, golds), encode(labels, preds_a), encode(labels, preds_b)
    a_ok, b_ok = a == gold, b == gold
    table = [[int(np.sum(a_ok & b_ok)), int(np.sum(a_ok & ~b_ok))],
             [int(np.sum(~a_ok & b_ok)), int(np.sum(~a_ok & ~b_ok))]]
    discordant = table[0][1] + table[1][0]
    p_value = float(mcnemar(table, exact=True).pvalue) if discordant else 1.0
    f1 = coded_weighted_f1(labels)

    def diff(g, x, y):
        return f1(g, x) - f1(g, y)

    return {
        "n": len(golds),
        "f1_difference": weighted_f1(golds, preds_a, labels) - weighted_f1(golds, preds_b, labels),
        "f1_difference_ci95": list(bootstrap_ci(diff, gold, a, b, resamples=resamples, seed=seed)),
        "only_a_correct": table[0][1],
        "only_b_correct": table[1][0],
        "mcnemar_p": p_value,
    }


def holm(results: list[dict[str, Any]], *, alpha: float = 0.05) -> list[dict[str, Any]]:
    """Add Holm-adjusted p-values and verdicts to a run's comparisons."""
    from statsmodels.stats.multitest import multipletests

    if not results:
        return results
    adjusted = multipletests([r["mcnemar_p"] for r in results], alpha=alpha, method="holm")[1]
    for result, p in zip(results, adjusted):
        low, high = result["f1_difference_ci95"]
        significant = p < alpha and (low > 0 or high < 0)
        result["p_holm"] = float(p)
        result["verdict"] = ("better" if result["f1_difference"] > 0 else "worse") if significant else "tied"
    return results


def compare_rows(cases: Mapping[tuple[str, str], Sequence[CaseResult]], targets: Sequence[tuple[str, str]],
                 labels: Sequence[str], *, resamples: int, seed: int) -> list[dict[str, Any]]:
    """Each target row (a fine-tuned model) against every other row, on the items both answered."""
    results = []
    for target in targets:
        mine = {c.example_id: c for c in cases[target]}
        for other, theirs in cases.items():
            if other == target:
                continue
            shared = [c for c in theirs if c.example_id in mine]
            if len(shared) < 2:
                continue
            result = compare([c.gold for c in shared], [mine[c.example_id].pred for c in shared],
                             [c.pred for c in shared], labels, resamples=resamples, seed=seed)
            results.append({"a": " · ".join(target), "b": " · ".join(other), **result})
    return holm(results)


def mcnemar_mde(n: int, discordant_rate: float, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest difference in accuracy McNemar's test detects on ``n`` paired items (two-sided
    ``alpha``, ``power``) when ``discordant_rate`` of the items are answered right by only one row:
    Connor's (1987) sample-size formula solved for the difference (scipy ``norm`` and ``brentq``).
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    if n < 2 or not 0 < discordant_rate <= 1:
        return None
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    gap = lambda d: (math.sqrt(n) * d - z_a * math.sqrt(discordant_rate)  # noqa: E731
                     - z_b * math.sqrt(max(0.0, discordant_rate - d * d)))
    top = discordant_rate  # a difference in accuracy cannot exceed the share of items the rows disagree on
    return float(brentq(gap, 0.0, top)) if gap(top) > 0 else None
