"""The shared-prefix training loss equals the plain causal-LM loss, value and gradients (tiny random Llama)."""

import pytest

torch = pytest.importorskip("torch")

from finetune.shared_prefix import IGNORE, SuffixCollator, common_prefix_length, shared_prefix_loss  # noqa: E402


def _rows():
    prefix = [5, 6, 7, 8, 9]
    bodies = [([11, 12, 13], [40, 41]), ([14, 15], [42, 41]), ([16, 17, 18, 19, 20], [43, 41])]
    rows = []
    for body, answer in bodies:
        ids = prefix + body + answer
        rows.append({"input_ids": ids, "labels": [IGNORE] * (len(prefix) + len(body)) + answer})
    return rows


def _model():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                                                lora_dropout=0.0))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.1)  # a trained adapter, so the prefix's keys depend on LoRA
    return model


def test_prefix_stops_before_the_first_answer_token():
    rows = _rows()
    assert common_prefix_length(rows) == 5
    rows[1]["input_ids"][3] = 99
    assert common_prefix_length(rows) == 3
    short = [{"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]}, {"input_ids": [1, 2, 4], "labels": [IGNORE, 2, 4]}]
    assert common_prefix_length(short) == 0  # the token predicting the answer must stay in the suffix


def test_loss_and_gradients_equal_the_plain_forward():
    from finetune.collators import PadCollator

    rows, model = _rows(), _model()
    model.eval()
    plain = PadCollator(pad_id=0)(rows)
    shared = SuffixCollator(pad_id=0, prefix=rows[0]["input_ids"][:5])(rows)
    assert shared["input_ids"].shape[1] == plain["input_ids"].shape[1] - 5

    expected = model(**plain).loss
    expected.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    got = shared_prefix_loss(model.get_base_model(), shared)
    got.backward()

    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert grads and all(torch.allclose(p.grad, grads[n], atol=1e-6) for n, p in model.named_parameters() if n in grads)


def test_label_only_logits_give_the_plain_loss_and_gradients():
    from finetune.collators import LabelOnly, PadCollator

    rows, model = _rows(), _model()
    model.eval()
    plain = PadCollator(pad_id=0)(rows)
    expected = model(**plain).loss
    expected.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    batch = LabelOnly(PadCollator(pad_id=0))(rows)
    out = model(**batch)
    assert out.logits.shape[0] == int(batch["logits_to_keep"].sum()) == len(batch["shift_labels"])  # answer tokens only
    out.loss.backward()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert grads and all(torch.allclose(p.grad, grads[n], atol=1e-6) for n, p in model.named_parameters() if n in grads)
