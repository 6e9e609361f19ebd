"""The adapter card as a typed value: every committed card reads, and writes back as the same JSON (key order
included); a broken card is one clear error naming the file and the key."""

import json
from dataclasses import replace

import pytest

from conftest import ROOT
from harness import HarnessError
from harness.models.card import CARD, AdapterCard, Hyperparameters, RefitOf, TrainingCompute

COMMITTED = sorted((ROOT / "adapters").glob(f"**/{CARD}"))


def test_there_are_committed_cards():
    assert len(COMMITTED) >= 5


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.name)
def test_a_committed_card_reads_and_writes_back_unchanged(path):
    text = path.read_text()
    card = AdapterCard.read(path)
    assert card.to_json() == json.loads(text)
    assert json.dumps(card.to_json(), indent=2) + "\n" == text  # the same bytes: key order and values
    assert not card.extra and not card.hyperparameters.extra  # every key the trainer writes is a field
    assert isinstance(card.hyperparameters, Hyperparameters) and card.train_example_ids
    assert card.refit_of is None or isinstance(card.refit_of, RefitOf)
    assert AdapterCard.from_json(card.to_json()) == card


def test_typed_fields_read_as_their_types():
    card = AdapterCard.read(ROOT / "adapters" / "fpb-sentiment-smollm2-135m" / CARD)
    assert card.hyperparameters.lora_r == 16 and card.hyperparameters.target_modules[0] == "q_proj"
    assert isinstance(card.train_example_ids, tuple) and card.refit_of.best_step == 400
    assert card.trained_against_precision == "float32"  # a card from before the key: trained in float32 on a CPU
    assert card.compute == TrainingCompute(machine_hours=0.6794, gpu_hours=0.0, dollars_per_hour=0.0,
                                           device="CPU: AMD EPYC, 2 cores")


def test_a_card_built_in_code_writes_every_key_in_the_trainers_order():
    read = AdapterCard.read(ROOT / "adapters" / "fpb-sentiment-smollm2-135m-78516" / CARD)
    built = replace(read, keys=(), refit_of=None)
    written = built.to_json()
    assert list(written)[:4] == ["card_version", "created_at", "base_model", "base_weights"]
    assert "random_weights" not in written and "refit_of" not in written  # written only when set
    assert written["steps_per_epoch"] is None and written["distributed_backend"] is None  # always written
    assert list(json.loads(json.dumps(read.to_json()))) == [k for k in written if k != "steps_per_epoch"] + ["refit_of"]
    assert replace(built, random_weights=True, note="random").to_json()["random_weights"] is True


def test_unknown_keys_ride_along_in_place():
    data = json.loads((ROOT / "adapters" / "tfns-sentiment-smollm2-135m" / CARD).read_text())
    data = {"from_another_tool": [1, 2], **data, "hyperparameters": {**data["hyperparameters"], "warmup": 3}}
    card = AdapterCard.from_json(data)
    assert card.extra == {"from_another_tool": [1, 2]} and card.hyperparameters.extra == {"warmup": 3}
    assert card.to_json() == data and list(card.to_json()) == list(data)


@pytest.mark.parametrize("change, message", [
    ({"steps": None}, "expected keys ['steps']"),
    ({"task": None, "device": None}, "expected keys ['task', 'device']"),
    ({"steps": "10"}, "steps is '10', expected an int"),
    ({"wall_seconds": True}, "wall_seconds is True, expected a number"),
    ({"train_example_ids": ["a", 3]}, "train_example_ids is ['a', 3], expected a list of strings"),
    ({"hyperparameters": {"lora_r": "16"}}, "hyperparameters.lora_r is '16', expected an int or null"),
    ({"hyperparameters": []}, "hyperparameters is [], expected an object"),
    ({"refit_of": {"best_step": 1.5}}, "refit_of.best_step is 1.5, expected an int or null"),
    ({"peak_memory_gib": "11 GiB"}, "peak_memory_gib is '11 GiB', expected a number or null"),
])
def test_a_broken_card_names_its_file_and_the_key(tmp_path, change, message):
    data = json.loads((ROOT / "adapters" / "tatqa-smollm2-135m" / CARD).read_text())
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path = tmp_path / CARD
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError) as caught:
        AdapterCard.read(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "python -m finetune" in str(caught.value)


def test_a_card_that_is_not_an_object_or_not_json(tmp_path):
    path = tmp_path / CARD
    path.write_text("[1, 2]")
    with pytest.raises(HarnessError, match="expected a JSON object, got list"):
        AdapterCard.read(path)
    path.write_text("{not json")
    with pytest.raises(HarnessError, match="adapter card"):
        AdapterCard.read(path)
