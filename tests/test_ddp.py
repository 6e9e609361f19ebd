"""Several processes through an existing engine: ``accelerate launch --num_processes N -m finetune ...`` runs the
Trainer's DDP, here two CPU processes on the gloo backend over a tiny random-weight base. Only the main process
writes the adapter, its card (which records the processes, their backend and the effective batch) and prints;
an adapter already in the folder is refused by every process before any of them trains.

On a CPU ``accelerate launch --cpu --num_processes 2`` starts one process (accelerate's multi-CPU launch needs
mpirun); ``--multi_gpu`` is the launcher that starts N processes (torchrun), and ``--backend cpu-lora`` makes
each one train on the CPU, so they meet over gloo. On GPUs ``--num_processes N`` alone picks that launcher."""

import json
import socket

import pytest

from conftest import run_finetune, run_python
from test_classification_task import LABELS, rows, write_csv

pytestmark = pytest.mark.slow  # two training processes

pytest.importorskip("accelerate", reason="accelerate is not installed: `accelerate launch` is what this tests")

SUITE = ("from harness import ClassificationTask\nTASK = ClassificationTask(name='ddptask', data='data.csv', text='body', "
         f"label='team', labels={LABELS!r}, instruction='Route it.', seed=1)\n")
ENV = {"HARNESS_MLFLOW": "off", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder with a declared task on generated tickets and a tiny random-weight base (a few MB)."""
    root = tmp_path_factory.mktemp("ddp")
    made = run_finetune("random-base", "--shape", "tiny", "--out", "tiny", cwd=root, env=ENV, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    write_csv(root / "data.csv", rows())
    (root / "test_ddptask.py").write_text(SUITE)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(root, *args):
    launch = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--gpu_ids", "all", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port())]
    return run_python(*launch, "-m", "finetune", "test_ddptask.py", "--base", "tiny", "--backend", "cpu-lora",
                      "--max-steps", "2", "--batch-size", "2", "--output-dir", "adapters/ddp", *args,
                      cwd=root, env=ENV, timeout=300)


def test_two_processes_on_gloo_train_one_adapter(project):
    run = _launch(project)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert run.stdout.count("adapter written to adapters/ddp") == 1, run.stdout[-2000:]  # the main process only
    assert "2 processes x batch 2" in run.stdout

    written = [p.relative_to(project) for p in project.rglob("adapter_*") if p.is_file()]
    assert sorted(str(p) for p in written) == ["adapters/ddp/adapter_card.json", "adapters/ddp/adapter_config.json",
                                               "adapters/ddp/adapter_model.safetensors"]
    assert not (project / "adapters" / "ddp" / "checkpoints").exists()  # removed once every process had finished
    card = json.loads((project / "adapters" / "ddp" / "adapter_card.json").read_text())
    assert card["processes"] == 2 and card["distributed_backend"] == "gloo"
    assert card["hyperparameters"]["batch_size"] == 2 and card["effective_batch_size"] == 4
    assert card["steps"] == 2 == card["hyperparameters"]["max_steps"]
    assert card["eval_losses"] and card["train_tokens_per_second"] > 0
    assert card["shared_prefix_tokens"] == 0  # its loss would run outside DDP's gradient synchronisation
    assert card["random_weights"] is True

    # every process refuses before training and the adapter is left as it was; the launcher stops the other
    # process as soon as one exits, so one or both may get to print the refusal
    again = _launch(project)
    assert again.returncode != 0
    assert again.stderr.count("already holds an adapter") in (1, 2), again.stderr[-3000:]
    assert "adapter written" not in again.stdout
    assert json.loads((project / "adapters" / "ddp" / "adapter_card.json").read_text()) == card
