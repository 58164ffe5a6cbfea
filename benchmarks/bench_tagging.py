"""Benchmark: padded response token ids (B, T) -> planning_mask (B, T), one core.

    taskset -c 0 .venv/bin/python benchmarks/bench_tagging.py [--batch 256] [--tokens 4096] [--repeats 3]

Builds 256 responses of ~4k tokens from the real MATH500 traces in ../shared/data (field
``code``; synthetic reasoning-like text when the file is absent), tokenised with a byte-level
BPE tokenizer trained locally on them (GPT-2/Qwen style, 8k vocabulary). Lengths vary between
90% and 100% of --tokens and rows are right-padded, as a trainer hands them over.

Two pipelines, each from ids to a (B, T) mask, timed end to end:

- ``hicra``: `StrategicLexicon.tag_batch` (cached piece table, one Aho-Corasick pass over the
  whole batch, vectorised offsets);
- ``naive``: per response, `tokenizer.decode`, re-encode with offsets, one compiled regex per
  phrase (249 of them, case-insensitive, word-bounded), then token overlap.

Then every planning detector (``--detectors``, default lexicon, lexicon-clause, sentence,
sentence-grams) is timed the same way through its ``tag_batch``: CPU MB/s on one core, and,
with ``--step-seconds S`` (the measured time of the training step that produces such a batch),
its share of that step.

Text size is the UTF-8 size of the decoded responses. Writes benchmarks/out/tagging.json and
prints a Markdown table. Threads are pinned to one (torch, tokenizers/rayon, BLAS).
"""

from __future__ import annotations

import os

for _var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hicra.lexicon import StrategicLexicon  # noqa: E402
from hicra.lexicon.normalize import normalize_phrase  # noqa: E402
from hicra.lexicon.pieces import backend_of, decode_rows, piece_table  # noqa: E402
from hicra.lexicon.tagging import overlap_mask  # noqa: E402

TRACES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "math500_sky_t1_27b_traces.jsonl.gz"
)
OUT = Path(__file__).resolve().parent / "out" / "tagging.json"


def load_texts(path: Path) -> tuple[list[str], str]:
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line)["code"][0] for line in fh], str(path)
    print(f"{path}: not present; using synthetic reasoning-like text", file=sys.stderr)
    rng = random.Random(0)
    lexicon = StrategicLexicon.default().phrases
    filler = (
        "we compute x = 3 + 4 = 7 and then the sum of the squares is 49, so the area is".split()
    )
    texts = []
    for _ in range(400):
        words = [
            rng.choice(lexicon) if rng.random() < 0.04 else rng.choice(filler) for _ in range(2500)
        ]
        texts.append(" ".join(words).replace(" is ", " is\n\n", 50))
    return texts, "synthetic"


def train_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8000,
        special_tokens=["<|pad|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|endoftext|>"
    )


