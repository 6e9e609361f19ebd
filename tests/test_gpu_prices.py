"""GPU machine prices: dated, sourced entries in harness/prices.toml, and which one prices a run on a GPU.

CPU only: the GPU's name is passed as a string (what torch.cuda.get_device_name would give), or torch is faked.
"""

import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from harness import HarnessError, economics, session
from harness.models.card import TrainingCompute
from harness.pricing import (
    default_machine,
    gpu_machine_for,
    load_machine_prices,
    load_prices,
    match_gpu,
)
from harness.results import CaseResult

MACHINES = load_machine_prices()
DEFAULT_GPU = default_machine("gpu", MACHINES).name


def _case(latency=0.5):
    return CaseResult(task="t", model="m", strategy="zero_shot", index=0, example_id="e", gold="positive",
                      pred="positive", reply="positive", latency_s=latency, latency_source="measured", batch_size=4,
                      input_tokens=None, output_tokens=None, error=None, provenance="test")


def test_every_gpu_entry_is_dated_sourced_and_the_listed_gpus_are_there():
    gpus = {name: m for name, m in MACHINES.items() if m.kind == "gpu"}
    assert {"aws-g4dn.xlarge", "aws-g6.xlarge", "aws-g5.xlarge", "aws-p5.48xlarge-per-gpu",
            "aws-p5en.48xlarge-per-gpu", "lambda-1x-h100-sxm"} <= set(gpus)
    for machine in gpus.values():
        assert machine.dollars_per_hour > 0 and machine.description
        assert machine.as_of >= "2026-01-01" and machine.source.startswith("https://"), machine.name
    assert load_prices().as_of >= max(m.as_of for m in MACHINES.values())
    words = {token for m in gpus.values() for token in m.gpu_match}
    assert {"T4", "L4", "A10G", "H100", "H200"} <= words
    assert DEFAULT_GPU == "aws-g5.xlarge" and MACHINES[DEFAULT_GPU].dollars_per_hour == 1.006  # unchanged


@pytest.mark.parametrize("gpu_name, machine", [
    ("NVIDIA H100 80GB HBM3", "aws-p5.48xlarge-per-gpu"),
    ("NVIDIA H100 PCIe", "aws-p5.48xlarge-per-gpu"),
    ("nvidia h100 nvl", "aws-p5.48xlarge-per-gpu"),  # case-insensitive
    ("Tesla T4", "aws-g4dn.xlarge"),
    ("NVIDIA A10G", "aws-g5.xlarge"),
    ("NVIDIA L4", "aws-g6.xlarge"),
    ("NVIDIA H200", "aws-p5en.48xlarge-per-gpu"),
])
def test_the_gpu_name_picks_its_machine(gpu_name, machine):
    chosen = gpu_machine_for(gpu_name, MACHINES)
    assert chosen.name == machine
    assert chosen.dollars_per_hour == MACHINES[machine].dollars_per_hour
    assert gpu_name in chosen.selection and "matched gpu_match" in chosen.selection


@pytest.mark.parametrize("gpu_name", [
    "NVIDIA L40S", "NVIDIA L40",          # not the L4
    "NVIDIA GH200 480GB",                 # not the H200
    "NVIDIA A10",                         # not the A10G
    "Quadro T4000",                       # not the T4
    "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090",
])
def test_a_gpu_no_entry_names_is_priced_at_the_default_gpu_machine_and_says_so(gpu_name):
    assert match_gpu(gpu_name, MACHINES) is None
    chosen = gpu_machine_for(gpu_name, MACHINES)
    assert chosen.name == DEFAULT_GPU
    assert chosen.selection == (f"GPU {gpu_name!r} matched no gpu_match in harness/prices.toml: "
                                "the default gpu machine")


@pytest.mark.parametrize("gpu_name", [None, "", "  "])
def test_an_unknown_gpu_name_is_priced_at_the_default_gpu_machine(gpu_name):
    chosen = gpu_machine_for(gpu_name, MACHINES)
    assert chosen.name == DEFAULT_GPU and "GPU name unknown" in chosen.selection


def test_on_cuda_local_time_is_priced_at_the_matching_gpu_and_the_options_still_override():
    machine, gpu = economics.machines_for(device="cuda", gpu_name="NVIDIA H100 80GB HBM3")
    assert machine.name == "aws-p5.48xlarge-per-gpu" and machine.dollars_per_hour == pytest.approx(55.04 / 8)
    assert gpu.name == DEFAULT_GPU  # GPU training hours: the default unless the card names its GPU (below)
    user, _ = economics.machines_for(1.5, device="cuda", gpu_name="NVIDIA H100 80GB HBM3")
    assert (user.name, user.dollars_per_hour, user.kind) == ("user-given", 1.5, "gpu")
    named, _ = economics.machines_for(name="lambda-1x-h100-sxm", device="cuda", gpu_name="NVIDIA H100 80GB HBM3")
    assert named.name == "lambda-1x-h100-sxm" and named.dollars_per_hour == 4.29
    with pytest.raises(HarnessError, match="not in harness/prices.toml"):
        economics.machines_for(name="no-such-box", device="cuda", gpu_name="Tesla T4")


