"""Supervised warm start: teach a fresh tiny model the task's imperfect corpus, then cache it.

    run_sft(SFTConfig(), CountdownTask()) -> ~/.cache/hicra/sft/sft-<hash>/

1. Build a word-level tokenizer and a tiny LlamaForCausalLM (hicra.models).
2. Stream batches of (prompt, response) pairs from `task.sft_examples(n, rng)`; the loss is the
   token-mean cross-entropy on response tokens and the final <eos> only (prompt and padding
   labels are -100).
3. AdamW with linear warmup and cosine decay, gradient clipping.
4. Sample `eval_samples` responses at `eval_temperature` to measure the starting point of RL
   (accuracy and the task's diagnostics), and save model + tokenizer (`save_pretrained`),
   `sft_config.json` and `metrics.json`.

The output directory is keyed by a hash of (task name, task config, SFT config, hicra version,
versions of torch, transformers, tokenizers and numpy);
a second call with the same inputs returns it without training. It is written under a
temporary name and renamed when complete, so an interrupted run never leaves a half cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hicra.cli_args import COUNT, FRACTION, LEARNING_RATE, NON_NEGATIVE, Range, check_fields

CACHE_ENV = "HICRA_CACHE"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "sft_config.json"


@dataclass(frozen=True)
class SFTConfig:
    """Everything that decides the warm-start checkpoint (all but the last three fields enter
    the cache key)."""

    steps: int = 800
    """Optimizer steps. The tiny Llama learns the countdown world's grammar in ~150 steps but
    its arithmetic tables only in a sudden transition around step 450 (measured at the
    defaults, seed 0), and copying numbers into checks later still (check errors 0.27 at 600
    steps, 0.04-0.08 at 800)."""
    batch_size: int = 32
    """Examples per step (fresh examples every step: the corpus is a stream). 32 reached the
    arithmetic transition with half the compute of 64."""
    length_buckets: int = 4
    """Draw this many batches at once and group examples of similar length into each (less
    padding, same examples; 1 = no bucketing)."""
    lr: float = 3e-3
    """Peak AdamW learning rate."""
    warmup_steps: int = 20
    """Linear warmup steps before the cosine decay to `min_lr_ratio * lr`."""
    min_lr_ratio: float = 1.0
    """Final learning rate as a fraction of `lr` after the cosine decay (1.0 = constant after
    warmup: a decaying rate delayed the arithmetic transition past 400 steps)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Max global gradient norm (0 = no clipping)."""
    seed: int = 0
    """Seed of the model initialisation, the corpus stream and the evaluation samples."""
    max_length: int = 256
    """Longest prompt + response in tokens; longer examples are cut (and counted)."""
    init_from: str = ""
    """A local Hugging Face causal-LM checkpoint to fine-tune instead of a fresh tiny Llama
    ("" = build tokenizer and tiny model from the task). The cache key holds this path, not
    the checkpoint's content."""
    hidden: int = 128
    """Model width of the tiny Llama."""
    layers: int = 4
    """Decoder blocks of the tiny Llama."""
    heads: int = 4
    """Attention heads of the tiny Llama."""
    intermediate: int = 512
    """MLP width of the tiny Llama."""
    eval_samples: int = 512
    """Responses sampled after training to measure the starting point (0 = skip)."""
    eval_temperature: float = 1.0
    """Sampling temperature of that measurement (RL samples at 1.0)."""
    eval_max_new_tokens: int = 200
    """Longest sampled response of that measurement."""
    cache_dir: str = ""
    """Parent directory of the cached checkpoints ("" = $HICRA_CACHE/sft or ~/.cache/hicra/sft)."""
    num_threads: int = 1
    """torch intra-op threads (0 = torch's default). One thread is the default because a tiny
    model gains little from more, and on a busy machine extra threads spin-wait: measured
    here under load, 2 threads took 7x the CPU time and 4x the wall time of 1 thread. The
    thread count can change the trained weights (measured on an Intel Xeon: 1 and 2 threads
    differ after 20 steps), so it is part of the cache key."""
    progress: bool = True
    """Show a tqdm progress bar."""


_NOT_IN_KEY = ("cache_dir", "num_threads", "progress")  # threads enter as `effective_threads`


# The range of every numeric field (`hicra.cli_args.check_fields`); for a tiny model on a CPU,
# sizes far beyond these would only exhaust the memory.
BOUNDS = {
    "steps": Range(1, 10**9),
    "batch_size": Range(1, 100_000),
    "length_buckets": Range(1, 10**4),
    "warmup_steps": COUNT,
    "seed": Range(0, 2**32 - 1),
    "max_length": Range(2, 65_536),
    "hidden": Range(1, 16_384),
    "layers": Range(1, 256),
    "heads": Range(1, 1024),
    "intermediate": Range(1, 65_536),
    "eval_samples": Range(0, 10**7),
    "eval_max_new_tokens": Range(1, 65_536),
    "num_threads": Range(0, 4096),
    "lr": LEARNING_RATE,
    "min_lr_ratio": FRACTION,
    "weight_decay": NON_NEGATIVE,
    "grad_clip": NON_NEGATIVE,
    "eval_temperature": Range(0, 100),
}


