"""--harness-precision: what ``auto`` resolves to, the refusal of emulated bfloat16, the CPU's flags read from
/proc/cpuinfo, and (slow, on a CPU with bf16 units) the shipped adapter scoring the same labels in bfloat16."""

import pytest

from harness import HarnessError
from harness.models.precision import cpu_bf16_units, resolve_precision


def test_auto_is_float32_on_the_cpu_and_bfloat16_on_a_gpu():
    assert resolve_precision("auto", "cpu", units=("amx_bf16",)) == "float32"
    assert resolve_precision("auto", "cpu", units=()) == "float32"
    assert resolve_precision("auto", "cuda") == "bfloat16"
    assert resolve_precision("float32", "cuda") == "float32"


def test_bfloat16_on_a_cpu_without_bf16_units_is_refused_with_the_fix():
    assert resolve_precision("bfloat16", "cpu", units=("avx512_bf16",)) == "bfloat16"
    with pytest.raises(HarnessError, match=r"expected a CPU with bf16 matrix units .*found none.*drop the option"):
        resolve_precision("bfloat16", "cpu", units=())


def test_an_unknown_precision_is_refused():
    with pytest.raises(HarnessError, match=r"--harness-precision=fp8: expected one of \['auto', 'float32', 'bfloat16'\]"):
        resolve_precision("fp8", "cpu")


def test_the_cpu_flags_come_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\nbogomips\t: 1\n")
    assert cpu_bf16_units.__wrapped__(str(info)) == ("amx_bf16",)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_bf16_units.__wrapped__(str(info)) == ()
    assert cpu_bf16_units.__wrapped__(str(tmp_path / "missing")) == ()


@pytest.mark.slow
@pytest.mark.skipif(not cpu_bf16_units(), reason="this CPU has no bf16 matrix units (AMX-BF16 / AVX512-BF16)")
def test_the_shipped_adapter_scores_the_same_labels_in_bfloat16():
    from conftest import ROOT
    from harness.models.adapter import load, read_card
    from harness.models.base import Request
    from harness.tasks.fpb.data import LABELS, SAMPLE_DIR, SAMPLE_FILE, load_fpb
    from harness.tasks.fpb.prompts import render

    folder = ROOT / "adapters" / "fpb-sentiment-smollm2-135m"
    examples = load_fpb(SAMPLE_DIR / SAMPLE_FILE).examples[:24]
    requests = [Request(e, render("zero_shot", e.text), LABELS) for e in examples]
    fp32 = load(folder, read_card(folder), "adapter:fpb", 8).predict(requests)
    bf16_model = load(folder, read_card(folder), "adapter:fpb", 8, precision="bfloat16")
    assert bf16_model.precision == "bfloat16" and "merged in float32, then cast to bfloat16" in bf16_model.provenance
    bf16 = bf16_model.predict(requests)
    assert [r.text for r in bf16] == [r.text for r in fp32]  # the scores move (log-probs by up to ~0.6), the labels not
