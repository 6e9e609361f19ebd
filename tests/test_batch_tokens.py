"""``--batch-tokens N``: training batches formed by tokens instead of a fixed row count.

Rows of similar length share a batch of at most N padded tokens, so a GPU step (whose cost on a small model is
launch overhead more than arithmetic) holds as many rows as fit; each row is trained on exactly once per epoch;
the card records the budget, the steps per epoch and the mean rows per step; a refit keeps the budget."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_finetune
from finetune.data import token_batches
from harness import HarnessError
from test_classification_task import LABELS, rows, write_csv

SUITE = ("from harness import ClassificationTask\nTASK = ClassificationTask(name='bttask', data='data.csv', text='body', "
         f"label='team', labels={LABELS!r}, instruction='Route it.', seed=1)\n")
ENV = {"HARNESS_MLFLOW": "off", "CUDA_VISIBLE_DEVICES": ""}


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 300), min_size=1, max_size=80), budget=st.integers(1, 2000),
       seed=st.integers(0, 2**32 - 1))
def test_every_row_once_and_no_batch_over_the_budget_unless_alone(lengths, budget, seed):
    data = [{"input_ids": [0] * n, "labels": [0] * n} for n in lengths]
    batches = token_batches(data, budget, seed)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        widest = max(lengths[i] for i in b)
        assert len(b) * widest <= budget or len(b) == 1
    assert token_batches(data, budget, seed) == batches  # the seed decides
    # greedy: the next batch's first row would not have fitted into this one
    for b, after in zip(batches, batches[1:]):
        assert (len(b) + 1) * lengths[after[0]] > budget


def test_short_rows_fill_a_batch_long_rows_share_fewer():
    data = [{"input_ids": [0] * n, "labels": [0] * n} for n in [10] * 12 + [100] * 3]
    batches = token_batches(data, 100, seed=1)
    assert [len(b) for b in batches] == [10, 2, 1, 1, 1]


def test_a_budget_must_be_a_positive_whole_number():
    from finetune.config import TrainConfig

    for bad in (0, -5, 2.5, True):
        with pytest.raises(HarnessError, match=r"--batch-tokens=.*expected a positive whole number"):
            TrainConfig(batch_tokens=bad)


def _finetune(*args, cwd):
    return run_finetune(*args, cwd=cwd, env=ENV, timeout=600)


@pytest.mark.slow
def test_training_by_tokens_records_the_budget_and_a_refit_keeps_it(tmp_path):
    made = _finetune("random-base", "--shape", "tiny", "--out", "tiny", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    write_csv(tmp_path / "data.csv", rows(16))
    (tmp_path / "test_bttask.py").write_text(SUITE)
    run = _finetune("test_bttask.py", "--base", "tiny", "--batch-tokens", "400", "--epochs", "1", "--eval-every", "2",
                    "--output-dir", "adapters/bt", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    card = json.loads((tmp_path / "adapters" / "bt" / "adapter_card.json").read_text())
    assert card["hyperparameters"]["batch_tokens"] == 400
    # one epoch = one step per token batch of the train rows; each step holds several rows
    assert card["steps"] == card["steps_per_epoch"] >= 2
    assert 1 < card["effective_batch_size"] < card["train_examples"]
    assert card["effective_batch_size"] == pytest.approx(card["train_examples"] / card["steps_per_epoch"], abs=0.05)
    assert card["eval_losses"]

    refit = _finetune("test_bttask.py", "--base", "tiny", "--refit", "adapters/bt", "--output-dir", "adapters/bt-refit",
                      cwd=tmp_path)
    assert refit.returncode == 0, refit.stderr[-3000:]
    again = json.loads((tmp_path / "adapters" / "bt-refit" / "adapter_card.json").read_text())
    assert again["hyperparameters"]["batch_tokens"] == 400 and again["validation_examples"] == 0
    assert again["refit_of"]["steps_per_epoch"] == card["steps_per_epoch"]
