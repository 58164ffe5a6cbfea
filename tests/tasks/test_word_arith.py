"""word-arith: seeded, unbounded, every level's operations, answers recomputed from the text."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hicra.tasks import load_task
from hicra.tasks.base import Task
from hicra.tasks.word_arith import LEVELS, WordArithConfig, WordArithTask

NUMBER = re.compile(r"\d+")


def recompute(problem) -> int:
    """The answer from the problem's meta (start, ops, operands), independently of the generator."""
    value = problem.meta["start"]
    for op, b in zip(problem.meta["ops"], problem.meta["operands"]):
        value = {"+": value + b, "-": value - b, "*": value * b, "/": value / b}[op]
    return value


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_levels_are_well_formed(level):
    task = WordArithTask(WordArithConfig(difficulty=level))
    problems = task.sample_problems(300, np.random.default_rng(level))
    for p in problems:
        assert len(p.meta["ops"]) == LEVELS[level].ops and set(p.meta["ops"]) <= set(
            LEVELS[level].kinds
        )
        value = recompute(p)
        assert value == int(p.answer) and value > 0 and float(value).is_integer()
        story = p.prompt.split("Question: ")[-1]
        assert [int(x) for x in NUMBER.findall(story)][:1] == [p.meta["start"]]
        assert p.prompt.endswith("\nAnswer:") and "\\boxed{N}" in p.prompt
    assert {k for p in problems for k in p.meta["ops"]} == set(
        LEVELS[level].kinds
    )  # every kind occurs


def test_seeded_and_unbounded():
    task = WordArithTask(WordArithConfig(difficulty=3))
    a = task.sample_problems(50, np.random.default_rng(7))
    b = task.sample_problems(50, np.random.default_rng(7))
    assert [p.prompt for p in a] == [p.prompt for p in b]
    many = task.sample_problems(2000, np.random.default_rng(8))
    assert len({p.id for p in many}) > 1900  # a stream, not a fixed list


def test_scored_by_the_math_reward():
    task = load_task("word-arith", {"difficulty": 1})
    assert isinstance(task, Task) and task.name == "word-arith"
    problem = task.sample_problems(1, np.random.default_rng(0))[0]
    right, wrong = problem.answer, str(int(problem.answer) + 1)
    assert task.score(problem, f"{right} apples. The answer is \\boxed{{{right}}}.").reward == 1.0
    assert (
        task.score(problem, f"\\boxed{{{right}}} no wait \\boxed{{{wrong}}}").reward == 0.0
    )  # last box counts
    assert task.score(problem, f"The answer is {right}.").diagnostics["boxed_rate"] == 0.0
    assert len(task.planning_lexicon().phrases) == 249


def test_bad_options_are_one_line():
    with pytest.raises(ValueError, match="difficulty must be one of"):
        load_task("word-arith", {"difficulty": 9})
    with pytest.raises(ValueError, match="unknown option"):
        load_task("word-arith", {"levle": 1})
    with pytest.raises(ValueError, match="known: countdown, word-arith"):
        load_task("word-arithmetic")
    for bad, message in (("Q:", "expected a list"), ([""], "non-empty"), ([3], "stop_strings")):
        with pytest.raises(ValueError, match=message):
            load_task("word-arith", {"stop_strings": bad})


def test_stop_strings_default_and_option():
    assert load_task("word-arith").stop_strings == ("Question:",)
    task = load_task("word-arith", {"stop_strings": ["Q:", "\n\n"]})
    assert task.stop_strings == ("Q:", "\n\n")
    assert task.config_dict()["stop_strings"] == ("Q:", "\n\n")
    assert load_task("word-arith", {"stop_strings": []}).stop_strings == ()
