"""Rollout sampling speed on a real model: the built-in sampler against `model.generate`.

    python benchmarks/bench_sampling.py --lengths 128 256 512 --rows 8 --repeats 2
    python benchmarks/bench_sampling.py --replot
    python benchmarks/bench_sampling.py --cache-only    # the KV-cache update alone, seconds

SmolLM2-135M-Instruct (the `smollm2-135m` alias), one torch thread, `rows` sequences sampled
together from the same chat-templated word-arith prompts, EOS suppressed so every response has
exactly `length` tokens. Both engines sample at temperature 0.7 with a KV cache:
`hicra.models.sampling.sample_responses` (the trainer's) and transformers
`model.generate(do_sample=True, top_k=0, top_p=1.0)`. `generate-packed` runs generate with
float32 weights packed for MKL's GEMM (inside `hicra.models.packed.packed_linears`), which the
built-in sampler does by default; `builtin-plain` is the sampler with `pack_weights=False`, so
the engine and the packing can be told apart. The `-bf16` engines run the same on a
bfloat16 copy of the weights (`hicra.models.sampling.RolloutCopy`, the trainer's
`rollout_dtype: bfloat16`), so the two dtypes can be compared engine by engine.

Reported per engine and length: tokens/s = rows * length / time, in CPU seconds of the process
(`time.process_time`, which other jobs on a shared machine inflate far less than wall time)
and in wall seconds, with `uptime`'s load average; and the time per token within each quarter
of the response (the growth with length: a constant per-token cost is linear total time).
The sampler's per-step times come from a forward-pre hook that stamps each decoding step.
`--cache-only` times the KV-cache update alone, SmolLM2's shape (30 layers, 3 KV heads of 64,
8 rows, a 150-token prompt) over 512 decoding steps: transformers' `DynamicLayer` (a torch.cat
of the whole cache per layer per step) against `hicra.models.kvcache.PreallocatedLayer`.
Results: results.json and results.md under --out (default benchmarks/out/sampling).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, markdown_table, out_dir, suppress_token, write_json  # noqa: E402

ENGINES = [
    "builtin",
    "generate",
    "builtin-plain",
    "generate-packed",
    "builtin-bf16",
    "generate-bf16",
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument(
        "--engines",
        nargs="+",
        default=["builtin", "generate"],
        choices=ENGINES,
        help="builtin: the sampler's defaults (float32 weights packed for MKL's GEMM); "
        "builtin-plain: pack_weights=False; generate-packed: generate inside "
        "hicra.models.packed.packed_linears; -bf16: the engine on a bfloat16 copy of the "
        "weights (the trainer's rollout_dtype)",
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    p.add_argument("--replot", action="store_true")
    p.add_argument("--cache-only", action="store_true", help="time the KV-cache update alone")
    return p.parse_args(argv)


def cache_update_times(rows=8, heads=3, dim=64, prompt=150, steps=512, layers=30) -> dict:
    """CPU ms per decoding step of the cache update alone, by quarter of `steps`, per layer class."""
    import torch
    from transformers.cache_utils import DynamicLayer

    from hicra.models.kvcache import PreallocatedLayer

    out = {}
    for name, make in (
        ("DynamicLayer (torch.cat)", DynamicLayer),
        ("PreallocatedLayer", lambda: PreallocatedLayer(prompt + steps)),
    ):
        cache = [make() for _ in range(layers)]
        for layer in cache:
            layer.update(
                torch.randn(rows, heads, prompt, dim), torch.randn(rows, heads, prompt, dim)
            )
        step, marks, start = torch.randn(rows, heads, 1, dim), [], time.process_time()
        for t in range(steps):
            for layer in cache:
                layer.update(step, step)
            if (t + 1) % (steps // 4) == 0:
                marks.append(1000 * (time.process_time() - start) / (steps // 4))
                start = time.process_time()
        out[name] = marks
    return out


class StepClock:
    """Forward-pre hook: the process time at every forward call (prefill, then one per token)."""

    def __init__(self, model):
        self.stamps: list[float] = []
        self.handle = model.register_forward_pre_hook(
            lambda *_: self.stamps.append(time.process_time())
        )

    def per_token(self, end: float) -> np.ndarray:
        """(length,) CPU seconds of each decoding step (forward k+1 start - forward k start)."""
        stamps = np.asarray(self.stamps[1:] + [end])  # skip the prefill
        return np.diff(stamps)


def _generate(engine, model, tokenizer, prompts, length, temperature, seed) -> int:
    """Sample with one engine; returns the number of new tokens produced."""
    import torch

    from hicra.models.sampling import sample_responses

    if engine.startswith("builtin"):
        generator = torch.Generator().manual_seed(seed)
        batch = sample_responses(
            model,
            tokenizer,
            prompts,
            1,
            length,
            temperature,
            generator,
            add_special_tokens=False,
            pack_weights=engine != "builtin-plain",
        )
        return int(batch.response_mask.sum())
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=length,
            min_new_tokens=length,
            pad_token_id=tokenizer.pad_token_id,
            use_cache=True,
        )
    return int((out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0])


def run_once(
    engine: str, model, tokenizer, prompts: list[str], length: int, temperature: float, seed: int
):
    from contextlib import nullcontext

    from hicra.models.packed import packed_linears

    clock = StepClock(model)
    packing = packed_linears(model) if engine == "generate-packed" else nullcontext()
    wall, cpu = time.perf_counter(), time.process_time()
    with packing:
        produced = _generate(engine, model, tokenizer, prompts, length, temperature, seed)
    cpu_end = time.process_time()
    cpu, wall = cpu_end - cpu, time.perf_counter() - wall
    steps = clock.per_token(cpu_end)
    clock.handle.remove()
    quarters = [float(q.mean()) for q in np.array_split(steps[: length - 1], 4)]
    return {
        "tokens": produced,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_tokens_per_s": produced / cpu,
        "wall_tokens_per_s": produced / wall,
        "ms_per_step_by_quarter": [1000 * q for q in quarters],
        "load_avg": os.getloadavg()[0],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out) if args.out else out_dir("sampling")
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    if args.cache_only:
        import torch

        torch.set_num_threads(args.threads)
        times = cache_update_times()
        write_json(
            out / "cache_update.json",
            {
                "ms_per_step_by_quarter": times,
                "load_avg": os.getloadavg(),
                "machine": machine_info(),
            },
        )
        for name, marks in times.items():
            print(
                f"{name}: CPU ms per step by quarter of 512 steps: "
                + " / ".join(f"{m:.1f}" for m in marks)
            )
        return 0
    if not args.replot:
        import torch

        from hicra.models import load_model_and_tokenizer
        from hicra.models.sampling import chat_prompt
        from hicra.tasks.word_arith import WordArithTask

        torch.set_num_threads(args.threads)
        model, tokenizer = load_model_and_tokenizer(args.model)
        model.eval()
        suppress_token(model, tokenizer.eos_token_id)
        models = {"float32": model}
        if any(e.endswith("-bf16") for e in args.engines):
            from hicra.models.sampling import RolloutCopy

            models["bfloat16"] = RolloutCopy(torch.bfloat16).refresh(model)  # hook copied too
        problems = WordArithTask().sample_problems(args.rows, np.random.default_rng(0))
        prompts = [chat_prompt(tokenizer, p.prompt) for p in problems]
        for repeat in range(args.repeats):
            for length in args.lengths:
                for engine in args.engines:
                    row = {
                        "engine": engine,
                        "length": length,
                        "rows": args.rows,
                        "repeat": repeat,
                        **run_once(
                            engine,
                            models["bfloat16" if engine.endswith("-bf16") else "float32"],
                            tokenizer,
                            prompts,
                            length,
                            args.temperature,
                            repeat,
                        ),
                    }
                    with open(results_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in results_path.read_text().splitlines()]
    summary = {}
    for engine in sorted({r["engine"] for r in rows}):
        for length in sorted({r["length"] for r in rows}):
            sel = [r for r in rows if r["engine"] == engine and r["length"] == length]
            if sel:
                summary[f"{engine}/{length}"] = {
                    "cpu_tokens_per_s": float(np.median([r["cpu_tokens_per_s"] for r in sel])),
                    "wall_tokens_per_s": float(np.median([r["wall_tokens_per_s"] for r in sel])),
                    "ms_per_step_by_quarter": np.median(
                        [r["ms_per_step_by_quarter"] for r in sel], axis=0
                    ).tolist(),
                    "load_avg": [r["load_avg"] for r in sel],
                    "n": len(sel),
                }
    write_json(out / "results.json", {"summary": summary, "machine": machine_info()})
    table = markdown_table(
        [
            "engine",
            "new tokens",
            "tokens/s (CPU time)",
            "tokens/s (wall)",
            "ms/step by quarter of the response",
            "load avg",
            "runs",
        ],
        [
            [
                k.split("/")[0],
                k.split("/")[1],
                f"{v['cpu_tokens_per_s']:.1f}",
                f"{v['wall_tokens_per_s']:.1f}",
                " / ".join(f"{q:.0f}" for q in v["ms_per_step_by_quarter"]),
                ", ".join(f"{x:.1f}" for x in v["load_avg"]),
                v["n"],
            ]
            for k, v in summary.items()
        ],
    )
    (out / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
