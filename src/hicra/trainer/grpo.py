"""The built-in RL loop: GRPO / HICRA (and the registry's baselines), top to bottom.

Algorithm, for each step s = 1 .. steps (theta_{s-1} = the policy before the step):

 1. problems: N = prompts_per_step problems drawn from the task with
    numpy.random.default_rng([seed, s]), so the stream depends only on (seed, s): arms that
    share a seed (GRPO vs HICRA) see the same problems, and a resumed run the same ones.
 2. rollouts: G = samples_per_prompt responses per problem from theta_{s-1}, KV-cached
    ancestral sampling at `temperature`, at most max_new_tokens (rollout.py); each prompt is
    one user message in the tokenizer's chat template when it has one (`chat_template`), and
    the template's tokens are prompt tokens. With `lora_rank` > 0 theta is the base model plus
    trainable LoRA adapters (peft) and only the adapters change.
 3. rewards R_i and diagnostics from the task's verifier.
 4. planning_mask (B, T) from the lexicon (lexicon.tag_batch on the response token ids).
 5. advantages A_i = (R_i - mean_group R) / (std_group R + eps) (group_advantages; the
    `advantage_scale` option picks group std, batch std or none).
 6. old_logp, entropy (B, T) under theta_{s-1} in one teacher-forced pass (no grad);
    ref_logp under the starting checkpoint when kl_beta > 0. With one epoch of one minibatch
    over every row, the update's own first forward runs under theta_{s-1} on the same
    micro-batches, so that pass is skipped and the update's forward supplies old_logp and
    entropy (`fuse_scoring`, see `fused_scoring`); a transform that reads the entropy before
    the update (top_entropy, entropy_adv) keeps the separate pass.
 7. token advantages from the credit mode (token_advantages): GRPO broadcasts A_i;
    HICRA gives A_i + alpha * |A_i| on planning tokens.
 8. epochs_per_batch epochs, each over `minibatches` shuffled minibatches, of
    loss = agg( max(-A' r, -A' clip(r, 1 - eps_low, 1 + eps_high)) + kl_beta * k3 - c * H ),
    r = exp(logp - old_logp) (credit_policy_loss), backward, clip the grad norm, optimizer step.
 9. metrics of the step (dynamics.step_metrics on the rollouts of step 2 with the entropy and
    logp of step 6; the verifier's diagnostics averaged; loss statistics), written with
    RunWriter with a sample of rollouts; a checkpoint every checkpoint_every steps.

Departures from the paper (which states none of these): the loss of the paper's GRPO is
used with DAPO's clip-higher (eps_low 0.2, eps_high 0.28) and token-mean aggregation by
default; no KL by default; dynamic sampling, when on, filters the uninformative groups out
of the update but does not draw replacement prompts (the step's compute stays fixed); a step
whose token advantages are all zero (and no KL or entropy term) makes no optimizer step, since
Adam would otherwise keep moving the weights on stale momentum (`skip_zero_signal`); the
model is kept in eval mode (no dropout) for sampling and for the update, so with one epoch
the ratio is exactly 1; log-probs use logits / temperature.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hicra.credit import (
    credit_policy_loss,
    group_advantages,
    informative_group_mask,
    resolve_credit_mode,
    token_advantages,
)
from hicra.dynamics.accumulators import step_metrics
from hicra.errors import InputError
from hicra.lexicon import detector_name, load_detector
from hicra.models.loading import check_model
from hicra.models.sampling import RolloutBatch, RolloutCopy, chat_prompt, sample_responses
from hicra.models.scoring import by_length, micro_batches, rows_logp, score_tokens
from hicra.runs import RunWriter
from hicra.runs.ownership import claim_run_dir, clear_run
from hicra.tasks import load_task, summarize_diagnostics
from hicra.trainer.checkpoint import (
    latest_checkpoint,
    load_trainer_state,
    save_checkpoint,
    set_rng_state,
)
from hicra.trainer.config import TrainConfig, rollout_copy_dtype, run_config, validate
from hicra.trainer.logging import MetricSinks, ProgressBar
from hicra.trainer.setup import build_optimizer, load_lora_policy, load_policy

# Options that may change between a run and its resumption without changing its result.
RUN_CONTROL_FIELDS = {
    "steps",
    "resume",
    "force",
    "device",
    "threads",
    "checkpoint_every",
    "keep_checkpoints",
    "fuse_scoring",
    "log_every",
    "tensorboard",
    "wandb",
    "wandb_project",
    "progress",
    "run_dir",
}
WRITER = "hicra train"
"""How the built-in trainer's runs name their writer in config.json's "hicra_run" marker."""


@dataclass
class StepData:
    """Everything one step computes before the update except the old policy's scores (which
    `collect` or the update return: see `fused_scoring`); B = N * G rows.

    planning_mask, token_advantage, ref_logp: (B, T); rewards, correct, advantages: (B,).
    """

    problems: list
    batch: RolloutBatch
    rewards: torch.Tensor
    correct: torch.Tensor
    diagnostics: list[dict[str, float]]
    planning_mask: torch.Tensor
    advantages: torch.Tensor
    token_advantage: torch.Tensor
    ref_logp: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)


OldScores = tuple[torch.Tensor, torch.Tensor]
"""(old_logp, entropy), each (B, T): the sampled tokens' log-probs and the next-token entropies
under theta_{s-1}."""


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for step `step` of a run seeded `seed` (independent streams per step)."""
    return int(np.random.SeedSequence([seed, step]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fused_scoring(cfg: TrainConfig, mode) -> bool:
    """True when the update's forward can stand in for step 6's no-grad pass: one epoch of one
    minibatch over every row (so it runs under theta_{s-1} on every row, in the same
    micro-batches, and the ratio is exactly 1) and a transform that does not read the entropy."""
    reads_entropy = "entropy" in mode.requires and mode.advantage_transform != "identity"
    return (
        cfg.fuse_scoring
        and cfg.epochs_per_batch == 1
        and cfg.minibatches == 1
        and not cfg.dynamic_sampling
        and not reads_entropy
    )


def collect(
    cfg: TrainConfig, step: int, model, ref_model, tokenizer, task, lexicon, rollout_copy=None
) -> tuple[StepData, OldScores | None]:
    """Steps 1-7 of the algorithm: problems -> rollouts -> rewards -> masks -> advantages.

    Returns (data, old): old = (old_logp, entropy) from the no-grad pass, or None when the
    update's own forward supplies them (`fused_scoring`; `update` returns them then)."""
    t0 = time.perf_counter()
    problems = task.sample_problems(cfg.prompts_per_step, np.random.default_rng([cfg.seed, step]))
    generator = torch.Generator(device=cfg.device).manual_seed(step_seed(cfg.seed, step))
    templated = cfg.chat_template and bool(getattr(tokenizer, "chat_template", None))
    prompts = [chat_prompt(tokenizer, p.prompt) if templated else p.prompt for p in problems]
    sampler = model if rollout_copy is None else rollout_copy.refresh(model)
    batch = sample_responses(
        sampler,
        tokenizer,
        prompts,
        cfg.samples_per_prompt,
        cfg.max_new_tokens,
        cfg.temperature,
        generator,
        add_special_tokens=not templated,
        stop_strings=getattr(task, "stop_strings", ()),
        pack_weights=cfg.pack_weights,
    )
    t1 = time.perf_counter()
    scores = [
        task.score(problems[g], text) for g, text in zip(batch.group_ids.tolist(), batch.texts)
    ]
    rewards = torch.tensor(
        [s.reward for s in scores], dtype=torch.float32, device=cfg.device
    )  # (B,)
    correct = torch.tensor([bool(s.correct) for s in scores], device=cfg.device)  # (B,)
    planning_mask = lexicon.tag_batch(
        batch.response_ids.cpu(), tokenizer, batch.response_mask.cpu()
    )
    planning_mask = planning_mask.to(cfg.device) & batch.response_mask  # (B, T)
    advantages = group_advantages(rewards, batch.group_ids, scale=cfg.advantage_scale)  # (B,)
    t2 = time.perf_counter()
    credit = cfg.credit_settings().resolve()
    mode = credit.mode
    old = (
        None
        if fused_scoring(cfg, mode)
        else score_tokens(model, batch, cfg.temperature, cfg.micro_batch_size)
    )
    ref_logp = None
    if ref_model is not None:
        ref_logp, _ = score_tokens(ref_model, batch, cfg.temperature, cfg.micro_batch_size)
    credit_mask = planning_mask
    if cfg.placebo_mask:
        credit_mask = shuffle_within_rows(planning_mask, batch.response_mask, generator)
    token_advantage = token_advantages(
        mode,
        advantages,
        batch.response_mask,
        planning_mask=credit_mask,
        entropy=None if old is None else old[1],
        **credit.advantage_params,
    )  # (B, T)
    t3 = time.perf_counter()
    data = StepData(
        problems,
        batch,
        rewards,
        correct,
        [s.diagnostics for s in scores],
        planning_mask,
        advantages,
        token_advantage,
        ref_logp,
        {"time/rollout_s": t1 - t0, "time/reward_s": t2 - t1, "time/score_s": t3 - t2},
    )
    return data, old


def shuffle_within_rows(
    mask: torch.Tensor, response_mask: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """(B, T) bool mask whose True entries are moved to random response positions of the same
    row (same count per row): the placebo planning mask."""
    out = torch.zeros_like(mask)
    for i in range(mask.shape[0]):
        positions = response_mask[i].nonzero().flatten()
        order = torch.randperm(len(positions), generator=generator, device=generator.device).to(
            positions.device
        )
        out[i, positions] = mask[i, positions[order]]
    return out


def update(
    cfg: TrainConfig, step: int, model, optimizer, scheduler, data: StepData, old: OldScores | None
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Step 8: epochs of clipped-loss minibatch updates on the step's rollouts.

    old: (old_logp, entropy) from `collect`, or None with fused scoring: then this update's
    first (and only) forward, under theta_{s-1}, supplies them. Returns (statistics, old_logp,
    entropy); `data` is not modified."""
    mode = resolve_credit_mode(cfg.credit_mode)
    rows = torch.arange(len(data.batch), device=cfg.device)
    if cfg.dynamic_sampling:
        rows = rows[informative_group_mask(data.rewards, data.batch.group_ids)]
    stats_sum: dict[str, float] = {}
    n_updates = 0
    entropy_coef = cfg.entropy_coef or mode.entropy_coef
    no_signal = not bool(data.token_advantage.any()) and cfg.kl_beta == 0 and entropy_coef == 0
    fill = old is None  # fused scoring: this update's forward is the old-policy pass
    if len(rows) == 0 or (cfg.skip_zero_signal and no_signal):
        # The loss gradient is exactly zero: an optimizer step would only replay Adam's momentum.
        if fill:
            old = score_tokens(model, data.batch, cfg.temperature, cfg.micro_batch_size)
        return {"update/skipped": 1.0, "update/kept_frac": len(rows) / len(data.batch)}, *old
    generator = torch.Generator(device="cpu").manual_seed(step_seed(cfg.seed, step) ^ 0x5EED)
    entropy_grad = mode.entropy_needs_grad or cfg.entropy_coef > 0
    if fill:
        old_logp = torch.zeros(
            data.batch.response_ids.shape, dtype=torch.float32, device=cfg.device
        )  # (B, T)
        old_entropy = torch.zeros_like(old_logp)  # (B, T)
    else:
        old_logp, old_entropy = old
    for _ in range(cfg.epochs_per_batch):
        order = (
            rows[torch.randperm(len(rows), generator=generator).to(rows.device)]
            if cfg.minibatches > 1
            else rows
        )
        for minibatch in order.chunk(cfg.minibatches):
            optimizer.zero_grad(set_to_none=True)
            b = data.batch
            if cfg.micro_batch_size > 0:
                minibatch = by_length(b, minibatch)
            weights = minibatch_weights(
                b.response_mask[minibatch], cfg.loss_agg, cfg.micro_batch_size
            )
            for micro, weight in zip(micro_batches(minibatch, cfg.micro_batch_size), weights):
                logp, entropy = rows_logp(model, b, micro, cfg.temperature, entropy_grad)
                if fill:  # one epoch, one minibatch: each row passes here once, under theta_{s-1}
                    old_logp[micro], old_entropy[micro] = logp.detach(), entropy.detach()
                loss, stats = credit_policy_loss(
                    mode,
                    logp,
                    old_logp[micro],
                    data.token_advantage[micro],
                    b.response_mask[micro],
                    agg_mode=cfg.loss_agg,
                    norm_const=cfg.max_new_tokens,
                    ref_logp=None if data.ref_logp is None else data.ref_logp[micro],
                    beta=cfg.kl_beta,
                    entropy=entropy,
                    entropy_coef=cfg.entropy_coef or None,
                    eps_low=cfg.eps_low,
                    eps_high=cfg.eps_high,
                    dual_clip=cfg.dual_clip,
                    generator=generator,
                )
                (loss * weight).backward()
                for k, v in stats.items():
                    stats_sum[k] = (
                        stats_sum.get(k, 0.0) + v * weight / cfg.minibatches / cfg.epochs_per_batch
                    )
            grad_norm = clip_gradients(model, cfg.grad_clip)
            stats_sum["grad_norm"] = stats_sum.get("grad_norm", 0.0) + grad_norm
            optimizer.step()
            scheduler.step()
            n_updates += 1
    out = {f"loss/{k}": v for k, v in stats_sum.items() if k != "grad_norm"}
    out["update/grad_norm"] = stats_sum["grad_norm"] / n_updates
    out["update/optimizer_steps"] = float(n_updates)
    out["update/kept_frac"] = len(rows) / len(data.batch)
    out["update/lr"] = scheduler.get_last_lr()[0]
    out["update/skipped"] = 0.0
    return out, old_logp, old_entropy


def minibatch_weights(
    response_mask: torch.Tensor, agg_mode: str, micro_batch_size: int
) -> list[float]:
    """Weights that make the sum of micro-batch losses equal the minibatch's aggregated loss.

    token_mean: token share; seq_mean_token_mean: share of non-empty responses; seq_sum_norm:
    row share. One micro-batch -> [1.0].
    """
    chunks = micro_batches(torch.arange(response_mask.shape[0]), micro_batch_size)
    if len(chunks) == 1:
        return [1.0]
    if agg_mode == "token_mean":
        sizes = [float(response_mask[c].sum()) for c in chunks]
    elif agg_mode == "seq_mean_token_mean":
        sizes = [float((response_mask[c].sum(1) > 0).sum()) for c in chunks]
    else:
        sizes = [float(len(c)) for c in chunks]
    total = sum(sizes) or 1.0
    return [s / total for s in sizes]


def clip_gradients(model, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return float(torch.norm(torch.stack([p.grad.norm() for p in params]))) if params else 0.0


def step_record(
    cfg: TrainConfig,
    data: StepData,
    old_logp: torch.Tensor,
    entropy: torch.Tensor,
    task,
    lexicon,
    metrics_mask=None,
) -> dict[str, float]:
    """Step 9: the metrics of one step's rollouts (dynamics names + task/ diagnostics).

    old_logp, entropy: (B, T) under theta_{s-1} (from `collect` or `update`);
    task: summarises the verifier's diagnostics (`hicra.tasks.summarize_diagnostics`);
    lexicon: the metrics lexicon; metrics_mask: its (B, T) planning mask when it is not the
    credit lexicon (None: the credit planning mask)."""
    b = data.batch
    planning_mask = data.planning_mask if metrics_mask is None else metrics_mask
    metrics = step_metrics(
        b.texts,
        lexicon,
        entropy=entropy,
        logp=old_logp,
        response_mask=b.response_mask,
        planning_mask=planning_mask,
        rewards=data.rewards,
        correct=data.correct,
        truncated=b.truncated_mask,
        group_ids=b.group_ids,
    )
    for name, value in summarize_diagnostics(task, data.diagnostics).items():
        metrics[f"task/{name}"] = value
    if rollout_copy_dtype(cfg) is not None and b.sample_logp is not None:
        gap = (b.sample_logp - old_logp).abs()[b.response_mask]  # sampler's copy vs the policy
        metrics["rollout/logp_gap_mean"] = float(gap.mean()) if gap.numel() else 0.0
        metrics["rollout/logp_gap_max"] = float(gap.max()) if gap.numel() else 0.0
    metrics["advantage/abs_mean"] = float(data.advantages.abs().mean())
    metrics["advantage/zero_frac"] = float((data.advantages == 0).float().mean())
    return metrics


def rollout_records(
    data: StepData, old_logp: torch.Tensor, entropy: torch.Tensor, step: int, keep: int
) -> list[dict[str, Any]]:
    """The first `keep` responses of the step (whole groups first) with per-token columns
    (old_logp, entropy: (B, T) under theta_{s-1})."""
    records = []
    b = data.batch
    for i in range(min(keep, len(b))):
        mask = b.response_mask[i]
        problem = data.problems[int(b.group_ids[i])]
        records.append(
            {
                "step": step,
                "prompt_id": problem.id,
                "prompt": problem.prompt,
                "response": b.texts[i],
                "reward": float(data.rewards[i]),
                "correct": bool(data.correct[i]),
                "advantage": float(data.advantages[i]),
                "truncated": bool(b.truncated_mask[i]),
                "group": int(b.group_ids[i]),
                "token_ids": b.response_ids[i][mask].tolist(),
                "logp": old_logp[i][mask].tolist(),
                "entropy": entropy[i][mask].tolist(),
                "planning_mask": data.planning_mask[i][mask].tolist(),
            }
        )
    return records


def _load(spec: str, task, option: str):
    """load_detector with the option's name in its one-line error."""
    try:
        return load_detector(spec, task)
    except ValueError as err:
        raise InputError(f"{option}: {err}") from None


def run_options(cfg: TrainConfig) -> dict[str, Any]:
    """The options of a run as its config.json records them (JSON values)."""
    return json.loads(json.dumps(run_config(cfg), default=str))


def claim(cfg: TrainConfig, resolved_model: str | None = None):
    """What `train` may do with cfg.run_dir (`hicra.runs.ownership.claim_run_dir`): create it,
    resume the run there (same options but RUN_CONTROL_FIELDS), or replace it (--force).
    resolved_model: where the model spelling points (an alias's cached copy), protected too."""
    protect = {"--model": cfg.model, "--model (resolved)": resolved_model}
    return claim_run_dir(
        cfg.run_dir,
        run_options(cfg),
        writer=WRITER,
        resume=cfg.resume,
        force=cfg.force,
        ignore=RUN_CONTROL_FIELDS,
        protect=protect,
        what="--run-dir",
    )


def train(cfg: TrainConfig, task=None, lexicon=None) -> Path:
    """Run (or resume) RL training as configured; returns the run directory.

    task: a `hicra.tasks.Task` object to use instead of `cfg.task` (library use, tests);
    lexicon: a planning detector (e.g. a StrategicLexicon) instead of `cfg.detector`.
    """
    # Everything is checked before anything is loaded, and loaded before anything is written.
    validate(cfg)
    if task is None:
        try:
            task = load_task(cfg.task, cfg.task_options)
        except ValueError as err:
            raise InputError(str(err)) from None
    lexicon = lexicon if lexicon is not None else _load(cfg.detector, task, "detector (--detector)")
    metrics_lexicon = (
        _load(cfg.metrics_lexicon, task, "metrics_lexicon (--metrics-lexicon)")
        if cfg.metrics_lexicon
        else lexicon
    )
    resolved = check_model(cfg.model, "--model")  # an alias's GGUF is converted once, here
    decision = claim(cfg, resolved)
    run_dir = Path(cfg.run_dir)
    found = latest_checkpoint(run_dir) if decision.action == "resume" else None
    start_step, source = (found[0], found[1]) if found else (0, cfg.model)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    if cfg.lora_rank > 0:
        model, tokenizer = load_lora_policy(cfg, found[1] if found else None)
    else:
        model, tokenizer = load_policy(source, cfg.device, cfg.dtype)
    ref_model = None
    if cfg.kl_beta > 0:
        ref_model, _ = load_policy(cfg.model, cfg.device, cfg.dtype)
        ref_model.requires_grad_(False)
    optimizer, scheduler = build_optimizer(cfg, model)
    if found is not None:
        state = load_trainer_state(found[1])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])

    if decision.action == "replace":
        clear_run(run_dir)  # --force: this run (or another one) starts again from nothing
    # Resuming with no checkpoint yet restarts at step 0: metrics of the lost steps are dropped.
    record = run_config(cfg) | {"detector_name": detector_name(lexicon)}
    writer = RunWriter(
        run_dir,
        record,
        resume_from_step=start_step if decision.action == "resume" else None,
        writer=WRITER,
    )
    sinks = MetricSinks(cfg, run_dir)
    bar = ProgressBar(cfg, start_step)
    copy_dtype = rollout_copy_dtype(cfg)
    rollout_copy = None if copy_dtype is None else RolloutCopy(getattr(torch, copy_dtype))
    try:
        for step in range(start_step + 1, cfg.steps + 1):
            t0, cpu0 = time.perf_counter(), time.process_time()
            data, old = collect(cfg, step, model, ref_model, tokenizer, task, lexicon, rollout_copy)
            t1 = time.perf_counter()
            update_stats, old_logp, entropy = update(
                cfg, step, model, optimizer, scheduler, data, old
            )
            t2 = time.perf_counter()
            if step % cfg.log_every == 0 or step == cfg.steps:
                metrics_mask = None
                if metrics_lexicon is not lexicon:
                    metrics_mask = metrics_lexicon.tag_batch(
                        data.batch.response_ids.cpu(), tokenizer, data.batch.response_mask.cpu()
                    ).to(cfg.device)
                metrics = (
                    step_record(cfg, data, old_logp, entropy, task, metrics_lexicon, metrics_mask)
                    | update_stats
                )
                # CPU seconds of the process (all its threads): with other jobs on the machine the
                # wall time overstates the step; at one thread this is what it takes when idle
                metrics |= data.timings | {
                    "time/update_s": t2 - t1,
                    "time/step_s": t2 - t0,
                    "time/step_cpu_s": time.process_time() - cpu0,
                }
                writer.log_metrics(step, metrics)
                if cfg.rollouts_per_step:
                    writer.log_rollouts(
                        step, rollout_records(data, old_logp, entropy, step, cfg.rollouts_per_step)
                    )
                sinks.log(step, metrics)
                bar.update(step, metrics)
            if step == cfg.steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                save_checkpoint(
                    run_dir, step, model, tokenizer, optimizer, scheduler, cfg.keep_checkpoints
                )
    finally:
        bar.close()
        sinks.close()
        writer.close()
    return run_dir


__all__ = ["StepData", "TrainConfig", "collect", "step_seed", "train", "update"]
