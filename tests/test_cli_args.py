"""The one dataclass-to-flags generator: kebab case, --x/--no-x, old spellings with a warning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from hicra.cli_args import ArgumentParser, add_dataclass_flags, dataclass_values


@dataclass
class Options:
    batch_size: int = 32
    """Examples per step."""
    lr: float = 1e-3
    """Learning rate."""
    progress: bool = True
    """Show a progress bar."""
    mode: Literal["a", "b"] = "a"
    """Which mode."""
    limit: int | None = None
    """At most this many."""
    betas: tuple[float, float] = (0.9, 0.99)
    """Two numbers."""
    extra: dict = field(default_factory=dict)
    """YAML only."""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="demo")
    add_dataclass_flags(p, Options)
    return p


def test_kebab_flags_types_and_booleans():
    ns = parser().parse_args(
        [
            "--batch-size",
            "8",
            "--lr",
            "0.5",
            "--no-progress",
            "--mode",
            "b",
            "--limit",
            "3",
            "--betas",
            "0.1",
            "0.2",
        ]
    )
    assert dataclass_values(ns, Options) == {
        "batch_size": 8,
        "lr": 0.5,
        "progress": False,
        "mode": "b",
        "limit": 3,
        "betas": (0.1, 0.2),
    }
    assert (
        dataclass_values(parser().parse_args([]), Options) == {}
    )  # not given: None, so defaults apply
    help_text = parser().format_help()
    assert "--batch-size" in help_text and "Examples per step. (default: 32)" in help_text
    assert "--extra" not in help_text


def test_bad_values_are_argparse_errors(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--batch-size", "many"])
    assert "expected an int, got 'many'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["--mode", "c"])


def test_old_spellings_still_parse_with_one_line_each(capsys):
    ns = parser().parse_args(["--batch_size", "8", "--progress", "false", "--lr=0.5"])
    assert dataclass_values(ns, Options) == {"batch_size": 8, "progress": False, "lr": 0.5}
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "demo: --batch_size is deprecated; use --batch-size",
        "demo: --progress false is deprecated; use --no-progress",
    ]
    ns = parser().parse_args(["--progress=yes", "--limit", "none"])
    assert ns.progress is True and ns.limit is None


def test_subparsers_read_old_spellings_too(capsys):
    top = ArgumentParser(prog="tool")
    sub = top.add_subparsers(dest="command")
    add_dataclass_flags(sub.add_parser("run"), Options)
    ns = top.parse_args(["run", "--batch_size", "4"])
    assert ns.batch_size == 4 and "tool run: --batch_size is deprecated" in capsys.readouterr().err


def test_train_and_lexicon_mine_use_it(capsys):
    from hicra.ablations.cli import build_parser as lexicon_parser
    from hicra.trainer.config import parse_args

    cfg, _ = parse_args(
        ["--model", "m", "--max_new_tokens", "12", "--progress", "false", "--lexicon", "x.txt"]
    )
    assert (cfg.max_new_tokens, cfg.progress, cfg.detector, cfg.lexicon) == (
        12,
        False,
        "x.txt",
        None,
    )
    err = capsys.readouterr().err
    assert (
        "--max_new_tokens is deprecated; use --max-new-tokens" in err
        and "--lexicon is deprecated; use --detector" in err
    )
    ns = lexicon_parser().parse_args(
        ["mine", "c.jsonl", "--out", "o.txt", "--min_df", "3", "--no-label"]
    )
    assert ns.min_df == 3.0 and ns.label is False


def test_train_parses_backend_with_argparse(monkeypatch):
    import sys
    import types

    from hicra.trainer import cli

    seen = {}

    def train_trl(argv):
        seen["argv"] = argv
        return 0

    monkeypatch.setitem(
        sys.modules, "hicra.integrations.trl.cli", types.SimpleNamespace(train_trl=train_trl)
    )
    assert cli.train_main(["--model", "m", "--backend=trl", "--learning_rate", "1e-5"]) == 0
    assert seen["argv"] == ["--model", "m", "--learning_rate", "1e-5"]