def build_batch(texts, tokenizer, batch: int, tokens: int, seed: int = 0):
    """(B, T) right-padded ids and response_mask cut from the token stream of all traces."""
    stream = np.concatenate(
        [np.asarray(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    )
    rng = np.random.default_rng(seed)
    ids = np.full((batch, tokens), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((batch, tokens), dtype=bool)
    cursor = 0
    for b in range(batch):
        length = int(rng.integers(int(tokens * 0.9), tokens + 1))
        if cursor + length > len(stream):
            cursor = 0
        ids[b, :length] = stream[cursor : cursor + length]
        mask[b, :length] = True
        cursor += length
    return torch.from_numpy(ids), torch.from_numpy(mask)


def naive_regex_masks(lexicon, ids, mask, tokenizer, patterns):
    """Baseline: decode, re-encode with offsets, one regex per phrase, token overlap."""
    out = torch.zeros(ids.shape, dtype=torch.bool)
    for b in range(ids.shape[0]):
        row = ids[b][mask[b]].tolist()
        text = tokenizer.decode(row, skip_special_tokens=True)
        offsets = np.asarray(
            tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        )
        covered = np.zeros(len(text) + 1, dtype=np.int64)
        for pattern in patterns:
            for match in pattern.finditer(text):
                covered[match.start()] += 1
                covered[match.end()] -= 1
        covered_chars = np.concatenate(([0], np.cumsum(np.cumsum(covered)[:-1] > 0)))
        row_mask = covered_chars[offsets[:, 1]] - covered_chars[offsets[:, 0]] > 0
        n = min(len(row_mask), int(mask[b].sum()))
        out[b, np.flatnonzero(mask[b].numpy())[:n]] = torch.from_numpy(row_mask[:n])
    return out


def regex_patterns(lexicon):
    patterns = []
    for phrase in lexicon.phrases:
        words = [re.escape(w) for w in normalize_phrase(phrase).split(" ")]
        body = r"\s+".join(words).replace("'", "['’]")
        left = r"(?<!\w)" if re.match(r"\w", phrase) else ""
        right = r"(?!\w)" if re.search(r"\w$", phrase) else ""
        patterns.append(re.compile(left + body + right, re.IGNORECASE))
    return patterns


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU (process) seconds of ``repeats`` calls, and the last result.

    Both are reported: on a shared machine the wall clock includes waiting for the core.
    """
    result, walls, cpus = None, [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--detectors",
        nargs="*",
        default=["lexicon", "lexicon-clause", "sentence", "sentence-grams"],
        help="planning detectors to time (registered names)",
    )
    ap.add_argument(
        "--step-seconds",
        type=float,
        default=None,
        help="wall seconds of the training step that makes this batch: report each detector's share",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    texts, source = load_texts(TRACES)
    t0 = time.perf_counter()
    tokenizer = train_tokenizer(texts)
    train_s = time.perf_counter() - t0
    ids, mask = build_batch(texts, tokenizer, args.batch, args.tokens)
    lexicon = StrategicLexicon.default()
    decoded = [tokenizer.decode(ids[b][mask[b]].tolist()) for b in range(ids.shape[0])]
    megabytes = sum(len(t.encode("utf-8")) for t in decoded) / 1e6

    t0 = time.perf_counter()
    piece_table(tokenizer)
    lexicon.span_arrays("warm up")
    table_s = time.perf_counter() - t0
    hicra_s, hicra_cpu, hicra_mask = timed(
        lambda: lexicon.tag_batch(ids, tokenizer, mask), args.repeats
    )

    # where the time goes (one run)
    rows = [row[keep] for row, keep in zip(ids.numpy(), mask.numpy())]
    t0 = time.perf_counter()
    dec = decode_rows(piece_table(tokenizer), rows, backend_of(tokenizer))
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    starts, ends, _ = lexicon.span_arrays(dec.text)
    match_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    overlap_mask(starts, ends, dec.char_starts, dec.char_ends)
    overlap_s = time.perf_counter() - t0

    from hicra.lexicon import load_detector

    detectors = {}
    for name in args.detectors:
        detector = load_detector(name)
        detector.tag_batch(ids[:1, :64], tokenizer, mask[:1, :64])  # load weights / build automata
        wall, cpu, det_mask = timed(
            lambda d=detector: d.tag_batch(ids, tokenizer, mask), args.repeats
        )
        detectors[name] = {
            "cpu_ms_per_batch": round(cpu * 1e3, 1),
            "cpu_mb_per_s": round(megabytes / cpu, 2),
            "ms_per_batch": round(wall * 1e3, 1),
            "mb_per_s": round(megabytes / wall, 2),
            "planning_token_fraction": round(float(det_mask[mask].float().mean()), 4),
            "step_share": None if args.step_seconds is None else round(cpu / args.step_seconds, 5),
        }

    patterns = regex_patterns(lexicon)
    naive_s, naive_cpu, naive_mask = timed(
        lambda: naive_regex_masks(lexicon, ids, mask, tokenizer, patterns), args.naive_repeats
    )
    agreement = float((hicra_mask == naive_mask)[mask].float().mean())

    result = {
        "source": source,
        "batch": args.batch,
        "max_tokens": args.tokens,
        "tokens": int(mask.sum()),
        "text_mb": round(megabytes, 3),
        "planning_token_fraction": round(float(hicra_mask[mask].float().mean()), 4),
        "tokenizer": "byte-level BPE, 8000 vocab, trained on the traces",
        "tokenizer_train_s": round(train_s, 2),
        "piece_table_build_s": round(table_s, 4),
        "hicra": {
            "ms_per_batch": round(hicra_s * 1e3, 1),
            "mb_per_s": round(megabytes / hicra_s, 2),
            "cpu_ms_per_batch": round(hicra_cpu * 1e3, 1),
            "cpu_mb_per_s": round(megabytes / hicra_cpu, 2),
            "stages_ms": {
                "ids_to_text_and_offsets": round(decode_s * 1e3, 1),
                "find_spans": round(match_s * 1e3, 1),
                "token_overlap": round(overlap_s * 1e3, 1),
            },
        },
        "naive_regex": {
            "ms_per_batch": round(naive_s * 1e3, 1),
            "mb_per_s": round(megabytes / naive_s, 2),
            "cpu_ms_per_batch": round(naive_cpu * 1e3, 1),
            "cpu_mb_per_s": round(megabytes / naive_cpu, 2),
        },
        "detectors": detectors,
        "step_seconds": args.step_seconds,
        "speedup": round(naive_s / hicra_s, 1),
        "cpu_speedup": round(naive_cpu / hicra_cpu, 1),
        "mask_agreement": round(agreement, 5),
        "threads": {
            "torch": torch.get_num_threads(),
            "RAYON_NUM_THREADS": os.environ["RAYON_NUM_THREADS"],
        },
        "cpu_affinity": sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.batch} responses, {result['tokens']:,} tokens, {megabytes:.2f} MB of text ({source}); "
        f"load average {result['load_average_1m']} on {result['cpu_count']} cores\n"
    )
    print(
        "| pipeline (ids -> (B, T) mask) | wall ms / batch | wall MB/s | CPU ms / batch | CPU MB/s |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, key in (
        ("hicra `tag_batch` (one Aho-Corasick pass)", "hicra"),
        ("naive: decode, re-encode, 249 regexes", "naive_regex"),
    ):
        r = result[key]
        print(
            f"| {name} | {r['ms_per_batch']:.0f} | {r['mb_per_s']:.2f} | {r['cpu_ms_per_batch']:.0f} | {r['cpu_mb_per_s']:.2f} |"  # noqa: E501 (one table row / sentence of the report)
        )
    print("\n| detector | CPU ms / batch | CPU MB/s (one core) | planning tokens | share of step |")
    print("|---|---:|---:|---:|---:|")
    for name, r in detectors.items():
        share = "-" if r["step_share"] is None else f"{100 * r['step_share']:.2f}%"
        print(
            f"| {name} | {r['cpu_ms_per_batch']:.0f} | {r['cpu_mb_per_s']:.2f} | {r['planning_token_fraction']:.3f} | {share} |"  # noqa: E501 (one table row / sentence of the report)
        )
    print(
        f"\nspeed-up {result['speedup']}x wall, {result['cpu_speedup']}x CPU; masks agree on {agreement:.2%} of tokens; "  # noqa: E501 (one table row / sentence of the report)
        f"stages {result['hicra']['stages_ms']}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
