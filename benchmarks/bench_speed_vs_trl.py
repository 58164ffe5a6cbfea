"""Speed: hicra's built-in trainer against TRL's GRPOTrainer, same settings, alternating steps.

    python benchmarks/bench_speed_vs_trl.py            # demo SFT model, 16 x 8, 160 tokens, 12 steps each
    python benchmarks/bench_speed_vs_trl.py --quick    # smoke test (quick SFT model, 4 x 4, 32 tokens)
    python benchmarks/bench_speed_vs_trl.py --steps 10 --prompts 16 --samples 8 --max-new-tokens 160

Both engines train their own copy of the same checkpoint (the demo's SFT warm start) with
HICRA (alpha 0.2, the world's lexicon, or any planning detector with --detector NAME) on the same
prompts: N prompts x G samples per step,
temperature 1, max new tokens, pure temperature sampling (TRL: top_k 0, top_p 1), one
optimisation epoch, lr 1e-4 constant, clip 0.2 / 0.28, token-mean loss (TRL loss_type dapo),
no KL, gradient clipping 1, no vLLM, the same micro-batch (TRL: per_device_train_batch_size
x gradient_accumulation_steps = N G, steps_per_generation = accumulation, one optimizer
step per generation). TRL runs as `hicra.integrations.trl.HICRATrainer` with its dynamics
metrics and run directory off, which is TRL's GRPOTrainer plus exactly the HICRA work
(tagging + transform), timed here. The steps alternate A B A B in one process (a callback
runs one built-in step after each TRL step), after --warmup steps of each that are not counted.

Phases (seconds per step, timed by wrapping methods in this script, nothing modified):
generation (built-in: sample_responses; TRL: _generate, incl. prompt tokenisation and
decoding), scoring (the verifier; TRL: _calculate_rewards), tagging (lexicon.tag_batch),
advantage (group advantages; inside "other" for TRL, which computes them inline),
credit_transform (token_advantages: HICRA's A + alpha|A| on planning tokens), old_logp
(built-in only: a no-grad pass for the ratio and entropy metrics; TRL skips it when
generation and update are aligned), forward_backward (built-in: update minus optimizer;
TRL: _compute_loss + accelerator.backward), optimizer (optimizer.step), other (the rest of
the step: TRL's dataloader, inline advantages, clipping, logging).
Outputs in benchmarks/out/speed_vs_trl/: results.json, results.md, breakdown.png.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PHASES,
    BuiltinStepper,
    PhaseTimer,
    cuda_sync_for,
    hicra_share,
    machine_info,  # noqa: E402
    markdown_table,
    out_dir,
    plt,
    suppress_token,
    write_json,
)


@dataclass
class SpeedSettings:
    """What both engines share."""

    prompts: int = 16
    """N: prompts per step."""
    samples: int = 8
    """G: samples per prompt."""
    max_new_tokens: int = 160
    """Longest response."""
    temperature: float = 1.0
    """Sampling temperature."""
    lr: float = 1e-4
    """Learning rate (constant)."""
    micro_batch: int = 32
    """Rows per forward/backward pass (must divide N G)."""
    steps: int = 12
    """Timed steps per engine."""
    warmup: int = 1
    """Untimed steps per engine first."""
    device: str = "cpu"
    """torch device."""
    dtype: str = "float32"
    """Parameter dtype of both models (float32 / bfloat16)."""
    force_length: bool = False
    """Suppress EOS so every response has max_new_tokens tokens (random-weight models)."""
    seed: int = 0
    """Seed of the prompts and of both engines."""
    trl_gradient_checkpointing: bool = False
    """TRL's GradientCheckpointing (GRPOConfig's default is on). Off by default here because the
    built-in trainer keeps activations: with it on, TRL recomputes the forward in the backward."""


def train_config(s: SpeedSettings, model_path: str):
    """The built-in trainer's TrainConfig for these settings."""
    from hicra.trainer.config import TrainConfig

    return TrainConfig(
        model=model_path,
        credit_mode="hicra",
        alpha=0.2,
        prompts_per_step=s.prompts,
        samples_per_prompt=s.samples,
        max_new_tokens=s.max_new_tokens,
        temperature=s.temperature,
        lr=s.lr,
        epochs_per_batch=1,
        minibatches=1,
        eps_low=0.2,
        eps_high=0.28,
        loss_agg="token_mean",
        grad_clip=1.0,
        micro_batch_size=s.micro_batch,
        device=s.device,
        dtype=s.dtype,
        seed=s.seed,
        skip_zero_signal=False,
        progress=False,
        rollouts_per_step=0,
    )


