import pytest

from harness import HarnessError
from harness.pricing import cost_usd, load_prices


def test_table_is_dated_and_sourced():
    table = load_prices()
    assert table.as_of >= "2025-01-01"
    for name in ("gpt-4o", "gpt-4o-mini"):
        price = table.lookup(name)
        assert price is not None and price.source and price.as_of and price.input > 0 and price.output > 0
        assert price.cached_input is not None and price.cached_input < price.input


def test_snapshot_names_resolve_and_unknown_models_have_no_price():
    table = load_prices()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("smollm2-135m-instruct-q4_1") is None  # "price unknown", never $0


def test_cost_bills_cached_tokens_at_the_cached_price():
    price = load_prices().lookup("gpt-4o-mini")
    full = cost_usd(price, 1_000_000, 0)
    assert full == pytest.approx(price.input)
    assert cost_usd(price, 1_000_000, 1_000_000, cached_input_tokens=1_000_000) == pytest.approx(
        price.cached_input + price.output)


def test_user_given_price():
    table = load_prices().with_override("my-model", 0.1, 0.2)
    assert table.lookup("my-model").source and cost_usd(table.lookup("my-model"), 10**6, 10**6) == pytest.approx(0.3)


@pytest.mark.parametrize("toml, message", [
    ('[table]\nas_of = "2026-01-01"\ncurrency = "USD"\nunit = "per 1M tokens"\n[models.m]\ninput = "cheap"\noutput = 1\n'
     'as_of = "2026-01-01"\nsource = "x"\n', "expected a number"),
    ('[table]\nas_of = "2026-01-01"\ncurrency = "USD"\nunit = "per 1M tokens"\n[models.m]\ninput = -1\noutput = 1\n'
     'as_of = "2026-01-01"\nsource = "x"\n', "m"),
    ('[table]\nas_of = "2026-01-01"\ncurrency = "USD"\nunit = "per 1M tokens"\n[models.m]\ninput = 1\noutput = 1\n', "m"),
    ("this is not toml", "prices"),
])
def test_malformed_tables_are_clear_errors(tmp_path, toml, message):
    path = tmp_path / "prices.toml"
    path.write_text(toml)
    with pytest.raises(HarnessError, match=message):
        load_prices(path)
