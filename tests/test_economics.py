import math
from dataclasses import replace

import pytest

from harness import HarnessError, economics
from harness.compare import mcnemar_mde
from harness.models.card import TrainingCompute
from harness.pricing import MachinePrice, load_machine_prices, load_prices
from harness.report.rows import Row
from harness.report.run import Training
from harness.results import CaseResult

MACHINE = MachinePrice("test-cpu", 0.36, "cpu", "test machine", "2026-01-01", "test")
GPU = MachinePrice("test-gpu", 3.6, "gpu", "test gpu", "2026-01-01", "test")


def _case(model="m", strategy="zero_shot", kind="local", latency=0.5, **extra):
    return CaseResult(task="t", model=model, strategy=strategy, index=0, example_id="e", gold="positive",
                      pred="positive", reply="positive", latency_s=latency, latency_source="measured", batch_size=4,
                      input_tokens=extra.pop("input_tokens", None), output_tokens=extra.pop("output_tokens", None),
                      error=None, provenance="test", kind=kind, **extra)


def test_machine_table_is_dated_sourced_and_has_a_default_per_kind():
    machines = load_machine_prices()
    for kind in ("cpu", "gpu"):
        machine = economics.machines_for()[0 if kind == "cpu" else 1]
        assert machine.kind == kind and machine.dollars_per_hour > 0
        assert machine.source.startswith("https://") and machine.as_of >= "2026-01-01"
        assert machine.name in machines
    assert load_prices().as_of >= max(m.as_of for m in machines.values())


def test_machine_choice_and_bad_values():
    assert economics.machines_for(dollars_per_hour=1.5)[0].dollars_per_hour == 1.5
    assert economics.machines_for(name="aws-g5.xlarge")[0].kind == "gpu"
    with pytest.raises(HarnessError, match="not in harness/prices.toml; expected one of"):
        economics.machines_for(name="no-such-box")
    with pytest.raises(HarnessError, match="expected a positive number of USD per hour"):
        economics.machines_for(dollars_per_hour=-1)


def test_local_cost_is_measured_time_times_the_hourly_price():
    cases = [_case(latency=0.5) for _ in range(10)]  # 5 s of machine time
    cost = economics.row_cost(cases, machine=MACHINE, prices=None, reference=None)
    assert cost["basis"] == "machine time" and cost["batch_size"] == 4
    assert cost["total_usd"] == pytest.approx(5 / 3600 * 0.36)
    assert cost["per_call_usd"] == pytest.approx(cost["total_usd"] / 10)
    assert cost["per_1k_usd"] == pytest.approx(1000 * cost["per_call_usd"])
    missing = economics.row_cost([_case(latency=None)], machine=MACHINE, prices=None, reference=None)
    assert missing["total_usd"] is None and missing["note"].startswith("not computable")


def test_api_cost_is_billed_and_an_unpriced_call_is_never_zero():
    billed = [_case(kind="api", cost_usd=0.002), _case(kind="api", cost_usd=0.004)]
    cost = economics.row_cost(billed, machine=MACHINE, prices=None, reference=None)
    assert cost["basis"] == "billed" and cost["per_1k_usd"] == pytest.approx(3.0)
    unpriced = economics.row_cost([_case(kind="api")], machine=MACHINE, prices=None, reference=None)
    assert unpriced["per_1k_usd"] is None and unpriced["note"] == "price unknown"


def test_published_rows_are_estimated_from_another_rows_tokens_or_not_computable():
    grouped = {("openai:x", "zero_shot"): [_case("openai:x", kind="api", input_tokens=100, output_tokens=2)] * 4,
               ("openai:x", "cot"): [_case("openai:x", "cot", kind="api", input_tokens=900, output_tokens=200)] * 4}
    reference = economics.reference_tokens(grouped)
    assert reference.row == "openai:x · zero_shot" and reference.input == 100
    published = [_case("published-gpt-4", "published_zero_shot", kind="replayed", latency=None)] * 3
    cost = economics.row_cost(published, machine=MACHINE, prices=load_prices(), reference=reference)
    price = load_prices().lookup("gpt-4")
    assert cost["basis"] == "estimated" and "openai:x · zero_shot" in cost["note"]
    assert cost["per_call_usd"] == pytest.approx((100 * price.input + 2 * price.output) / 1e6)
    nothing = economics.row_cost(published, machine=MACHINE, prices=load_prices(), reference=None)
    assert nothing["per_call_usd"] is None and nothing["note"].startswith("not computable")


