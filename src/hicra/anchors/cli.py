"""`hicra anchors`: which sentences of a model's reasoning traces decide the answer?

    hicra anchors --model RUN/checkpoints/step_000200 --problems 32 --out anchors/ \\
        --samples 32 --temperature 1 --top-p 1                  # countdown: sample 32 puzzles
    hicra anchors --model PATH --traces traces.jsonl --out anchors/ --task math
    hicra anchors --model PATH --prompts prompts.jsonl --out anchors/ --detector lexicon

Writes OUT/traces/<trace>.json (every sentence, its planning/execution class and importances),
OUT/summary.json (importance by class, planning share among the top anchors) and
OUT/report.html; a stopped run resumes where it was (docs/anchors.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from hicra.cli_args import ArgumentParser, bounded
from hicra.errors import InputError, command
from hicra.fielddocs import field_docs


def build_parser() -> argparse.ArgumentParser:
    from hicra.anchors.run import AnchorsConfig

    p = ArgumentParser(
        prog="hicra anchors",
        description=__doc__.split("\n")[0].split(": ", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="local HF causal-LM checkpoint directory (or a model alias)"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="output directory (resumed when it exists)"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--traces", type=Path, help="traces to analyse: prompt + response per record"
    )
    source.add_argument("--prompts", type=Path, help="prompts to sample one base trace each from")
    source.add_argument(
        "--problems",
        type=bounded(int, low=1, high=10**6),
        help="countdown: sample this many puzzles (with --seed)",
    )
    p.add_argument(
        "--task",
        choices=("auto", "countdown", "math"),
        default="auto",
        help="how answers are read and checked; auto = countdown when every prompt is a "
        "countdown puzzle, else math (default: auto)",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "builtin", "vllm"),
        default="auto",
        help="generation: hicra's sampler, or vLLM (auto: vLLM when installed and --device is cuda)",
    )
    p.add_argument(
        "--device", default="cpu", help="torch device of the built-in backend and the embedder"
    )
    p.add_argument(
        "--threads",
        type=bounded(int, low=1, high=4096),
        default=1,
        help="torch CPU threads (default 1)",
    )
    p.add_argument(
        "--force", action="store_true", help="delete earlier results in --out and start over"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    docs = field_docs(AnchorsConfig)
    group = p.add_argument_group("resampling and scoring")
    for f in fields(AnchorsConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=f"{docs.get(f.name, '')} (default: {f.default})",
            )
        else:
            group.add_argument(
                flag,
                dest=f.name,
                type=type(f.default),
                default=f.default,
                help=f"{docs.get(f.name, '')} (default: {f.default!r})".replace("%", "%%"),
            )
    return p


def _countdown_config(model: str) -> dict[str, Any] | None:
    """The countdown world's config an SFT checkpoint was trained on (None: the defaults)."""
    path = Path(model) / "sft_config.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8")).get("task_config")
    return None


def _task_name(requested: str, prompts: list[str]) -> str:
    if requested != "auto":
        return requested
    from hicra.anchors.outcomes import _PROMPT

    return "countdown" if all(_PROMPT.match(p) for p in prompts) else "math"


def _records(args: argparse.Namespace, cfg) -> tuple[list[dict[str, Any]], str]:
    """The prompt records to analyse and the task name, read and checked before any model loads."""
    import numpy as np

    from hicra.anchors.traces import AnchorsInputError, read_prompt_records, trace_key

    if args.problems is not None:
        from hicra.anchors.outcomes import countdown_task

        task = countdown_task(_countdown_config(args.model))
        problems = task.sample_problems(args.problems, np.random.default_rng(cfg.seed))
        records = [
            {
                "key": trace_key(i, p.id),
                "prompt": p.prompt,
                "response": None,
                "gold": None,
                "source": f"puzzle {i}",
            }
            for i, p in enumerate(problems)
        ]
        task_name = "countdown"
    else:
        path = args.traces or args.prompts
        records = read_prompt_records(
            path, need_response=args.traces is not None, need_answer=False
        )
        task_name = _task_name(args.task, [r["prompt"] for r in records])
        missing = (
            next((r for r in records if r["gold"] is None), None) if task_name == "math" else None
        )
        if missing is not None:
            raise AnchorsInputError(
                f"{missing['source']}: trace {missing['key']!r} has no reference answer "
                "(the math task checks answers against one)"
            )
        if task_name == "countdown":  # every prompt must state a puzzle of the model's world
            from hicra.anchors.outcomes import countdown_problem, countdown_task

            task = countdown_task(_countdown_config(args.model))
            for r in records:
                try:
                    countdown_problem(task, r["prompt"])
                except ValueError as err:
                    raise AnchorsInputError(f"{r['source']}: {err}") from None
    return (records[: cfg.max_traces] if cfg.max_traces else records), task_name


