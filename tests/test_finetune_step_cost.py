"""A training step without the Trainer's per-step extras (finetune.step_cost) trains as before: the same losses,
evaluations and FLOP count, the model in training mode for every step (also right after an evaluation) and in
evaluation mode while evaluating, and a NaN loss still stops the run at the next logging step.

A two-layer Llama of width 16 built from its config (no files): each Trainer run takes about a second."""

import pytest

from harness import HarnessError

STEPS, EVERY = 6, 2


def _model(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64, attention_dropout=0.1)
    return LlamaForCausalLM(config)


def _rows(n: int = STEPS * 2) -> list[dict[str, list[int]]]:
    return [{"input_ids": [(i * 7 + j) % 64 for j in range(12)], "labels": [-100] * 10 + [(i * 7 + 10) % 64, 3]}
            for i in range(n)]


def _train(tmp_path, lean: bool, model=None, callbacks=(), logging_steps: int = EVERY):
    from transformers import Trainer, TrainingArguments

    from finetune.callbacks import nan_guard
    from finetune.collators import PadCollator
    from finetune.step_cost import LEAN_ARGUMENTS, lean_trainer

    args = TrainingArguments(
        output_dir=str(tmp_path / ("lean" if lean else "main")), max_steps=STEPS, per_device_train_batch_size=2,
        per_device_eval_batch_size=2, learning_rate=1e-2, logging_steps=logging_steps, eval_strategy="steps",
        eval_steps=EVERY, save_strategy="no", seed=0, data_seed=0, use_cpu=True, report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, prediction_loss_only=True, disable_tqdm=True,
        **(LEAN_ARGUMENTS if lean else {}))
    trainer = (lean_trainer(Trainer) if lean else Trainer)(
        model=model if model is not None else _model(), args=args, train_dataset=_rows(), eval_dataset=_rows(4),
        data_collator=PadCollator(0), callbacks=[nan_guard(1e-2)(), *callbacks])
    trainer.train()
    return trainer


def test_the_lean_step_logs_the_same_losses_evaluations_and_flops(tmp_path):
    main, lean = _train(tmp_path, lean=False), _train(tmp_path, lean=True)

    def logged(trainer):
        return [{k: v for k, v in h.items() if k in ("step", "loss", "eval_loss", "total_flos", "grad_norm")}
                for h in trainer.state.log_history]

    assert logged(lean) == logged(main)
    assert sum("eval_loss" in h for h in logged(lean)) == STEPS // EVERY and lean.state.total_flos > 0
    assert "train" not in vars(lean.model) and "zero_grad" not in vars(lean.model)  # the model's own methods again
    assert all(p.grad is None for p in lean.model.parameters())  # zero_grad() cleared what the last step left


def test_every_step_trains_in_training_mode_and_every_evaluation_in_evaluation_mode(tmp_path):
    import torch

    model = _model()
    seen: list[tuple[bool, bool, bool]] = []  # (gradients on: a training step, the model's mode, a deep layer's mode)
    deep = model.model.layers[-1].self_attn
    model.register_forward_pre_hook(lambda module, args: seen.append((torch.is_grad_enabled(), module.training,
                                                                       deep.training)))
    _train(tmp_path, lean=True, model=model)
    assert sum(training for training, _, _ in seen) == STEPS and len(seen) > STEPS  # evaluations ran between steps
    assert all(training == mode == deep_mode for training, mode, deep_mode in seen), seen


def test_a_nan_loss_stops_the_run_at_the_next_logging_step(tmp_path):
    import torch

    model = _model()
    calls = []

    def poison(module, args, output):  # the third training step's loss is NaN (evaluations run without gradients)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == 3:
                output.loss = output.loss * float("nan")
        return output

    model.register_forward_hook(poison)
    with pytest.raises(HarnessError, match=r"training loss became NaN at step 4: lower --learning-rate \(now 0.01\)"):
        _train(tmp_path, lean=True, model=model, logging_steps=EVERY)


@pytest.mark.parametrize("logs, message", [
    ({"loss": float("inf")}, "training loss became inf at step 7"),
    ({"eval_loss": float("nan")}, "validation loss became NaN at step 7"),
])
def test_the_guard_names_an_infinite_or_validation_loss(logs, message):
    from types import SimpleNamespace

    from finetune.callbacks import nan_guard

    guard = nan_guard(2e-4)()
    guard.on_log(None, SimpleNamespace(global_step=7), None, logs={"loss": 0.5, "eval_loss": 0.7})  # finite: nothing
    with pytest.raises(HarnessError, match=message):
        guard.on_log(None, SimpleNamespace(global_step=7), None, logs=logs)
