"""Base-model pass@1 on word-arith, per difficulty: where RL on a real model starts.

    python benchmarks/bench_word_arith.py --levels 1 2 3 4 --problems 64 --samples 4
    python benchmarks/bench_word_arith.py --levels 3 4 --until 16   # stop at 16 problems per level
    python benchmarks/bench_word_arith.py --replot          # redraw the table from the jsonl files

For each difficulty, `problems` problems (drawn with --seed, the stream the trainer would draw
from) get `samples` responses each from the built-in sampler at --temperature (the RL
recipe's), chat-templated exactly as in training, scored by the task's verifier (last
\\boxed{} vs the answer). pass@1 = mean over problems of the share of right samples, with a
95% percentile-bootstrap interval over problems (samples of one problem are not independent),
and beside it the exact (Clopper-Pearson) binomial interval over responses, which ignores that
dependence but does not collapse to a point when no sample is right. "problems for +-5" is how
many problems (same samples each) would bring the half-width of the wider interval to 5 points
(half-width shrinking as 1/sqrt(problems)).

Levels are interleaved batch by batch. Resumable: every finished batch of problems is appended to
out/word_arith/<level>.jsonl and
skipped when the command is run again with the same options. Results: results.json and
results.md under --out (default benchmarks/out/word_arith).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bootstrap_ci, machine_info, markdown_table, out_dir, write_json  # noqa: E402
from hicra.tasks.word_arith import WordArithConfig  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--levels", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--problems", type=int, default=64, help="problems per level")
    p.add_argument(
        "--until",
        type=int,
        default=None,
        help="stop this invocation once every level has this many problems (resume later for more)",
    )
    p.add_argument("--samples", type=int, default=4, help="responses per problem")
    p.add_argument(
        "--batch-problems", type=int, default=8, help="problems sampled together (x samples rows)"
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--max-new-tokens", type=int, default=96, help="the real-model demo recipe's")
    p.add_argument(
        "--stop-strings",
        nargs="*",
        default=list(WordArithConfig.stop_strings),
        help='strings that end a response (default: the task\'s, "Question:"); none: EOS only',
    )
    p.add_argument(
        "--seed", type=int, default=1234, help="problem stream (not the RL seeds' streams)"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument(
        "--replot", action="store_true", help="only rebuild results.json/.md from the jsonl files"
    )
    return p.parse_args(argv)


def run_batch(args, level: int, first: int, model, tokenizer, path: Path) -> None:
    import torch

    from hicra.models.sampling import chat_prompt, sample_responses
    from hicra.tasks.word_arith import WordArithTask

    task = WordArithTask(WordArithConfig(difficulty=level, stop_strings=tuple(args.stop_strings)))
    problems = task.sample_problems(args.problems, np.random.default_rng([args.seed, level]))
    done = (
        {json.loads(line)["index"] for line in path.read_text().splitlines()}
        if path.exists()
        else set()
    )
    chunk = [
        (i, p)
        for i, p in enumerate(problems[first : first + args.batch_problems], first)
        if i not in done
    ]
    if not chunk:
        return
    t0, c0 = time.perf_counter(), time.process_time()
    generator = torch.Generator().manual_seed(args.seed * 1000 + level * 100 + first)
    batch = sample_responses(
        model,
        tokenizer,
        [chat_prompt(tokenizer, p.prompt) for _, p in chunk],
        args.samples,
        args.max_new_tokens,
        args.temperature,
        generator,
        add_special_tokens=False,
        stop_strings=task.stop_strings,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    lengths = batch.response_mask.sum(1).tolist()
    with open(path, "a") as out:
        for k, (i, problem) in enumerate(chunk):
            rows = range(k * args.samples, (k + 1) * args.samples)
            scores = [task.score(problem, batch.texts[r]) for r in rows]
            out.write(
                json.dumps(
                    {
                        "index": i,
                        "id": problem.id,
                        "answer": problem.answer,
                        "ops": problem.meta["ops"],
                        "correct": [s.correct for s in scores],
                        "boxed": [s.diagnostics["boxed_rate"] for s in scores],
                        "lengths": [lengths[r] for r in rows],
                        "responses": [batch.texts[r] for r in rows],
                        "truncated": [bool(batch.truncated_mask[r]) for r in rows],
                        "wall_s": wall / len(chunk),
                        "cpu_s": cpu / len(chunk),
                    }
                )
                + "\n"
            )
    print(
        f"level {level}: {min(first + args.batch_problems, len(problems))}/{len(problems)} problems "
        f"({wall:.0f} s wall, {cpu:.0f} s CPU for {len(chunk) * args.samples} responses)",
        flush=True,
    )


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of k successes in n trials.

    >>> [round(x, 3) for x in clopper_pearson(0, 32)]
    [0.0, 0.109]
    """
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def problems_for(row: dict, half_width: float = 0.05) -> int:
    """Problems needed for a 95% half-width of `half_width` (the wider of the two intervals)."""
    width = max(row["ci95"][1] - row["ci95"][0], row["exact_ci95"][1] - row["exact_ci95"][0]) / 2
    return int(np.ceil(row["problems"] * (width / half_width) ** 2))


