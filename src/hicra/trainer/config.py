"""`TrainConfig`: every option of the built-in RL trainer, in one dataclass.

One source of truth: each field has a docstring under it, and the same text becomes the
`--help` of `hicra train`. A run is configured, in increasing precedence, by the defaults
below, a YAML recipe (`--config recipe.yaml`, keys = field names) and command-line flags
(`--lr 1e-4`, `--dynamic-sampling` / `--no-dynamic-sampling`).

>>> cfg = TrainConfig(model="runs/sft", steps=3)
>>> cfg.credit_mode, cfg.samples_per_prompt
('hicra', 8)
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from hicra.cli_args import (
    COUNT,
    LARGE,
    LEARNING_RATE,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_COUNT,
    SEED,
    TEMPERATURE,
    ArgumentParser,
    Range,
    add_dataclass_flags,
    check_fields,
    dataclass_values,
    given_deprecated,
)
from hicra.credit import CreditSettings
from hicra.errors import InputError, first_line, short_repr


@dataclass
class TrainConfig:
    """Options of `hicra train --backend builtin` (GRPO / HICRA / baselines)."""

    model: str = ""
    """The policy: a local Hugging Face checkpoint directory (e.g. the SFT output), a model alias
    (`smollm2-135m`), a .gguf file or a Hub id."""

    task: str = "countdown"
    """Task name: `countdown` (the synthetic reasoning world) or `word-arith` (arithmetic word problems
    in natural language). Problems and the verifier come from it."""

    task_options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the task's constructor (YAML only), e.g. {n_numbers: 3}."""

    credit_mode: str = "hicra"
    """Credit-assignment mode from the `hicra.credit` registry: grpo, hicra, entropy_adv, top_entropy,
    entropy_reg, clip_cov, kl_cov."""

    alpha: float = 0.2
    """HICRA boost in [-1, 1]: planning tokens get A + alpha*|A| (hicra mode only; 0 gives GRPO
    exactly, < 0 reverse HICRA)."""

    credit_options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the mode's advantage transform (YAML only), e.g. {rho: 0.2}."""

    detector: str = ""
    """Planning detector of the credit assignment (`hicra.lexicon.load_detector`): a registered name
    (lexicon: the published 249 Strategic Grams) or a lexicon file (one phrase a line). Empty or
    `task`: the task's own planning lexicon."""

    lexicon: str | None = None
    """Deprecated name of `detector` (accepted with a warning)."""

    placebo_mask: bool = False
    """Ablation (the paper's placebo): credit goes to a random mask with as many tokens per response as
    the planning mask; metrics keep the real mask."""

    metrics_lexicon: str = ""
    """Detector of the dynamics metrics, spelled as `detector`: empty = the same as `detector`; `task`
    = the task's own (e.g. for a placebo run); a registered name or a file."""

    advantage_scale: Literal["group", "batch", "none"] = "group"
    """Divide (reward - group mean) by the group std, the batch std, or nothing (Dr. GRPO)."""

    prompts_per_step: int = 16
    """Distinct problems per RL step."""

    samples_per_prompt: int = 8
    """G: responses sampled per problem (one GRPO group)."""

    temperature: float = 1.0
    """Sampling temperature; log-probs in the loss use the same temperature."""

    max_new_tokens: int = 64
    """Longest response in tokens; longer ones are cut and flagged truncated."""

    chat_template: bool = True
    """Wrap each prompt in the tokenizer's chat template as one user message (when the tokenizer has
    one); the template's tokens belong to the prompt, never to the response."""

    lora_rank: int = 0
    """LoRA rank r (peft): train low-rank adapters on `lora_target_modules` instead of every weight; 0:
    full fine-tuning."""

    lora_alpha: float = 32.0
    """LoRA scaling numerator: the adapter's update is (lora_alpha / lora_rank) * B A."""

    lora_target_modules: str = "all-linear"
    """Modules that get adapters: `all-linear` (every linear layer but the output head) or
    comma-separated module names, e.g. q_proj,v_proj."""

    lr: float = 1e-4
    """Learning rate (constant after warmup)."""

    warmup_steps: int = 0
    """Linear learning-rate warmup, in optimizer steps."""

    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    """Optimizer."""

    weight_decay: float = 0.0
    """Weight decay (AdamW/SGD)."""

    adam_betas: tuple[float, float] = (0.9, 0.999)
    """Adam beta1, beta2."""

    epochs_per_batch: int = 1
    """PPO epochs over each rollout batch with the clipped loss (1 = on-policy, ratio = 1)."""

    minibatches: int = 1
    """Optimizer steps per epoch: the batch is split into this many shuffled minibatches."""

    eps_low: float = 0.2
    """Lower clip range of the importance ratio (1 - eps_low)."""

    eps_high: float = 0.28
    """Upper clip range (1 + eps_high): DAPO's clip-higher when > eps_low."""

    dual_clip: float | None = None
    """Dual-clip constant c (> 1) bounding the loss of negative-advantage tokens; None: off."""

    kl_beta: float = 0.0
    """Weight of the k3 KL penalty to the reference model (the starting checkpoint); 0: no reference model."""

    entropy_coef: float = 0.0
    """Weight of the entropy bonus (subtracted from the loss)."""

    loss_agg: Literal["token_mean", "seq_mean_token_mean", "seq_sum_norm"] = "token_mean"
    """Loss aggregation: token_mean (DAPO), seq_mean_token_mean (GRPO), seq_sum_norm (Dr. GRPO, / max_new_tokens)."""

    dynamic_sampling: bool = False
    """DAPO dynamic sampling: drop groups whose rewards are all equal before the update."""

    skip_zero_signal: bool = True
    """Make no optimizer step when every token advantage is zero (and no KL/entropy term): Adam would
    only replay its momentum."""

    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0: off)."""

    steps: int = 80
    """Number of RL steps (one rollout batch each)."""

    seed: int = 0
    """Seed of everything: the problem stream, sampling, minibatch order. Same seed, same problems."""

    device: str = "cpu"
    """torch device: cpu, cuda, cuda:1, ..."""

    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Parameter dtype of the policy (and reference); log-probs and losses are always float32."""

    rollout_dtype: Literal["same", "bfloat16", "float16"] = "same"
    """Sample rollouts from a copy of the policy whose weights are in this dtype, refreshed from the
    policy before every step ("same": from the policy itself). At a few rows per step, CPU
    decoding is bound by reading the weights, and a bfloat16 copy reads half the bytes
    (benchmarks/RESULTS.md: 1.8x tokens/s on SmolLM2-135M). The loss's old log-probs are still
    the policy's own, teacher-forced, so only which samples are drawn changes (as with bf16
    vLLM rollouts); the step logs their gap as rollout/logp_gap_{mean,max}."""

    pack_weights: bool = True
    """Decode rollouts through MKL's packed GEMM (float32 CPU layers of > 65,536 weights; the same
    maths, equal up to the order of the sums, `hicra.models.packed`): 1.3x tokens/s on a fixed
    batch of SmolLM2-135M, 3-12% less CPU on a trainer's shrinking rollout batches, at the cost
    of a packed copy of the weights while sampling. A no-op on GPUs, other dtypes and the
    countdown models."""

    micro_batch_size: int = 0
    """Rows per forward/backward pass (gradient accumulation inside a minibatch); 0: the whole minibatch."""

    fuse_scoring: bool = True
    """With one epoch of one minibatch, take old_logp and entropy from the update's forward instead of
    a separate no-grad pass (same numbers, one forward less per step)."""

    threads: int = 0
    """torch CPU threads (0: leave torch's default)."""

    run_dir: str = "runs/train"
    """Run directory: config.json, metrics.jsonl, rollouts/, checkpoints/."""

    resume: bool = True
    """Continue the run in run_dir when it holds this run (same options): from its last checkpoint, or
    from step 0 when none was saved yet. --no-resume starts it again, which needs --force when it
    logged anything."""

    force: bool = False
    """Allow clearing run_dir: start its run again (--no-resume), or replace a run made with other
    options. Never clears a directory that is not a hicra run, nor a model directory
    (docs/run-directory.md)."""

    checkpoint_every: int = 10
    """Save a resumable checkpoint every N steps (and at the end); 0: only at the end."""

    keep_checkpoints: int = 2
    """How many of the latest checkpoints to keep (the final one is always kept)."""

    log_every: int = 1
    """Write metrics every N steps."""

    rollouts_per_step: int = 16
    """Responses kept per logged step in rollouts/ (with per-token logp, entropy, planning mask)."""

    tensorboard: bool = False
    """Also write metrics to TensorBoard (run_dir/tensorboard)."""

    wandb: bool = False
    """Also log metrics to Weights & Biases (needs `pip install wandb`)."""

    wandb_project: str = "hicra"
    """W&B project name."""

    progress: bool = True
    """Show a progress bar with the key numbers."""

    def __post_init__(self) -> None:
        for old, new in DEPRECATED.items():
            value = getattr(self, old)
            if value is not None:
                warnings.warn(
                    f"TrainConfig.{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3
                )
                setattr(self, new, value)
                setattr(self, old, None)

    def credit_settings(self) -> CreditSettings:
        """The credit options as the `CreditSettings` every hicra trainer resolves."""
        return CreditSettings(self.credit_mode, self.alpha, self.credit_options, self.detector)


