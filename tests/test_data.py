import pytest

from harness import HarnessError
from harness.tasks.fpb.data import FPB_ENV, SAMPLE_DIR, SAMPLE_FILE, load_fpb, parse_fpb_bytes, resolve_source


def test_allagree_counts_and_duplicates(fpb_dir):
    loaded = load_fpb(fpb_dir / "Sentences_AllAgree.txt")
    assert len(loaded.examples) == 2264
    assert loaded.duplicate_lines == 5
    assert loaded.conflicts == ()
    labels = [e.label for e in loaded.examples]
    assert (labels.count("neutral"), labels.count("positive"), labels.count("negative")) == (1391, 570, 303)
    assert loaded.examples[0].id == "fpb-allagree-L0001"
    assert not any(e.text.endswith("\r") or e.label.endswith("\r") for e in loaded.examples)


def test_50agree_conflicting_labels_are_removed_and_reported(fpb_dir):
    loaded = load_fpb(fpb_dir / "Sentences_50Agree.txt")
    assert len(loaded.conflicts) == 2
    assert len(loaded.examples) == 4846 - 4
    assert not any(e.text in loaded.conflicts for e in loaded.examples)


def test_all_four_agreement_files_nest(fpb_dir):
    sizes = [len(load_fpb(fpb_dir / f"Sentences_{n}.txt").examples) for n in ("AllAgree", "75Agree", "66Agree", "50Agree")]
    assert sizes == sorted(sizes)


def test_split_on_last_at_sign_and_latin1():
    raw = "Mail ir@example.com for the report .@neutral\r\nSales rose in \xc5land .@positive\r\n".encode("latin-1")
    rows = parse_fpb_bytes(raw, source="x", id_prefix="t")
    assert [(r.text, r.label) for r in rows] == [
        ("Mail ir@example.com for the report .", "neutral"), ("Sales rose in \xc5land .", "positive")]


@pytest.mark.parametrize("raw, expected", [
    (b"no separator here\r\n", "without '@'"),
    (b"Profit fell .@bearish\r\n", "expected a label"),
    (b"@neutral\r\n", "empty sentence"),
    (b"", "no examples"),
])
def test_bad_lines_are_errors_that_say_what_was_expected(raw, expected):
    with pytest.raises(HarnessError, match=expected):
        parse_fpb_bytes(raw, source="bad.txt", id_prefix="t")


def test_sample_fixture_is_small_and_loads():
    loaded = load_fpb(SAMPLE_DIR / SAMPLE_FILE)
    assert 30 <= len(loaded.examples) <= 60
    assert {e.label for e in loaded.examples} == {"positive", "negative", "neutral"}
    assert any("@" in e.text for e in loaded.examples)


def test_env_folder_without_the_files_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv(FPB_ENV, str(tmp_path))
    with pytest.raises(HarnessError, match="Sentences_AllAgree.txt"):
        resolve_source()


def test_offline_without_a_folder_falls_back_to_the_flagged_sample(monkeypatch):
    monkeypatch.delenv(FPB_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = resolve_source()
    assert source.is_sample and source.kind == "sample"
    assert any("HF_HUB_OFFLINE" in note for note in source.notes)
