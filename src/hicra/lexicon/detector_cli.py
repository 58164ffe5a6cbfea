"""`hicra detector list | eval | train`: planning detectors against sentence-labelled traces.

    hicra detector list
    hicra detector eval ../shared/data/thought_anchors_dev.jsonl.gz --detector lexicon
    hicra detector eval ../shared/data/thought_anchors_dev.jsonl.gz --detector sentence --cv 5
    hicra detector train ../shared/data/thought_anchors_dev.jsonl.gz --out my_head.npz
    hicra detector train ../shared/data/thought_anchors_dev.jsonl.gz --force   # rebuild the shipped weights

`eval` scores any detector (a registered name, a lexicon file, a weights .npz) on a labelled
file (format: `hicra.lexicon.labelled`). ``--cv K`` instead trains the `sentence` family
afresh in K folds grouped by problem and scores each fold's held-out traces only: use it
for a trained detector on the file it was trained on. `train` prints the grouped CV of the
recipe, then fits on every trace and writes the weights (``--out``, default the package's own
file, which is replaced only with ``--force``) and a provenance JSON beside them. Training
needs traces of at least two problems. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from hicra.cli_args import ArgumentParser, bounded
from hicra.errors import InputError, run_command


class CliError(InputError):
    """A user error: printed as one line, exit status 2 (`hicra.errors.run_command`)."""


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="hicra detector", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered detectors")
    ev = sub.add_parser("eval", help="score a detector on a sentence-labelled JSONL file")
    ev.add_argument("labelled", type=Path)
    ev.add_argument(
        "--detector",
        default="recommended",
        help="name, lexicon file or weights .npz (default: recommended)",
    )
    ev.add_argument(
        "--cv",
        type=bounded(int, low=0, high=1000),
        default=0,
        metavar="K",
        help="sentence / sentence-grams only: train in K folds grouped by problem, score the "
        "held-out problems' traces",
    )
    ev.add_argument(
        "--target-recall",
        type=bounded(float, low=0, high=1, low_open=True),
        default=0.8,
        help="with --cv: recall the inner folds aim at",
    )
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    tr = sub.add_parser(
        "train", help="train the sentence detector on a sentence-labelled JSONL file"
    )
    tr.add_argument("labelled", type=Path)
    tr.add_argument(
        "--out", type=Path, default=None, help="weights file (default: the package's own)"
    )
    tr.add_argument("--force", action="store_true", help="replace an existing weights file")
    tr.add_argument(
        "--folds",
        type=bounded(int, low=0, high=1000),
        default=5,
        help="outer grouped CV folds reported before fitting (0: skip)",
    )
    tr.add_argument(
        "--inner-folds",
        type=bounded(int, low=2, high=1000),
        default=5,
        help="folds (grouped by problem) that choose C and the threshold",
    )
    tr.add_argument(
        "--target-recall",
        type=bounded(float, low=0, high=1, low_open=True),
        default=0.8,
        help="threshold: the highest whose inner out-of-fold recall still reaches this",
    )
    tr.add_argument(
        "--rebuild-embedding", action="store_true", help="distil the static MiniLM again"
    )
    return p


def detector_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    command = {"list": _list, "eval": _eval, "train": _train}[args.command]
    return run_command(f"hicra detector {args.command}", command, args)


def _list(args) -> int:
    from hicra.lexicon.detectors import describe_detectors

    for name, description in describe_detectors().items():
        print(f"{name:16} {description}")
    return 0


def _traces(path: Path):
    from hicra.lexicon.labelled import LabelledFormatError, read_labelled

    try:
        return read_labelled(path)
    except LabelledFormatError as err:
        raise CliError(str(err)) from None


def _two_problems(traces, path: Path) -> None:
    """Training folds group traces by problem: at least two problems are needed."""
    if len({t.problem for t in traces}) < 2:
        raise CliError(
            f"{path}: training needs traces of at least 2 problems (field problem_id), "
            f"found {len({t.problem for t in traces})}"
        )


def _eval(args) -> int:
    import numpy as np

    from hicra.lexicon.labelled import (
        covered_share,
        detected_sentences,
        evaluate,
        operating_points,
    )

    if args.cv == 1:
        raise CliError("--cv 1: grouped cross-validation needs at least 2 folds (0: no CV)")
    detector = None if args.cv else _detector(args.detector)
    traces = _traces(args.labelled)
    if args.cv:
        if args.detector not in ("sentence", "sentence-grams", "recommended"):
            raise CliError(
                f"--cv trains the sentence detector; {args.detector!r} has nothing to train"
            )
        from hicra.lexicon.minilm_static import static_embeddings
        from hicra.lexicon.sentence_train import cross_validate

        _two_problems(traces, args.labelled)
        mode = "grams" if args.detector == "sentence-grams" else "sentence"
        try:
            result = cross_validate(
                traces,
                static_embeddings(),
                args.cv,
                args.target_recall,
                span_mode=mode,
                progress=lambda line: print(line, file=sys.stderr),
            )
        except ValueError as err:  # e.g. fewer than two problems to group by
            raise CliError(f"{args.labelled}: {err}") from None
        result["detector"] = (
            f"{args.detector} ({args.cv}-fold CV grouped by problem, C and threshold from "
            "inner folds)"
        )
    else:
        detected = [detected_sentences(detector, t) for t in traces]
        result = evaluate(detected, traces)
        result["covered_char_share"] = covered_share(detector, traces)
        hit = np.concatenate(detected)  # a fixed detector has one operating point: its own
        result["curve"] = operating_points(
            np.where(hit, 1.0, -np.inf), np.concatenate([t.planning for t in traces])
        )
        result["detector"] = args.detector
    print(json.dumps(result, indent=2) if args.json else _report(result, args.labelled))
    return 0


def _detector(spec: str):
    from hicra.lexicon import load_detector

    try:
        return load_detector(spec)
    except (ValueError, ImportError) as err:
        raise CliError(f"--detector: {err}") from None


def _report(r: dict[str, Any], path: Path) -> str:
    lines = [
        f"{r['detector']} on {path}: {r['sentences']} sentences in {r['traces']} traces",
        f"planning (first tag plan_generation / uncertainty_management / self_checking): "
        f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}",
        f"detected share {r['detected_share']:.3f}; thought-anchor lift {r['lift']:.3f} "
        f"(true planning labels: {r['true_label_lift']:.3f})",
    ]
    if "covered_char_share" in r:
        lines.append(f"characters under the mask: {r['covered_char_share']:.3f}")
    if "curve" in r:
        c = r["curve"]
        over = "thresholds on the held-out scores" if "folds" in r else "its one operating point"
        p_at_r = c["precision_at_recall"]
        lines.append(
            f"best over {over}: precision at recall >= {c['recall_target']:.2f}: "
            f"{'not reached' if p_at_r != p_at_r else f'{p_at_r:.3f}'}; recall at precision >= "
            f"{c['precision_target']:.2f}: {c['recall_at_precision']:.3f}; AUC {c['auc']:.3f}"
        )
    lines.append("detected share by function tag:")
    lines += [
        f"  {tag:24} {share:.3f}  (n={r['count_by_tag'][tag]})"
        for tag, share in r["share_by_tag"].items()
    ]
    for k, fold in enumerate(r.get("folds", [])):
        lines.append(
            f"  fold {k + 1}: precision {fold['precision']:.3f} recall {fold['recall']:.3f} "
            f"threshold {fold['threshold']:.3f} C {fold['C']} ({fold['test_traces']} held-out "
            f"traces of {', '.join(fold['test_problems'])})"
        )
    return "\n".join(lines)


def _train(args) -> int:
    from hicra.lexicon.sentence_detector import package_weights_path

    out = args.out or package_weights_path()
    if args.folds == 1:
        raise CliError("--folds 1: grouped cross-validation needs at least 2 folds (0: skip it)")
    if out.is_dir():
        raise CliError(f"--out {out}: is a directory; expected a weights file path ending in .npz")
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to replace it (or --out elsewhere)")
    if out.suffix != ".npz":
        raise CliError(f"--out {out}: the weights file must end in .npz")
    if args.labelled.exists() and out.exists() and out.resolve() == args.labelled.resolve():
        raise CliError(f"--out {out}: is also the labelled input; write the weights elsewhere")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise CliError(f"--out {out}: cannot be created: {parent} is a file")
    traces = _traces(args.labelled)
    _two_problems(traces, args.labelled)
    from hicra.lexicon.minilm_static import static_embeddings
    from hicra.lexicon.sentence_train import cross_validate, file_digest, fit_head

    table = static_embeddings(rebuild=args.rebuild_embedding)
    meta: dict[str, Any] = {
        "trained_on": str(args.labelled),
        "sha256": file_digest(args.labelled),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": f"hicra detector train {args.labelled} --folds {args.folds} --inner-folds "
        f"{args.inner_folds} --target-recall {args.target_recall}",
        "embedding": "static all-MiniLM-L6-v2 (hicra.lexicon.minilm_static)",
    }
    try:
        if args.folds:
            cv = cross_validate(
                traces,
                table,
                args.folds,
                args.target_recall,
                args.inner_folds,
                progress=lambda line: print(line, file=sys.stderr),
            )
            cv["detector"] = (
                f"sentence ({args.folds}-fold CV grouped by problem, C and threshold from "
                "inner folds)"
            )
            print(_report(cv, args.labelled))
            meta["grouped_cv"] = {
                k: cv[k]
                for k in ("precision", "recall", "f1", "detected_share", "lift", "folds", "curve")
            } | {"grouped_by": "problem", "covered_char_share": cv["covered_char_share"]}
        head = fit_head(traces, table, args.target_recall, args.inner_folds, meta=meta)
    except ValueError as err:  # e.g. fewer than two problems to group by
        raise CliError(f"{args.labelled}: {err}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    head.save(out)
    out.with_suffix(".json").write_text(
        json.dumps(head.meta | {"threshold": head.threshold}, indent=2) + "\n"
    )
    print(f"wrote {out} (threshold {head.threshold:.3f}) and {out.with_suffix('.json')}")
    return 0
