"""hicra's metrics and run directory for a TRL run, across processes.

Each generation batch is gathered from every process (tensors padded to the longest completion),
``hicra.dynamics.step_metrics`` runs once on the main process over the global batch (semantic
entropy is a property of the whole batch, not of a shard), and the main process writes the run
directory: ``metrics.jsonl`` at each TRL logging step and ``rollouts/step_XXXXXX.parquet`` per
generation step. ``hicra analyze RUN_DIR`` reads it (docs/run-directory.md).

Metric names in the run directory: hicra's as in docs/metrics.md; TRL's own metrics
(``reward``, ``kl``, ``entropy``, ``clip_ratio/...``) keep their value under ``trl/<name>``, so
that one name never means two quantities (TRL's ``entropy`` is measured on the training
forward, hicra's ``entropy/...`` on the generation batch).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import defaultdict
from typing import Any

import torch
from accelerate.utils import gather_object
from torch import Tensor

from hicra.dynamics.accumulators import step_metrics
from hicra.runs import RunWriter
from hicra.runs.ownership import Claim, claim_run_dir, clear_run

HICRA_PREFIX = "hicra/"
TRL_PREFIX = "trl/"
WRITER = "hicra train --backend trl"
# What a resumed TRL run must share with the run recorded in its run directory.
RUN_OPTIONS = ("credit_mode", "alpha", "credit_options", "detector")


def run_dir_of(args: Any) -> str:
    """The hicra run directory of a TRL run: --rollout_dir, else <output_dir>/hicra_run."""
    return args.rollout_dir or os.path.join(args.output_dir, "hicra_run")


def claim(args: Any, model: str | None, resuming: bool) -> Claim:
    """What a TRL run may do with its hicra run directory (`hicra.runs.ownership`): create it,
    continue the run there when resuming with the same credit options and model, or replace
    it with --overwrite_run_dir; never a directory hicra did not write, nor the model's."""
    options = {name: getattr(args, name) for name in RUN_OPTIONS} | {"model": model}
    return claim_run_dir(
        run_dir_of(args),
        options,
        writer=WRITER,
        resume=resuming,
        force=getattr(args, "overwrite_run_dir", False),
        protect={"--model": model},
        what="run directory (--rollout_dir)",
    )


def prompt_text(prompt: Any) -> str:
    """A prompt as text: a string as is, a conversation as its messages' text joined by newlines."""
    if isinstance(prompt, str):
        return prompt
    parts = []
    for message in prompt:
        content = message.get("content", "") if isinstance(message, dict) else str(message)
        if isinstance(content, list):  # multimodal: keep the text parts
            content = " ".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        parts.append(str(content))
    return "\n".join(parts)


