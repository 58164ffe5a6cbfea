"""Dynamics from checkpoints: for a run that logged nothing, sample and score each checkpoint.

For every model directory (a Hugging Face causal-LM checkpoint) and a prompt set:
1. sample `samples` responses per prompt (temperature `temperature`, at most `max_new_tokens`);
2. score the sampled tokens teacher-forced with the same model at temperature 1: the entropy of
   the full next-token distribution and the log-prob of each sampled token (the policy's own
   distribution, not the temperature-scaled one);
3. tag planning tokens with the lexicon (`tag_batch`), score answers when the prompt set has a
   reference answer (`hicra.tasks.math_reward.score_response`, last \\boxed{}), and
4. write it all as one hicra run directory (step = the number at the end of the checkpoint's
   directory name, e.g. `checkpoint-200` -> 200, else its position), which `hicra analyze`
   then reads like any other run.

The response includes its end-of-sequence token when one was generated; a response that reaches
`max_new_tokens` without one is `truncated`. When the tokenizer has a chat template, prompts
are wrapped in it as one user message.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hicra.cli_args import SEED, Range
from hicra.errors import first_line
from hicra.runs.readers import InputFormatError

WRITER = "hicra analyze --prompts"
PROMPT_FIELDS = ("prompt", "question", "problem", "input")
ANSWER_FIELDS = ("answer", "gt_answer", "gt", "ground_truth", "solution")


@dataclass(frozen=True)
class CheckpointConfig:
    """How each checkpoint is sampled and scored."""

    samples: int = 4
    """Responses per prompt (pass@k uses them)."""
    max_new_tokens: int = 512
    """Longest response; longer ones are cut and counted in length/truncated_frac."""
    temperature: float = 1.0
    """Sampling temperature (scoring always uses the model's own distribution)."""
    max_prompts: int | None = None
    """Use only the first N prompts (None: all)."""
    prompts_per_batch: int = 8
    """Prompts generated together (times `samples` sequences)."""
    score_batch: int = 8
    """Sequences per teacher-forced forward (bounds the (B, T, vocab) logits in memory)."""
    device: str = "cpu"
    """torch device."""
    seed: int = 0
    """Sampling seed (the same for every checkpoint, so differences come from the model)."""


BOUNDS = {  # the range of every numeric option (`hicra.cli_args.check_fields`)
    "samples": Range(1, 10**6),
    "max_new_tokens": Range(1, 10**7),
    "temperature": Range(0, 100),  # 0: greedy
    "max_prompts": Range(1, 10**9),
    "prompts_per_batch": Range(1, 10**6),
    "score_batch": Range(1, 10**6),
    "seed": SEED,
}


def checkpoint_step(path: Path, position: int) -> int:
    """The step a checkpoint directory stands for: its trailing number, else its position."""
    m = re.search(r"(\d+)$", Path(path).name)
    return int(m.group(1)) if m else position


def load_prompts(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Prompts [{prompt, answer?, prompt_id}] from JSONL or parquet (first matching fields)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError) as e:  # pyarrow's errors on a file that is not parquet
            raise InputFormatError(
                f"{path}: not a readable parquet file ({first_line(e)})"
            ) from None
    else:
        rows = []
        with open(path, "rb") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8
                        raise InputFormatError(
                            f"{path}:{number}: not valid JSON ({first_line(e)})"
                        ) from None
    out = []
    for i, row in enumerate(rows[:limit] if limit else rows):
        if not isinstance(row, dict):
            raise InputFormatError(
                f"{path}:{i + 1}: expected a JSON object, got {type(row).__name__}"
            )
        prompt = next((row[k] for k in PROMPT_FIELDS if isinstance(row.get(k), str)), None)
        if prompt is None:
            raise InputFormatError(
                f"{path}:{i + 1}: no prompt field (one of {', '.join(PROMPT_FIELDS)})"
            )
        answer = next((row[k] for k in ANSWER_FIELDS if row.get(k) is not None), None)
        out.append(
            {
                "prompt": prompt,
                "answer": None if answer is None else str(answer),
                "prompt_id": str(row.get("id", row.get("prompt_id", i))),
            }
        )
    if not out:
        raise InputFormatError(f"{path}: no prompts")
    return out


def sample_checkpoint(
    model: Any, tokenizer: Any, prompts: Sequence[dict], lexicon: Any, cfg: CheckpointConfig
):
    """Yield (records, batch dict for step_metrics) per prompt batch of one checkpoint.

    Sampling and scoring are hicra's own (`hicra.models.sampling`, `hicra.models.scoring`),
    the same code as the built-in trainer's; the sampler draws from a generator seeded with
    `cfg.seed`, so every checkpoint sees the same random stream.
    """
    import torch

    from hicra.models.sampling import chat_prompt, sample_responses
    from hicra.models.scoring import score_tokens

    generator = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    for start in range(0, len(prompts), cfg.prompts_per_batch):
        chunk = prompts[start : start + cfg.prompts_per_batch]
        batch = sample_responses(
            model,
            tokenizer,
            [chat_prompt(tokenizer, p["prompt"]) for p in chunk],
            cfg.samples,
            cfg.max_new_tokens,
            cfg.temperature,
            generator,
        )
        # scored under the model's own distribution (temperature 1), whatever it was sampled at
        logp, entropy = score_tokens(model, batch, 1.0, cfg.score_batch)  # (B, T) each
        response_mask, resp = batch.response_mask.cpu(), batch.response_ids.cpu()
        logp, entropy, truncated = logp.cpu(), entropy.cpu(), batch.truncated_mask.cpu()
        planning = lexicon.tag_batch(resp, tokenizer, response_mask)
        records = []
        for i, text in enumerate(batch.texts):
            p = chunk[i // cfg.samples]
            rec = {
                "prompt_id": p["prompt_id"],
                "prompt": p["prompt"],
                "response": text,
                "reward": float("nan"),
                "correct": None,
                "truncated": bool(truncated[i]),
            }
            if p["answer"] is not None:
                from hicra.tasks.math_reward import score_response

                score = score_response(text, p["answer"])
                rec["reward"], rec["correct"] = float(score.reward), bool(score.correct)
            m = response_mask[i]
            rec.update(
                token_ids=resp[i][m].tolist(),
                logp=logp[i][m].tolist(),
                entropy=entropy[i][m].tolist(),
                planning_mask=planning[i][m].tolist(),
            )
            records.append(rec)
        yield (
            records,
            {
                "entropy": entropy,
                "logp": logp,
                "response_mask": response_mask,
                "planning_mask": planning,
                "truncated": truncated,
                "texts": batch.texts,
            },
        )


def checkpoints_to_run(
    model_dirs: Sequence[Path],
    prompts_path: Path,
    run_dir: Path,
    lexicon: Any,
    cfg: CheckpointConfig = CheckpointConfig(),
    progress: bool = False,
    force: bool = False,
) -> Path:
    """Sample and score every checkpoint; write one hicra run directory; return it.

    run_dir follows `hicra.runs.ownership`: a hicra run already there is replaced only with
    `force`; anything else there is never touched."""
    from hicra.dynamics.accumulators import StepAccumulator
    from hicra.lexicon import detector_name
    from hicra.models import load_model_and_tokenizer
    from hicra.runs import RunWriter
    from hicra.runs.ownership import claim_run_dir, clear_run

    prompts = load_prompts(prompts_path, cfg.max_prompts)
    ordered = sorted((checkpoint_step(Path(d), i), Path(d)) for i, d in enumerate(model_dirs))
    steps = [s for s, _ in ordered]
    if len(set(steps)) != len(steps):
        raise ValueError(
            f"checkpoints map to repeated steps {steps}: name them with distinct trailing numbers"
        )
    config = {
        "source": "checkpoints",
        "checkpoints": [str(d) for _, d in ordered],
        "prompts": str(prompts_path),
        "detector": detector_name(lexicon),
        "detector_name": detector_name(lexicon),
        **asdict(cfg),
    }
    decision = claim_run_dir(
        run_dir,
        config,
        writer=WRITER,
        resume=False,
        force=force,
        protect={f"RUN {d}": d for d in model_dirs},
        what="checkpoint run",
    )
    if decision.action == "replace":
        clear_run(run_dir)
    with RunWriter(run_dir, config, writer=WRITER) as writer:
        for n, (step, path) in enumerate(ordered, 1):
            if progress:
                print(f"[{n}/{len(ordered)}] sampling {path} (step {step})", file=sys.stderr)
            model, tokenizer = load_model_and_tokenizer(path)
            model.to(cfg.device).eval()
            acc = StepAccumulator(lexicon)
            all_records = []
            for records, b in sample_checkpoint(model, tokenizer, prompts, lexicon, cfg):
                scored = [r for r in records if r["correct"] is not None]
                acc.update(
                    b["texts"],
                    entropy=b["entropy"],
                    logp=b["logp"],
                    response_mask=b["response_mask"],
                    planning_mask=b["planning_mask"],
                    truncated=b["truncated"],
                )
                if scored and len(scored) == len(records):
                    acc.update(
                        rewards=[r["reward"] for r in records],
                        correct=[r["correct"] for r in records],
                        group_ids=[r["prompt_id"] for r in records],
                    )
                all_records.extend(records)
            writer.log_metrics(step, acc.result())
            writer.log_rollouts(step, all_records)
            del model
    return Path(run_dir)
