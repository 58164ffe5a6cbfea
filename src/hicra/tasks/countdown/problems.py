"""Seeded puzzles: numbers, a target, and the strategies that reach it."""

from __future__ import annotations

import numpy as np

from hicra.tasks.base import Problem
from hicra.tasks.countdown import grammar
from hicra.tasks.countdown.config import CountdownConfig
from hicra.tasks.countdown.grammar import Strategy

_MAX_DRAWS = 10_000


def solving_strategies(
    numbers: tuple[int, ...], target: int, strategies: tuple[Strategy, ...], modulus: int
) -> tuple[Strategy, ...]:
    """The strategies whose exact result is the target, in `strategies` order."""
    return tuple(s for s in strategies if grammar.run_strategy(s, numbers, modulus) == target)


def make_problem(numbers: tuple[int, ...], target: int, config: CountdownConfig) -> Problem:
    """The Problem for given numbers and target; its id depends only on them and the modulus."""
    strategies = grammar.strategies(config.ops, config.n_numbers)
    solving = solving_strategies(numbers, target, strategies, config.modulus)
    return Problem(
        id=f"countdown-m{config.modulus}-" + "-".join(map(str, numbers)) + f"-t{target}",
        prompt=grammar.render_prompt(numbers, target),
        answer={
            "numbers": list(numbers),
            "target": target,
            "solving": [grammar.strategy_name(s) for s in solving],
        },
        meta={"modulus": config.modulus},
    )


def sample_problem(config: CountdownConfig, rng: np.random.Generator) -> Problem:
    """Draw the solving strategy uniformly, then numbers in 1..modulus-1 (0 would make
    multiplication degenerate) and set the target to that strategy's result; with
    `unique_solution`, redraw the numbers until no other strategy reaches the target."""
    strategies = grammar.strategies(config.ops, config.n_numbers)
    chosen = strategies[int(rng.integers(len(strategies)))]
    for _ in range(_MAX_DRAWS):
        numbers = tuple(int(x) for x in rng.integers(1, config.modulus, size=config.n_numbers))
        target = grammar.run_strategy(chosen, numbers, config.modulus)
        if (
            not config.unique_solution
            or len(solving_strategies(numbers, target, strategies, config.modulus)) == 1
        ):
            return make_problem(numbers, target, config)
    raise ValueError(
        f"CountdownConfig: no puzzle with a unique solution for strategy {chosen} after "
        f"{_MAX_DRAWS} draws; set unique_solution=False or change modulus/ops/n_numbers"
    )
