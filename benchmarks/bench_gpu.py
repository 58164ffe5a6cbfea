"""On one GPU: built-in trainer vs TRL's GRPOTrainer on a ~0.5B-parameter model, bf16.

    python benchmarks/bench_gpu.py                 # needs CUDA; ~3-5 min on one H100
    python benchmarks/bench_gpu.py --quick         # CPU validation at a toy size (~20 s), float32
    python benchmarks/bench_gpu.py --max-new-tokens 512 --steps 6

The model is a LlamaForCausalLM built from a config with random weights (speed does not
depend on them): hidden 1024, 28 layers, 16 heads, MLP 4096 (~0.47B parameters with the
countdown world's word-level vocabulary; a real 150k-token vocabulary would add ~0.15B in the
embedding, which costs memory, not much time at these lengths). It is saved once in bf16
to benchmarks/out/gpu/model and both engines load their own copy. EOS is suppressed so every
response has exactly --max-new-tokens tokens (random weights would otherwise stop anywhere),
which makes tokens/s comparable. Same settings as bench_speed_vs_trl (N prompts x G samples,
temperature 1, pure sampling, one epoch, no vLLM, the same micro-batch), alternating steps,
HICRA credit. Reports samples/s, response tokens/s and the fraction of step time in
generation for both, with the device name and the date. No test depends on this script.
Outputs in benchmarks/out/gpu/: results.json, results.md, breakdown.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed_vs_trl import SpeedSettings, plot_breakdown, report, run  # noqa: E402
from common import machine_info, n_parameters, out_dir, write_json  # noqa: E402

GPU_MODEL = {"hidden": 1024, "layers": 28, "heads": 16, "intermediate": 4096}
TOY_MODEL = {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128}


def build_model(shape: dict, max_positions: int, dtype: str, path: Path) -> int:
    """Save a random-init Llama of `shape` with the countdown tokenizer at `path`; returns
    its parameter count. Reuses `path` when it already holds the same shape."""
    import json

    import torch

    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.tasks.countdown import CountdownTask

    stamp = path / "bench_shape.json"
    key = {**shape, "max_positions": max_positions, "dtype": dtype}
    if stamp.is_file() and json.loads(stamp.read_text()).get("shape") == key:
        return json.loads(stamp.read_text())["parameters"]
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(CountdownTask(), out_dir=path)
    model = build_tiny_model(
        tokenizer,
        hidden=shape["hidden"],
        layers=shape["layers"],
        heads=shape["heads"],
        intermediate=shape["intermediate"],
        max_positions=max_positions,
        seed=0,
    )
    model = model.to({"bfloat16": torch.bfloat16, "float32": torch.float32}[dtype])
    model.save_pretrained(str(path))
    params = n_parameters(model)
    stamp.write_text(json.dumps({"shape": key, "parameters": params}))
    return params


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--micro-batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=4, help="timed steps per engine")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default=None, help="default: cuda (cpu with --quick)")
    p.add_argument("--out", default=None)
    p.add_argument(
        "--quick", action="store_true", help="CPU validation: toy model, 4 x 4, 16 tokens, float32"
    )
    args = p.parse_args(argv)

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    device = args.device or ("cpu" if args.quick else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("bench_gpu: CUDA is not available (run with --quick for a CPU validation)")
    dtype = "float32" if device == "cpu" else "bfloat16"
    settings = SpeedSettings(
        prompts=args.prompts,
        samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        micro_batch=args.micro_batch,
        steps=args.steps,
        warmup=args.warmup,
        device=device,
        dtype=dtype,
        force_length=True,
    )
    if args.quick:
        settings = replace(
            settings, prompts=4, samples=4, max_new_tokens=16, micro_batch=8, steps=2
        )
        torch.set_num_threads(1)
    shape = TOY_MODEL if args.quick else GPU_MODEL
    out = out_dir("gpu_quick" if args.quick else "gpu", args.out)
    t0 = time.perf_counter()
    params = build_model(shape, settings.max_new_tokens + 64, dtype, out / "model")
    machine = machine_info(device)
    print(
        f"{params / 1e6:.2f}M-parameter random Llama {shape}, {dtype}, on {machine.get('gpu', device)}; "
        f"built in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    from hicra.tasks.countdown import CountdownTask

    result = run(settings, str(out / "model"), CountdownTask(), out)
    header = (
        f"Built-in trainer vs TRL {machine['trl']} GRPOTrainer (HICRATrainer, alpha 0.2) on "
        f"{machine.get('gpu', device)}, {params / 1e6:.2f}M-parameter random-init Llama {shape}, {dtype}, "
        f"{settings.prompts} prompts x {settings.samples} samples x exactly {settings.max_new_tokens} tokens "
        f"(EOS suppressed), micro-batch {settings.micro_batch}, {settings.steps} timed steps each after "
        f"{settings.warmup} warmup (alternating), TRL gradient checkpointing off as in the built-in trainer, torch {machine['torch']}, {machine['date_utc']}.\n\n"  # noqa: E501 (one table row / sentence of the report)
    )
    text = report(result, settings, params, header)
    b, t = result["builtin"], result["trl"]
    text += (
        f"Fraction of step time in generation: built-in {100 * b['generation_share']:.0f}%, "
        f"TRL {100 * t['generation_share']:.0f}%.\n"
    )
    write_json(
        out / "results.json",
        {
            "settings": settings.__dict__,
            "model_shape": shape,
            "parameters": params,
            "machine": machine,
            **result,
        },
    )
    (out / "results.md").write_text(text + "\n![step-time breakdown](breakdown.png)\n")
    plot_breakdown(
        result, out / "breakdown.png", f"seconds per step, {params / 1e6:.0f}M params, {device}"
    )
    print("\n" + text)
    print(
        f"written: {out}/results.json, results.md, breakdown.png ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
