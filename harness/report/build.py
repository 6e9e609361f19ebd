"""The run report as data: one row per model · strategy (scores, latency, tokens, cost, Pareto marks), the
paired comparisons of each fine-tuned row with the rest, the economics, and the per-item table.

Knows nothing of pytest or of models: it takes the cases (:class:`~harness.results.CaseResult`, or the
dictionaries they rode on ``user_properties`` as, rebuilt once here) and the run's metadata.
"""

from __future__ import annotations

import datetime as dt
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from harness import economics
from harness.compare import compare_rows, mcnemar_mde
from harness.metrics import score
from harness.pricing import MachinePrice, PriceTable, default_machine, load_machine_prices
from harness.provenance import git_sha, package_versions
from harness.report.rows import Row
from harness.report.run import SCHEMA_VERSION, Items, Training
from harness.results import CaseResult

SAMPLE_NOTICE = "SAMPLE DATA: these numbers come from the project's synthetic sample, not Financial PhraseBank; they are not comparable to published FPB results"


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


Case = CaseResult | Mapping[str, Any]
"""A case as the report functions take it: typed, or the dictionary it travelled as."""


def build_report(meta: Mapping[str, Any], cases: Iterable[Case], *, labels: Sequence[str],
                 pair_order: Sequence[tuple[str, str]], expected: Mapping[tuple[str, str], int],
                 root: Path, seed: int, resamples: int, machine: MachinePrice | None = None,
                 gpu_machine: MachinePrice | None = None, prices: PriceTable | None = None,
                 monthly_volume: int = economics.DEFAULT_MONTHLY_VOLUME) -> dict[str, Any]:
    if machine is None or gpu_machine is None:
        machines = load_machine_prices()
        machine = machine or default_machine("cpu", machines)
        gpu_machine = gpu_machine or default_machine("gpu", machines)
    grouped: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for case in map(CaseResult.of, cases):
        grouped[case.row].append(case)
    order = list(pair_order) + sorted(set(grouped) - set(pair_order))
    reference = economics.reference_tokens({p: grouped[p] for p in order if grouped.get(p)})
    rows = []
    for pair in order:
        items = sorted(grouped.get(pair, []), key=lambda c: c.index)
        if not items:
            continue
        scores = score([c.gold for c in items], [c.pred for c in items], labels, resamples=resamples, seed=seed)
        latencies = [c.latency_s for c in items if c.latency_s is not None]
        sources = sorted({c.latency_source for c in items if c.latency_s is not None})
        errors = sum(1 for c in items if c.error)
        rows.append({
            "model": pair[0],
            "strategy": pair[1],
            "n": scores.n,
            "expected": expected.get(pair, scores.n),
            "weighted_f1": scores.weighted_f1,
            "weighted_f1_ci95": list(scores.weighted_f1_ci),
            "accuracy": scores.accuracy,
            "accuracy_ci95": list(scores.accuracy_ci),
            "macro_f1": scores.macro_f1,
            "weighted_precision": scores.weighted_precision,
            "weighted_recall": scores.weighted_recall,
            # a reply that names no label (or two); calls that produced no reply are counted as errors
            "parse_failures": scores.parse_failures - errors,
            "errors": errors,
            "per_class": scores.per_class,
            "confusion": {"labels": list(labels), "columns": list(labels) + ["<unparsed>"], "matrix": scores.confusion},
            "latency": {
                "source": "+".join(sources) if sources else "none",
                "p50_s": _percentile(latencies, 50),
                "p95_s": _percentile(latencies, 95),
                "batch_size": max(c.batch_size for c in items),
                # local models, warm-up excluded: one request alone, and items per second at batch_size
                "batch1_s": next((c.batch1_latency_s for c in items if c.batch1_latency_s is not None), None),
                "throughput_per_s": _throughput(items),
            },
            "tokens": {
                "input": sum(c.input_tokens or 0 for c in items),
                "output": sum(c.output_tokens or 0 for c in items),
                "cached_input": sum(c.cached_input_tokens or 0 for c in items),
            },
            "cost": economics.row_cost(items, machine=machine, prices=prices, reference=reference),
            "provenance": items[0].provenance,
        })
    typed = [Row.from_json(r) for r in rows]  # the rows read once, to place them and to price them against each other
    for row, by_cost, by_latency in zip(rows, economics.pareto(typed, lambda r: r.cost.per_1k_usd),
                                        economics.pareto(typed, lambda r: r.latency.p50_s)):
        row["pareto"] = {"cost": by_cost, "latency": by_latency}
    targets = [pair for pair in order if any(c.fine_tuned for c in grouped.get(pair, []))]
    comparisons = compare_rows({p: grouped[p] for p in order if grouped.get(p)}, targets, labels,
                               resamples=resamples, seed=seed)
    for c in comparisons:
        c["mde_accuracy"] = mcnemar_mde(c["n"], (c["only_a_correct"] + c["only_b_correct"]) / c["n"])
    partial = [f"{m} · {s}" for (m, s), n in expected.items() if len(grouped.get((m, s), [])) < n]
    n_items = max((r["n"] for r in rows), default=0)
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(root),
        "python": platform.python_version(),
        "packages": package_versions(),
        "notice": SAMPLE_NOTICE if meta.get("data", {}).get("is_sample") else None,
        "partial": partial,
        **meta,
        "rows": rows,
        "comparisons": comparisons,
        "mde": {"n": n_items, "alpha": 0.05, "power": 0.8, "method": "McNemar, Connor (1987) approximation",
                "accuracy_difference_at_discordant_rate": {
                    f"{rate:.2f}": mcnemar_mde(n_items, rate) for rate in (0.05, 0.10, 0.20)}},
        "economics": _economics(typed, targets, Path(meta.get("adapters_dir") or Path(root) / "adapters"), machine,
                                gpu_machine, monthly_volume),
        "items": items_table(order, grouped, labels),
    }