def prompt_id(row: dict[str, Any], prompt: Any) -> str:
    """The row's ``prompt_id`` / ``id`` column, else a stable hash of the prompt."""
    for key in ("prompt_id", "id", "problem_id"):
        if row.get(key) is not None:
            return str(row[key])
    blob = json.dumps(prompt, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def run_dir_metrics(logs: dict[str, Any]) -> dict[str, Any]:
    """TRL's log dict -> run-directory metrics: ``hicra/x`` -> ``x``, any other ``k`` -> ``trl/k``."""
    out = {}
    for key, value in logs.items():
        if key in ("step", "epoch", "time"):
            if key == "epoch":
                out["trl/epoch"] = value
            continue
        name = key[len(HICRA_PREFIX) :] if key.startswith(HICRA_PREFIX) else TRL_PREFIX + key
        out[name] = value
    return out


class TrlRunRecorder:
    """Per-step hicra metrics and the run directory of one ``HICRATrainer``.

    args: the ``HICRAConfig``; lexicon: for the gram metrics; tokenizer: decodes responses;
    accelerator: the trainer's (gathers across processes, picks the main process).
    """

    def __init__(self, args: Any, lexicon: Any, tokenizer: Any, accelerator: Any) -> None:
        self.args = args
        self.lexicon = lexicon
        self.tokenizer = tokenizer
        self.accelerator = accelerator
        self.run_dir = run_dir_of(args)
        self.started = False
        self._resuming = False
        self._config: dict[str, Any] = {}
        self._writer: RunWriter | None = None
        self._pending: dict[int, list[dict[str, Any]]] = defaultdict(list)

    @property
    def active(self) -> bool:
        """Whether generation batches are gathered (metrics or run directory on)."""
        return self.started and (self.args.log_dynamics_metrics or self.args.write_run_dir)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, config: dict[str, Any], resuming: bool) -> None:
        """Called at ``train()``: a fresh run directory is created now, so a clash fails early."""
        self.started, self._resuming, self._config = True, resuming, config
        if self.args.write_run_dir and self.is_main:
            decision = claim(self.args, config.get("model"), resuming)
            if decision.action == "replace":
                clear_run(self.run_dir)
            if decision.action != "resume":
                self._writer = RunWriter(self.run_dir, config, writer=WRITER)

    def _run_writer(self, step: int) -> RunWriter:
        if self._writer is None:  # resuming: keep the metrics and rollouts of earlier steps
            self._writer = RunWriter(
                self.run_dir, self._config, resume_from_step=max(step - 1, 0), writer=WRITER
            )
        return self._writer

    def close(self) -> None:
        if self.is_main and self.args.write_run_dir:
            for step in sorted(self._pending):
                self._run_writer(step).log_rollouts(step, self._pending[step])
            self._pending.clear()
        if self._writer is not None:
            self._writer.close()
        self.started = False

    # --- per generation batch ------------------------------------------------------------------
    def record_generation(
        self,
        *,
        step: int,
        completion_ids: Tensor,
        response_mask: Tensor,
        planning_mask: Tensor | None,
        logp: Tensor | None,
        entropy: Tensor | None,
        sequence_advantages: Tensor,
        scored: dict[str, Any],
        reward_weights: Tensor,
        num_generations: int,
    ) -> dict[str, float]:
        """Gather one generation batch; return hicra's step metrics on the main process, {} elsewhere.

        completion_ids, response_mask, planning_mask, logp, entropy: this process's (b, T) tensors.
        sequence_advantages: (b,) TRL's advantages. scored: TRL's ``_calculate_rewards`` inputs
        (rows, prompts) and its output ``rewards_per_func`` (N, F), already global.
        """
        ids = self._gather(completion_ids, pad=0)
        mask = self._gather(response_mask.to(torch.uint8), pad=0).bool()
        planning = (
            None
            if planning_mask is None
            else self._gather(planning_mask.to(torch.uint8), pad=0).bool()
        )
        logp = None if logp is None else self._gather(logp, pad=0.0)
        entropy = None if entropy is None else self._gather(entropy, pad=0.0)
        advantages = self.accelerator.gather(sequence_advantages.float())
        rows, prompts = scored.get("inputs", []), scored.get("prompts", [])
        prompt_texts = gather_object([prompt_text(p) for p in prompts])
        prompt_ids = gather_object([prompt_id(r, p) for r, p in zip(rows, prompts)])
        if not self.is_main:
            return {}
        if self.args.write_run_dir:
            self._run_writer(step)  # when resuming, the first generated step fixes what is kept

        ids, mask, advantages = ids.cpu(), mask.cpu(), advantages.cpu()
        planning = None if planning is None else planning.cpu()
        logp = None if logp is None else logp.cpu()
        entropy = None if entropy is None else entropy.cpu()
        texts = [
            self.tokenizer.decode(ids[i][mask[i]].tolist(), skip_special_tokens=True)
            for i in range(len(ids))
        ]
        rewards_per_func = scored["rewards_per_func"].float().cpu()  # (N, F)
        rewards = (rewards_per_func * reward_weights.float().cpu().unsqueeze(0)).nansum(dim=1)
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = float("nan")
        correct = rewards_per_func[:, 0].nan_to_num(float("-inf")) >= self.args.correct_threshold
        group_ids = torch.arange(len(texts)) // num_generations

        metrics: dict[str, float] = {}
        if self.args.log_dynamics_metrics:
            metrics = step_metrics(
                texts,
                self.lexicon,
                entropy=entropy,
                logp=logp,
                response_mask=mask,
                planning_mask=planning,
                rewards=rewards,
                correct=correct,
                group_ids=group_ids,
            )
            metrics = {
                k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))
            }
        if self.args.write_run_dir:
            keep = (
                len(texts)
                if self.args.rollouts_per_step is None
                else min(self.args.rollouts_per_step, len(texts))
            )
            for i in range(keep):
                record: dict[str, Any] = {
                    "prompt_id": prompt_ids[i] if i < len(prompt_ids) else None,
                    "prompt": prompt_texts[i] if i < len(prompt_texts) else "",
                    "response": texts[i],
                    "reward": float(rewards[i]),
                    "correct": bool(correct[i]),
                    "advantage": float(advantages[i]),
                    "group": int(group_ids[i]),
                    "token_ids": ids[i][mask[i]].tolist(),
                }
                if planning is not None:
                    record["planning_mask"] = planning[i][mask[i]].tolist()
                if logp is not None:
                    record["logp"] = logp[i][mask[i]].tolist()
                if entropy is not None:
                    record["entropy"] = entropy[i][mask[i]].tolist()
                self._pending[step].append(record)
            self._flush_before(step)
        return metrics

    def log_metrics(self, step: int, logs: dict[str, Any]) -> None:
        """Append one TRL logging step (TRL's metrics and hicra's) to metrics.jsonl (main process)."""
        if self.started and self.is_main and self.args.write_run_dir:
            self._run_writer(step).log_metrics(step, run_dir_metrics(logs))

    # --- helpers ---------------------------------------------------------------------------------
    def _gather(self, x: Tensor, pad: float) -> Tensor:
        """(b, T_local) on each process -> (N, T_max), padded with ``pad``, in process order."""
        x = self.accelerator.pad_across_processes(x.contiguous(), dim=1, pad_index=pad)
        return self.accelerator.gather(x)

    def _flush_before(self, step: int) -> None:
        """Write the rollouts of finished steps (several generations may share one step)."""
        for done in sorted(s for s in self._pending if s < step):
            self._run_writer(done).log_rollouts(done, self._pending.pop(done))
