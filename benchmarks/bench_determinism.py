"""Is a run reproducible, and does the thread count change it? Short SFT and RL runs of the
demo, repeated, compared bit for bit.

    python benchmarks/bench_determinism.py                 # 20 SFT steps, 5 RL steps, threads 1 vs 2
    python benchmarks/bench_determinism.py --rl-steps 10 --threads 1 2 4

SFT: the demo's SFT config (a fresh 1.06M-parameter Llama, seed 0) for --sft-steps steps with
each thread count. RL: --rl-steps steps of the demo recipe (HICRA arm, seed 0) from the demo's
cached SFT checkpoint, twice with one thread and once with each other thread count. Compared:
the final weights (bitwise) and the metrics of every step without the wall-clock timings
(exactly); for a difference, the first step and metric that differ. Writes
benchmarks/out/determinism/results.{json,md}. Time: ~2 min on 2 idle cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info, out_dir, write_json  # noqa: E402


def weights_digest(model_or_dir) -> str:
    """sha256 of the parameters (a model, or a checkpoint directory's model.safetensors)."""
    if isinstance(model_or_dir, Path):
        from safetensors.torch import load_file

        tensors = load_file(str(model_or_dir / "model.safetensors"))
        data = b"".join(tensors[k].numpy().tobytes() for k in sorted(tensors))
    else:
        data = b"".join(p.detach().numpy().tobytes() for p in model_or_dir.parameters())
    return hashlib.sha256(data).hexdigest()[:16]


def sft_run(steps: int, threads: int) -> dict:
    """The demo's SFT for `steps` steps with `threads` torch threads: losses and weights digest."""
    import torch

    from hicra.demo import demo_task, recipe_path, sft_config
    from hicra.models import build_tiny_model, build_tokenizer
    from hicra.trainer.config import load_yaml
    from hicra.trainer.sft import train

    torch.set_num_threads(threads)
    task = demo_task(load_yaml(recipe_path(False)))
    cfg = replace(sft_config(False, 0), steps=steps, progress=False)
    tokenizer = build_tokenizer(task)
    model = build_tiny_model(
        tokenizer,
        hidden=cfg.hidden,
        layers=cfg.layers,
        heads=cfg.heads,
        intermediate=cfg.intermediate,
        max_positions=max(cfg.max_length, 64),
        seed=cfg.seed,
    )
    losses, _ = train(model, tokenizer, task, cfg)
    return {"threads": threads, "losses": losses, "weights": weights_digest(model)}


def rl_run(checkpoint: str, steps: int, threads: int, run_dir: Path) -> dict:
    """`steps` RL steps of the demo recipe with `threads` threads: metrics and weights digest."""
    import torch

    from hicra.demo import recipe_path
    from hicra.trainer.config import load_yaml
    from hicra.trainer.grpo import train

    torch.set_num_threads(threads)
    cfg = replace(
        load_yaml(recipe_path(False)),
        model=checkpoint,
        steps=steps,
        seed=0,
        threads=threads,
        credit_mode="hicra",
        run_dir=str(run_dir),
        resume=False,
        checkpoint_every=0,
        progress=False,
    )
    train(cfg)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metrics = [
        {k: v for k, v in r.items() if k != "time" and not k.startswith("time/")} for r in rows
    ]
    final = sorted((run_dir / "checkpoints").iterdir())[-1]
    return {"threads": threads, "metrics": metrics, "weights": weights_digest(final)}


def first_difference(a: list[dict], b: list[dict]) -> str:
    """'' when equal, else 'step S: METRIC a vs b' for the first differing metric."""
    for ra, rb in zip(a, b):
        for key in ra:
            if json.dumps(ra[key]) != json.dumps(rb.get(key)):
                return f"step {ra.get('step')}: {key} {ra[key]!r} vs {rb.get(key)!r}"
    return "" if len(a) == len(b) else "different number of steps"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sft-steps", type=int, default=20)
    p.add_argument("--rl-steps", type=int, default=5)
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="thread counts; the first is repeated",
    )
    args = p.parse_args(argv)

    from hicra.demo import demo_task, recipe_path, sft_config
    from hicra.trainer.config import load_yaml
    from hicra.trainer.sft import run_sft

    out = out_dir("determinism")
    first, others = args.threads[0], args.threads[1:]
    lines = []
    sft = [sft_run(args.sft_steps, t) for t in [first, first, *others]]
    for run in sft[1:]:
        same = run["weights"] == sft[0]["weights"] and run["losses"] == sft[0]["losses"]
        label = "repeat" if run is sft[1] else f"{run['threads']} threads"
        lines.append(
            f"SFT {args.sft_steps} steps, {first} thread(s) vs {label}: "
            + (
                "identical (losses and weights)"
                if same
                else f"differ (last loss {sft[0]['losses'][-1]!r} vs {run['losses'][-1]!r})"
            )
        )
    checkpoint = str(run_sft(sft_config(False, 0), demo_task(load_yaml(recipe_path(False)))))
    with tempfile.TemporaryDirectory() as tmp:
        rl = [
            rl_run(checkpoint, args.rl_steps, t, Path(tmp) / f"run{i}")
            for i, t in enumerate([first, first, *others])
        ]
    for i, run in enumerate(rl[1:], start=1):
        diff = first_difference(rl[0]["metrics"], run["metrics"])
        same = not diff and run["weights"] == rl[0]["weights"]
        label = "repeat" if i == 1 else f"{run['threads']} threads"
        lines.append(
            f"RL {args.rl_steps} steps, {first} thread(s) vs {label}: "
            + ("identical (metrics and weights)" if same else f"differ ({diff or 'weights'})")
        )
    write_json(
        out / "results.json",
        {
            "machine": machine_info(),
            "sft_steps": args.sft_steps,
            "rl_steps": args.rl_steps,
            "sft": sft,
            "rl": rl,
            "verdicts": lines,
        },
    )
    (out / "results.md").write_text("\n".join(f"- {line}" for line in lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
