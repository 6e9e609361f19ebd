"""Trainer callbacks: a NaN loss stops the run with the fix; the time between steps is measured for the card.

Neither reads the device: the guard looks at the loss the Trainer logs (read every ``logging_steps``), the clock
is the host's (see :mod:`finetune.step_cost` for what else a step does besides its arithmetic)."""

from __future__ import annotations

import math
import time

from harness import HarnessError


def nan_guard(learning_rate: float) -> type:
    from transformers import TrainerCallback

    class NanGuard(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            for key, kind in (("loss", "training"), ("eval_loss", "validation")):
                loss = (logs or {}).get(key)
                if loss is not None and not math.isfinite(loss):
                    raise HarnessError(f"{kind} loss became {'NaN' if math.isnan(loss) else loss} at step "
                                       f"{state.global_step}: lower --learning-rate (now {learning_rate}) or check "
                                       "the data")

    return NanGuard


def between_steps() -> type:
    from transformers import TrainerCallback

    class BetweenSteps(TrainerCallback):
        """Seconds spent between one optimiser step's end and the next one's start: evaluation, checkpoints and
        logging, the cadence's cost (the card reports it as a share of training time)."""

        def __init__(self) -> None:
            self.seconds = 0.0
            self.step_seconds: list[float] = []
            self._ended: float | None = None
            self._began: float | None = None

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self._ended = time.perf_counter()
            if self._began is not None:
                self.step_seconds.append(self._ended - self._began)

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self._close()
            self._began = time.perf_counter()

        def median_step(self) -> float | None:
            """The median optimiser step's seconds: the steady rate, without the first step's compilation."""
            steps = sorted(self.step_seconds)
            return steps[len(steps) // 2] if steps else None

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self._close()

        def _close(self) -> None:
            if self._ended is not None:
                self.seconds += time.perf_counter() - self._ended
                self._ended = None

    return BetweenSteps