def trl_trainer(s: SpeedSettings, model, tokenizer, task, output_dir: Path, detector: str = "task"):
    """An HICRATrainer (TRL GRPOTrainer) for these settings on `model`, metrics and run dir off."""
    import transformers

    from hicra.integrations.trl import HICRAConfig, HICRATrainer
    from hicra.integrations.trl.data import task_dataset
    from hicra.integrations.trl.rewards import task_reward_func
    from hicra.tasks.countdown.task import lexicon_path

    transformers.utils.logging.disable_progress_bar()
    batch = s.prompts * s.samples
    if batch % s.micro_batch:
        raise SystemExit(f"--micro-batch {s.micro_batch} must divide prompts x samples = {batch}")
    accumulation = batch // s.micro_batch
    total = s.steps + s.warmup
    problems = task.sample_problems(s.prompts * total, np.random.default_rng(s.seed))
    args = HICRAConfig(
        output_dir=str(output_dir),
        alpha=0.2,
        credit_mode="hicra",
        detector=str(lexicon_path()) if detector == "task" else detector,
        log_dynamics_metrics=False,
        write_run_dir=False,
        per_device_train_batch_size=s.micro_batch,
        gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation,
        num_generations=s.samples,
        num_iterations=1,
        max_completion_length=s.max_new_tokens,
        temperature=s.temperature,
        top_k=0,
        top_p=1.0,
        learning_rate=s.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        epsilon=0.2,
        epsilon_high=0.28,
        beta=0.0,
        loss_type="dapo",
        max_grad_norm=1.0,
        max_steps=total,
        logging_steps=10**6,
        save_strategy="no",
        report_to=[],
        seed=s.seed,
        use_cpu=s.device == "cpu",
        bf16=s.dtype == "bfloat16",
        shuffle_dataset=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        gradient_checkpointing=s.trl_gradient_checkpointing,
    )
    return HICRATrainer(
        model=model,
        reward_funcs=[task_reward_func(task)],
        args=args,
        train_dataset=task_dataset(problems, tokenizer),
        processing_class=tokenizer,
    )


class Alternator:
    """A TrainerCallback timing each TRL step by phase, then running one built-in step."""

    def __init__(self, trainer, builtin: BuiltinStepper, warmup: int, device: str):
        from transformers import TrainerCallback

        self.trainer, self.builtin, self.warmup = trainer, builtin, warmup
        self.timer = PhaseTimer(sync=cuda_sync_for(device))
        self.records: dict[str, list[dict]] = {"builtin": [], "trl": []}
        self._t0 = self._opt0 = 0.0
        self._tokens = 0
        alternator = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                alternator.timer.take()
                alternator._tokens = 0
                alternator._t0 = alternator.timer.now()

            def on_pre_optimizer_step(self, args, state, control, **kw):
                alternator._opt0 = alternator.timer.now()

            def on_optimizer_step(self, args, state, control, **kw):
                alternator.timer.add("optimizer", alternator.timer.now() - alternator._opt0)

            def on_step_end(self, args, state, control, **kw):
                alternator.finish_trl_step(state.global_step)

        self.callback = Callback()
        t = self.timer
        credit = trainer.hicra_credit
        gen_and_score = trainer._generate_and_score_completions

        def generate_and_score(inputs):
            with t.phase("_generate_and_score"):
                out = gen_and_score(inputs)
            self._tokens += int(out["completion_mask"].sum())
            return out

        trainer._generate = t.wrap(trainer._generate, "generation")
        trainer._calculate_rewards = t.wrap(trainer._calculate_rewards, "scoring")
        trainer._generate_and_score_completions = generate_and_score
        trainer._compute_loss = t.wrap(trainer._compute_loss, "forward_backward")
        trainer.accelerator.backward = t.wrap(trainer.accelerator.backward, "forward_backward")
        credit.planning_mask = t.wrap(credit.planning_mask, "tagging")
        credit.advantages = t.wrap(credit.advantages, "credit_transform")
        trainer.add_callback(self.callback)

    def finish_trl_step(self, step: int) -> None:
        step_s = self.timer.now() - self._t0
        seconds = self.timer.take()
        inner = seconds.pop("_generate_and_score", 0.0)
        seconds["other"] = step_s - sum(
            seconds.values()
        )  # (includes the rest of _generate_and_score)
        seconds["other_in_generate_and_score"] = inner - sum(
            seconds.get(k, 0.0) for k in ("generation", "scoring", "tagging", "credit_transform")
        )
        if step > self.warmup:
            samples = (
                self.trainer.args.per_device_train_batch_size
                * self.trainer.args.gradient_accumulation_steps
            )
            self.records["trl"].append(
                {"seconds": seconds, "step_s": step_s, "samples": samples, "tokens": self._tokens}
            )
        record = self.builtin.step()
        if step > self.warmup:
            self.records["builtin"].append(record)
        print(
            f"  step {step}{' (warmup)' if step <= self.warmup else ''}: TRL {step_s:.2f} s, "
            f"built-in {record['step_s']:.2f} s",
            flush=True,
        )