def validate_sft(config: SFTConfig) -> None:
    """Every field's type and range, the init_from checkpoint and the cache folder, checked
    before anything is built or written (one InputError naming the field)."""
    from hicra.errors import InputError

    def flag(name: str) -> str:
        return f"{name} (--{name.replace('_', '-')})"

    check_fields(config, BOUNDS, flag)
    if not config.init_from and config.hidden % config.heads:
        raise InputError(
            f"hidden (--hidden) {config.hidden} must be divisible by heads (--heads) {config.heads}"
        )
    for name in ("init_from", "cache_dir"):
        if not isinstance(getattr(config, name), str):
            raise InputError(f"{flag(name)}: expected a path, got {getattr(config, name)!r:.40}")
    if config.init_from:
        from hicra.models.loading import check_model

        check_model(config.init_from, "--init-from")
    from hicra.runs.ownership import check_writable

    check_writable(
        Path(config.cache_dir) if config.cache_dir else _default_cache_root(), "--cache-dir"
    )


class SFTTask(Protocol):
    """What SFT needs from a task besides the Task protocol."""

    name: str

    def sft_examples(self, n: int, rng: np.random.Generator) -> list: ...

    def vocabulary(self) -> list[str]: ...

    def config_dict(self) -> dict[str, Any]: ...


# Libraries whose version can change the trained checkpoint (model initialisation, kernels,
# the corpus's random stream): a fresh install with transformers 5.25 trained a warm start
# unlike the README's, measured with 5.24 (execution-token entropy 0.069 vs 0.105).
KEY_LIBRARIES = ("torch", "transformers", "tokenizers", "numpy")


def library_versions() -> dict[str, str]:
    """{name: installed version} of KEY_LIBRARIES ("" when one is not installed)."""
    from importlib import metadata

    out = {}
    for name in KEY_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ""
    return out


def effective_threads(config: SFTConfig) -> int:
    """The torch thread count the SFT run trains with: num_threads, or torch's default for 0."""
    if config.num_threads > 0:
        return config.num_threads
    import torch

    return torch.get_num_threads()


