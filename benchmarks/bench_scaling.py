"""How the built-in trainer's cost grows: response length, model size, tagging batch size.

    python benchmarks/bench_scaling.py            # lengths 128..2048, sizes ~1M..~50M, tagging 16..4096 rows
    python benchmarks/bench_scaling.py --quick    # smoke test (toy sizes, ~30 s)
    python benchmarks/bench_scaling.py --only length --lengths 128 512 2048 --threads 2

Each (length, size) point runs in a fresh process (so its peak memory is its own): a
randomly initialised LlamaForCausalLM on the countdown world's word-level tokenizer, HICRA
credit, N prompts x G samples, EOS suppressed so every response has exactly `length` tokens,
--warmup untimed steps then --steps timed ones of `common.BuiltinStepper` (the trainer's own
collect + update, split into phases). Random weights give reward 0 everywhere, so the update
is forced (skip_zero_signal off): its cost does not depend on the advantage values.
Memory: peak resident set of the point's process (CPU; ru_maxrss) and its growth over the
process after model construction; on a GPU, torch.cuda.max_memory_allocated.
Tagging: `lexicon.tag_batch` (the world's lexicon) on B responses of the world's SFT corpus
(tokenised, right-padded), best of 3 repeats.
Outputs in benchmarks/out/scaling/: results.json, results.md, scaling.png.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PHASES,
    BuiltinStepper,
    machine_info,
    markdown_table,
    n_parameters,
    out_dir,  # noqa: E402
    peak_rss_mb,
    plt,
    suppress_token,
    write_json,
)

# (hidden, layers): ~1.05M, 4.2M, 14M, 34M, 53M parameters with the world's ~70-word vocabulary.
SIZES = [(128, 4), (256, 4), (384, 6), (512, 8), (576, 10)]
LENGTHS = [128, 256, 512, 1024, 2048]
TAG_BATCHES = [16, 64, 256, 1024, 4096]


def measure_point(point: dict) -> dict:
    """Worker (fresh process): build the model, run warmup + timed steps, return timings and memory."""
    import torch
    import transformers

    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.tasks.countdown import CountdownTask
    from hicra.trainer.config import TrainConfig

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(point["threads"])
    task = CountdownTask()
    tokenizer = build_tokenizer(task)
    rss_start = peak_rss_mb()
    hidden, layers = point["hidden"], point["layers"]
    model = build_tiny_model(
        tokenizer,
        hidden=hidden,
        layers=layers,
        heads=max(2, hidden // 64),
        max_positions=point["length"] + 64,
        seed=0,
    )
    device = point["device"]
    model = model.to(device).eval()
    suppress_token(model, tokenizer.eos_token_id)
    cfg = TrainConfig(
        model="(in memory)",
        credit_mode="hicra",
        alpha=0.2,
        prompts_per_step=point["prompts"],
        samples_per_prompt=point["samples"],
        max_new_tokens=point["length"],
        micro_batch_size=point["micro_batch"],
        skip_zero_signal=False,
        device=device,
        seed=0,
        progress=False,
        rollouts_per_step=0,
    )
    stepper = BuiltinStepper(cfg, model, tokenizer, task=task)
    rss_model = peak_rss_mb()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    records = [stepper.step() for _ in range(point["warmup"] + point["steps"])][point["warmup"] :]
    out = dict(point)
    out["parameters"] = n_parameters(model)
    out["step_s"] = float(np.mean([r["step_s"] for r in records]))
    out["phase_s"] = {
        k: float(np.mean([r["seconds"].get(k, 0.0) for r in records])) for k in PHASES
    }
    out["tokens_per_step"] = float(np.mean([r["tokens"] for r in records]))
    out["peak_rss_mb"] = peak_rss_mb()
    out["rss_growth_mb"] = out["peak_rss_mb"] - rss_model
    out["rss_model_mb"] = rss_model - rss_start
    if device.startswith("cuda"):
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_points(points: list[dict]) -> list[dict]:
    """Each point in its own fresh process, one after the other, with progress."""
    results = []
    ctx = multiprocessing.get_context("spawn")
    for i, point in enumerate(points, 1):
        t0 = time.perf_counter()
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            r = pool.submit(measure_point, point).result()
        results.append(r)
        print(
            f"[{i}/{len(points)}] {r['sweep']}: {r['parameters'] / 1e6:.2f}M params, {r['length']} tokens: "
            f"{r['step_s']:.2f} s/step (gen {r['phase_s']['generation']:.2f}, fwd/bwd "
            f"{r['phase_s']['forward_backward']:.2f}), peak RSS {r['peak_rss_mb']:.0f} MB "
            f"(+{r['rss_growth_mb']:.0f} in steps) [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
    return results


def tagging_times(batches: list[int], repeats: int = 3) -> list[dict]:
    """Seconds of lexicon.tag_batch on B SFT-corpus responses (right-padded token ids)."""
    import torch

    from hicra.models import build_tokenizer
    from hicra.tasks.countdown import CountdownTask

    task = CountdownTask()
    tokenizer = build_tokenizer(task)
    lexicon = task.planning_lexicon()
    texts = [e.response for e in task.sft_examples(max(batches), np.random.default_rng(0))]
    ids = [
        tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        for t in texts
    ]
    out = []
    for b in batches:
        rows = ids[:b]
        width = max(len(r) for r in rows)
        token_ids = torch.full((b, width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.bool)
        for i, r in enumerate(rows):
            token_ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        best = min(
            _timed(lambda ids=token_ids, m=mask: lexicon.tag_batch(ids, tokenizer, m))
            for _ in range(repeats)
        )
        out.append(
            {
                "batch": b,
                "seconds": best,
                "tokens": int(mask.sum()),
                "us_per_response": 1e6 * best / b,
            }
        )
        print(f"tagging {b} responses ({int(mask.sum())} tokens): {1e3 * best:.1f} ms", flush=True)
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Exponent k of y ~ x^k (least squares on logs); NaN with < 2 points."""
    if len(x) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def dominant(points: list[dict]) -> tuple[str, float]:
    """(phase, share) with the largest share of the step at the last point of a sweep."""
    last = points[-1]
    phase = max(PHASES, key=lambda k: last["phase_s"].get(k, 0.0))
    return phase, last["phase_s"][phase] / last["step_s"]


