"""Seven bad-input cases through the installed `hicra` console script in a fresh process: the
same exit status, the same one line, nothing written (the in-process suite stands for the rest)."""

from __future__ import annotations

import pytest
import test_bad_analyze
import test_bad_detector
import test_bad_eval_sft_verl
import test_bad_lexicon
import test_bad_train
from badinput_harness import check

PICKED = (
    "train-lr-inf",
    "train-run-dir-foreign",
    "analyze-gz-cut",
    "mine-corpus-binary",
    "eval-temperature-negative",
    "to-verl-input-binary",
    "detector-eval-labelled-binary",
)
BY_ID = {
    p.values[0].id: p.values[0]
    for module in (
        test_bad_train,
        test_bad_analyze,
        test_bad_lexicon,
        test_bad_eval_sft_verl,
        test_bad_detector,
    )
    for p in module.CASES
}


@pytest.mark.parametrize("case_id", PICKED)
def test_console_script_reports_like_the_dispatcher(case_id, tmp_path, tiny_model_dir, capsys):
    case = BY_ID[case_id]
    line = check(case, tmp_path / "subprocess", tiny_model_dir)
    in_process = check(case, tmp_path / "in_process", tiny_model_dir, capsys)
    assert line.replace("/subprocess", "/in_process") == in_process
