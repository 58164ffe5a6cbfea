"""Training dynamics: class-split entropy / perplexity, semantic entropy of Strategic Grams,
and phase detection.

    >>> from hicra.dynamics import step_metrics
    >>> step_metrics(["Wait, let me check."], None, rewards=[1.0])["reward/mean"]
    1.0

`import hicra.dynamics` needs numpy only; parquet (pyarrow), change points (ruptures) and
plots (matplotlib) load when used. Metric names: docs/metrics.md. The run-directory format
lives in `hicra.runs`.
"""

import warnings

from hicra.dynamics.accumulators import StepAccumulator, step_metrics
from hicra.dynamics.metrics import pass_at_k, relative_perplexity
from hicra.dynamics.semantic import conditional_entropy, shannon_entropy

__all__ = [
    "StepAccumulator",
    "conditional_entropy",
    "pass_at_k",
    "relative_perplexity",
    "shannon_entropy",
    "step_metrics",
]

_MOVED = {"RunReader": "hicra.runs", "RunWriter": "hicra.runs"}


def __getattr__(name: str):
    # hicra.dynamics.RunReader / RunWriter: the run directory moved to hicra.runs (kept one release).
    if name in _MOVED:
        import importlib

        warnings.warn(
            f"hicra.dynamics.{name} moved to {_MOVED[name]}.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'hicra.dynamics' has no attribute {name!r}")