# Deprecated field -> its name now (kept for one release; not written to a run's config.json).
DEPRECATED = {"lexicon": "detector"}


def run_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config as a run directory records it: the fields without the deprecated aliases."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in DEPRECATED}


def _coerce(name: str, value: Any, hint: Any, where: str) -> Any:
    """Check/convert one YAML or CLI value to the field's type; one-line error otherwise."""
    origin, args = get_origin(hint), get_args(hint)
    if type(None) in args and (
        value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
    ):
        return None
    if origin is Literal:
        if value not in args:
            raise InputError(
                f"{where}: field {name!r} must be one of {list(args)}, got {short_repr(value)}"
            )
        return value
    if origin in (dict,) or hint is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: field {name!r} must be a mapping, got {short_repr(value)}")
        return dict(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise InputError(
                f"{where}: field {name!r} must be a list of {len(args)} numbers, got {short_repr(value)}"
            )
        return tuple(_coerce(name, v, a, where) for v, a in zip(value, args))
    if type(None) in args:  # Optional[X]
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner, where)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise InputError(f"{where}: field {name!r} must be true or false, got {short_repr(value)}")
    if hint in (int, float, str):
        article = "an" if hint is int else "a"
        wrong = isinstance(value, bool) or not isinstance(value, (int, float, str))
        if wrong or (hint is str and not isinstance(value, (str, int, float))):
            raise InputError(
                f"{where}: field {name!r} must be {article} {hint.__name__}, got {short_repr(value)}"
            )
        try:
            converted = hint(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(
                f"{where}: field {name!r} must be {article} {hint.__name__}, got {short_repr(value)}"
            ) from None
        if hint is int and isinstance(value, float) and value != converted:
            raise InputError(f"{where}: field {name!r} must be an integer, got {short_repr(value)}")
        return converted
    return value


def config_from_dict(
    data: dict[str, Any], where: str = "config", base: TrainConfig | None = None
) -> TrainConfig:
    """A TrainConfig from a mapping of field names (unknown keys are an error naming `where`)."""
    hints = get_type_hints(TrainConfig)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown field(s) {unknown}; known fields: {sorted(names)}")
    values = {k: _coerce(k, v, hints[k], where) for k, v in data.items()}
    return dataclasses.replace(base or TrainConfig(), **values)


def load_yaml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a YAML recipe (a mapping of TrainConfig field names to values)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: recipe file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; expected a YAML recipe file") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path}: not a YAML text file ({first_line(err)})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise InputError(
            f"{path}: a recipe must be a mapping of field: value, got {type(data).__name__}"
        )
    return config_from_dict(data, where=str(path), base=base)