def summarize_engine(records: list[dict]) -> dict:
    """Mean step time, samples/s, tokens/s, per-phase seconds and shares, HICRA share."""
    if not records:
        return {}
    step = np.array([r["step_s"] for r in records])
    samples = sum(r["samples"] for r in records)
    tokens = sum(r["tokens"] for r in records)
    names = sorted({k for r in records for k in r["seconds"]})
    phases = {k: float(np.mean([r["seconds"].get(k, 0.0) for r in records])) for k in names}
    mean_step = float(step.mean())
    return {
        "steps": len(records),
        "step_s_mean": mean_step,
        "step_s_std": float(step.std(ddof=1)) if step.size > 1 else 0.0,
        "samples_per_s": samples / float(step.sum()),
        "tokens_per_s": tokens / float(step.sum()),
        "mean_response_tokens": tokens / samples,
        "phase_s": phases,
        "phase_share": {k: v / mean_step for k, v in phases.items()},
        "hicra_extra_share": hicra_share(phases, mean_step),
        "generation_share": phases.get("generation", 0.0) / mean_step,
    }


def run(
    settings: SpeedSettings, model_path: str, task, out: Path, detector_spec: str = "task"
) -> dict:
    """Build both engines on `model_path` and run them alternately; returns the summary.

    ``detector_spec``: the planning detector both engines tag with (`hicra.lexicon.load_detector`;
    default the world's own lexicon)."""
    import torch

    from hicra.lexicon import load_detector
    from hicra.trainer.setup import load_policy

    torch.manual_seed(settings.seed)
    cfg = train_config(settings, model_path)
    builtin_model, tokenizer = load_policy(model_path, settings.device, settings.dtype)
    trl_model, trl_tokenizer = load_policy(model_path, settings.device, settings.dtype)
    trl_model.train()  # TRL's Trainer sets train mode itself; dropout is 0 in these configs
    hooks = []
    if settings.force_length:
        hooks = [suppress_token(m, tokenizer.eos_token_id) for m in (builtin_model, trl_model)]
    detector = load_detector(detector_spec, task)
    builtin = BuiltinStepper(cfg, builtin_model, tokenizer, task=task, lexicon=detector)
    trainer = trl_trainer(
        settings, trl_model, trl_tokenizer, task, out / "trl_output", detector_spec
    )
    alternator = Alternator(trainer, builtin, settings.warmup, settings.device)
    trainer.train()
    for h in hooks:
        h.remove()
    result = {name: summarize_engine(recs) for name, recs in alternator.records.items()}
    b, t = result["builtin"], result["trl"]
    result["throughput_ratio_builtin_over_trl"] = (
        b["samples_per_s"] / t["samples_per_s"] if b and t else math.nan
    )
    result["records"] = alternator.records
    return result


def report(result: dict, settings: SpeedSettings, params: int, header: str) -> str:
    b, t = result["builtin"], result["trl"]
    rows = [
        ["samples/s", f"{b['samples_per_s']:.2f}", f"{t['samples_per_s']:.2f}"],
        ["tokens/s (response)", f"{b['tokens_per_s']:.0f}", f"{t['tokens_per_s']:.0f}"],
        [
            "step time (s, mean ± sd)",
            f"{b['step_s_mean']:.2f} ± {b['step_s_std']:.2f}",
            f"{t['step_s_mean']:.2f} ± {t['step_s_std']:.2f}",
        ],
        [
            "mean response length (tokens)",
            f"{b['mean_response_tokens']:.1f}",
            f"{t['mean_response_tokens']:.1f}",
        ],
    ]
    for k in PHASES:
        bs, ts = b["phase_s"].get(k), t["phase_s"].get(k)
        cell = lambda v, e: "-" if v is None else f"{v:.3f} s ({100 * v / e['step_s_mean']:.1f}%)"  # noqa: E731
        rows.append([f"  {k}", cell(bs, b), cell(ts, t)])
    rows.append(
        [
            "HICRA extra (tagging + transform), share of step",
            f"{100 * b['hicra_extra_share']:.2f}%",
            f"{100 * t['hicra_extra_share']:.2f}%",
        ]
    )
    text = header + markdown_table(["", "built-in", "TRL GRPOTrainer (HICRATrainer)"], rows)
    ratio = result["throughput_ratio_builtin_over_trl"]
    text += (
        f"\nBuilt-in / TRL throughput: {ratio:.2f}x (goal >= 2x: {'met' if ratio >= 2 else 'not met'}). "
        f"HICRA's extra cost: {100 * b['hicra_extra_share']:.2f}% (built-in), {100 * t['hicra_extra_share']:.2f}% "
        f"(TRL) of step time (goal < 2%: "
        f"{'met' if max(b['hicra_extra_share'], t['hicra_extra_share']) < 0.02 else 'not met'}).\n"
    )
    return text


