"""Readers: a verl-style dump, plain JSONL/parquet with field maps, streaming, the real traces."""

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from dynamics_synthetic import write_verl

from hicra.dynamics.analysis import analyze_run, fold_records, planning_mask_from_offsets
from hicra.lexicon import StrategicLexicon
from hicra.runs.readers import FieldMap, InputFormatError, detect_format, iter_plain, iter_records

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def lexicon():
    return StrategicLexicon.default()


def test_verl_dump(tmp_path, lexicon):
    dump = write_verl(tmp_path / "rollout_data")
    assert detect_format(dump) == "verl"
    run = analyze_run(dump, lexicon=lexicon)
    assert run.format == "verl" and run.steps.tolist() == [1, 2, 3] and run.records == 24
    rows = {r["step"]: r for r in run.rows}
    assert rows[2]["reward/mean"] == pytest.approx(2 / 8) and rows[2]["accuracy"] == pytest.approx(
        2 / 8
    )
    # the 8 responses of a step come from 2 prompts (grouped by `input`): pass@4 per prompt
    assert rows[3]["pass@4"] == pytest.approx(1.0) and rows[1]["pass@1"] == pytest.approx(1 / 8)
    assert rows[1]["semantic/occurrences"] == 8 * 2  # "wait" and "let me check" in each response
    assert "relative perplexity by class (rel_perplexity/*)" in run.missing
    assert run.examples["early"][0]["step"] == 1 and run.examples["late"][0]["step"] == 3


def test_verl_without_acc_has_reward_not_accuracy(tmp_path, lexicon):
    run = analyze_run(write_verl(tmp_path / "d", with_acc=False), lexicon=lexicon)
    assert "accuracy" not in run.series and "reward/mean" in run.series
    assert "accuracy" in run.missing


def test_plain_jsonl_gz_with_field_names(tmp_path, lexicon):
    path = tmp_path / "dump.jsonl.gz"
    with gzip.open(path, "wt") as f:
        for step in range(4):
            for i in range(3):
                f.write(
                    json.dumps(
                        {"it": step, "gen": "But wait, alternatively x.", "r": i / 2, "ok": i == 0}
                    )
                    + "\n"
                )
    fields = FieldMap(step="it", response="gen", reward="r", correct="ok")
    run = analyze_run(path, lexicon=lexicon, fields=fields)
    assert run.format == "jsonl" and run.name == "dump" and run.steps.tolist() == [0, 1, 2, 3]
    assert run.rows[0]["reward/mean"] == pytest.approx(0.5) and run.rows[0][
        "accuracy"
    ] == pytest.approx(1 / 3)
    assert "pass@1" not in run.rows[0]  # no prompt ids: no pass@k


def test_parquet_and_chat_style_completions(tmp_path, lexicon):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "step": s,
            "prompt": "q",
            "completion": [{"role": "assistant", "content": "so wait"}],
            "reward": 1.0,
        }
        for s in range(3)
        for _ in range(2)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet", row_group_size=2)
    recs = list(iter_records(tmp_path / "d.parquet"))
    assert len(recs) == 6 and recs[0]["response"] == "so wait" and recs[0]["prompt_id"] == "q"


def test_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"step": 1, "completion": "a"}\n{"completion": "b"}\n')
    records = iter_plain(path)
    assert next(records)["response"] == "a"  # streamed: the first line comes out before the bad one
    with pytest.raises(InputFormatError, match=r"bad.jsonl:2: no step field .*--field-step"):
        next(records)
    path.write_text('{"step": 1, "completion": "a"}\n{not json\n')
    with pytest.raises(InputFormatError, match=r"bad.jsonl:2: not valid JSON"):
        list(iter_plain(path))
    path.write_text('{"step": "x", "completion": "a"}\n')
    with pytest.raises(InputFormatError, match="step 'x' is not an integer"):
        list(iter_plain(path))
    with pytest.raises(InputFormatError, match="absent: no such file"):
        detect_format(tmp_path / "absent")