def conclusions(length: list[dict], size: list[dict], tagging: list[dict]) -> list[str]:
    out = []
    for name, pts, key in (
        ("response length", length, "length"),
        ("model size", size, "parameters"),
    ):
        if len(pts) < 2:
            continue
        phase, share = dominant(pts)
        first = pts[0]
        out.append(
            f"Against {name}: step time grows as {name}^{loglog_slope([p[key] for p in pts], [p['step_s'] for p in pts]):.2f} "  # noqa: E501 (one table row / sentence of the report)
            f"({first['step_s']:.2f} s -> {pts[-1]['step_s']:.2f} s), peak memory "
            f"{first['peak_rss_mb']:.0f} -> {pts[-1]['peak_rss_mb']:.0f} MB; at the largest point "
            f"{phase} dominates ({100 * share:.0f}% of the step; generation "
            f"{100 * pts[-1]['phase_s']['generation'] / pts[-1]['step_s']:.0f}%, forward/backward "
            f"{100 * pts[-1]['phase_s']['forward_backward'] / pts[-1]['step_s']:.0f}%, tagging "
            f"{100 * pts[-1]['phase_s']['tagging'] / pts[-1]['step_s']:.2f}%)."
        )
    if len(tagging) >= 2:
        out.append(
            f"Tagging grows as batch^{loglog_slope([t['batch'] for t in tagging], [t['seconds'] for t in tagging]):.2f}: "  # noqa: E501 (one table row / sentence of the report)
            f"{1e3 * tagging[-1]['seconds']:.0f} ms for {tagging[-1]['batch']} responses "
            f"({tagging[-1]['us_per_response']:.0f} us per response)."
        )
    return out


def report(length: list[dict], size: list[dict], tagging: list[dict], header: str) -> str:
    text = header
    for title, pts in (
        ("Response length (model fixed)", length),
        ("Model size (length fixed)", size),
    ):
        if not pts:
            continue
        rows = [
            [
                f"{p['parameters'] / 1e6:.2f}M",
                p["length"],
                f"{p['step_s']:.2f}",
                *(f"{p['phase_s'][k]:.2f}" for k in ("generation", "old_logp", "forward_backward")),
                f"{1e3 * p['phase_s']['tagging']:.1f}",
                f"{p['peak_rss_mb']:.0f}",
                f"{p['rss_growth_mb']:.0f}",
                f"{p['peak_gpu_mb']:.0f}" if "peak_gpu_mb" in p else "-",
            ]
            for p in pts
        ]
        text += f"\n{title}\n\n" + markdown_table(
            [
                "params",
                "tokens",
                "step s",
                "generation s",
                "old_logp s",
                "fwd+bwd s",
                "tagging ms",
                "peak RSS MB",
                "RSS growth in steps MB",
                "peak GPU MB",
            ],
            rows,
        )
    if tagging:
        text += "\nTagging time against batch size\n\n" + markdown_table(
            ["responses", "tokens", "ms", "us per response"],
            [
                [
                    t["batch"],
                    t["tokens"],
                    f"{1e3 * t['seconds']:.1f}",
                    f"{t['us_per_response']:.0f}",
                ]
                for t in tagging
            ],
        )
    text += "\n" + "\n".join(conclusions(length, size, tagging)) + "\n"
    return text


