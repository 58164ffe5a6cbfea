"""The math reward under adversarial answers, and its deadline under contention.

    python benchmarks/bench_math_reward.py           # ~13 min on the shared 2-core machine
    python benchmarks/bench_math_reward.py --quick   # ~2 min (benchmarks/out/math_reward_quick/)

1. Adversarial answers: `--n` (1,000) answers from a seeded generator, in families (unclosed,
   nested and one-token boxes, huge numbers and powers, `\\def`, unicode, NUL bytes, code-like
   text, `$` runs, whitespace, brace soup), sizes log-uniform from 64 B to 1 MB and every tenth
   exactly 1 MB. Each is scored alone by `score_response(answer, "42", timeout_s=--timeout)`
   with a warm pool of 2 workers: latency p50/p99/max and timeouts per family, and the
   extraction alone (`scan_boxed`: wall and CPU seconds, and the worst seconds per MB).
2. Contention: `--threads` (8) threads score `--calls` (1,000) answers (well-formed ones from the
   regression templates, and one in ten a pathological check that never finishes) with
   `timeout_s=--contention-timeout` (2 s), through a pool of 2 workers and one of 8: the largest
   overshoot past the deadline, calls over +0.5 s and +1 s, timeouts by stage, and the pool's
   counters (the longest wait for a free worker, executor restarts, worker processes started).
3. The bug report's reproduction line, in a fresh process.

Results: benchmarks/results/math_reward/results.{json,md} (the machine's load average is
recorded before and after each part: wall-clock figures from a loaded machine are upper bounds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from hicra.tasks.math_extract import scan_boxed  # noqa: E402
from hicra.tasks.math_reward import score_response  # noqa: E402
from hicra.tasks.math_verifier import VerifierPool  # noqa: E402

MB = 1 << 20
REPRO = (
    "import time;from hicra.tasks.math_reward import compute_score as c;t=time.time();"
    "print(c(r'\\boxed{'*9142,'42',timeout_s=1.0),time.time()-t)"
)
PATHOLOGICAL = [
    r"9^{9^{9^{9}}}",
    r"10^{10^{10^{10}}}!",
    r"2^{2^{2^{2^{2^{2}}}}}",
    r"(10^{100})!",
    r"\frac{9^{9^{9}}}{7^{7^{7}}}",
    r"99999^{99999^{99999}}",
]
PROSE = [
    "Let me check. ",
    "So $x = 3$, hence ",
    "Wait, ",
    r"\frac{1}{2} + \sqrt{2} ",
    "the answer is ",
]
CODE = [
    "def f(x):\n    return f(x) + {'a': [1, (2, {3})]}\n",
    "__import__('os').system('touch /tmp/pwned')",
    "while(1){fork();}",
    "$(rm -rf /)",
    "{{7*7}}",
    "eval(compile('1','','eval'))",
    "[[[[",
    "((((",
    "}}}}",
]
UNCLOSED = [r"\boxed{", r"\fbox{", r"\boxed {", r"\boxed{1+\boxed{"]
TOKENS = [r"\boxed 1 ", r"\boxed x\boxed ", r"\fbox 7$"]
MACROS = [r"\def\a{\a\a}", r"\newcommand{\x}{\x\x}", r"\def\b{\boxed{\b}}\b "]
NULS = ["\x00", "\\boxed{1\x00}", "\x00\\boxed{\x00"]
SPACES = [" ", "\n\t ", "\u3000\u00a0"]
SOUP = ["{", "}", "\\", "\\{", "\\}", r"\boxed", " ", "x"]
UNICODE_RANGES = [
    (0x300, 0x36F),
    (0x590, 0x6FF),
    (0x4E00, 0x4FFF),
    (0x1F600, 0x1F64F),
    (0x2000, 0x206F),
    (0xD800, 0xDFFF),
    (0x1D400, 0x1D7FF),
    (0x660, 0x669),
]


def _repeat(unit: str, size: int) -> str:
    return unit * max(1, size // max(1, len(unit)))


def _drawn(rng: random.Random, pieces, size: int, block: int) -> str:
    """size characters: a block of pieces drawn at random, repeated."""
    return "".join(rng.choice(pieces) for _ in range(min(size, block))) * max(1, size // block)


def _unicode(rng: random.Random, size: int) -> str:
    chunk = "".join(chr(rng.randint(*rng.choice(UNICODE_RANGES))) for _ in range(min(size, 4096)))
    return _repeat(chunk, size)


def _nested(rng: random.Random, size: int) -> str:
    depth = size // 8
    return r"\boxed{" * depth + rng.choice(["1", *PATHOLOGICAL]) + "}" * depth


def _power(rng: random.Random, size: int) -> str:
    prose = _repeat(rng.choice(PROSE), size - 40)
    return prose + r"\boxed{" + rng.choice(PATHOLOGICAL) + "}"


FAMILIES = {
    "unclosed_box": lambda rng, size: _repeat(rng.choice(UNCLOSED), size),
    "nested_box": _nested,
    "token_box": lambda rng, size: _repeat(rng.choice(TOKENS), size),
    "huge_number": lambda rng, size: r"\boxed{" + _drawn(rng, "0123456789", size, 4096) + "}",
    "huge_power": _power,
    "def_macro": lambda rng, size: _repeat(rng.choice(MACROS), size) + r"\boxed{\a\x}",
    "unicode": lambda rng, size: r"\boxed{" + _unicode(rng, size) + "}" + _unicode(rng, 64),
    "nul_bytes": lambda rng, size: _repeat(rng.choice(NULS), size),
    "code_like": lambda rng, size: r"\boxed{" + _repeat(rng.choice(CODE), size) + "}",
    "dollar_runs": lambda rng, size: r"\boxed{x" + "$" * size + "y}",
    "whitespace": lambda rng, size: r"\boxed{ " + _repeat(rng.choice(SPACES), size) + "1 }",
    "brace_soup": lambda rng, size: _drawn(rng, SOUP, size, 8192),
}


def adversarial(seed: int, index: int, max_size: int) -> tuple[str, str]:
    """(family, answer) number `index` of the seeded stream: families in turn, sizes log-uniform
    in [64, max_size], and every tenth answer of a family exactly max_size."""
    rng = random.Random(seed * 1_000_003 + index)
    family = list(FAMILIES)[index % len(FAMILIES)]
    if (index // len(FAMILIES)) % 10 == 9:
        size = max_size
    else:
        size = int(round(64 * (max_size / 64) ** rng.random()))
    return family, FAMILIES[family](rng, size)


def _stats(values: list[float]) -> dict:
    x = np.asarray(values, dtype=float)
    if not x.size:
        return {"n": 0}
    p50, p99 = np.percentile(x, [50, 99])
    return {"n": int(x.size), "p50": float(p50), "p99": float(p99), "max": float(x.max())}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _by_stage(stages: list[str | None]) -> dict[str, int]:
    return {stage: stages.count(stage) for stage in ("extract", "wait", "verify")}


def run_adversarial(args, pool: VerifierPool) -> dict:
    records = []
    start = time.monotonic()
    for i in range(args.n):
        family, answer = adversarial(args.seed, i, args.max_size)
        wall, cpu = time.perf_counter(), time.process_time()
        scan_boxed(answer)
        extract_wall, extract_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall = time.perf_counter()
        score = score_response(answer, "42", timeout_s=args.timeout, pool=pool)
        records.append(
            {
                "family": family,
                "chars": len(answer),
                "extract_s": round(extract_wall, 6),
                "extract_cpu_s": round(extract_cpu, 6),
                "latency_s": round(time.perf_counter() - wall, 6),
                "timed_out": score.timed_out,
                "stage": score.timeout_stage,
            }
        )
        if (i + 1) % 50 == 0 or i + 1 == args.n:
            print(
                f"[adversarial] {i + 1}/{args.n} answers, {time.monotonic() - start:.0f} s, "
                f"load {_load()}",
                flush=True,
            )
    families = {}
    for family in FAMILIES:
        rows = [r for r in records if r["family"] == family]
        big = [r for r in rows if r["chars"] >= args.max_size * 0.9]
        long_rows = [r for r in rows if r["chars"] >= 65536]
        families[family] = {
            "answers": len(rows),
            "max_chars": max(r["chars"] for r in rows),
            "latency_s": _stats([r["latency_s"] for r in rows]),
            "timeouts": sum(r["timed_out"] for r in rows),
            "timeouts_by_stage": _by_stage([r["stage"] for r in rows]),
            "extract_s": _stats([r["extract_s"] for r in rows]),
            "extract_cpu_s_at_max_size": _stats([r["extract_cpu_s"] for r in big]),
            "extract_s_per_mb_max": max(
                (r["extract_s"] / r["chars"] * MB for r in long_rows), default=None
            ),
        }
    return {"families": families, "records": records}


def _contention_answer(rng: random.Random) -> tuple[str, str]:
    import math_reward_corpus

    if rng.random() < 0.1:
        return rf"so \boxed{{{rng.choice(PATHOLOGICAL)}}}", "1"
    gold, predicted = rng.choice(math_reward_corpus.PAIRS)
    template = rng.choice(["dollar", "display", "corrected", "nested", "fbox"])
    return math_reward_corpus.TEMPLATES[template] % predicted, gold


def run_contention(args, workers: int) -> dict:
    sys.path.insert(0, str(HERE.parent / "tests" / "tasks"))
    pool = VerifierPool(size=workers)
    cold = time.perf_counter()
    pool.start(wait=True)
    cold = time.perf_counter() - cold
    rng = random.Random(args.seed)
    stream = [_contention_answer(rng) for _ in range(args.calls)]
    results, lock, counter = [], threading.Lock(), iter(range(args.calls))
    load_before, start = _load(), time.monotonic()

    def caller():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            response, gold = stream[i]
            t = time.perf_counter()
            score = score_response(response, gold, timeout_s=args.contention_timeout, pool=pool)
            elapsed = time.perf_counter() - t
            with lock:
                results.append((elapsed, score.timed_out, score.timeout_stage))
                if len(results) % 100 == 0:
                    print(
                        f"[contention {workers} workers] {len(results)}/{args.calls} calls, "
                        f"{time.monotonic() - start:.0f} s, load {_load()}",
                        flush=True,
                    )

    threads = [threading.Thread(target=caller) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = pool.stats()
    pool.close()
    latency = [r[0] for r in results]
    over = [elapsed - args.contention_timeout for elapsed in latency]
    return {
        "workers": workers,
        "threads": args.threads,
        "calls": len(results),
        "timeout_s": args.contention_timeout,
        "cold_start_s": cold,
        "wall_s": time.monotonic() - start,
        "load_before": load_before,
        "load_after": _load(),
        "latency_s": _stats(latency),
        "latency_with_verdict_s": _stats([r[0] for r in results if not r[1]]),
        "max_overshoot_s": max(over),
        "over_0_5_s": sum(o > 0.5 for o in over),
        "over_1_s": sum(o > 1.0 for o in over),
        "timeouts": sum(r[1] for r in results),
        "timeouts_by_stage": _by_stage([r[2] for r in results]),
        "pool": counts,
    }


def run_repro() -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"))
    start = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", REPRO], capture_output=True, text=True, timeout=300, env=env
        )
        output = out.stdout.strip() or out.stderr.strip()[-300:]
    except subprocess.TimeoutExpired:
        output = "did not finish in 300 s"
    return {
        "command": f'python -c "{REPRO}"',
        "process_s": time.perf_counter() - start,
        "output": output,
    }


def _fmt(stats: dict, key: str) -> str:
    return f"{stats[key]:.3f}" if stats.get("n") else "-"


def _three(stats: dict) -> str:
    return " / ".join(_fmt(stats, key) for key in ("p50", "p99", "max"))


def markdown(result: dict) -> str:
    s, machine = result["settings"], result["machine"]
    lines = [
        f"# Math reward under adversarial answers ({machine['date_utc']})",
        "",
        f"`{result['command']}`; {machine['cpu']} x {machine['cpu_count']}; load average "
        f"{machine['load_start']} at the start, {machine['load_end']} at the end.",
        "",
        f"## 1. {s['n']} adversarial answers (timeout_s={s['timeout']}, pool of 2, "
        f"seed {s['seed']}, up to {s['max_size']:,} chars)",
        "",
        "| family | answers | max chars | latency p50 / p99 / max (s) "
        "| timeouts (extract/wait/verify) | extraction max (s) "
        "| extraction CPU at max size, max (s) | extraction s per MB, worst |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in result["adversarial"]["families"].items():
        st = f["timeouts_by_stage"]
        per_mb = "-" if f["extract_s_per_mb_max"] is None else f"{f['extract_s_per_mb_max']:.3f}"
        lines.append(
            f"| {name} | {f['answers']} | {f['max_chars']:,} | {_three(f['latency_s'])} | "
            f"{f['timeouts']} ({st['extract']}/{st['wait']}/{st['verify']}) | "
            f"{_fmt(f['extract_s'], 'max')} | {_fmt(f['extract_cpu_s_at_max_size'], 'max')} | "
            f"{per_mb} |"
        )
    lines += [
        "",
        f"## 2. Contention: {s['threads']} threads, {s['calls']} calls, "
        f"timeout_s={s['contention_timeout']}",
        "",
        "| workers | cold start (s) | latency p50 / p99 / max (s) "
        "| with a verdict: p50 / p99 / max (s) | max overshoot (s) | over +0.5 s | over +1 s "
        "| timeouts (wait/verify) | longest wait for a worker (ms) "
        "| executor restarts (longest, ms) | worker processes started | load before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["contention"]:
        st, pool = c["timeouts_by_stage"], c["pool"]
        lines.append(
            f"| {c['workers']} | {c['cold_start_s']:.1f} | {_three(c['latency_s'])} | "
            f"{_three(c['latency_with_verdict_s'])} | {c['max_overshoot_s']:.3f} | "
            f"{c['over_0_5_s']} | {c['over_1_s']} | "
            f"{c['timeouts']} ({st['wait']}/{st['verify']}) | "
            f"{pool.get('max_wait_ms', 0)} | {pool.get('executor_restarts', 0)} "
            f"({pool.get('max_restart_ms', 0)}) | {pool.get('supervisor_starts', 0)} | "
            f"{c['load_before']} -> {c['load_after']} |"
        )
    repro = result["repro"]
    lines += [
        "",
        "## 3. The bug report's reproduction line",
        "",
        f"`{repro['command']}`",
        "",
        f"Output: `{repro['output']}`; the whole process (Python start, imports, first "
        f"pool start) took {repro['process_s']:.2f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="120 answers up to 256 KB, 160 contention calls"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=1000, help="adversarial answers")
    parser.add_argument("--max-size", type=int, default=MB, help="largest answer, in characters")
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="timeout_s of each adversarial answer"
    )
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=1000, help="contention calls per pool")
    parser.add_argument("--contention-timeout", type=float, default=2.0)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[2, 8], help="pool sizes of the contention part"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="default: benchmarks/results/math_reward (--quick: benchmarks/out/math_reward_quick)",
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.max_size = min(args.n, 120), min(args.max_size, 256 * 1024)
        args.calls = min(args.calls, 160)
    quick_out, full_out = HERE / "out" / "math_reward_quick", HERE / "results" / "math_reward"
    out = Path(args.out or (quick_out if args.quick else full_out))
    out.mkdir(parents=True, exist_ok=True)
    import math_verify
    import sympy

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        "?",
    )
    machine = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "math_verify": getattr(math_verify, "__version__", "?"),
        "sympy": sympy.__version__,
        "load_start": _load(),
    }
    pool = VerifierPool(size=2).start(wait=True)
    try:
        adversarial_result = run_adversarial(args, pool)
    finally:
        pool.close()
    contention = [run_contention(args, workers) for workers in args.workers]
    print("[repro] running the reproduction line", flush=True)
    repro = run_repro()
    machine["load_end"] = _load()
    result = {
        "command": "python benchmarks/bench_math_reward.py " + " ".join(sys.argv[1:]),
        "settings": vars(args),
        "machine": machine,
        "adversarial": adversarial_result,
        "contention": contention,
        "repro": repro,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "results.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'results.json'} and results.md")


if __name__ == "__main__":
    main()