def cache_key(config: SFTConfig, task: SFTTask) -> str:
    """sha256 (first 16 hex digits) of the task, its config, the SFT config, the thread count it
    trains with, hicra's version and the versions of the libraries that move the result
    (KEY_LIBRARIES): a checkpoint trained under other versions or with another thread count is
    never reused as if it were this run's."""
    from hicra import __version__

    sft = {k: v for k, v in asdict(config).items() if k not in _NOT_IN_KEY}
    sft["threads"] = effective_threads(config)
    blob = json.dumps(
        {
            "task": task.name,
            "task_config": task.config_dict(),
            "sft": sft,
            "hicra": __version__,
            "libraries": library_versions(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sft_dir(config: SFTConfig, task: SFTTask) -> Path:
    """Where `run_sft` puts (or finds) the checkpoint of this (config, task)."""
    root = Path(config.cache_dir) if config.cache_dir else _default_cache_root()
    return root / f"sft-{cache_key(config, task)}"


def _default_cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, "~/.cache/hicra")).expanduser() / "sft"


def is_complete(path: Path) -> bool:
    return (path / METRICS_FILE).is_file() and (path / "config.json").is_file()


def run_sft(config: SFTConfig, task: SFTTask, force: bool = False) -> Path:
    """Train (or reuse) the warm-start checkpoint; returns its directory.

    force: retrain even if a complete cached checkpoint exists.
    """
    validate_sft(config)
    out = sft_dir(config, task)
    if is_complete(out) and not force:
        return out
    if config.init_from and Path(config.init_from).resolve().is_relative_to(out.resolve()):
        from hicra.errors import InputError

        raise InputError(
            f"--init-from {config.init_from}: is inside the checkpoint this run would replace ({out})"
        )
    import torch

    from hicra.models import build_tiny_model, build_tokenizer

    threads_before = torch.get_num_threads()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        if config.init_from:
            from hicra.models import load_model_and_tokenizer

            model, tokenizer = load_model_and_tokenizer(config.init_from, option="--init-from")
            if tokenizer.eos_token_id is None:
                from hicra.errors import InputError

                raise InputError(f"--init-from {config.init_from}: the tokenizer has no eos token")
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer = build_tokenizer(task)
            model = build_tiny_model(
                tokenizer,
                hidden=config.hidden,
                layers=config.layers,
                heads=config.heads,
                intermediate=config.intermediate,
                max_positions=max(config.max_length, 64),
                seed=config.seed,
            )
        start, cpu_start = time.perf_counter(), time.process_time()
        losses, truncated = train(model, tokenizer, task, config)
        train_seconds = time.perf_counter() - start
        metrics: dict[str, Any] = {
            "n_params": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(train_seconds, 2),
            # CPU time of all threads: with other jobs on the machine, wall time overstates
            # what the run needs; cpu_seconds / threads is what it takes on an idle machine
            "train_cpu_seconds": round(time.process_time() - cpu_start, 2),
            "threads": torch.get_num_threads(),
            "loss_first10": float(np.mean(losses[:10])),
            "loss_last10": float(np.mean(losses[-10:])),
            "truncated_examples": truncated,
            "cache_key": cache_key(config, task),
        }
        if config.eval_samples > 0:
            start = time.perf_counter()
            metrics["eval"] = evaluate_sampling(
                model,
                tokenizer,
                task,
                n=config.eval_samples,
                temperature=config.eval_temperature,
                max_new_tokens=config.eval_max_new_tokens,
                seed=config.seed + 1,
            )
            metrics["eval_seconds"] = round(time.perf_counter() - start, 2)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        from hicra import __version__

        record = {
            "sft": asdict(config),
            "task": task.name,
            "task_config": task.config_dict(),
            "hicra": __version__,
            "libraries": library_versions(),
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
        from hicra.runs.ownership import finite_json

        (tmp / METRICS_FILE).write_text(
            json.dumps(finite_json(metrics), indent=2, allow_nan=False) + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        torch.set_num_threads(threads_before)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def encode_example(
    tokenizer, prompt: str, response: str, max_length: int
) -> tuple[list[int], list[int], bool]:
    """(input_ids, labels, truncated): <bos> prompt response <eos>, labels -100 on <bos> and
    the prompt. The prompt is encoded exactly as a trainer encodes it at generation time
    (`tokenizer(prompt).input_ids`)."""
    prompt_ids = tokenizer(prompt).input_ids
    response_ids = tokenizer(response, add_special_tokens=False).input_ids + [
        tokenizer.eos_token_id
    ]
    input_ids = (prompt_ids + response_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + response_ids)[:max_length]
    return input_ids, labels, len(prompt_ids) + len(response_ids) > max_length


def collate(tokenizer, examples, max_length: int):
    """Right-padded batch: input_ids (B, T), attention_mask (B, T), labels (B, T) with -100 on
    prompt and padding; plus the number of truncated examples. (With right padding and causal
    attention, padding never influences a real token, so training may skip attention_mask.)"""
    import torch

    encoded = [encode_example(tokenizer, e.prompt, e.response, max_length) for e in examples]
    width = max(len(ids) for ids, _, _ in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, labs, _) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask, labels, sum(t for _, _, t in encoded)


def lr_factor(step: int, config: SFTConfig) -> float:
    """Linear warmup to 1, then cosine decay to `min_lr_ratio` at the last step."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )


def train(model, tokenizer, task: SFTTask, config: SFTConfig) -> tuple[list[float], int]:
    """The SFT loop; returns (loss per step, truncated examples)."""
    import torch
    from tqdm.auto import tqdm

    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    model.train()
    losses: list[float] = []
    truncated = 0
    batches = _bucketed_batches(task, config, rng)
    bar = tqdm(range(config.steps), desc="sft", disable=not config.progress, dynamic_ncols=True)
    for _ in bar:
        input_ids, _, labels, cut = collate(tokenizer, next(batches), config.max_length)
        truncated += cut
        # right padding + causal attention: pads never reach real tokens, and their labels
        # are -100, so the mask-free fast attention path gives the same loss
        loss = model(input_ids=input_ids, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
    model.eval()
    return losses, truncated


def _bucketed_batches(task: SFTTask, config: SFTConfig, rng: np.random.Generator):
    """Endless batches of `batch_size` examples; each draw of `length_buckets` batches is
    sorted by length, cut into batches, and the batches shuffled."""
    buckets = max(1, config.length_buckets)
    while True:
        pool = task.sft_examples(config.batch_size * buckets, rng)
        pool.sort(key=lambda e: len(e.prompt.split()) + len(e.response.split()))
        order = rng.permutation(buckets)
        for b in order:
            yield pool[b * config.batch_size : (b + 1) * config.batch_size]


def evaluate_sampling(
    model,
    tokenizer,
    task,
    n: int,
    temperature: float = 1.0,
    max_new_tokens: int = 200,
    seed: int = 0,
    batch_size: int = 128,
) -> dict[str, float]:
    """Accuracy and mean diagnostics of n responses sampled (`hicra.models.sampling`, KV-cached,
    pure temperature sampling: no top-k / top-p) to n fresh problems drawn with `seed`.

    Uses `task.summarize_diagnostics` when the task has one (pooled conditional rates),
    else NaN-skipping means (`hicra.tasks.summarize_diagnostics`)."""
    import torch

    from hicra.models.sampling import sample_responses
    from hicra.tasks import summarize_diagnostics

    problems = task.sample_problems(n, np.random.default_rng(seed))
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    scores = []
    for begin in range(0, n, batch_size):
        chunk = problems[begin : begin + batch_size]
        batch = sample_responses(
            model, tokenizer, [p.prompt for p in chunk], 1, max_new_tokens, temperature, generator
        )
        scores += [task.score(p, text) for p, text in zip(chunk, batch.texts)]
    summary = summarize_diagnostics(task, [s.diagnostics for s in scores])
    summary["accuracy"] = float(np.mean([s.correct for s in scores]))
    summary["reward"] = float(np.mean([s.reward for s in scores]))
    return {k: round(v, 4) for k, v in summary.items()}
