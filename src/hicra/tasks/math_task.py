"""A `Task` over a local math dataset, scored by the math reward (last \\boxed{} + math-verify).

>>> task = MathTask.from_file("dapo_math_17k.parquet")            # doctest: +SKIP
>>> problems = task.sample_problems(8, np.random.default_rng(0))    # doctest: +SKIP
>>> task.score(problems[0], r"... so \\boxed{42}").correct           # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hicra.tasks.base import Problem, Score
from hicra.tasks.datasets import DEFAULT_INSTRUCTION, load_math_problems
from hicra.tasks.math_reward import VerifierPool, task_score

if TYPE_CHECKING:
    import numpy as np

    from hicra.lexicon import StrategicLexicon


@dataclass
class MathTask:
    """Math problems with a verifiable final answer.

    name: the task's name in logs and run directories (default: the file's stem).
    problems: the dataset, in file order.
    correct_reward / incorrect_reward: reward for a right / wrong (or missing) final answer.
    format_reward: added when the response holds exactly one non-empty \\boxed{} (0 = off).
    timeout_s: deadline of one math-verify equivalence check (a timeout counts as wrong).
    lexicon_path: planning detector (`hicra.lexicon.load_detector`: a registered name or a lexicon
        file); None = the published 249-phrase Strategic-Gram list.
    """

    name: str
    problems: list[Problem]
    correct_reward: float = 1.0
    incorrect_reward: float = 0.0
    format_reward: float = 0.0
    timeout_s: float = 5.0
    lexicon_path: str | None = None
    pool: VerifierPool | None = field(default=None, repr=False)

    @classmethod
    def from_file(
        cls,
        path: str,
        prompt_field: str | None = None,
        answer_field: str | None = None,
        instruction: str = DEFAULT_INSTRUCTION,
        deduplicate: bool = False,
        **options,
    ) -> MathTask:
        """Load a parquet/json/jsonl file (see hicra.tasks.datasets) into a task; options are
        the dataclass fields (name, rewards, timeout_s, lexicon_path)."""
        problems = load_math_problems(
            path, prompt_field, answer_field, instruction, deduplicate=deduplicate
        )
        name = options.pop("name", None) or os.path.splitext(os.path.basename(path))[0]
        return cls(name=name, problems=problems, **options)

    def sample_problems(self, n: int, rng: np.random.Generator) -> list[Problem]:
        """n problems drawn with rng: without replacement while the dataset lasts, so an
        epoch-sized draw sees every problem once; with replacement beyond that."""
        count = len(self.problems)
        if n <= count:
            indices = rng.choice(count, size=n, replace=False)
        else:
            indices = rng.integers(0, count, size=n)
        return [self.problems[int(i)] for i in indices]

    def score(self, problem: Problem, response: str) -> Score:
        return task_score(
            response,
            str(problem.answer),
            correct_reward=self.correct_reward,
            incorrect_reward=self.incorrect_reward,
            format_reward=self.format_reward,
            timeout_s=self.timeout_s,
            pool=self.pool,
        )

    def planning_lexicon(self) -> StrategicLexicon:
        from hicra.lexicon import load_detector

        return load_detector(self.lexicon_path or "lexicon")
