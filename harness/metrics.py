"""Classification metrics, all from scikit-learn, with seeded bootstrap confidence intervals (scipy).

A parse failure (``pred is None``) counts as a wrong answer: it lowers recall of the true class and is
never assigned to any label. Averages are over the task's labels only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

UNPARSED = "<unparsed>"


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    weighted_f1: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1_ci: tuple[float, float]
    accuracy_ci: tuple[float, float]
    parse_failures: int
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    """Rows: gold labels in ``labels`` order; columns: the same labels, then ``<unparsed>``."""
    labels: tuple[str, ...]


def _encode(golds: Sequence[str], preds: Sequence[str | None]) -> tuple[list[str], list[str]]:
    return list(golds), [UNPARSED if p is None else p for p in preds]


def encode(labels: Sequence[str], values: Sequence[str | None]) -> np.ndarray:
    """Labels as integer codes (0..k-1 in ``labels`` order; k for a parse failure): fast to resample."""
    codes = {label: i for i, label in enumerate(labels)}
    return np.array([codes.get(v, len(codes)) if v is not None else len(codes) for v in values])


def coded_weighted_f1(labels: Sequence[str]):
    """Weighted F1 over integer codes from :func:`encode`, for bootstrap statistics."""
    from sklearn.metrics import f1_score

    label_codes = list(range(len(labels)))
    return lambda t, p: f1_score(t, p, labels=label_codes, average="weighted", zero_division=0)


def weighted_f1(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    y_true, y_pred = _encode(golds, preds)
    return float(f1_score(y_true, y_pred, labels=list(labels), average="weighted", zero_division=0))


def bootstrap_ci(statistic, *samples: np.ndarray, resamples: int, seed: int, level: float = 0.95,
                 vectorized: bool = False) -> tuple[float, float]:
    """Percentile CI of ``statistic(*samples)`` over paired resamples of the items (scipy.stats.bootstrap)."""
    from scipy.stats import bootstrap

    if len(samples[0]) < 2 or len(set(map(tuple, np.vstack(samples).T.tolist()))) < 2:
        value = float(statistic(*samples))
        return (value, value)
    result = bootstrap(
        samples, statistic, paired=True, n_resamples=resamples, confidence_level=level,
        method="percentile", vectorized=vectorized, random_state=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return (float(low), float(high))


def score(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str], *,
          resamples: int = 1000, seed: int = 0) -> Scores:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    if len(golds) != len(preds):
        raise ValueError(f"expected as many predictions as gold labels, got {len(preds)} and {len(golds)}")
    if not golds:
        raise ValueError("cannot score zero examples")
    y_true, y_pred = _encode(golds, preds)
    labels = list(labels)

    t_codes, p_codes = encode(labels, golds), encode(labels, preds)
    f1 = coded_weighted_f1(labels)

    precision, recall, f1_per, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    wp, wr, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels + [UNPARSED])[: len(labels)]
    return Scores(
        n=len(golds),
        accuracy=float(accuracy_score(y_true, y_pred)),
        weighted_f1=float(wf),
        # macro over the labels that occur (gold or predicted): a label absent from a small subset adds no 0
        macro_f1=float(f1_score(y_true, y_pred, labels=[x for x in labels if x in set(y_true) | set(y_pred)],
                                average="macro", zero_division=0)),
        weighted_precision=float(wp),
        weighted_recall=float(wr),
        weighted_f1_ci=bootstrap_ci(f1, t_codes, p_codes, resamples=resamples, seed=seed),
        accuracy_ci=bootstrap_ci(  # the mean of the per-item correctness vector is the accuracy
            lambda c, axis=-1: np.mean(c, axis=axis), (t_codes == p_codes).astype(float),
            resamples=resamples, seed=seed, vectorized=True),
        parse_failures=sum(p is None for p in preds),
        per_class={
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1_per[i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        confusion=matrix.tolist(),
        labels=tuple(labels),
    )
