"""The typed records of the TAT-QA report, the FPB agreement slices and TFNS: built from synthetic cases, read
back from their JSON, written out again unchanged (same keys, same order, same values)."""

import json

import pytest

from harness.pricing import default_machine, load_machine_prices
from harness.report.rows import Cost, Latency, Row
from harness.tasks.fpb.slice_rows import BandCounts, SliceRow, SlicesReport
from harness.tasks.fpb.slices import band_table, notes
from harness.tasks.tatqa import report as tatqa_report
from harness.tasks.tatqa.data import Context, Paragraph, Question
from harness.tasks.tatqa.rows import (LATENCY_KEYS, EmAnchor, GroupScore, TatqaCase, TatqaDataInfo, TatqaReport,
                                      TatqaRow, TatqaSplitInfo)
from harness.tasks.tfns import F1Anchor, TfnsNotes, anchor_line

CONTEXT = Context("ctx-1", (("", "2019", "2018"), ("Revenue", "1,200", "1,000")),
                  (Paragraph("p1", 1, "Revenue rose."),))
QUESTIONS = (
    Question("q-span", 1, "Which year?", ("2019",), "span", "table", "", "", CONTEXT),
    Question("q-multi", 2, "Which years?", ("2019", "2018"), "multi-span", "table", "", "", CONTEXT),
    Question("q-arith", 3, "Change?", 200.0, "arithmetic", "table", "thousand", "1200-1000", CONTEXT),
    Question("q-count", 4, "How many years?", "2", "count", "table", "", "", CONTEXT),
)
RIGHT = {"q-span": ("2019", ["2019"], ""), "q-multi": ("2019; 2018", ["2019", "2018"], ""),
         "q-arith": ("200", ["200"], "thousand"), "q-count": ("2", ["2"], "")}


def _case(model, strategy, index, question, pred, *, error=None, api=False):
    return {"task": "tatqa", "model": model, "strategy": strategy, "index": index, "example_id": question.uid,
            "gold": f"Answer: {question.uid}", "pred": pred, "reply": "Answer: ...", "latency_s": 0.5 + index,
            "latency_source": "recorded" if api else "wall", "batch_size": 1 if api else 4,
            "input_tokens": 100 if api else None, "output_tokens": 5 if api else None, "error": error,
            "provenance": f"from {model}", "cost_usd": 0.001 if api else None, "kind": "api" if api else "local",
            "batch1_latency_s": None if api else 0.25}


def _cases():
    out = []
    for i, q in enumerate(QUESTIONS):  # the API row answers everything right
        text, spans, scale = RIGHT[q.uid]
        out.append(_case("openai:gpt-4o-mini", "zero_shot", i, q, {"text": text, "spans": spans, "scale": scale},
                         api=True))
    wrong = [{"text": "2017", "spans": ["2017"], "scale": ""}, None, {"text": "200", "spans": ["200"], "scale": ""}, None]
    for i, (q, pred) in enumerate(zip(QUESTIONS, wrong)):  # the local row: wrong, unparsed, wrong scale, failed call
        out.append(_case("smollm2-135m", "few_shot", i, q, pred, error="boom" if i == 3 else None))
    return out


