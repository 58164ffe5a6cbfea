"""`hicra lexicon mine | compare | placebo | drop | sensitivity`: lexicon building and checks.

    hicra lexicon mine traces.jsonl.gz --text-field code --correct-field score --out mined.txt
    hicra lexicon compare mined.txt default --corpus traces.jsonl.gz --text-field code
    hicra lexicon placebo default --corpus traces.jsonl.gz --text-field code --out placebo.txt
    hicra lexicon drop default --frac 0.3 --seed 0 --out dropped.txt
    hicra lexicon sensitivity default --run runs/hicra-1 --frac 0.3 --draws 5

A LEXICON argument is a lexicon file or ``default`` (the published 249 phrases). Output files
are never overwritten without ``--force``. docs/mining.md explains every option. `mine` is
`hicra.mining.cli`; this module holds the ablations and the `hicra lexicon` parser.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hicra.cli_args import ArgumentParser, bounded
from hicra.errors import run_command
from hicra.mining.cli import CliError, add_corpus_flags, add_mine_command, check_out, read_corpus


def _load_lexicon(spec: str):
    """A LEXICON argument through `hicra.lexicon.load_detector`; these checks need a phrase list."""
    from hicra.lexicon import StrategicLexicon, load_detector

    try:
        lexicon = load_detector("default" if spec == "published" else spec)
    except ValueError as e:  # a LexiconFormatError too
        raise CliError(str(e)) from None
    if not isinstance(lexicon, StrategicLexicon):
        raise CliError(
            f"{spec}: a detector without a phrase list; give a lexicon file or 'default'"
        )
    return lexicon


# ---- subcommands ---------------------------------------------------------------------------


def cmd_compare(args) -> int:
    from hicra.ablations.quality import compare, comparison_markdown

    for path in (args.json, args.markdown):
        if path:
            check_out(path, args.force, create=False, inputs=[args.a, args.b, *(args.corpus or [])])
    a, b = _load_lexicon(args.a), _load_lexicon(args.b)
    texts = read_corpus(args.corpus, args)[0] if args.corpus else None
    tokenizer, name = (None, "")
    if args.tokenizer:
        tokenizer, name = _load_tokenizer(args.tokenizer), Path(args.tokenizer).name
    c = compare(a, b, texts, tokenizer, name)
    md = comparison_markdown(c, args.a, args.b, limit=args.limit)
    if args.json:
        check_out(args.json, args.force).write_text(
            json.dumps(c.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if args.markdown:
        check_out(args.markdown, args.force).write_text(md, encoding="utf-8")
    print(md)
    return 0


def _load_tokenizer(path: str):
    from hicra.models.checks import loading

    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        from tokenizers import Tokenizer

        with loading(p, "--tokenizer", "tokenizer"):
            return Tokenizer.from_file(str(p))
    if p.is_dir():
        from transformers import AutoTokenizer

        with loading(p, "--tokenizer", "tokenizer"):
            return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    raise CliError(
        f"--tokenizer {path}: expected a tokenizer.json file or a local tokenizer directory"
    )


def cmd_placebo(args) -> int:
    from hicra.ablations.placebo import placebo_lexicon

    inputs = [args.lexicon, *args.corpus]
    out = check_out(args.out, args.force, create=False, inputs=inputs)
    pairs = check_out(out.with_suffix(".pairs.tsv"), args.force, create=False, inputs=inputs)
    real = _load_lexicon(args.lexicon)
    texts, _ = read_corpus(args.corpus, args)
    placebo = placebo_lexicon(real, texts, seed=args.seed, progress=not args.quiet)
    header = (
        f"Placebo lexicon (seed {args.seed}): random n-grams of {', '.join(map(str, args.corpus))} "
        f"matched to {args.lexicon} in word count and log2 document-frequency bin."
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    placebo.lexicon().to_file(out, header=header)
    pairs.write_text(
        "# real phrase\treal DF\tplacebo n-gram\tplacebo DF\n"
        + "".join(f"{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in placebo.pairs),
        encoding="utf-8",
    )
    print(
        f"{out}: {len(placebo.phrases)} placebo n-grams for {len(real)} phrases "
        f"({len(placebo.unmatched)} unmatched); pairing in {pairs}"
    )
    return 0


def cmd_drop(args) -> int:
    from hicra.ablations.quality import drop_phrases

    out = check_out(args.out, args.force, create=False, inputs=[args.lexicon])
    lex = _load_lexicon(args.lexicon)
    try:
        sub = drop_phrases(lex, args.frac, args.seed)
    except ValueError as e:
        raise CliError(str(e)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    sub.to_file(
        out,
        header=f"{args.lexicon} without a random {args.frac:.0%} "
        f"(seed {args.seed}): {len(sub)} of {len(lex)} phrases.",
    )
    print(f"{out}: kept {len(sub)} of {len(lex)} phrases")
    return 0


def cmd_sensitivity(args) -> int:
    from hicra.ablations.sensitivity import lexicon_sensitivity, run_texts_by_step

    if args.out:
        check_out(args.out, args.force, create=False, inputs=[args.lexicon, *(args.corpus or [])])
    lex = _load_lexicon(args.lexicon)
    if bool(args.run) == bool(args.corpus):
        raise CliError("give either --run RUN_DIR or --corpus FILE...")
    if args.run:
        try:
            by_step = run_texts_by_step(args.run)
        except (ValueError, OSError) as e:
            raise CliError(str(e)) from None
    elif args.step_field:
        from hicra.mining.corpus import CorpusError, iter_texts

        by_step = {}
        try:
            for text, group in iter_texts(
                args.corpus,
                args.text_field,
                args.correct_field or None,
                group_field=args.step_field,
            ):
                if not isinstance(group, (int, float)) or isinstance(group, bool):
                    raise CliError(
                        f"--step-field {args.step_field}: expected numbers, got {group!r:.40}"
                    )
                by_step.setdefault(group, []).append(text)
        except CorpusError as e:
            raise CliError(str(e)) from None
    else:
        by_step = {0: read_corpus(args.corpus, args)[0]}
    res = lexicon_sensitivity(
        by_step, lex, args.frac, list(range(args.seed, args.seed + args.draws))
    )
    if args.out:
        check_out(args.out, args.force).write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    print(res.markdown())
    return 0


# ---- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="hicra lexicon",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    add_mine_command(sub)

    p = sub.add_parser("compare", help="overlap of two lexicons and their coverage on a corpus")
    p.add_argument("a", help="lexicon file or 'default'")
    p.add_argument("b", help="lexicon file or 'default'")
    p.add_argument("--corpus", nargs="+", help="responses to measure coverage on")
    add_corpus_flags(p, None)
    p.add_argument(
        "--tokenizer", help="tokenizer.json or local tokenizer directory (default: count words)"
    )
    p.add_argument(
        "--limit", type=bounded(int, low=0), default=50, help="phrases listed per section"
    )
    p.add_argument("--json", help="also write the comparison as JSON")
    p.add_argument("--markdown", help="also write the Markdown report to a file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("placebo", help="random n-grams matched to a lexicon (placebo ablation)")
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument("--corpus", nargs="+", required=True, help="reference corpus for frequencies")
    add_corpus_flags(p, None)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=bounded(int, low=0, high=2**63 - 1), default=0)
    p.set_defaults(func=cmd_placebo)

    p = sub.add_parser("drop", help="drop a random share of a lexicon's phrases")
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument(
        "--frac",
        type=bounded(float, low=0, high=1, high_open=True),
        default=0.3,
        help="share dropped, in [0, 1) (default: 0.3)",
    )
    p.add_argument("--seed", type=bounded(int, low=0, high=2**63 - 1), default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_drop)

    p = sub.add_parser(
        "sensitivity", help="text dynamics metrics: full vs randomly dropped lexicon"
    )
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument("--run", help="run directory whose rollouts/ give the responses per step")
    p.add_argument("--corpus", nargs="+", help="or a corpus, read as one step")
    p.add_argument(
        "--step-field",
        help="with --corpus: numeric field that splits it into "
        "pseudo-steps (e.g. a difficulty level or a checkpoint)",
    )
    add_corpus_flags(p, None)
    p.add_argument("--frac", type=bounded(float, low=0, high=1, high_open=True), default=0.3)
    p.add_argument(
        "--draws",
        type=bounded(int, low=1, high=10_000),
        default=5,
        help="random drops (seeds seed..seed+draws-1)",
    )
    p.add_argument("--seed", type=bounded(int, low=0, high=2**63 - 1), default=0)
    p.add_argument("--out", help="write the full result as JSON")
    p.set_defaults(func=cmd_sensitivity)

    for p in sub.choices.values():
        p.add_argument("--force", action="store_true", help="overwrite existing output files")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def lexicon_main(argv: list[str] | None = None) -> int:
    """Entry point of `hicra lexicon ...`; returns the exit status (2 with one line for bad
    input, through `hicra.errors.run_command`)."""
    args = build_parser().parse_args(argv)
    return run_command(f"hicra lexicon {args.command}", args.func, args)


if __name__ == "__main__":
    sys.exit(lexicon_main())
