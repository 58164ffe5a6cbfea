"""Speed of `hicra anchors`: sentences analysed per minute, on the countdown model and a ~135M LM.

    python benchmarks/bench_anchors.py                    # both models, the defaults below
    python benchmarks/bench_anchors.py --models countdown --samples 20
    python benchmarks/bench_anchors.py --models 135m --lm smollm2-135m --lm-traces 3  # real 135M

A sentence analysed = all its continuations sampled (N with it replaced, and the N of the next
boundary with it kept, shared with the next sentence), scored and embedded: the unit the
`hicra anchors` progress bar counts. Figures: sentences per minute of wall time and of process
CPU time (the machine is shared: CPU time is the steadier figure), with the load average.

- countdown: the cached SFT warm start of the demo (1.06M parameters, word-level tokenizer),
  `--traces` base traces sampled from it, every sentence, N = `--samples`, temperature 1, the
  RL recipe's 160-token budget.
- 135m: `--lm` when given (any local checkpoint or alias `hicra.models` resolves); otherwise a
  randomly initialised LlamaForCausalLM with SmolLM2-135M's shape (hidden 576, 30 layers, 9
  heads, 3 KV heads, MLP 1536, vocabulary 49,152: 134.5M parameters) and a byte-level BPE
  tokenizer trained here with `tokenizers` on the shared reasoning traces.
  `--lm-source` says what it analyses:
  - `math-traces` (the default without `--lm`): the first `--lm-sentences` sentences of
    `--lm-traces` real R1-distill MATH traces (../shared/data), every continuation cut at
    `--lm-new-tokens` (default 48) whether it ends or not. A random model never ends a
    continuation, so each one runs the full budget: the worst case per continuation.
  - `word-arith` (the default with `--lm`): `--lm-traces` word-arith problems (difficulty
    `--lm-difficulty`, seed 0) as prompts; the model samples its own base trace for each and
    every sentence is resampled to the end of the response (default budget 96 tokens, the
    budget of `hicra eval` on this task in docs/word-arith.md), Thought Anchors' temperature 0.6
    and top-p 0.95. The answers are read and checked by `--task math` (last \\boxed{}, math-verify
    against the problem's answer: the word-arith task's own reward) with the task's own planning
    lexicon (the published Strategic Grams). Base traces that never end are left out.
Outputs: benchmarks/out/bench_anchors/results.json and results.md; a run adds its rows to the
results already there (one row per model), so the models can be measured one at a time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, markdown_table, n_parameters, out_dir, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "math153_r1_distill_llama8b_traces.jsonl.gz"


def smollm2_shaped_model(out: Path) -> Path:
    """A random-init Llama with SmolLM2-135M's shape and a BPE tokenizer trained on local traces."""
    if (out / "config.json").is_file():
        return out
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = []
    if SHARED.is_file():
        with gzip.open(SHARED, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                texts += [row.get("problem", ""), row.get("full_text", "")]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=16384,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token="<|endoftext|>",
    )
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        rope_theta=100000.0,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def lm_traces(path: Path, n: int, sentences: int) -> Path:
    """The first `sentences` sentences of n real MATH traces, as a traces file."""
    from hicra.anchors.sentences import split_sentences

    rows = []
    with gzip.open(SHARED, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            parts = split_sentences(row["reasoning"])[:sentences]
            rows.append(
                {
                    "id": f"math{len(rows)}",
                    "problem": row["problem"],
                    "answer": row["gt_answer"],
                    "response": row["reasoning"][: parts[-1].end],
                }
            )
            if len(rows) == n:
                break
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def word_arith_prompts(path: Path, n: int, difficulty: int) -> Path:
    """n word-arith problems (seed 0) as a prompts file: prompt, answer, id."""
    import numpy as np

    from hicra.tasks.word_arith import WordArithConfig, WordArithTask

    task = WordArithTask(WordArithConfig(difficulty=difficulty))
    rows = [
        {"id": p.id, "prompt": p.prompt, "answer": str(p.answer)}
        for p in task.sample_problems(n, np.random.default_rng(0))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def uptime() -> str:
    """The machine's load as `uptime` prints it (timings on a shared machine need it)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_run(argv: list[str], out: Path) -> dict:
    from hicra.anchors.cli import anchors_main

    before = uptime()
    wall, cpu = time.time(), time.process_time()
    assert anchors_main(argv + ["--out", str(out), "--force", "--no-progress"]) == 0, argv
    wall, cpu = time.time() - wall, time.process_time() - cpu
    summary = json.loads((out / "summary.json").read_text())
    n = summary["n_sentences"]
    return {
        "sentences": n,
        "traces": summary["n_traces"],
        "skipped_traces": summary.get("n_skipped_traces", 0),
        "wall_s": wall,
        "cpu_s": cpu,
        "sentences_per_min_wall": 60 * n / wall,
        "sentences_per_min_cpu": 60 * n / cpu,
        "load_avg": os.getloadavg()[0],
        "uptime_before": before,
        "uptime_after": uptime(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["countdown", "135m"])
    p.add_argument(
        "--samples", type=int, default=20, help="continuations per boundary (both models)"
    )
    p.add_argument("--traces", type=int, default=8, help="countdown base traces")
    p.add_argument(
        "--lm", default="", help="a real ~135M model (path or alias); default: built random-init"
    )
    p.add_argument(
        "--lm-source",
        choices=("math-traces", "word-arith"),
        default=None,
        help="what the 135M model analyses (default: word-arith with --lm, else math-traces)",
    )
    p.add_argument("--lm-traces", type=int, default=2, help="MATH traces or word-arith prompts")
    p.add_argument("--lm-sentences", type=int, default=4, help="math-traces: sentences per trace")
    p.add_argument("--lm-difficulty", type=int, default=1, help="word-arith difficulty (1-4)")
    p.add_argument(
        "--lm-new-tokens",
        type=int,
        default=None,
        help="tokens per continuation (default 48 for math-traces, 96 for word-arith)",
    )
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = out_dir("bench_anchors", args.out)
    previous = out / "results.json"
    earlier = json.loads(previous.read_text()) if previous.is_file() else {}
    machine = machine_info()
    results = {"machine": machine, "samples": args.samples, "models": earlier.get("models", {})}
    for row in results["models"].values():
        row.setdefault("machine", earlier.get("machine"))
        row.setdefault("samples", earlier.get("samples"))
    if "countdown" in args.models:
        from hicra.trainer.sft import is_complete, sft_dir

        sys.path.insert(0, str(ROOT / "src"))
        from hicra.demo import sft_config
        from hicra.tasks.countdown import CountdownTask

        sft = sft_dir(sft_config(False, 0), CountdownTask())
        if not is_complete(sft):
            raise SystemExit(
                f"{sft}: no cached SFT checkpoint; run `hicra demo` (or hicra sft) first"
            )
        run = timed_run(
            [
                "--model",
                str(sft),
                "--problems",
                str(args.traces),
                "--samples",
                str(args.samples),
                "--temperature",
                "1",
                "--top-p",
                "1",
                "--max-new-tokens",
                "160",
            ],
            out / "countdown",
        )
        results["models"]["countdown"] = run | {
            "model": str(sft),
            "parameters": 1.06e6,
            "samples": args.samples,
            "machine": machine,
        }
        print("countdown", run, flush=True)
    if "135m" in args.models:
        source = args.lm_source or ("word-arith" if args.lm else "math-traces")
        model = args.lm or str(smollm2_shaped_model(out / "llama135m_random"))
        if source == "word-arith":
            new_tokens = args.lm_new_tokens or 96
            prompts = word_arith_prompts(
                out / "word_arith_prompts.jsonl", args.lm_traces, args.lm_difficulty
            )
            source_args = ["--prompts", str(prompts), "--skip-unended"]
        else:
            new_tokens = args.lm_new_tokens or 48
            traces = lm_traces(out / "lm_traces.jsonl", args.lm_traces, args.lm_sentences)
            source_args = [
                "--traces",
                str(traces),
                "--no-require-ending",
            ]
        name = "135m" if not args.lm else Path(args.lm).name
        run = timed_run(
            source_args
            + [
                "--model",
                model,
                "--samples",
                str(args.samples),
                "--max-new-tokens",
                str(new_tokens),
                "--task",
                "math",
            ],
            out / ("lm135m" if not args.lm else f"lm_{name}_{source}"),
        )
        from hicra.models import load_model_and_tokenizer

        params = n_parameters(load_model_and_tokenizer(model)[0])
        results["models"][name if source == "math-traces" else f"{name} word-arith"] = run | {
            "model": model,
            "parameters": params,
            "random_init": not args.lm,
            "source": source,
            "new_tokens_per_continuation": new_tokens,
            "samples": args.samples,
            "machine": machine,
        }
        print(name, run, flush=True)
    write_json(out / "results.json", results)
    rows = [
        [
            name,
            f"{r['parameters'] / 1e6:.1f}M",
            r.get("samples", args.samples),
            r.get("new_tokens_per_continuation", 160),
            r["traces"],
            r["sentences"],
            f"{r['wall_s']:.0f}",
            f"{r['cpu_s']:.0f}",
            f"{r['sentences_per_min_wall']:.1f}",
            f"{r['sentences_per_min_cpu']:.1f}",
            f"{r['load_avg']:.1f}",
        ]
        for name, r in results["models"].items()
    ]
    table = markdown_table(
        [
            "model",
            "params",
            "N",
            "max tokens",
            "traces",
            "sentences",
            "wall s",
            "CPU s",
            "sentences/min (wall)",
            "sentences/min (CPU)",
            "load avg",
        ],
        rows,
    )
    (out / "results.md").write_text(
        "N continuations per sentence boundary, up to `max tokens` new tokens each, "
        f"1 torch thread.\n\n{table}"
    )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
