"""Benchmark: mine Strategic Grams from the 500 shared MATH500 traces and judge the lexicon.

    .venv/bin/python benchmarks/bench_mining.py [--out-dir benchmarks/results] [--force]

Mines the *successful* solutions only (300 of 500 scored correct; the paper mines successful
solutions) with the default `MiningConfig`, a cold embedding cache (so the time includes
embedding every candidate), then compares the mined lexicon with the published one and measures
the coverage of both on all 500 responses. Writes, under --out-dir:
``mined_math500_sky_t1.txt`` (the lexicon), ``mined_math500_sky_t1.report.{md,json}`` and
``bench_mining.json`` (time, peak memory, sizes, overlap, coverage, 20 example phrases).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from hicra.ablations.cli import lexicon_main
from hicra.ablations.quality import compare, comparison_markdown
from hicra.lexicon import StrategicLexicon
from hicra.mining.corpus import read_texts

TRACES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "math500_sky_t1_27b_traces.jsonl.gz"
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default=str(TRACES))
    ap.add_argument("--out-dir", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if not Path(args.corpus).exists():
        print(f"{args.corpus}: not present; nothing to benchmark", file=sys.stderr)
        return 1
    out_dir = Path(args.out_dir)
    out = out_dir / "mined_math500_sky_t1.txt"
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        rc = lexicon_main(
            [
                "mine",
                args.corpus,
                "--text-field",
                "code",
                "--correct-field",
                "score",
                "--out",
                str(out),
                "--cache-dir",
                cache,
                "--seed",
                "0",
            ]
            + (["--force"] if args.force else [])
        )
        mine_s = time.perf_counter() - t0
    if rc:
        return rc
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = json.loads(out.with_suffix(".report.json").read_text())

    mined, published = StrategicLexicon.from_file(out), StrategicLexicon.default()
    all_texts = read_texts([args.corpus], "code", None)
    t0 = time.perf_counter()
    cmp = compare(mined, published, all_texts)
    compare_s = time.perf_counter() - t0
    (out_dir / "compare_mined_vs_published.md").write_text(
        comparison_markdown(cmp, "mined", "published", limit=400)
    )
    kept = [c for c in report["clusters"] if c["kept"]]
    examples = [c["members"][0] for c in kept[:20]]
    figures = {
        "corpus": Path(args.corpus).name,
        "documents_mined": report["stats"]["documents"],
        "mine_wall_s": round(mine_s, 1),
        "stage_s": {k: round(v, 2) for k, v in report["stats"]["timings"].items()},
        "peak_rss_mb": round(peak_mb, 1),
        "candidates": report["stats"]["candidates"],
        "clusters": report["stats"]["clusters"],
        "kept_clusters": report["stats"]["kept_clusters"],
        "lexicon_size": len(mined),
        "published_size": len(published),
        "overlap": len(cmp.shared),
        "overlap_phrases": cmp.shared,
        "jaccard": round(cmp.jaccard, 4),
        "coverage_on_all_500": {
            "mined": cmp.coverage_a.to_dict(),
            "published": cmp.coverage_b.to_dict(),
        },
        "word_agreement": {
            "tagged_by_both_over_either": round(cmp.tagged_both, 4),
            "mined_words_also_tagged_by_published": round(cmp.a_tagged_also_b, 4),
            "published_words_also_tagged_by_mined": round(cmp.b_tagged_also_a, 4),
        },
        "compare_s": round(compare_s, 1),
        "examples": examples,
        "machine": f"{platform.machine()}, {platform.python_version()}, shared 2-core CPU",
    }
    (out_dir / "bench_mining.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "overlap_phrases"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
