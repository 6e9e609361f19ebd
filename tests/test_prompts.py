import pytest

from harness import HarnessError
from harness.example import Example
from harness.tasks.fpb.prompts import TEMPLATE_VERSION, render, select_shots, training_messages


def _train():
    labels = ("positive", "negative", "neutral")
    return [Example(id=f"t{i}", text=f"train sentence {i}", label=labels[i % 3]) for i in range(30)]


def test_few_shot_is_stratified_and_seeded():
    shots = select_shots(_train(), per_label=2, seed=5)
    assert sorted(e.label for e in shots) == ["negative", "negative", "neutral", "neutral", "positive", "positive"]
    assert shots == select_shots(_train(), per_label=2, seed=5)
    assert shots != select_shots(_train(), per_label=2, seed=6)


def test_few_shot_renders_examples_as_chat_turns():
    shots = select_shots(_train(), per_label=1, seed=1)
    prompt = render("few_shot", "Sales fell .", shots=shots)
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert prompt.messages[-1]["content"].endswith("Sales fell .")
    assert prompt.classify


def test_cot_asks_for_a_final_answer_line():
    prompt = render("cot", "Sales fell .")
    assert "Answer: positive" in prompt.messages[0]["content"]
    assert not prompt.classify and prompt.max_new_tokens > 8


def test_training_renders_the_evaluated_prompt_plus_the_answer():
    example = Example(id="x", text="Profit doubled .", label="positive")
    trained = training_messages(example)
    assert trained[:-1] == render("zero_shot", example.text).messages
    assert trained[-1] == {"role": "assistant", "content": "positive"}


@pytest.mark.parametrize("call, message", [
    (lambda: render("two_shot", "x"), "unknown prompt strategy"),
    (lambda: render("few_shot", "x"), "few_shot needs examples"),
    (lambda: select_shots(_train()[:3], per_label=2, seed=1), "needs 2 train examples"),
    (lambda: training_messages(Example("x", "y", "neutral"), strategy="cot"), "reasoning"),
])
def test_bad_prompt_requests(call, message):
    with pytest.raises(HarnessError, match=message):
        call()


def test_template_version_is_stable_text():
    assert TEMPLATE_VERSION.startswith("fpb-sentiment-") and len(TEMPLATE_VERSION) == len("fpb-sentiment-") + 8
