"""From one run's data to its per-step series, detected phases and example responses.

`analyze_run(path)` streams the records of any supported input (readers.py) into one
`StepAccumulator` per step, merges them with the metrics the run logged itself (a hicra
run directory's metrics.jsonl: logged values win), detects the phases, and keeps a few
example responses of the earliest and latest steps. Memory: one accumulator per step (sums,
gram counts) plus the examples; never the records.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hicra.dynamics.accumulators import StepAccumulator
from hicra.dynamics.phases import PhaseConfig, PhaseResult, detect_phases, series_from_metrics
from hicra.runs import RunReader
from hicra.runs.readers import FieldMap, detect_format, iter_records

_FLUSH = 512  # records buffered per step before folding (amortises per-call overhead)

# metric groups a report shows, and why each may be missing
REQUIREMENTS = {
    "token entropy by class (entropy/planning, entropy/execution)": (
        "entropy/execution",
        "the data has no per-token entropies of the full next-token distribution",
    ),
    "relative perplexity by class (rel_perplexity/*)": (
        "nll/execution",
        "the data has no per-token log-probs of the sampled tokens",
    ),
    "semantic entropy and its control (semantic/*)": (
        "semantic/entropy",
        "no response texts or no lexicon",
    ),
    "accuracy": ("accuracy", "the data has no correctness field (set --field-correct)"),
    "reward": ("reward/mean", "the data has no reward field (set --field-reward)"),
    "pass@k": ("pass@1", "needs correctness and several responses per prompt id"),
}


@dataclass
class RunAnalysis:
    """Everything the report and `hicra analyze --json` show about one run.

    rows: one metrics dict per step (with "step"), sorted. steps / series: the same as arrays
    (series adds rel_perplexity/*). phases: the detector's result. examples: {"early": [...],
    "late": [...]} records of the first and last steps. missing: metric group -> why absent.
    """

    name: str
    source: str
    format: str
    rows: list[dict[str, Any]]
    steps: np.ndarray
    series: dict[str, np.ndarray]
    phases: PhaseResult
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    lexicon: Any = None

    def final(self, last: int | None = None) -> dict[str, float]:
        """Each series' mean over its last `last` finite values (default: 10% of the steps,
        between 1 and 5, so one noisy step does not decide a comparison)."""
        if last is None:
            last = min(5, max(1, self.steps.size // 10))
        out = {}
        for name, values in self.series.items():
            finite = values[np.isfinite(values)]
            if finite.size:
                out[name] = float(np.mean(finite[-last:]))
        return out

    def summary(self) -> dict[str, Any]:
        """The JSON summary of `hicra analyze --json` for this run."""
        phases = self.phases.to_dict()
        return {
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "steps": [int(self.steps[0]), int(self.steps[-1])] if self.steps.size else [],
            "phases": {
                k: phases[k]
                for k in (
                    "transition_step",
                    "kind",
                    "consolidation_end",
                    "exploration_onset",
                    "evidence",
                    "signals",
                )
            },
            "final": self.final(),
            "missing": self.missing,
            "lexicon": getattr(self.lexicon, "source", None),
        }


NONFINITE_REWARDS = "reward/nonfinite_count"
"""Responses of a step whose reward was NaN or infinite (left out of reward/mean)."""


class _StepFolder:
    """Buffers the records of one step and folds them into its accumulator in batches."""

    def __init__(self, lexicon: Any) -> None:
        self.acc = StepAccumulator(lexicon)
        self.texts: list[str] = []
        self.rewards: list[float] = []
        self.nonfinite_rewards = 0
        self.correct: list[bool] = []
        self.groups: list[Any] = []
        self.truncated: list[bool] = []

    def add(self, rec: dict[str, Any]) -> None:
        self.texts.append(rec["response"])
        reward = rec.get("reward")
        if reward is not None:
            if math.isfinite(reward):
                self.rewards.append(float(reward))
            else:  # NaN or inf: counted, reported, kept out of the means
                self.nonfinite_rewards += 1
        if rec.get("correct") is not None:
            self.correct.append(bool(rec["correct"]))
            self.groups.append(rec.get("prompt_id"))
        if rec.get("truncated") is not None:
            self.truncated.append(bool(rec["truncated"]))
        self._add_tokens(rec)
        if len(self.texts) >= _FLUSH:
            self.flush()

    def _add_tokens(self, rec: dict[str, Any]) -> None:
        logp, entropy, plan = rec.get("logp"), rec.get("entropy"), rec.get("planning_mask")
        if logp is None and entropy is None:
            return
        n = len(logp if logp is not None else entropy)
        if plan is None and rec.get("offsets") is not None and self.acc.lexicon is not None:
            plan = planning_mask_from_offsets(rec["response"], rec["offsets"], self.acc.lexicon)
        self.acc.update(
            entropy=None if entropy is None else np.asarray(entropy, np.float64)[None],
            logp=None if logp is None else np.asarray(logp, np.float64)[None],
            response_mask=np.ones((1, n), bool),
            planning_mask=None if plan is None else np.asarray(plan, bool)[None],
        )

    def flush(self) -> None:
        groups_ok = self.correct and all(g is not None for g in self.groups)
        self.acc.update(
            self.texts,
            rewards=self.rewards or None,
            correct=self.correct or None,
            truncated=self.truncated or None,
            group_ids=np.array(self.groups, dtype=object) if groups_ok else None,
        )
        self.texts, self.rewards, self.correct, self.groups, self.truncated = [], [], [], [], []

    def result(self) -> dict[str, float]:
        self.flush()
        out = self.acc.result()
        if self.nonfinite_rewards:
            out[NONFINITE_REWARDS] = float(self.nonfinite_rewards)
        return out


def planning_mask_from_offsets(
    text: str, offsets: Iterable[Iterable[int]], lexicon: Any
) -> list[bool]:
    """A token is planning when its character span overlaps a span of the detector (the
    union of `find_spans`, the rule `tag` uses), so any detector's mask, whole sentences
    included, reads the same here as in training."""
    import numpy as np

    from hicra.lexicon.tagging import overlap_mask

    starts, ends, _ = lexicon.span_arrays(text)
    pairs = np.asarray([tuple(pair) for pair in offsets], dtype=np.int64).reshape(-1, 2)
    return overlap_mask(starts, ends, pairs[:, 0], pairs[:, 1]).tolist()


class _Examples:
    """Keeps the first `keep` records of the earliest and of the latest step seen."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.early: tuple[int, list] = (None, [])  # type: ignore[assignment]
        self.late: tuple[int, list] = (None, [])  # type: ignore[assignment]

    def add(self, rec: dict[str, Any]) -> None:
        step = rec["step"]
        small = {
            k: rec.get(k) for k in ("step", "prompt", "response", "reward", "correct", "prompt_id")
        }
        for name, better in (("early", lambda a, b: a < b), ("late", lambda a, b: a > b)):
            best, kept = getattr(self, name)
            if best is None or better(step, best):
                setattr(self, name, (step, [small]))
            elif step == best and len(kept) < self.keep:
                kept.append(small)

    def result(self) -> dict[str, list[dict[str, Any]]]:
        out = {"early": self.early[1]}
        if self.late[0] is not None and self.late[0] != self.early[0]:
            out["late"] = self.late[1]
        return out


MAX_OPEN_STEPS = 16
"""Steps folded at the same time; older ones are finalised (their counters freed)."""


def fold_records(
    records: Iterable[dict[str, Any]],
    lexicon: Any,
    keep_examples: int = 3,
    max_open_steps: int = MAX_OPEN_STEPS,
):
    """Stream records into per-step metric dicts; returns (rows by step, examples, count).

    At most `max_open_steps` steps are open at once: when a record of a new step arrives and
    the window is full, the least recently seen step is finalised and its counters freed, so
    memory does not grow with the number of steps or the file size. Dumps written in step
    order (verl, hicra, most trainers) or interleaved within the window are read exactly; a
    step that comes back after being finalised is an error (sort the dump or raise the
    window; 0 = unbounded).
    """
    from collections import OrderedDict

    from hicra.runs.readers import InputFormatError

    open_steps: OrderedDict[int, _StepFolder] = OrderedDict()
    rows: dict[int, dict[str, float]] = {}
    examples = _Examples(keep_examples)
    count = 0
    for rec in records:
        count += 1
        step = rec["step"]
        folder = open_steps.get(step)
        if folder is None:
            if step in rows:
                raise InputFormatError(
                    f"record {count}: step {step} appears again after {max_open_steps} other steps were read; "
                    "the dump is not in step order: sort it by step or raise --max-open-steps"
                )
            if max_open_steps and len(open_steps) >= max_open_steps:
                old, oldest = open_steps.popitem(last=False)
                rows[old] = oldest.result()
            folder = open_steps[step] = _StepFolder(lexicon)
        else:
            open_steps.move_to_end(step)
        folder.add(rec)
        examples.add(rec)
    for step, folder in open_steps.items():
        rows[step] = folder.result()
    return {step: rows[step] for step in sorted(rows)}, examples.result(), count


def run_detector(config: dict[str, Any]) -> Any:
    """The planning detector a run made its mask with, from its config.json; None when unknown.

    Reads the spec every trainer records, `detector` (or the older keys `lexicon` of the
    built-in trainer, `lexicon_path` of the TRL adapter), and resolves it as the trainer did:
    `hicra.lexicon.load_detector(spec, task)` with the run's `task` (and `task_options`), so an
    empty spec is the task's own lexicon. A spec that no longer resolves (a lexicon file that
    was moved) falls back to the task's own lexicon, else None.
    """
    from hicra.lexicon import load_detector
    from hicra.tasks import load_task

    spec = next((config[k] for k in ("detector", "lexicon", "lexicon_path") if k in config), None)
    task = None
    if isinstance(config.get("task"), str):
        try:
            task = load_task(config["task"], config.get("task_options") or {})
        except ValueError:
            task = None
    if isinstance(spec, str) and spec:
        try:
            return load_detector(spec, task)
        except ValueError:
            pass
    return task.planning_lexicon() if task is not None else None


def analyze_run(
    path: str | Path,
    *,
    lexicon: Any = None,
    fmt: str = "auto",
    fields: FieldMap = FieldMap(),
    name: str | None = None,
    progress: bool = False,
    keep_examples: int = 3,
    max_open_steps: int = MAX_OPEN_STEPS,
    phase_config: PhaseConfig = PhaseConfig(),
) -> RunAnalysis:
    """Analyse one run (hicra run dir, verl rollout dir, JSONL/parquet file or dir).

    lexicon: the planning detector for the text metrics; None: the one the run recorded (a hicra
    run's config.json, see `run_detector`), else the published 249 SGs.
    """
    from hicra.errors import check_number
    from hicra.runs.readers import InputFormatError

    check_number("max_open_steps", max_open_steps, integer=True, low=0)
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if lexicon is None and fmt == "hicra":
        lexicon = run_detector(RunReader(path).config())
    if lexicon is None:
        from hicra.lexicon import StrategicLexicon

        lexicon = StrategicLexicon.default()
    records = iter_records(path, fmt, fields, progress)
    computed, examples, count = fold_records(records, lexicon, keep_examples, max_open_steps)
    logged: dict[int, dict] = {}
    config: dict[str, Any] = {}
    if fmt == "hicra":
        reader = RunReader(path)
        logged = {int(r["step"]): r for r in reader.metrics()}
        config = reader.config()
    rows = []
    for step in sorted(set(computed) | set(logged)):
        row = dict(computed.get(step, {}))
        row.update({k: v for k, v in logged.get(step, {}).items() if v is not None})
        row["step"] = step
        rows.append(row)
    if not rows:
        raise InputFormatError(f"{path}: no steps found (no metrics and no rollouts)")
    steps, series = series_from_metrics(rows)
    phases = detect_phases(steps, series, phase_config)
    missing = {
        group: why
        for group, (key, why) in REQUIREMENTS.items()
        if key not in series or not np.isfinite(series[key]).any()
    }
    nonfinite = int(np.nansum(series[NONFINITE_REWARDS])) if NONFINITE_REWARDS in series else 0
    if nonfinite and "reward" in missing:
        missing["reward"] = f"every reward in the data is NaN or infinite ({nonfinite} responses)"
    elif nonfinite:
        missing["finite rewards"] = (
            f"{nonfinite} responses have a NaN or infinite reward (left out of reward/mean)"
        )
    return RunAnalysis(
        name=name or path.name.removesuffix(".gz").removesuffix(".jsonl").removesuffix(".parquet"),
        source=str(path),
        format=fmt,
        rows=rows,
        steps=steps,
        series=series,
        phases=phases,
        examples=examples,
        missing=missing,
        config=config,
        records=count,
        lexicon=lexicon,
    )
