"""`hicra train` (built-in or TRL backend) and `hicra sft`.

hicra train --model runs/sft --credit-mode hicra --steps 80 --run-dir runs/hicra
hicra train --config recipe.yaml --lr 5e-5          # flags override the recipe
hicra train --backend trl ...                       # hicra.integrations.trl.cli.train_trl
"""

from __future__ import annotations

import argparse
import sys

from hicra.cli_args import ArgumentParser
from hicra.errors import command


@command("hicra train")
def train_main(argv: list[str] | None = None) -> int:
    """Entry point of `hicra train`; returns the exit code (2 with one line for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    backend, rest = _backend_parser().parse_known_args(argv)
    if backend.backend == "trl":
        from hicra.integrations.trl.cli import train_trl

        return int(train_trl(rest) or 0)
    from hicra.trainer.config import parse_args
    from hicra.trainer.grpo import train

    cfg, _ = parse_args(argv)
    run_dir = train(cfg)
    print(f"run written to {run_dir} (metrics.jsonl, rollouts/, checkpoints/)")
    return 0


def _backend_parser() -> argparse.ArgumentParser:
    """Only --backend: the rest of the command line belongs to the backend's own parser."""
    parser = ArgumentParser(prog="hicra train", add_help=False, allow_abbrev=False)
    parser.add_argument("--backend", choices=["builtin", "trl"], default="builtin")
    return parser


def sft_main(argv: list[str] | None = None) -> int:
    """Entry point of `hicra sft` (hicra.trainer.sft_cli)."""
    from hicra.trainer.sft_cli import sft_main as _sft_main

    return int(_sft_main(argv) or 0)