def _economics(rows: Sequence[Row], targets: Sequence[tuple[str, str]], adapters_dir: Path,
               machine: MachinePrice, gpu_machine: MachinePrice, monthly_volume: int) -> dict[str, Any]:
    """Training cost of each fine-tuned row (its card, found in the run's adapters folder) and its economics
    against every other row."""
    cards = economics.read_cards({m for m, _ in targets}, adapters_dir)
    training = {m: economics.training_cost(cards.get(m), machine=machine, gpu_machine=gpu_machine)
                for m, _ in targets}
    by_pair = {(r.model, r.strategy): r for r in rows}
    typed = {m: Training.from_json(t) for m, t in training.items()}
    versus = [economics.versus(by_pair[t], other, typed[t[0]], monthly_volume=monthly_volume)
              for t in targets if t in by_pair for other in rows if (other.model, other.strategy) != t]
    return {
        "machine": {"name": machine.name, "dollars_per_hour": machine.dollars_per_hour, "kind": machine.kind,
                    "description": machine.description, "as_of": machine.as_of, "source": machine.source},
        "gpu_machine": {"name": gpu_machine.name, "dollars_per_hour": gpu_machine.dollars_per_hour,
                        "as_of": gpu_machine.as_of, "source": gpu_machine.source},
        "monthly_volume": monthly_volume,
        "training": training,
        "versus": versus,
    }


def items_table(order: Sequence[tuple[str, str]], grouped: Mapping[tuple[str, str], Sequence[Case]],
                labels: Sequence[str]) -> dict[str, Any]:
    """Per-item gold and predictions as label codes keyed by example id (no text): for paired tests later.

    ``gold`` and each row's string hold one character per id: the label's index in ``labels``, ``x`` for
    a parse failure or error, ``-`` where the row has no case for that item.
    """
    grouped = {pair: [CaseResult.of(c) for c in cases] for pair, cases in grouped.items()}
    index: dict[str, int] = {}
    gold: dict[str, str] = {}
    for cases in grouped.values():
        for c in cases:
            index.setdefault(c.example_id, c.index)
            gold[c.example_id] = c.gold
    ids = sorted(index, key=lambda i: (index[i], i))
    code = {label: str(i) for i, label in enumerate(labels)}

    def letters(values: Mapping[str, str | None]) -> str:
        return "".join(code.get(values[i], "x") if i in values else "-" for i in ids)

    preds = {}
    for pair in order:
        if grouped.get(pair):
            preds[" · ".join(pair)] = letters({c.example_id: (None if c.error else c.pred) for c in grouped[pair]})
    return {"labels": list(labels), "ids": ids, "gold": letters(gold), "preds": preds}


def decode_items(items: Items | Mapping[str, Any], row: str) -> dict[str, tuple[str, str | None]]:
    """``{example_id: (gold, pred)}`` for one row of an :func:`items_table`; pred None = parse failure."""
    return (items if isinstance(items, Items) else Items.from_json(items)).decode(row)


def _throughput(items: Sequence[CaseResult]) -> float | None:
    """Items per second of a local model's batches (each item carries its share of its batch's time)."""
    shares = [c.latency_s for c in items if c.latency_source == "local" and c.latency_s is not None]
    return len(shares) / sum(shares) if shares and sum(shares) > 0 else None

