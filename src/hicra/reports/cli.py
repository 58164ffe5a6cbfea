"""`hicra analyze`: training-dynamics report for one or more runs.

    hicra analyze runs/grpo runs/hicra --out report/            # hicra run directories
    hicra analyze verl_rollouts/ --out report/ --json           # verl trainer.rollout_data_dir
    hicra analyze dump.jsonl --field-response completion --out report/
    hicra analyze ckpt/step_100 ckpt/step_200 --prompts prompts.jsonl --out report/   # checkpoints

Writes OUT/report.html (self-contained), the PNG figures and OUT/summary.json; prints a text
summary (to stderr with --json, whose JSON goes to stdout). docs/analyze.md has the details.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from hicra.cli_args import ArgumentParser, add_dataclass_flags, bounded, dataclass_values
from hicra.errors import InputError, command
from hicra.runs.readers import FORMATS, FieldMap

SUMMARY_KEYS = (
    "accuracy",
    "reward/mean",
    "length/mean",
    "length/mean_words",
    "rel_perplexity/execution",
    "entropy/execution",
    "semantic/entropy",
    "semantic/cond_entropy",
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="hicra analyze",
        description="Training-dynamics report (class-split perplexity/entropy, semantic entropy, phases) "
        "for hicra run directories, verl rollout dumps, plain JSONL/parquet, or model checkpoints.",
    )
    p.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="run directory, verl rollout_data_dir, JSONL/parquet file or directory; "
        "with --prompts: model checkpoint directories",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output directory for report.html, PNGs, summary.json",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite the report files (and checkpoint run) in --out",
    )
    p.add_argument("--json", action="store_true", help="print the JSON summary to stdout")
    p.add_argument(
        "--format", choices=FORMATS, default="auto", help="input format (default: detect)"
    )
    p.add_argument(
        "--detector",
        help="planning detector of the text metrics: a registered name (lexicon: the "
        "published 249 Strategic Grams) or a lexicon file (default: the one each hicra run recorded "
        "in its config.json; else the published lexicon)",
    )
    p.add_argument(
        "--lexicon", dest="detector", help=argparse.SUPPRESS
    )  # the old name of --detector
    p.add_argument(
        "--name", action="append", help="display name of each RUN, in order (repeatable)"
    )
    p.add_argument("--title", default="hicra training dynamics", help="report title")
    p.add_argument(
        "--anchors",
        action="append",
        type=Path,
        metavar="DIR",
        help="a `hicra anchors` output directory to show in a thought-anchors panel (repeatable)",
    )
    p.add_argument(
        "--max-open-steps",
        type=bounded(int, low=0),
        default=16,
        help="steps folded at once when streaming (dumps must be in step order within this "
        "window; 0 = unbounded memory)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: when stderr is a terminal)",
    )
    for name in FieldMap.names():
        p.add_argument(
            f"--field-{name.replace('_', '-')}",
            dest=f"field_{name}",
            metavar="NAME[,NAME]",
            help=f"JSONL/parquet field(s) holding the {name} (default: {getattr(FieldMap, name)})",
        )
    g = p.add_argument_group("checkpoints (RUNs are model directories)")
    g.add_argument(
        "--prompts",
        type=Path,
        help="JSONL/parquet prompt set: sample, score and measure each checkpoint",
    )
    from hicra.dynamics.checkpoints import CheckpointConfig

    add_dataclass_flags(g, CheckpointConfig)
    return p


def _fields(args: argparse.Namespace) -> FieldMap:
    given = {
        n: getattr(args, f"field_{n}") for n in FieldMap.names() if getattr(args, f"field_{n}")
    }
    return FieldMap(**given)


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def text_summary(runs: list, page: Path) -> str:
    lines = []
    for run in runs:
        ph = run.phases
        span = (
            f"steps {run.steps[0]}..{run.steps[-1]} ({run.steps.size} logged)"
            if run.steps.size
            else "no steps"
        )
        lines.append(
            f"{run.name} [{run.format}] {span}, {run.records} responses read, "
            f"lexicon {getattr(run.lexicon, 'source', '-')}"
        )
        t = "-" if ph.transition_step is None else ph.transition_step
        lines.append(f"  phases: {ph.kind}, transition step {t}")
        for label, turn, fit, half in (
            (
                "consolidation ends (3/4 of the drop)",
                ph.consolidation_end,
                "execution_fit",
                "half of the drop",
            ),
            ("exploration starts", ph.exploration_onset, "exploration_fit", "half of the rise"),
        ):
            if turn:
                f = ph.evidence.get(fit, {})
                lines.append(
                    f"  {label} at step {turn['step']:g} (95% interval {turn['ci_low']:g}..{turn['ci_high']:g}); "
                    f"{half} by step {f['half_step']:.0f} ({f['half_low']:.0f}..{f['half_high']:.0f})"
                )
        ev = ph.evidence
        corner = ev.get("consolidation_corner")
        if corner:
            lines.append(
                f"  the execution drop turns into a drift at step {corner['step']:g} "
                f"(95% interval {corner['ci_low']:g}..{corner['ci_high']:g})"
            )
        share = ev.get("share_of_drop_before_turn")
        # measured at the corner of a consolidation; without one it is no finding
        if corner and isinstance(share, float) and math.isfinite(share):
            lines.append(f"  {100 * share:.0f}% of the execution drop happened before that corner")
        explorer = ph.signals.get("exploration")
        for where in ("after_turn", "whole_run", "after_onset"):
            for key, label in (
                (f"exploration_slope_{where}", f"exploration ({explorer})"),
                (f"semantic_entropy_slope_{where}", "semantic entropy"),
                (f"accuracy_slope_{where}", "accuracy"),
            ):
                if key in ev and not (
                    key.startswith("semantic") and explorer == "semantic/entropy"
                ):
                    s = ev[key]
                    lines.append(
                        f"  {label} slope {where.replace('_', ' ')}: {s['slope']:+.3g}/step "
                        f"(95% CI {s['ci_low']:+.3g}..{s['ci_high']:+.3g})"
                    )
        if ev.get("reason"):
            lines.append(f"  note: {ev['reason']}")
        final = run.final()
        shown = [f"{k}={final[k]:.4g}" for k in SUMMARY_KEYS if k in final]
        if shown:
            lines.append("  final: " + ", ".join(shown))
        for group, why in run.missing.items():
            lines.append(f"  missing {group}: {why}")
    lines.append(f"report: {page}")
    return "\n".join(lines)


REPORT_FILES = ("report.html", "summary.json", "dynamics.png", "extras.png", "anchors.png")
CHECKPOINT_RUN = "checkpoint_run"


def report_files() -> list[str]:
    """The names `hicra analyze` writes in --out (the panels' PNGs too)."""
    from hicra.reports.figures import PANELS

    return [*REPORT_FILES, *(f"{name}.png" for name in PANELS)]


def check_out(out: Path, force: bool, models: list[Path]) -> None:
    """--out may be written: a directory (or absent) this process can write, not a model
    directory given with --prompts, and holding no report unless --force (the rule of the
    lexicon commands; the checkpoint run inside follows `hicra.runs.ownership`)."""
    from hicra.runs.ownership import check_apart, check_writable

    check_apart(out, {f"RUN {m}": m for m in models}, "--out")
    check_writable(out, "--out")
    if out.is_dir() and not force:
        existing = [name for name in report_files() if (out / name).exists()]
        if existing:
            raise InputError(
                f"--out {out}: holds a report already ({', '.join(existing[:3])}); "
                "pass --force to overwrite it, or choose another --out"
            )


@command("hicra analyze")
def analyze_main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--lexicon" or a.startswith("--lexicon=") for a in argv):
        print("hicra analyze: --lexicon is deprecated; use --detector", file=sys.stderr)
    args = build_parser().parse_args(argv)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    if args.name and len(args.name) != len(args.runs):
        raise InputError(
            f"--name given {len(args.name)} times for {len(args.runs)} runs; give one per RUN"
        )
    checkpoints = args.prompts is not None
    if checkpoints:
        from hicra.cli_args import check_fields
        from hicra.dynamics.checkpoints import BOUNDS, CheckpointConfig
        from hicra.models.checks import check_device
        from hicra.models.loading import check_model

        cfg = CheckpointConfig(**dataclass_values(args, CheckpointConfig))
        check_fields(cfg, BOUNDS, lambda name: "--" + name.replace("_", "-"))
        check_device(cfg.device, "--device")
        if not args.prompts.is_file():
            raise InputError(
                f"--prompts {args.prompts}: no such file (expected a JSONL or parquet prompt set)"
            )
        for run in args.runs:
            check_model(run, "RUN")
    check_out(args.out, args.force, args.runs if checkpoints else [])
    if args.anchors:
        from hicra.reports.anchors import load_summaries

        load_summaries(args.anchors)  # a missing or broken summary stops here, before any work
    from hicra.dynamics.analysis import analyze_run
    from hicra.lexicon import load_detector
    from hicra.reports import build_report

    lexicon = _detector(load_detector, args.detector) if args.detector else None
    if checkpoints:
        lexicon = lexicon or load_detector("lexicon")
        from hicra.dynamics.checkpoints import checkpoints_to_run

        run_dir = checkpoints_to_run(
            args.runs,
            args.prompts,
            args.out / CHECKPOINT_RUN,
            lexicon,
            cfg,
            progress=progress,
            force=args.force,
        )
        sources = [run_dir]
        names = args.name[:1] if args.name else ["checkpoints"]
    else:
        sources = args.runs
        names = args.name or [None] * len(sources)
    fields = _fields(args)
    runs = [
        analyze_run(
            src,
            lexicon=lexicon,
            fmt=args.format,
            fields=fields,
            name=name,
            progress=progress,
            max_open_steps=args.max_open_steps,
        )
        for src, name in zip(sources, names)
    ]
    page = build_report(runs, args.out, args.title, lexicon=lexicon, anchors=args.anchors)
    summary = _clean({"runs": [run.summary() for run in runs], "report": str(page)})
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    text = text_summary(runs, page)
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
        print(text, file=sys.stderr)
    else:
        print(text)
    return 0


def _detector(load_detector, spec: str):
    try:
        return load_detector(spec)
    except ValueError as err:
        raise InputError(f"--detector: {err}") from None
