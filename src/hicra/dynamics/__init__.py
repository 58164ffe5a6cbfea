"""Training dynamics: class-split entropy / perplexity, semantic entropy of Strategic Grams,
phase detection, and the run-directory format.

    >>> from hicra.dynamics import step_metrics
    >>> step_metrics(["Wait, let me check."], None, rewards=[1.0])["reward/mean"]
    1.0

`import hicra.dynamics` needs numpy only; parquet (pyarrow), change points (ruptures) and
plots (matplotlib) load when used. Metric names: docs/metrics.md.
"""

from hicra.dynamics.accumulators import StepAccumulator, step_metrics
from hicra.dynamics.metrics import pass_at_k, relative_perplexity
from hicra.dynamics.rundir import RunReader, RunWriter
from hicra.dynamics.semantic import conditional_entropy, shannon_entropy

__all__ = [
    "RunReader",
    "RunWriter",
    "StepAccumulator",
    "conditional_entropy",
    "pass_at_k",
    "relative_perplexity",
    "shannon_entropy",
    "step_metrics",
]
