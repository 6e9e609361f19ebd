"""A floor every model must beat: TF-IDF features and logistic regression, trained on the train split."""

from __future__ import annotations

import time
from typing import Sequence

from harness.example import Example
from harness.models.base import Reply, Request


class TfidfLogReg:
    strategies = ("supervised",)
    kind = "local"

    def __init__(self, train: Sequence[Example], *, seed: int, name: str = "tfidf-logreg") -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.name = name
        self.batch_size = max(1, len(train))
        self.pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
            LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced", random_state=seed),
        )
        self.pipeline.fit([e.text for e in train], [e.label for e in train])
        self.provenance = (
            f"scikit-learn TF-IDF (1-2 grams) + logistic regression (C=10, balanced), trained on {len(train)} "
            "train sentences"
        )

    def predict(self, requests: Sequence[Request]) -> list[Reply]:
        start = time.perf_counter()
        labels = self.pipeline.predict([r.example.text for r in requests])
        per_item = (time.perf_counter() - start) / max(1, len(requests))
        return [Reply(text=str(label), latency_s=per_item, latency_source="local",
                      batch_size=len(requests)) for label in labels]