def _traces(
    args: argparse.Namespace,
    cfg,
    records: list[dict[str, Any]],
    task_name: str,
    backend: Any,
    tokenizer: Any,
    store,
) -> list:
    """The traces to analyse: reloaded from OUT when an earlier run saved them, else read or sampled."""
    from hicra.anchors.traces import Trace, render_context, sample_base_traces

    saved = store.load_traces()
    if saved is not None:
        return [Trace(**t) for t in saved]
    for record in records:
        record["context"] = render_context(record["prompt"], tokenizer, task_name)
    if args.traces is not None:
        traces = [
            Trace(
                r["key"], r["prompt"], r["context"], r["response"].strip(), r["gold"], r["source"]
            )
            for r in records
        ]
    else:
        traces, skipped = [], [] if cfg.skip_unended else None
        for start in range(0, len(records), cfg.batch_rows):
            traces += sample_base_traces(
                backend,
                records[start : start + cfg.batch_rows],
                cfg.seed + start,
                cfg.require_ending,
                skipped,
            )
        if skipped:
            from hicra.anchors.store import write_json

            write_json(store.root / "skipped_traces.json", skipped)
            print(
                f"hicra anchors: {len(skipped)} of {len(records)} base traces reached --max-new-tokens "
                "without ending and are left out (skipped_traces.json)",
                file=sys.stderr,
            )
    store.save_traces([t.to_dict() for t in traces])
    return traces


@command("hicra anchors")
def anchors_main(argv: list[str] | None = None) -> int:
    """Entry point of `hicra anchors`; returns the exit code (2 with one line on bad input,
    through `hicra.errors.run_command`)."""
    from hicra.anchors.run import AnchorsConfig, validate

    args = build_parser().parse_args(argv)
    cfg = AnchorsConfig(**{f.name: getattr(args, f.name) for f in fields(AnchorsConfig)})
    validate(cfg)
    summary_path = run(args, cfg)
    print(
        f"anchors written to {args.out} (traces/, summary.json, report.html); summary: {summary_path}"
    )
    return 0


_EMBEDDERS: dict[tuple[str, str], Any] = {}


def _embedder(path: str, device: str):
    """One SentenceEmbedder per (model, device) per process: a script analysing many
    checkpoints in-process loads MiniLM once."""
    from hicra.mining.embed import SentenceEmbedder

    if (path, device) not in _EMBEDDERS:
        _EMBEDDERS[path, device] = SentenceEmbedder(path or None, device=device)
    return _EMBEDDERS[path, device]


def run(args: argparse.Namespace, cfg) -> Path:
    import torch

    from hicra.anchors.backends import make_backend
    from hicra.anchors.outcomes import AnchorsTask
    from hicra.anchors.run import run_anchors
    from hicra.anchors.store import AnchorsStore, write_json
    from hicra.anchors.summary import summarize
    from hicra.lexicon.detectors import detector_name, load_detector
    from hicra.models.checks import check_device
    from hicra.models.loading import check_model

    # every input is checked, and the model loaded, before anything is written to --out
    check_device(args.device, "--device")
    check_model(args.model, "--model")
    torch.set_num_threads(max(1, args.threads))
    if args.no_progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    records, task_name = _records(args, cfg)
    from hicra.anchors.backends import vllm_available

    if args.backend == "vllm" and not vllm_available():
        raise InputError(
            "--backend vllm: vLLM is not installed (pip install vllm), use --backend builtin"
        )
    task = AnchorsTask(
        task_name, _countdown_config(args.model) if task_name == "countdown" else None
    )
    try:
        detector = load_detector(cfg.detector or None, task.detector_task)
    except ValueError as err:
        raise InputError(f"--detector: {err}") from None
    try:
        embedder = _embedder(cfg.embedder, args.device)
    except FileNotFoundError as err:
        raise InputError(f"--embedder {err}") from None
    store = AnchorsStore(args.out)
    settings = {
        "model": str(args.model),
        "source": str(args.traces or args.prompts or f"{args.problems} puzzles"),
        "task": args.task,
        **{f.name: getattr(cfg, f.name) for f in fields(cfg)},
        "backend": args.backend,
        "device": args.device,
    }
    decision = store.claim(settings, args.force, args.model)
    backend, tokenizer = make_backend(
        args.backend, args.model, cfg.temperature, cfg.top_p, cfg.max_new_tokens, args.device
    )
    store.open(settings, decision)
    traces = _traces(args, cfg, records, task_name, backend, tokenizer, store)
    cfg = replace(cfg, sentence_mode=cfg.sentence_mode or task.sentence_mode)
    results = run_anchors(
        traces, backend, task, detector, store, cfg, embedder.encode, progress=not args.no_progress
    )
    summary = summarize(results, cfg.top_fraction, cfg.seed)
    skipped_path = store.root / "skipped_traces.json"
    n_skipped = len(json.loads(skipped_path.read_text())) if skipped_path.exists() else 0
    summary.update(
        model=str(args.model),
        task=task_name,
        detector=detector_name(detector),
        n_skipped_traces=n_skipped,
        samples=cfg.samples,
        sentence_mode=cfg.sentence_mode,
    )
    path = store.root / "summary.json"
    write_json(path, summary)
    from hicra.reports.anchors import write_anchors_report

    write_anchors_report([(Path(args.out).name, summary)], store.root / "report.html")
    return path