def summarize(out: Path, levels: list[int]) -> dict:
    rows = {}
    for level in levels:
        path = out / f"level{level}.jsonl"
        if not path.exists():
            continue
        records = [json.loads(line) for line in path.read_text().splitlines()]
        per_problem = [float(np.mean(r["correct"])) for r in records]
        rows[level] = {
            "problems": len(records),
            "samples": sum(len(r["correct"]) for r in records),
            "pass@1": float(np.mean(per_problem)),
            "ci95": list(bootstrap_ci(per_problem)),
            "exact_ci95": list(
                clopper_pearson(
                    sum(sum(r["correct"]) for r in records), sum(len(r["correct"]) for r in records)
                )
            ),
            "boxed_rate": float(np.mean([b for r in records for b in r["boxed"]])),
            "mean_tokens": float(np.mean([n for r in records for n in r["lengths"]])),
            "truncated_rate": float(np.mean([t for r in records for t in r["truncated"]])),
            "cpu_s_per_response": sum(r["cpu_s"] for r in records)
            / max(1, sum(len(r["correct"]) for r in records)),
        }
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out) if args.out else out_dir("word_arith")
    out.mkdir(parents=True, exist_ok=True)
    options = {
        k: v
        for k, v in vars(args).items()
        if k not in ("out", "replot", "levels", "threads", "until")
    }
    saved = out / "options.json"
    if saved.exists() and json.loads(saved.read_text()) != options and not args.replot:
        print(
            f"{out} holds results made with other options ({saved}); use another --out",
            file=sys.stderr,
        )
        return 2
    saved.write_text(json.dumps(options, indent=2) + "\n")
    if not args.replot:
        import torch

        from hicra.models import load_model_and_tokenizer

        torch.set_num_threads(args.threads)
        model, tokenizer = load_model_and_tokenizer(args.model)
        model.eval()
        # levels interleaved batch by batch, so a stopped run has every level at a similar size
        for first in range(0, min(args.problems, args.until or args.problems), args.batch_problems):
            for level in args.levels:
                run_batch(args, level, first, model, tokenizer, out / f"level{level}.jsonl")
    rows = summarize(out, args.levels)
    write_json(
        out / "results.json",
        {
            "options": options,
            "levels": rows,
            "machine": machine_info(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
    )
    table = markdown_table(
        [
            "difficulty",
            "problems x samples",
            "pass@1 (%)",
            "95% CI over problems (%)",
            "exact 95% over responses (%)",
            "problems for +-5",
            "boxed (%)",
            "mean tokens",
            "CPU s / response",
        ],
        [
            [
                level,
                f"{r['problems']} x {r['samples'] // max(1, r['problems'])}",
                f"{100 * r['pass@1']:.1f}",
                f"{100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}",
                f"{100 * r['exact_ci95'][0]:.1f}-{100 * r['exact_ci95'][1]:.1f}",
                problems_for(r),
                f"{100 * r['boxed_rate']:.0f}",
                f"{r['mean_tokens']:.0f}",
                f"{r['cpu_s_per_response']:.1f}",
            ]
            for level, r in rows.items()
        ],
    )
    (out / "results.md").write_text(
        f"model {args.model}, temperature {args.temperature}, "
        f"max_new_tokens {args.max_new_tokens}\n\n{table}"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
