"""Verifiable tasks: the synthetic reasoning world and math answer checking."""

from hicra.tasks.base import Problem, Score, Task

__all__ = ["Problem", "Score", "Task"]