def build_parser(prog: str = "hicra train") -> argparse.ArgumentParser:
    """The parser of `hicra train`, generated from TrainConfig (`hicra.cli_args`): one flag per
    field, its docstring as help."""
    parser = ArgumentParser(prog=prog, description=TrainConfig.__doc__)
    parser.add_argument("--config", help="YAML recipe; flags given on the command line override it")
    parser.add_argument(
        "--backend", choices=["builtin", "trl"], default="builtin", help="training engine"
    )
    add_dataclass_flags(parser, TrainConfig, deprecated=DEPRECATED, raw=True)
    return parser


def parse_args(
    argv: list[str], prog: str = "hicra train"
) -> tuple[TrainConfig, argparse.Namespace]:
    """defaults < YAML recipe (--config) < flags. Returns the config and the raw namespace."""
    parser = build_parser(prog)
    ns = parser.parse_args(argv)
    given_deprecated(ns, DEPRECATED, prog)
    cfg = load_yaml(ns.config) if ns.config else TrainConfig()
    try:
        cfg = config_from_dict(dataclass_values(ns, TrainConfig), where="command line", base=cfg)
    except ValueError as err:
        parser.error(str(err))
    return cfg, ns


MAX_BATCH = 1_000_000
"""Most responses one step may sample (prompts_per_step x samples_per_prompt): one process
could not hold more, and a typo of a few zeros would otherwise hang in problem generation."""