def test_on_cpu_nothing_changes_and_torch_is_not_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    machine, gpu = economics.machines_for()
    assert economics.machines_for(device="cpu") == (machine, gpu)
    assert machine == MACHINES["aws-m7g.large"] and machine.selection == "" and machine.kind == "cpu"
    assert economics.machines_for(1.5, device="cpu")[0].kind == "cpu"
    assert economics.visible_gpu_name("cpu") is None
    cost = economics.row_cost([_case()] * 10, machine=machine, prices=None, reference=None)
    assert cost["note"] == "measured time × $0.0816/h (aws-m7g.large)" and "machine_selection" not in cost
    # on cuda without a usable torch the price is the default gpu machine's, and says the name is unknown
    unknown, _ = economics.machines_for(device="cuda")
    assert unknown.name == DEFAULT_GPU and "GPU name unknown" in unknown.selection


def test_the_gpu_name_is_read_from_torch_only_on_cuda(monkeypatch):
    asked = []
    fake = SimpleNamespace(cuda=SimpleNamespace(get_device_name=lambda i: asked.append(i) or "NVIDIA L4"))
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert economics.machines_for(device="cuda")[0].name == "aws-g6.xlarge"
    assert economics.visible_gpu_name("cuda:1") == "NVIDIA L4" and asked == [0, 1]
    assert economics.machines_for(device="cpu")[0].name == "aws-m7g.large" and asked == [0, 1]


def test_the_row_says_which_machine_priced_it():
    machine = gpu_machine_for("Tesla T4", MACHINES)
    cost = economics.row_cost([_case(latency=0.5)] * 10, machine=machine, prices=None, reference=None)
    assert cost["machine"] == "aws-g4dn.xlarge" and cost["dollars_per_hour"] == 0.526
    assert cost["total_usd"] == pytest.approx(5 / 3600 * 0.526)
    assert cost["note"] == "measured time × $0.526/h (aws-g4dn.xlarge; GPU 'Tesla T4' matched gpu_match 'T4')"
    fallback = gpu_machine_for("NVIDIA L40S", MACHINES)
    cost = economics.row_cost([_case()], machine=fallback, prices=None, reference=None)
    assert cost["machine"] == DEFAULT_GPU and "'NVIDIA L40S' matched no gpu_match" in cost["note"]
    assert cost["machine_selection"] == fallback.selection


def test_gpu_training_hours_are_priced_at_the_cards_gpu():
    cpu, gpu = economics.machines_for()
    card = TrainingCompute(machine_hours=2.0, gpu_hours=2.0, dollars_per_hour=0.0, device="Tesla T4")
    t4 = economics.training_cost(card, machine=cpu, gpu_machine=gpu)
    assert t4["usd"] == pytest.approx(2 * 0.526) and "aws-g4dn.xlarge" in t4["note"]
    other = economics.training_cost(replace(card, device="NVIDIA L40S"), machine=cpu, gpu_machine=gpu)
    assert other["usd"] == pytest.approx(2 * gpu.dollars_per_hour) and gpu.name in other["note"]
    own = economics.training_cost(replace(card, dollars_per_hour=1.0), machine=cpu, gpu_machine=gpu)
    assert own["usd"] == 2.0  # the card's own $/h still wins
    on_cpu = economics.training_cost(replace(card, gpu_hours=0.0, device="Tesla T4"), machine=cpu, gpu_machine=gpu)
    assert on_cpu["usd"] == pytest.approx(2 * cpu.dollars_per_hour)


MACHINE = ('[machines.{name}]\ndollars_per_hour = 1.0\nkind = "{kind}"\nas_of = "2026-01-01"\n'
           'source = "https://example.com"\n{extra}\n')


@pytest.mark.parametrize("entries, message", [
    ([("a", "cpu", 'gpu_match = "T4"')], "expected gpu_match only on kind = \"gpu\""),
    ([("a", "gpu", "gpu_match = 4")], "has gpu_match=4: expected a word of the GPU's name"),
    ([("a", "gpu", "gpu_match = []")], "has gpu_match=[]"),
    ([("a", "gpu", 'gpu_match = "H100|A100"')], "has gpu_match='H100|A100'"),
    ([("a", "gpu", 'gpu_match = "H100"'), ("b", "gpu", 'gpu_match = ["A100", "h100"]')],
     "machines 'a' and 'b' both have gpu_match 'h100'"),
])
def test_a_bad_gpu_match_is_a_clear_error(tmp_path, entries, message):
    path = tmp_path / "prices.toml"
    path.write_text("".join(MACHINE.format(name=n, kind=k, extra=e) for n, k, e in entries))
    with pytest.raises(HarnessError, match=message.replace("[", r"\[").replace("]", r"\]").replace("|", r"\|")):
        load_machine_prices(path)


def test_a_list_of_gpu_words_is_accepted(tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text(MACHINE.format(name="box", kind="gpu", extra='gpu_match = ["A100", "RTX 4090"]'))
    machines = load_machine_prices(path)
    assert machines["box"].gpu_match == ("A100", "RTX 4090")
    assert gpu_machine_for("NVIDIA GeForce RTX 4090", machines).name == "box"
    assert gpu_machine_for("NVIDIA A100-SXM4-80GB", machines).selection.endswith("matched gpu_match 'A100'")


def test_the_session_prices_at_the_benchmarks_device(tmp_path, monkeypatch):
    asked = []

    class Stop(Exception):
        pass

    def machines_for(*args, **kwargs):
        asked.append(kwargs.get("device"))
        raise Stop

    options = session.SessionOptions(root=tmp_path, report_dir=tmp_path / "reports")
    monkeypatch.setattr(economics, "machines_for", machines_for)
    for benches in ({"t": SimpleNamespace(device="cuda")}, {"t": SimpleNamespace(device="cpu")}, {}):
        with pytest.raises(Stop):
            session.finish(benches, [], {}, options)
    assert asked == ["cuda", "cpu", "cpu"]
