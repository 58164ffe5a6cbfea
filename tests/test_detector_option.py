"""`--detector NAME` wherever a planning mask is made: a detector registered by name reaches the
built-in trainer, `hicra tag`, `hicra analyze`, TRL's config and verl's settings, and runs record
which detector made their mask."""

from __future__ import annotations

import json
import re

import pytest

from hicra.cli import main
from hicra.lexicon import Detector, Span, load_detector, register_detector

NAME = "test-digits"


class Digits(Detector):
    """Marks every run of digits: a detector that is not a lexicon."""

    name = NAME

    def find_spans(self, text):
        # "\x00" separates rows in tag_batch; digits never cross it
        return [Span(m.start(), m.end(), m.group()) for m in re.finditer(r"\d+", text)]


register_detector(NAME, Digits, "digit runs (a test detector)")


def test_tag_takes_a_registered_detector_and_refuses_an_unknown_one(capsys):
    assert main(["tag", "--detector", NAME, "try 12 then 7"]) == 0
    assert capsys.readouterr().out == "try [[12]] then [[7]]\n"
    assert main(["tag", "--detector", "no-such-detector", "x"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("hicra tag: --detector: unknown detector 'no-such-detector'") and NAME in err
    )


def test_train_records_its_detector_and_analyze_uses_it(tiny_model_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    from hicra.dynamics.analysis import analyze_run
    from hicra.runs import RunReader

    run = tmp_path / "run"
    argv = [
        "train",
        "--model",
        str(tiny_model_dir),
        "--detector",
        NAME,
        "--steps",
        "1",
        "--prompts-per-step",
        "2",
        "--samples-per-prompt",
        "2",
        "--max-new-tokens",
        "12",
        "--threads",
        "1",
        "--no-progress",
        "--run-dir",
        str(run),
    ]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert (
        config["detector"] == NAME and config["detector_name"] == NAME and "lexicon" not in config
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rows = RunReader(run).rollouts(1)
    assert rows
    for row in rows:
        words = tokenizer.convert_ids_to_tokens(row["token_ids"])
        assert list(row["planning_mask"]) == [w.isdigit() for w in words]
    analysed = analyze_run(run)
    assert analysed.lexicon is load_detector(NAME)  # the run's own detector, by default


def test_train_with_a_lexicon_file(tiny_model_dir, tmp_path):
    lexicon = tmp_path / "lex.txt"
    lexicon.write_text("so\n")
    run = tmp_path / "run"
    argv = [
        "train",
        "--model",
        str(tiny_model_dir),
        "--detector",
        str(lexicon),
        "--steps",
        "1",
        "--prompts-per-step",
        "2",
        "--samples-per-prompt",
        "2",
        "--max-new-tokens",
        "4",
        "--threads",
        "1",
        "--no-progress",
        "--run-dir",
        str(run),
        "--rollouts-per-step",
        "0",
    ]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["detector"] == str(lexicon) and config["detector_name"] == str(lexicon)


def test_train_refuses_an_unknown_detector_before_loading_anything(tmp_path, capsys):
    argv = [
        "train",
        "--model",
        str(tmp_path / "no-model"),
        "--detector",
        "nope",
        "--run-dir",
        str(tmp_path / "r"),
    ]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(
        "hicra train: detector (--detector): unknown detector 'nope'"
    )


def test_trl_and_verl_settings_load_the_named_detector(tmp_path):
    from hicra.integrations.verl.settings import HICRASettings

    assert isinstance(load_detector(HICRASettings(detector=NAME).detector), Digits)
    pytest.importorskip("trl")
    from hicra.integrations.trl import HICRAConfig
    from hicra.integrations.trl.credit import TrlCredit

    args = HICRAConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], detector=NAME)
    assert isinstance(TrlCredit.from_config(args, tokenizer=None).lexicon, Digits)