def test_planning_mask_from_offsets(lexicon):
    text = "ok, but wait: 2"
    offsets = [(0, 2), (2, 3), (4, 7), (8, 12), (12, 13), (14, 15)]
    assert planning_mask_from_offsets(text, offsets, lexicon) == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]


def test_token_columns_in_records_give_class_metrics(lexicon):
    recs = [
        {
            "step": 0,
            "response": "but x",
            "logp": [-1.0, -3.0],
            "entropy": [0.5, 1.5],
            "offsets": [[0, 3], [4, 5]],
        }
    ]
    rows, _, _ = fold_records(recs, lexicon)
    assert rows[0]["nll/planning"] == 1.0 and rows[0]["nll/execution"] == 3.0
    assert rows[0]["entropy/execution"] == 1.5 and rows[0]["tokens/planning_fraction"] == 0.5


@pytest.mark.skipif(
    not (DATA / "math153_r1_distill_llama8b_traces.jsonl.gz").exists(),
    reason="shared traces absent",
)
def test_real_traces_smoke(tmp_path, lexicon):
    """The R1-distill traces as a 5-step text-only dump: the text metrics are finite and sane."""
    out = tmp_path / "traces.jsonl"
    with (
        gzip.open(DATA / "math153_r1_distill_llama8b_traces.jsonl.gz", "rt") as f,
        open(out, "w") as g,
    ):
        for i, line in enumerate(f):
            row = json.loads(line)
            g.write(
                json.dumps(
                    {
                        "step": i % 5,
                        "completion": row["reasoning"],
                        "correct": row["is_correct"],
                        "prompt_id": row["problem_id"],
                    }
                )
                + "\n"
            )
    run = analyze_run(out, lexicon=lexicon)
    assert run.steps.tolist() == [0, 1, 2, 3, 4] and run.records == 153
    for row in run.rows:
        assert 2.0 < row["semantic/entropy"] < math.log(len(lexicon))
        assert row["semantic/distinct_grams"] > 30 and 0 < row["chars/planning_fraction"] < 0.3
        assert 0 < row["semantic/cond_entropy"] and 0 < row["accuracy"] <= 1
    assert np.isfinite(run.series["semantic/entropy"]).all()


def test_fold_window_closes_old_steps_and_rejects_out_of_order(lexicon):
    recs = [{"step": s, "response": "but wait", "reward": float(s)} for s in (0, 1, 0, 2, 3, 1)]
    rows, _, _ = fold_records(recs[:3], lexicon, max_open_steps=2)
    assert rows[0]["responses"] == 2 and rows[1]["responses"] == 1
    with pytest.raises(InputFormatError, match="step 1 appears again"):
        fold_records(recs, lexicon, max_open_steps=2)
    rows, _, _ = fold_records(recs, lexicon, max_open_steps=0)
    assert rows[1]["responses"] == 2


def test_run_detector_comes_from_the_run_config(tmp_path):
    from hicra.dynamics.analysis import run_detector
    from hicra.runs import RunWriter
    from hicra.tasks.countdown import CountdownTask

    lex_file = tmp_path / "mine.txt"
    lex_file.write_text("zebra move\n")
    with RunWriter(tmp_path / "run", {"lexicon": str(lex_file)}) as w:
        w.log_rollouts(
            0,
            [
                {
                    "prompt_id": "a",
                    "prompt": "",
                    "response": "a zebra move",
                    "reward": 1.0,
                    "correct": True,
                }
            ],
        )
    run = analyze_run(tmp_path / "run")
    assert run.lexicon.source == str(lex_file) and run.rows[0]["semantic/occurrences"] == 1
    assert run.summary()["lexicon"] == str(lex_file)
    countdown = run_detector({"task": "countdown", "lexicon": ""})
    assert countdown is not None and countdown.categories()
    # the task's own lexicon, as the trainer resolved it (strategy names included)
    assert countdown.phrases == CountdownTask().planning_lexicon().phrases
    assert run_detector({"task": "other"}) is None
    assert run_detector({"detector": "lexicon"}).source.endswith("strategic_grams_wang2025.txt")
    assert run_detector({"task": "countdown", "detector": str(lex_file)}).source == str(lex_file)
