"""Packed float32 layers on a trainer's rollouts: does `pack_weights` pay off there?

    OMP_NUM_THREADS=1 python benchmarks/sampling_packed_rollouts.py NAME [--out DIR]

SmolLM2-135M-Instruct, one thread, the `demo_real.yaml` rollout shape: 4 word-arith prompts x
4 samples, at most 96 new tokens, temperature 0.3, the task's stop string, so rows end at
different steps and leave the batch. After an untimed warm-up of both arms, four problem sets,
each sampled with and without `pack_weights` (which goes first alternates). Run two copies at
once (names A and B) to see the two arms of `make demo-real` sharing the machine.
Prints and appends one JSON line per setting to DIR/rollouts.jsonl (default
benchmarks/out/sampling).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import out_dir  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import torch

    from hicra.models import load_model_and_tokenizer
    from hicra.models.sampling import chat_prompt, sample_responses
    from hicra.tasks.word_arith import WordArithTask

    torch.set_num_threads(1)
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    model.eval()
    task = WordArithTask()
    times: dict[bool, list] = {True: [], False: []}
    for rep in range(-1, 4):  # rep -1: an untimed warm-up of both arms
        problems = task.sample_problems(4, np.random.default_rng(rep + 1000 * (rep < 0)))
        prompts = [chat_prompt(tokenizer, q.prompt) for q in problems]
        for pack in (True, False) if rep % 2 == 0 else (False, True):
            cpu = time.process_time()
            batch = sample_responses(
                model,
                tokenizer,
                prompts,
                4,
                96,
                0.3,
                torch.Generator().manual_seed(rep),
                stop_strings=task.stop_strings,
                pack_weights=pack,
            )
            if rep >= 0:
                times[pack].append((time.process_time() - cpu, int(batch.response_mask.sum())))
    out = Path(args.out) if args.out else out_dir("sampling")
    out.mkdir(parents=True, exist_ok=True)
    for pack, runs in times.items():
        row = {
            "name": args.name,
            "pack_weights": pack,
            "cpu_s": [round(c, 2) for c, _ in runs],
            "tokens": [n for _, n in runs],
        }
        print(json.dumps(row), flush=True)
        with open(out / "rollouts.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