def plot_breakdown(result: dict, path: Path, title: str) -> None:
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(7, 2.8))
    engines = [("built-in", result["builtin"]), ("TRL", result["trl"])]
    for row, (_name, e) in enumerate(engines):
        left = 0.0
        for k in PHASES:
            v = e["phase_s"].get(k, 0.0)
            ax.barh(
                row,
                v,
                left=left,
                label=k if row == 0 else None,
                color=pyplot.cm.tab10(PHASES.index(k)),
            )
            left += v
    ax.set_yticks(range(len(engines)), [n for n, _ in engines])
    ax.set_xlabel("seconds per step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=None)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--micro-batch", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="timed steps per engine")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (both engines)")
    p.add_argument("--model", default=None, help="checkpoint (default: the demo's SFT warm start)")
    p.add_argument(
        "--trl-gradient-checkpointing",
        action="store_true",
        help="TRL with gradient checkpointing on (GRPOConfig's default; the built-in trainer has none)",
    )
    p.add_argument(
        "--detector",
        default="task",
        help="planning detector of both engines: task (the world's lexicon), lexicon, lexicon-clause, "
        "sentence, recommended, ... (hicra detector list)",
    )
    p.add_argument("--out", default=None)
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: quick SFT model, 4 x 4, 32 tokens, 2 steps",
    )
    args = p.parse_args(argv)

    import torch

    from hicra.demo import sft_config
    from hicra.tasks.countdown import CountdownTask
    from hicra.trainer.sft import run_sft

    torch.set_num_threads(args.threads)
    base = (
        SpeedSettings(prompts=4, samples=4, max_new_tokens=32, micro_batch=8, steps=2)
        if args.quick
        else SpeedSettings()
    )
    given = {
        k: v
        for k, v in {
            "prompts": args.prompts,
            "samples": args.samples,
            "max_new_tokens": args.max_new_tokens,
            "micro_batch": args.micro_batch,
            "steps": args.steps,
        }.items()
        if v is not None
    }
    settings = replace(
        base,
        warmup=args.warmup,
        trl_gradient_checkpointing=args.trl_gradient_checkpointing,
        **given,
    )
    task = CountdownTask()
    model_path = args.model or str(run_sft(sft_config(args.quick, 0), task))
    out = out_dir("speed_vs_trl_quick" if args.quick else "speed_vs_trl", args.out)
    print(
        f"model {model_path}; {settings.prompts} x {settings.samples} samples, {settings.max_new_tokens} tokens, "
        f"{settings.warmup} + {settings.steps} steps per engine, {args.threads} thread(s)"
    )
    t0 = time.perf_counter()
    result = run(settings, model_path, task, out, args.detector)
    result["detector"] = args.detector
    from common import n_parameters
    from hicra.trainer.setup import load_policy

    params = n_parameters(load_policy(model_path, "cpu")[0])
    machine = machine_info(settings.device)
    header = (
        f"Built-in trainer vs TRL {machine['trl']} GRPOTrainer, HICRA alpha 0.2, {params / 1e6:.2f}M-parameter "
        f"Llama ({model_path}), {settings.prompts} prompts x {settings.samples} samples, at most "
        f"{settings.max_new_tokens} new tokens, micro-batch {settings.micro_batch}, detector {args.detector}, "
        f"{settings.steps} timed steps "
        f"each (alternating), {args.threads} torch thread(s), TRL gradient checkpointing "
        f"{'on' if settings.trl_gradient_checkpointing else 'off'}, {machine['cpu']}, {machine['date_utc']}.\n\n"
    )
    text = report(result, settings, params, header)
    write_json(
        out / "results.json",
        {
            "settings": settings.__dict__,
            "model": model_path,
            "parameters": params,
            "threads": args.threads,
            "machine": machine,
            **result,
        },
    )
    (out / "results.md").write_text(text + "\n![step-time breakdown](breakdown.png)\n")
    plot_breakdown(result, out / "breakdown.png", "seconds per step by phase")
    print("\n" + text)
    print(
        f"written: {out}/results.json, results.md, breakdown.png ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