def plot(length: list[dict], size: list[dict], tagging: list[dict], path: Path) -> None:
    """Step time by phase (log-log, left axis) and peak RSS (right axis) against length and
    size; tagging time against batch size."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 3, figsize=(14, 3.6))
    for ax, pts, key, label in (
        (axes[0], length, "length", "response tokens"),
        (axes[1], size, "parameters", "parameters"),
    ):
        if not pts:
            continue
        x = [p[key] for p in pts]
        ax.loglog(x, [p["step_s"] for p in pts], "k-o", label="step")
        for k in ("generation", "old_logp", "forward_backward", "tagging"):
            if any(p["phase_s"][k] > 0 for p in pts):  # old_logp is 0 with fused scoring
                ax.loglog(x, [max(p["phase_s"][k], 1e-5) for p in pts], "--.", label=k)
        ax.set_xticks(
            x, [f"{v:,}" if key == "length" else f"{v / 1e6:.0f}M" for v in x], fontsize=7
        )
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel("seconds per step")
        ax.grid(alpha=0.3, which="both")
        memory = ax.twinx()
        memory.plot(
            x, [p["peak_rss_mb"] for p in pts], ":s", color="grey", label="peak RSS (right)"
        )
        memory.set_ylabel("peak RSS, MB", color="grey")
        lines = ax.get_legend_handles_labels()[0] + memory.get_legend_handles_labels()[0]
        ax.legend(lines, [h.get_label() for h in lines], fontsize=7, loc="upper left")
    if tagging:
        axes[2].loglog([t["batch"] for t in tagging], [1e3 * t["seconds"] for t in tagging], "-o")
        axes[2].set_xlabel("responses in the batch")
        axes[2].set_ylabel("tagging ms")
        axes[2].grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--replot",
        action="store_true",
        help="redraw scaling.png from the output folder's results.json",
    )
    p.add_argument(
        "--only",
        choices=["length", "size", "tagging"],
        nargs="+",
        default=["length", "size", "tagging"],
    )
    p.add_argument("--lengths", type=int, nargs="+", default=None)
    p.add_argument(
        "--length-for-size", type=int, default=256, help="response length of the size sweep"
    )
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument(
        "--micro-batch",
        type=int,
        default=4,
        help="rows per forward/backward (bounds attention memory)",
    )
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    p.add_argument(
        "--quick",
        action="store_true",
        help="toy sweep: lengths 16 32, two tiny sizes, tagging 16 64",
    )
    args = p.parse_args(argv)
    lengths = args.lengths or ([16, 32] if args.quick else LENGTHS)
    sizes = [(32, 2), (64, 2)] if args.quick else SIZES
    common = {
        "prompts": args.prompts,
        "samples": args.samples,
        "micro_batch": args.micro_batch,
        "steps": 1 if args.quick else args.steps,
        "warmup": args.warmup,  # first call of tag_batch: ~20 ms init
        "threads": args.threads,
        "device": args.device,
    }
    points = []
    if "length" in args.only:
        points += [
            {"sweep": "length", "hidden": sizes[0][0], "layers": sizes[0][1], "length": n, **common}
            for n in lengths
        ]
    if "size" in args.only:
        n = 16 if args.quick else args.length_for_size
        points += [
            {"sweep": "size", "hidden": h, "layers": layer, "length": n, **common}
            for h, layer in sizes
        ]
    out = out_dir("scaling_quick" if args.quick else "scaling", args.out)
    if args.replot:
        import json

        saved = json.loads((out / "results.json").read_text())
        plot(saved["length"], saved["size"], saved["tagging"], out / "scaling.png")
        print(f"redrawn: {out}/scaling.png")
        return 0
    t0 = time.perf_counter()
    results = run_points(points)
    tagging = (
        tagging_times([16, 64] if args.quick else TAG_BATCHES) if "tagging" in args.only else []
    )
    length = [r for r in results if r["sweep"] == "length"]
    size = [r for r in results if r["sweep"] == "size"]
    machine = machine_info(args.device)
    header = (
        f"Built-in trainer, HICRA credit, {args.prompts} prompts x {args.samples} samples, EOS suppressed "
        f"(every response exactly the stated length), micro-batch {args.micro_batch}, random-init Llama, "
        f"{common['steps']} timed step(s) after {common['warmup']} warmup, {args.threads} torch thread(s), "
        f"{args.device} ({machine['cpu']}), {machine['date_utc']}.\n"
    )
    text = report(length, size, tagging, header)
    write_json(
        out / "results.json",
        {
            "length": length,
            "size": size,
            "tagging": tagging,
            "machine": machine,
            "conclusions": conclusions(length, size, tagging),
        },
    )
    (out / "results.md").write_text(text + "\n![scaling](scaling.png)\n")
    plot(length, size, tagging, out / "scaling.png")
    print("\n" + text)
    print(
        f"written: {out}/results.json, results.md, scaling.png ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
