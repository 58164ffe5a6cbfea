"""Verifiable tasks: the synthetic reasoning world and math answer checking."""

from hicra.tasks.base import (
    Problem,
    Score,
    Task,
    load_task,
    mean_diagnostics,
    summarize_diagnostics,
)

__all__ = ["Problem", "Score", "Task", "load_task", "mean_diagnostics", "summarize_diagnostics"]
