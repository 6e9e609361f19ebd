"""Random-weight models of a real shape (speed and memory only): written by ``python -m finetune random-base``,
trained on like any base, and refused by the harness as a quality row (an F1 from random weights is no result)."""

import json

import pytest

from conftest import run_finetune
from harness.example import Example
from harness.models import ModelContext, unavailable
from harness.models.random_base import NOTE, random_weights
from test_classification_task import LABELS, rows, write_csv

SUITE = ("from harness import ClassificationTask\nTASK = ClassificationTask(name='rbtask', data='data.csv', text='body', "
         f"label='team', labels={LABELS!r}, instruction='Route it.', seed=1)\n")


def _run(*args, cwd):
    return run_finetune(*args, cwd=cwd, env={"HARNESS_MLFLOW": "off"}, timeout=600)


@pytest.mark.slow
def test_a_random_base_trains_but_is_never_scored(tmp_path):
    out = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert random_weights(tmp_path / "tiny")["shape"] == "tiny"
    again = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny"), cwd=tmp_path)
    assert again.returncode == 2 and "is not empty" in again.stderr
    # another tokenizer, e.g. where SmolLM2's GGUF is not installed: the written folder's own one will do
    mine = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny2"), "--tokenizer", str(tmp_path / "tiny"),
                cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr[-2000:]
    assert (tmp_path / "tiny2" / "tokenizer.json").read_bytes() == (tmp_path / "tiny" / "tokenizer.json").read_bytes()
    missing = _run("random-base", "--shape", "tiny", "--out", str(tmp_path / "tiny3"), "--tokenizer", str(tmp_path / "no"),
                   cwd=tmp_path)
    assert missing.returncode == 2 and f"--tokenizer={tmp_path / 'no'}: expected a folder" in missing.stderr

    write_csv(tmp_path / "data.csv", rows())
    (tmp_path / "test_rbtask.py").write_text(SUITE)
    trained = _run("test_rbtask.py", "--base", str(tmp_path / "tiny"), "--max-steps", "1", "--batch-size", "2",
                   "--val-fraction", "0", "--output-dir", "adapters/rb", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    card = json.loads((tmp_path / "adapters" / "rb" / "adapter_card.json").read_text())
    assert card["random_weights"] is True and card["note"] == NOTE

    ctx = ModelContext(train=(), test=(Example("x", "y", "billing"),), seed=1, task="rbtask",
                       template_version=card["template_version"], adapters_dir=tmp_path / "adapters")
    assert NOTE in unavailable("adapter:rb", ctx) and "not a result" in unavailable("adapter:rb", ctx)
    assert NOTE in unavailable(f"hf:{tmp_path / 'tiny'}", ctx)


def test_the_weights_are_written_in_seeded_shards_that_from_pretrained_reads_whole(tmp_path, monkeypatch):
    """The writer draws and writes shard by shard (an 8B shape never passes through one model in memory): the
    index maps every parameter, transformers loads each one from its shard, and a seed gives the same bytes."""
    import harness.models.random_base as random_base
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(random_base, "SHARD_BYTES", 32 * 1024)
    folder = random_base.write_random_base("tiny", tmp_path / "m", seed=3)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]), info
    weights = dict(model.named_parameters())
    assert set(index["weight_map"]) == set(weights)  # the tied lm_head is the embedding, as save_pretrained writes it
    for name, file in index["weight_map"].items():
        with safe_open(str(folder / file), framework="pt") as shard:
            assert shard.get_tensor(name).equal(weights[name].data), name
    assert weights["model.norm.weight"].data.eq(1).all()
    assert 0.015 < weights["model.embed_tokens.weight"].float().std() < 0.025
    again = random_base.write_random_base("tiny", tmp_path / "again", seed=3)
    other = random_base.write_random_base("tiny", tmp_path / "other", seed=4)
    first = sorted(index["weight_map"].values())[0]
    assert (again / first).read_bytes() == (folder / first).read_bytes() != (other / first).read_bytes()