BOUNDS: dict[str, Range] = {
    "alpha": Range(-1, 1),
    "prompts_per_step": Range(1, MAX_BATCH),
    "samples_per_prompt": Range(2, MAX_BATCH),  # group advantages need a group of responses
    "temperature": TEMPERATURE,  # the loss divides by it
    "max_new_tokens": Range(1, 10**6),
    "lora_rank": Range(0, 65_536),
    "lora_alpha": POSITIVE,
    "lr": LEARNING_RATE,
    "warmup_steps": COUNT,
    "weight_decay": NON_NEGATIVE,
    "adam_betas": Range(0, 1, high_open=True),
    "epochs_per_batch": Range(1, 10_000),
    "minibatches": POSITIVE_COUNT,
    "eps_low": Range(0, 1, high_open=True),
    "eps_high": NON_NEGATIVE,
    "dual_clip": Range(1, LARGE, low_open=True),
    "kl_beta": NON_NEGATIVE,
    "entropy_coef": NON_NEGATIVE,
    "grad_clip": NON_NEGATIVE,
    "steps": COUNT,
    "seed": SEED,
    "micro_batch_size": COUNT,
    "threads": Range(0, 4096),
    "checkpoint_every": COUNT,
    "keep_checkpoints": POSITIVE_COUNT,
    "log_every": POSITIVE_COUNT,
    "rollouts_per_step": COUNT,
}
"""The range of every numeric field (`hicra.cli_args.check_fields` refuses a field without one)."""


def _flag(name: str) -> str:
    return f"{name} (--{name.replace('_', '-')})"


def validate(cfg: TrainConfig, *, environment: bool = True) -> None:
    """Reject configurations that cannot run, before anything is loaded or written: every
    field's type and range (`BOUNDS`), the credit options against the mode's transform, and
    (with `environment`) the device and dtype against this machine and the optional libraries
    the logging options need. Each failure is one InputError naming the field (and its flag)."""
    check_fields(cfg, BOUNDS, _flag, skip=DEPRECATED)
    if not cfg.model:
        raise InputError("model (--model): a checkpoint directory or a model alias is required")
    if not cfg.run_dir:
        raise InputError("run_dir (--run-dir): a directory is required")
    batch = cfg.prompts_per_step * cfg.samples_per_prompt
    if batch > MAX_BATCH:
        raise InputError(
            f"prompts_per_step x samples_per_prompt (--prompts-per-step, --samples-per-prompt): "
            f"expected a batch of at most {MAX_BATCH} responses, got {batch}"
        )
    if cfg.minibatches > batch:
        raise InputError(
            f"minibatches (--minibatches): expected at most the batch size "
            f"(prompts_per_step x samples_per_prompt = {batch}), got {cfg.minibatches}"
        )
    if not cfg.lora_target_modules.strip():
        raise InputError(
            "lora_target_modules (--lora-target-modules): expected all-linear or module names"
        )
    if not cfg.wandb_project.strip():
        raise InputError("wandb_project (--wandb-project): expected a project name")
    try:
        cfg.credit_settings().resolve()
    except ValueError as err:
        raise InputError(str(err)) from None
    if environment:
        check_environment(cfg)


def rollout_copy_dtype(cfg: TrainConfig) -> str | None:
    """The dtype of the copy rollouts sample from, or None when they sample from the policy."""
    return None if cfg.rollout_dtype in ("same", cfg.dtype) else cfg.rollout_dtype


def check_environment(cfg: TrainConfig) -> None:
    """The device and dtype against this machine; the logging options against what is installed."""
    from importlib.util import find_spec

    from hicra.models.checks import check_device, check_dtype

    check_device(cfg.device, _flag("device"))
    check_dtype(cfg.dtype, cfg.device, _flag("dtype"))
    if rollout_copy_dtype(cfg) is not None:
        check_dtype(cfg.rollout_dtype, cfg.device, _flag("rollout_dtype"))
    if cfg.wandb and find_spec("wandb") is None:
        raise InputError("wandb (--wandb): Weights & Biases is not installed (pip install wandb)")
    if cfg.tensorboard and find_spec("tensorboard") is None:
        raise InputError(
            "tensorboard (--tensorboard): TensorBoard is not installed (pip install tensorboard)"
        )
