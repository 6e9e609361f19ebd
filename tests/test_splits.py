import pytest

from harness import HarnessError
from harness.tasks.fpb.data import Example, load_fpb
from harness.splits import fingerprint, make_split


def _examples(n=40):
    labels = ("positive", "negative", "neutral")
    return [Example(id=f"e{i}", text=f"sentence number {i}", label=labels[i % 3]) for i in range(n)]


def test_published_protocol_on_allagree(fpb_dir):
    split = make_split(load_fpb(fpb_dir / "Sentences_AllAgree.txt").examples, seed=5768)
    assert len(split.test) == 453
    assert split.leaked_removed_from_train == 4 and split.repeats_removed_from_train == 1
    assert len(split.train) == 2264 - 453 - 5
    assert split.test_fingerprint == fingerprint(split.test)
    assert {e.text for e in split.train}.isdisjoint({e.text for e in split.test})


def test_seeds_give_different_test_sets():
    a, b = make_split(_examples(), seed=5768), make_split(_examples(), seed=78516)
    assert a.test_fingerprint != b.test_fingerprint
    assert make_split(_examples(), seed=5768).test_fingerprint == a.test_fingerprint


def test_stratified_split_keeps_label_shares():
    split = make_split(_examples(60), seed=1, method="stratified")
    assert sorted(e.label for e in split.test).count("positive") == 4


def test_leaks_are_removed_from_train_never_from_test():
    base = _examples(50)
    twins = [Example(id=e.id + "-twin", text="  " + e.text.upper() + " ", label=e.label) for e in base]
    split = make_split(base + twins, seed=3)
    assert len(split.test) == 20  # test is never touched
    assert split.leaked_removed_from_train > 0
    norm = lambda t: " ".join(t.split()).casefold()  # noqa: E731
    assert {norm(e.text) for e in split.train}.isdisjoint({norm(e.text) for e in split.test})
    assert len({norm(e.text) for e in split.train}) == len(split.train)


@pytest.mark.parametrize("examples, message", [
    ([Example(id=str(i), text=str(i), label="neutral") for i in range(20)], "one-class"),
    (_examples(5), "at least 10"),
])
def test_unsplittable_inputs(examples, message):
    with pytest.raises(HarnessError, match=message):
        make_split(examples, seed=1)


def test_unknown_method():
    with pytest.raises(HarnessError, match="expected one of"):
        make_split(_examples(), seed=1, method="random")
