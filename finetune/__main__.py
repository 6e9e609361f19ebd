"""``python -m finetune sentiment [options]``: train an adapter the harness can evaluate."""

from __future__ import annotations

import argparse
import shlex
import sys

from harness import HarnessError
from finetune.config import BACKENDS, TrainConfig


def parse(argv: list[str]) -> TrainConfig:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m finetune", description=__doc__)
    p.add_argument("task", choices=["sentiment"])
    p.add_argument("--base", default=defaults.base, help="smollm2-135m, a transformers folder or a hub id")
    p.add_argument("--seed", type=int, default=defaults.seed, help="split and training seed (default %(default)s)")
    p.add_argument("--data", dest="data_dir", default=None, help="FPB folder (default: $FPB_DIR, then the sample)")
    p.add_argument("--epochs", type=float, default=defaults.epochs)
    p.add_argument("--max-steps", type=int, default=defaults.max_steps)
    p.add_argument("--limit", type=int, default=None, help="train on N examples (stratified, seeded)")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--lora-r", type=int, default=defaults.lora_r)
    p.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    p.add_argument("--target-modules", default=",".join(defaults.target_modules))
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--eval-every", type=int, default=defaults.eval_every)
    p.add_argument("--patience", type=int, default=defaults.patience)
    p.add_argument("--backend", choices=BACKENDS, default=defaults.backend)
    p.add_argument("--output-dir", default=defaults.output_dir)
    p.add_argument("--dollars-per-hour", type=float, default=0.0, help="machine price for the card's $ figure")
    a = p.parse_args(argv)
    return TrainConfig(
        base=a.base, seed=a.seed, data_dir=a.data_dir, epochs=a.epochs, max_steps=a.max_steps, limit=a.limit,
        learning_rate=a.learning_rate, lora_r=a.lora_r, lora_alpha=a.lora_alpha,
        target_modules=tuple(m for m in a.target_modules.split(",") if m), batch_size=a.batch_size,
        eval_every=a.eval_every, patience=a.patience, backend=a.backend, output_dir=a.output_dir,
        dollars_per_hour=a.dollars_per_hour,
        extra={"command": "python -m finetune " + " ".join(shlex.quote(x) for x in argv)},
    )


def main(argv: list[str] | None = None) -> int:
    from finetune.train import train

    try:
        config = parse(sys.argv[1:] if argv is None else argv)
        card = train(config)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"adapter written to {config.out} ({card['steps']} steps, {card['wall_seconds']} s, "
          f"loss {card['loss_first']:.3f} -> {card['loss_last']:.3f}, backend {card['backend']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
