"""Shared helpers of the benchmarks: statistics over seeds, curve summaries, phase timers,
the built-in trainer's step with a per-phase breakdown, output files, device facts.

Scripts import it as `from common import ...` (they put benchmarks/ on sys.path).

Statistics: every per-arm number is a mean over seeds with a percentile-bootstrap 95%
interval (10,000 resamples of the seeds); a paired difference (arm - reference, same seed)
is "significant" when its interval excludes 0. With 5 seeds this is a rough interval: the
bootstrap of 5 values is narrower than a t interval, so the README states the n.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
OUT_ROOT = HERE / "out"


# --------------------------------------------------------------------------- statistics
def finite(values: Iterable[Any]) -> np.ndarray:
    """The finite floats of `values` (None and NaN dropped), as a 1-D array."""
    return np.asarray(
        [float(v) for v in values if v is not None and math.isfinite(float(v))], dtype=float
    )


def bootstrap_ci(
    values: Iterable[Any], n_boot: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of the finite `values`; (nan, nan) if < 2.

    >>> bootstrap_ci([1.0, 1.0, 1.0])
    (1.0, 1.0)
    """
    x = finite(values)
    if x.size < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def describe(values: Sequence[Any]) -> dict[str, Any]:
    """{mean, ci95, n (finite values), values (as given, None for missing)} of one quantity."""
    x = finite(values)
    return {
        "mean": float(x.mean()) if x.size else math.nan,
        "ci95": list(bootstrap_ci(x)),
        "n": int(x.size),
        "values": [None if v is None or not math.isfinite(float(v)) else float(v) for v in values],
    }


def paired_difference(values: Sequence[Any], reference: Sequence[Any]) -> dict[str, Any]:
    """describe() of values[i] - reference[i] over the pairs where both are finite, plus
    `significant`: the 95% interval excludes 0 (False when it cannot be computed)."""
    diffs = [
        a - b if a is not None and b is not None and math.isfinite(a) and math.isfinite(b) else None
        for a, b in zip(values, reference)
    ]
    out = describe(diffs)
    lo, hi = out["ci95"]
    out["significant"] = bool(math.isfinite(lo) and (lo > 0 or hi < 0))
    return out


def fmt_stat(s: dict[str, Any], digits: int = 3, scale: float = 1.0) -> str:
    """'mean [lo, hi]' (or 'n/a'), values multiplied by `scale`."""
    if not s or not s.get("n"):
        return "n/a"
    lo, hi = s["ci95"]
    ci = f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]" if math.isfinite(lo) else ""
    star = " *" if s.get("significant") else ""
    return f"{s['mean'] * scale:.{digits}f}{ci}{star}"


# --------------------------------------------------------------------------- curves
def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """(S,) mean of the last `window` finite values up to each index (NaN until one exists)."""
    out = np.full(values.shape, np.nan)
    for i in range(values.size):
        x = values[max(0, i - window + 1) : i + 1]
        x = x[np.isfinite(x)]
        if x.size:
            out[i] = x.mean()
    return out