META = {
    "task": "tatqa", "task_version": 1, "template_version": "tatqa-v1",
    "data": TatqaDataInfo(file="tatqa_dataset_test_gold.json", file_sha256="ab" * 32, directory="/data",
                          questions=4, contexts=1, per_type={"span": 1, "multi-span": 1, "arithmetic": 1, "count": 1},
                          pool="tatqa_dataset_dev.json", pool_questions=10).to_json(),
    "split": TatqaSplitInfo(n_total=4, n_evaluated=4, subset="all", subset_seed=1, method="all questions",
                            per_type_evaluated={"span": 1, "multi-span": 1, "arithmetic": 1, "count": 1},
                            uids=tuple(q.uid for q in QUESTIONS)).to_json(),
    "few_shot_examples": ["dev-1"],
    "anchors_em": [EmAnchor(name="GPT-4 (published)", em=71.9).to_json()],
    "bootstrap_resamples": 50, "models": ["openai:gpt-4o-mini", "smollm2-135m"],
    "unavailable": {"tfidf-logreg": "a label classifier"},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pairs = [("openai:gpt-4o-mini", "zero_shot"), ("smollm2-135m", "few_shot")]
    return tatqa_report.build_report(
        META, QUESTIONS, _cases(), pair_order=pairs, expected={p: 4 for p in pairs},
        root=tmp_path_factory.mktemp("root"), seed=1, resamples=50,
        machine=default_machine("cpu", load_machine_prices()), prices=None)


def test_the_tatqa_report_reads_back_and_writes_the_same_json(report):
    typed = TatqaReport.from_json(report)
    assert typed.to_json() == report
    assert json.dumps(typed.to_json(), indent=2, ensure_ascii=False) == json.dumps(report, indent=2, ensure_ascii=False)
    for row in report["rows"]:
        assert json.dumps(TatqaRow.from_json(row).to_json()) == json.dumps(row)
    assert TatqaDataInfo.from_json(report["data"]).to_json() == report["data"]
    assert TatqaSplitInfo.from_json(report["split"]).to_json() == report["split"]


def test_rows_are_built_in_the_report_order_with_the_scores_of_the_cases(report):
    api, local = TatqaReport.from_json(report).rows
    assert list(report["rows"][0]) == ["model", "strategy", "n", "expected", "em", "em_ci95", "f1", "f1_ci95",
                                       "per_type", "per_source", "scale_accuracy", "parse_failures", "errors",
                                       "latency", "tokens", "cost", "provenance", "items"]
    assert list(report["rows"][0]["latency"]) == list(LATENCY_KEYS)
    assert (api.em, api.f1, api.scale_accuracy, api.parse_failures, api.errors) == (1.0, 1.0, 1.0, 0, 0)
    assert api.per_type["count"] == GroupScore(n=1, em=1.0, em_ci95=(1.0, 1.0), f1=1.0, f1_ci95=(1.0, 1.0))
    assert api.overall.n == 4 and api.tokens == {"input": 400, "output": 20} and api.cost.basis == "billed"
    assert (local.em, local.parse_failures, local.errors, local.latency.batch1_s) == (0.0, 1, 1, 0.25)
    assert local.items["q-arith"] == [0.0, 0.0]  # the right number at the wrong scale scores nothing
    assert isinstance(local.latency, Latency) and isinstance(local.cost, Cost)
    assert report["findings"][1].startswith("smollm2-135m · few_shot: EM 0.0 %")
    assert "2 of 4 replies (50.0 %) had no parsable" in report["findings"][1] and "(1 calls failed)" in report["findings"][1]


def test_the_markdown_and_terminal_lines_read_the_typed_report(report):
    markdown = tatqa_report.markdown(report)
    assert "| openai:gpt-4o-mini | zero_shot | 4/4 | 100.0 [100.0, 100.0]" in markdown
    assert "- **smollm2-135m · few_shot**: from smollm2-135m" in markdown
    lines = tatqa_report.terminal_lines(report)
    assert "not run: tfidf-logreg: a label classifier" in lines and lines[-1].startswith("  smollm2-135m · few_shot")
    csv = tatqa_report.predictions_csv(_cases())
    assert "q-arith,Answer: q-arith,200 | thousand" in csv and csv.splitlines()[-1].endswith(",boom")


def test_a_row_replayed_from_a_resealed_cassette_is_a_caveat_line(report):
    said = "; cassette resealed on 2026-12-05: restored from git"
    resealed = {**report, "rows": [{**r, "provenance": r["provenance"] + said} if r["model"].startswith("openai:") else r
                                   for r in report["rows"]]}
    line = f"caveat: openai:gpt-4o-mini · zero_shot: {said[2:]}"
    assert line in tatqa_report.terminal_lines(resealed) and f"> {line}" in tatqa_report.markdown(resealed)
    assert not any(l.startswith("caveat:") for l in tatqa_report.terminal_lines(report))


def test_a_case_is_typed_once_with_its_parsed_answer():
    case = TatqaCase.from_json(_cases()[2])
    assert case.pred is not None and (case.pred.text, case.pred.spans, case.pred.scale) == ("200", ("200",), "thousand")
    assert TatqaCase.from_json(_cases()[5]).pred is None


def test_slice_records_round_trip_and_the_band_table_reads_them():
    built = Row(model="tfidf-logreg", strategy="supervised", n=10, expected=10, weighted_f1=0.8,
                weighted_f1_ci95=(0.7, 0.9), accuracy=0.8, accuracy_ci95=(0.7, 0.9), macro_f1=0.75,
                per_class={"neutral": {"f1": 0.8}}, latency=Latency(p50_s=0.1))
    row = SliceRow.of(built).to_json()
    assert list(row) == ["model", "strategy", "n", "expected", "weighted_f1", "weighted_f1_ci95", "accuracy",
                         "accuracy_ci95", "macro_f1", "parse_failures", "errors", "per_class"]
    worse = {**row, "weighted_f1": 0.6, "weighted_f1_ci95": [0.5, 0.7]}
    bands = {"100 (AllAgree test)": BandCounts(in_file=5, kept=5, evaluated=5).to_json(),
             "75-99": BandCounts(in_file=9, in_stricter_file=3, excluded_in_allagree_train=1, repeats_dropped=0,
                                 kept=5, evaluated=5).to_json()}
    assert bands["100 (AllAgree test)"] == {"in_file": 5, "kept": 5, "evaluated": 5}
    report = {"task": "fpb-slices", "bands": bands, "unavailable": {},
              "band_reports": {"100 (AllAgree test)": [row], "75-99": [worse]}, "created_at": "now", "git_sha": None}
    typed = SlicesReport.from_json(report)
    assert typed.to_json() == report and json.dumps(typed.to_json()) == json.dumps(report)
    assert band_table(typed)[1] == ["tfidf-logreg", "supervised", "0.800 [0.700, 0.900] (10)",
                                    "0.600 [0.500, 0.700] (10)", "-0.200"]
    assert notes(typed)[0] == "band 100 (AllAgree test): 5 evaluated of 5 kept (the main job's test split)"
    assert "3 also in the stricter file, 1 excluded as AllAgree train" in notes(typed)[1]


def test_tfns_notes_read_the_anchors_and_round_trip():
    report = {"anchors_weighted_f1": [F1Anchor(name="GPT-4o", weighted_f1=0.74).to_json()], "unavailable": None,
              "rows": []}
    notes_ = TfnsNotes.from_json(report)
    assert notes_.to_json() == report and notes_.unavailable is None
    assert anchor_line(report).endswith("GPT-4o 0.740")
