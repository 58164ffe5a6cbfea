"""`hicra sft`: the supervised warm start from the command line.

    hicra sft --steps 300 --lr 3e-3 --task.backtrack_rate 0.2 --force

Every field of `SFTConfig` is an option `--NAME`, every field of `CountdownConfig` an option
`--task.NAME`; the help text of each is the field's docstring. Prints the checkpoint directory
and the starting-point metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from typing import Any

from hicra.fielddocs import field_docs




def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One `--{prefix}{field}` option per field with a plain type; default = the field's."""
    docs = field_docs(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in fields(cls):
        if f.name == "extra":
            continue
        default = f.default if f.default is not MISSING else None
        help_text = f"{docs.get(f.name, '')} (default: {default})".replace("%", "%%")  # argparse formats help with %
        kwargs: dict[str, Any] = {"default": None, "help": help_text}
        if isinstance(default, bool):
            kwargs["type"] = _parse_bool
            kwargs["metavar"] = "BOOL"
        elif isinstance(default, tuple):
            kwargs["nargs"] = "+"
            kwargs["type"] = type(default[0]) if default else str
        else:
            kwargs["type"] = type(default) if default is not None else str
        group.add_argument(f"--{prefix}{f.name}", dest=f"{prefix}{f.name}", **kwargs)


def _values(namespace: argparse.Namespace, cls: type, prefix: str = "") -> dict[str, Any]:
    out = {}
    for f in fields(cls):
        value = getattr(namespace, f"{prefix}{f.name}", None)
        if value is not None:
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def build_parser() -> argparse.ArgumentParser:
    from hicra.tasks.countdown import CountdownConfig
    from hicra.trainer.sft import SFTConfig

    parser = argparse.ArgumentParser(
        prog="hicra sft",
        description="Supervised warm start of a tiny model on the countdown world's imperfect "
        "corpus; cached by a hash of the configs (a second run reuses the checkpoint).",
    )
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    add_dataclass_options(parser, SFTConfig)
    add_dataclass_options(parser, CountdownConfig, prefix="task.")
    return parser


def sft_main(argv: list[str] | None = None) -> int:
    from hicra.tasks.countdown import CountdownConfig, CountdownTask
    from hicra.trainer.sft import METRICS_FILE, SFTConfig, is_complete, run_sft, sft_dir

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = SFTConfig(**_values(args, SFTConfig))
        task = CountdownTask(CountdownConfig(**_values(args, CountdownConfig, prefix="task.")))
    except (TypeError, ValueError) as err:
        print(f"hicra sft: {err}", file=sys.stderr)
        return 2
    cached = is_complete(sft_dir(config, task)) and not args.force
    path = run_sft(config, task, force=args.force)
    metrics = json.loads((path / METRICS_FILE).read_text())
    print(f"{'reused cached' if cached else 'trained'} checkpoint: {path}")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(sft_main())
