"""The `hicra` command line: a thin dispatcher to one module per subcommand.

Each subcommand lives beside the code it drives and is imported only when called, so
`hicra tag` never imports TRL and `hicra --help` starts instantly. Every subcommand runs
through `hicra.errors.run_command`: a bad option or input file is one line on stderr and exit
status 2, never a traceback (docs/errors.md).
"""

from __future__ import annotations

import importlib
import sys

from hicra.errors import run_command

# name -> ("module:function", one-line help). Each function takes argv (list[str]) and
# returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "tag": ("hicra.cli:tag_main", "highlight planning tokens in a text"),
    "detector": (
        "hicra.lexicon.detector_cli:detector_main",
        "list, evaluate and train planning detectors",
    ),
    "lexicon": (
        "hicra.ablations.cli:lexicon_main",
        "mine, compare and ablate Strategic-Gram lexicons",
    ),
    "sft": ("hicra.trainer.cli:sft_main", "supervised warm start of a model on a task's corpus"),
    "train": (
        "hicra.trainer.cli:train_main",
        "RL training with GRPO/HICRA (--backend builtin|trl)",
    ),
    "demo": ("hicra.demo:main", "offline demo: SFT, then GRPO vs HICRA, then a report"),
    "analyze": ("hicra.reports.cli:analyze_main", "training-dynamics report for one or more runs"),
    "anchors": (
        "hicra.anchors.cli:anchors_main",
        "thought anchors: which sentences decide the answer (resampling)",
    ),
    "eval": ("hicra.evaluation:main", "pass@1 / pass@k evaluation of a model on math benchmarks"),
    "to-verl": (
        "hicra.integrations.verl.convert:main",
        "convert a math dataset to verl's parquet schema",
    ),
}


def tag_main(argv: list[str]) -> int:
    """`hicra tag` with `--tokenizer` taking any model spelling (aliases such as smollm2-135m):
    the lexicon layer's command, given the models layer's loader."""
    from hicra.lexicon.cli import tag_main as run
    from hicra.models import load_tokenizer

    return run(argv, load_tokenizer=load_tokenizer)


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: hicra <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`hicra <command> --help` describes a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from hicra import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"hicra: unknown command {name!r} (hicra --help lists the commands)", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return run_command(f"hicra {name}", func, rest)


if __name__ == "__main__":
    sys.exit(main())