def test_training_cost_uses_the_cards_price_then_the_table():
    card = TrainingCompute(machine_hours=2.0, gpu_hours=0.0, dollars_per_hour=0.0, device="CPU")
    assert economics.training_cost(card, machine=MACHINE, gpu_machine=GPU)["usd"] == pytest.approx(0.72)
    assert economics.training_cost(replace(card, gpu_hours=2.0), machine=MACHINE, gpu_machine=GPU)["usd"] == pytest.approx(7.2)
    assert economics.training_cost(replace(card, dollars_per_hour=1.0), machine=MACHINE, gpu_machine=GPU)["usd"] == 2.0
    assert economics.training_cost(None, machine=MACHINE, gpu_machine=GPU)["usd"] is None


def test_break_even_payback_and_sensitivity():
    assert economics.break_even(10.0, own_per_call=0.001, other_per_call=0.003) == pytest.approx(5000)
    assert economics.break_even(10.0, own_per_call=0.003, other_per_call=0.001) is None  # never pays off
    row = lambda model, per_call, basis, p50, **k: Row.from_json({  # noqa: E731
        "model": model, "strategy": "s", "latency": {"p50_s": p50},
        "cost": {"per_call_usd": per_call, "basis": basis, **k}})
    tuned = row("adapter:a", 0.001, "machine time", 0.1, dollars_per_hour=0.36)
    api = row("openai:b", 0.003, "billed", 0.5)
    v = economics.versus(tuned, api, Training(usd=10.0), monthly_volume=1000)
    assert v["break_even_requests"] == pytest.approx(5000) and v["payback_months"] == pytest.approx(5)
    assert v["latency_ratio"] == pytest.approx(0.2) and v["cost_ratio"] == pytest.approx(1 / 3)
    grid = v["sensitivity"]["break_even_requests"]
    one = economics.HOURLY_FACTORS.index(1.0), economics.API_PRICE_FACTORS.index(1.0)
    assert grid[one[0]][one[1]] == pytest.approx(5000)
    assert grid[one[0]][one[1] + 1] < grid[one[0]][one[1]]  # a dearer API pays off sooner
    assert grid[0][one[1]] < grid[one[0]][one[1]]  # a cheaper machine pays off sooner
    assert grid[-1][one[1]] is None  # at 4× $/h serving costs more than the API: never
    unknown = economics.versus(tuned, row("openai:c", None, None, 0.5), Training(usd=10.0), monthly_volume=1000)
    assert unknown["break_even_requests"] is None and unknown["break_even_note"].startswith("not computable")


def test_pareto_marks_dominated_rows_with_what_dominates_them():
    cost = {"a": 1.0, "b": 2.0, "c": 0.1, "d": None}
    rows = [Row(model="a", strategy="s", weighted_f1=0.9),
            Row(model="b", strategy="s", weighted_f1=0.8),   # worse and dearer than a
            Row(model="c", strategy="s", weighted_f1=0.7),
            Row(model="d", strategy="s", weighted_f1=0.95)]
    marks = economics.pareto(rows, lambda r: cost[r.model])
    assert marks == ["frontier", "dominated by a · s", "frontier", None]


def test_minimum_detectable_difference_shrinks_with_more_items():
    small, large = mcnemar_mde(100, 0.1), mcnemar_mde(1000, 0.1)
    assert 0 < large < small < math.sqrt(0.1)
    assert mcnemar_mde(453, 0.1) == pytest.approx(0.0415, abs=0.002)


def test_minimum_detectable_difference_never_exceeds_the_discordant_share():
    from harness.compare import mcnemar_mde

    for n in (2, 10, 60, 453, 5000):
        for rate in (0.001, 0.02, 0.3, 0.999, 1.0):
            mde = mcnemar_mde(n, rate)  # once raised a math domain error at the bracket's end (two adapters)
            assert mde is None or 0 < mde <= rate


def test_break_even_and_payback_read_as_words_never_e_notation():
    assert economics.format_requests(18.2) == "19" and economics.format_requests(4321) == "4 300"
    assert economics.format_requests(2.5e6) == "2.5 million" and economics.format_requests(None) == "never"
    assert economics.format_months(5 / (30 * 24)) == "5 hours" and economics.format_months(2.4) == "2.4 months"
    row = lambda model, per_call, basis: Row.from_json({  # noqa: E731
        "model": model, "strategy": "s", "latency": {"p50_s": 0.1},
        "cost": {"per_call_usd": per_call, "basis": basis, "dollars_per_hour": 0.08}})
    v = economics.versus(row("adapter:a", 7.6e-7, "machine time"), row("openai:b", 3.7e-3, "billed"),
                         Training(usd=0.055),
                         monthly_volume=100_000)
    assert v["break_even_note"] == "15 requests"
    for value in (v["break_even_note"], economics.format_requests(v["break_even_requests"]),
                  economics.format_months(v["payback_months"])):
        assert "e-" not in value and "e+" not in value