def area_under_curve(steps: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a curve: trapezoid integral / step span = the curve's mean
    level (same units as `values`); NaN points are dropped; one point -> its value.

    >>> area_under_curve(np.array([0, 1, 2]), np.array([0.0, 1.0, 1.0]))
    0.75
    """
    keep = np.isfinite(values)
    x, y = np.asarray(steps, float)[keep], np.asarray(values, float)[keep]
    if x.size == 0:
        return math.nan
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def steps_to_reach(steps: np.ndarray, values: np.ndarray, target: float, window: int = 5) -> float:
    """First step at which the trailing `window`-step mean of `values` reaches `target`
    (NaN if never). The trailing mean keeps one lucky batch from counting as reaching it.

    >>> steps_to_reach(np.arange(1, 6), np.array([0.1, 0.5, 0.9, 0.9, 0.9]), 0.8, window=2)
    4.0
    """
    smooth = trailing_mean(np.asarray(values, float), window)
    hit = np.nonzero(smooth >= target - 1e-12)[0]
    return float(np.asarray(steps)[hit[0]]) if hit.size else math.nan


# --------------------------------------------------------------------------- timing
@dataclass
class PhaseTimer:
    """Accumulates wall time per named phase; `wrap` times every call of a function.

    sync: a callable run before each clock read (torch.cuda.synchronize on a GPU), so that
    asynchronous kernels are charged to the phase that launched them.
    """

    sync: Callable[[], None] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, dt: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + dt

    def now(self) -> float:
        if self.sync is not None:
            self.sync()
        return time.perf_counter()

    @contextlib.contextmanager
    def phase(self, name: str):
        t0 = self.now()
        try:
            yield
        finally:
            self.add(name, self.now() - t0)

    def wrap(self, fn: Callable, name: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with self.phase(name):
                return fn(*args, **kwargs)

        return timed

    def take(self) -> dict[str, float]:
        """The accumulated seconds, and reset."""
        out, self.seconds = self.seconds, {}
        return out


@contextlib.contextmanager
def patched(obj: Any, **replacements: Any):
    """Temporarily set attributes of `obj` (a module or an instance); restored on exit."""
    saved = {k: getattr(obj, k) for k in replacements}
    for k, v in replacements.items():
        setattr(obj, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(obj, k, v)


def cuda_sync_for(device: str) -> Callable[[], None] | None:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return None


def suppress_token(model, token_id: int):
    """Forward hook making `token_id` impossible (logit -inf) in every output of `model`:
    with the EOS id, every response runs to max_new_tokens (fixed-length benchmarks).
    Returns the hook handle (`.remove()` to undo)."""

    def hook(module, inputs, output):
        # -1e9, not the dtype's minimum: / temperature < 1 must not overflow to -inf
        # (p * log p would then be 0 * -inf = NaN in the entropy).
        # TRL's training forward returns fused log-probs without logits: nothing to mask
        # there (the token is never sampled, so its log-prob is never read).
        logits = getattr(output, "logits", None)
        if logits is not None:
            logits[..., token_id] = -1e9
        return output

    return model.register_forward_hook(hook)


def n_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux ru_maxrss is KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- the built-in step
# Phase names shared by the speed benchmarks (both engines report these keys).
PHASES = (
    "generation",
    "scoring",
    "tagging",
    "advantage",
    "credit_transform",
    "old_logp",
    "forward_backward",
    "optimizer",
    "other",
)


class BuiltinStepper:
    """One step of the built-in trainer (`hicra.trainer.grpo.collect` + `update`, the same
    functions `train` calls) with its time split into PHASES by wrapping, for this step
    only, the functions the loop calls: sample_responses (generation), task.score (scoring),
    lexicon.tag_batch (tagging), group_advantages (advantage), token_advantages
    (credit_transform: the HICRA transform, or the identity broadcast for GRPO), score_tokens
    (old_logp: the no-grad pass for the ratio and
    entropy; 0 when the trainer fuses it into the update's forward, `fuse_scoring`), update minus
    optimizer.step (forward_backward), optimizer.step (optimizer).
    `metrics=True` also times the step's dynamics metrics (step_record) as `metrics`.
    """

    def __init__(
        self, cfg, model=None, tokenizer=None, task=None, lexicon=None, metrics: bool = False
    ):
        import torch

        from hicra.lexicon import load_detector
        from hicra.tasks import load_task
        from hicra.trainer import setup

        self.cfg, self.metrics = cfg, metrics
        self.task = task if task is not None else load_task(cfg.task, cfg.task_options)
        self.lexicon = lexicon if lexicon is not None else load_detector(cfg.detector, self.task)
        if model is None:
            model, tokenizer = setup.load_policy(cfg.model, cfg.device, cfg.dtype)
        self.model, self.tokenizer = model, tokenizer
        self.optimizer, self.scheduler = setup.build_optimizer(cfg, model)
        self.timer = PhaseTimer(sync=cuda_sync_for(cfg.device))
        self.optimizer.register_step_pre_hook(lambda *a: self._opt_mark(True))
        self.optimizer.register_step_post_hook(lambda *a: self._opt_mark(False))
        self._opt_t0 = 0.0
        self.step_index = 0
        torch.manual_seed(cfg.seed)

    def _opt_mark(self, start: bool) -> None:
        t = self.timer.now()
        if start:
            self._opt_t0 = t
        else:
            self.timer.add("optimizer", t - self._opt_t0)

    def step(self) -> dict[str, Any]:
        """Run one RL step; returns {seconds: {phase: s}, step_s, samples, tokens}."""
        from hicra.trainer import grpo

        t, cfg = self.timer, self.cfg
        self.step_index += 1
        task = _Delegate(self.task, score=t.wrap(self.task.score, "scoring"))
        lexicon = _Delegate(self.lexicon, tag_batch=t.wrap(self.lexicon.tag_batch, "tagging"))
        t.take()
        t0 = t.now()
        with patched(
            grpo,
            sample_responses=t.wrap(grpo.sample_responses, "generation"),
            group_advantages=t.wrap(grpo.group_advantages, "advantage"),
            token_advantages=t.wrap(grpo.token_advantages, "credit_transform"),
            score_tokens=t.wrap(grpo.score_tokens, "old_logp"),
        ):
            data, old = grpo.collect(
                cfg, self.step_index, self.model, None, self.tokenizer, task, lexicon
            )
            t1 = t.now()
            scored_before = t.seconds.get("old_logp", 0.0)
            stats, old_logp, entropy = grpo.update(
                cfg, self.step_index, self.model, self.optimizer, self.scheduler, data, old
            )
            t2 = t.now()
        seconds = t.take()
        seconds.setdefault(
            "old_logp", 0.0
        )  # 0 with fused scoring: the update's forward supplies it
        # a skipped update with fused scoring runs the no-grad pass inside `update`
        scored_in_update = seconds["old_logp"] - scored_before
        seconds["forward_backward"] = (t2 - t1) - seconds.get("optimizer", 0.0) - scored_in_update
        seconds["other"] = (t1 - t0) - sum(
            seconds.get(k, 0.0)
            for k in (
                "generation",
                "scoring",
                "tagging",
                "advantage",
                "credit_transform",
                "old_logp",
            )
        )
        step_s = t2 - t0
        if self.metrics:
            t3 = t.now()
            grpo.step_record(cfg, data, old_logp, entropy, self.task, self.lexicon)
            seconds["metrics"] = t.now() - t3
        return {
            "seconds": seconds,
            "step_s": step_s,
            "samples": len(data.batch),
            "tokens": int(data.batch.response_mask.sum()),
            "skipped": bool(stats.get("update/skipped", 0.0)),
            "accuracy": float(data.correct.float().mean()),
        }


class _Delegate:
    """An object that forwards every attribute to `inner` except the given overrides."""

    def __init__(self, inner: Any, **overrides: Any):
        self.__dict__.update(overrides)
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def hicra_share(seconds: dict[str, float], step_s: float) -> float:
    """HICRA's extra cost as a share of the step: (tagging + credit_transform) / step time.
    An upper bound: GRPO also broadcasts A to (B, T), which the transform's time includes."""
    extra = seconds.get("tagging", 0.0) + seconds.get("credit_transform", 0.0)
    return extra / step_s if step_s > 0 else math.nan


# --------------------------------------------------------------------------- outputs
def out_dir(name: str, root: str | Path | None = None) -> Path:
    path = Path(root) if root else OUT_ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Where and when a benchmark ran: date (UTC), host CPU, cores, torch/transformers/trl
    versions, and the accelerator's name and memory when `device` is a GPU."""
    import torch
    import transformers

    info: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        import trl

        info["trl"] = trl.__version__
    except ImportError:
        info["trl"] = None
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def plt():
    """matplotlib.pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot
