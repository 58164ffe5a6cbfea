"""The imperfect SFT corpus: worked responses with the knobs of `CountdownConfig`.

Each response imitates a solver that picks strategies without looking at the problem
(`first_choice_oracle_rate`), slips in arithmetic (`add_error_rate`, `mul_error_rate`),
sometimes skips the check (`check_rate`), rarely backtracks after a failed check
(`backtrack_rate`) and, when it does, may retry a strategy that already failed
(`repeat_strategy_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hicra.tasks.base import Problem
from hicra.tasks.countdown import grammar
from hicra.tasks.countdown.config import CountdownConfig
from hicra.tasks.countdown.grammar import Step, Strategy


@dataclass(frozen=True)
class SFTExample:
    """One supervised example: the loss is taken on `response` only."""

    prompt: str
    response: str


def _pick_phrase(move: str, config: CountdownConfig, rng: np.random.Generator) -> str:
    phrases = grammar.phrases_of(move)
    weights = 1.0 / np.arange(1, len(phrases) + 1) ** config.phrase_zipf
    return phrases[int(rng.choice(len(phrases), p=weights / weights.sum()))]


def _work_steps(
    strategy: Strategy, numbers: tuple[int, ...], config: CountdownConfig, rng: np.random.Generator
) -> list[Step]:
    steps = []
    value = numbers[0]
    for op, number in zip(strategy, numbers[1:]):
        result = grammar.apply_op(op, value, number, config.modulus)
        error_rate = config.mul_error_rate if op == "*" else config.add_error_rate
        if rng.random() < error_rate:
            # a uniformly drawn wrong value; the next step carries it on
            result = (result + int(rng.integers(1, config.modulus))) % config.modulus
        steps.append(Step(value, op, number, result))
        value = result
    return steps


def _pick_strategy(
    tried: list[Strategy],
    strategies: tuple[Strategy, ...],
    solving: list[Strategy],
    config: CountdownConfig,
    rng: np.random.Generator,
) -> Strategy:
    if not tried:
        pool = solving if solving and rng.random() < config.first_choice_oracle_rate else strategies
    else:
        untried = [s for s in strategies if s not in tried]
        repeat = not untried or rng.random() < config.repeat_strategy_rate
        pool = list(dict.fromkeys(tried)) if repeat else untried
    return pool[int(rng.integers(len(pool)))]


def sft_response(problem: Problem, config: CountdownConfig, rng: np.random.Generator) -> str:
    """One imperfect worked response to `problem` (its text after the prompt)."""
    numbers = tuple(problem.answer["numbers"])
    target = int(problem.answer["target"])
    strategies = grammar.strategies(config.ops, config.n_numbers)
    solving = [s for s in strategies if grammar.strategy_name(s) in problem.answer["solving"]]
    parts: list[str] = []
    tried: list[Strategy] = []
    for attempt in range(config.max_attempts):
        strategy = _pick_strategy(tried, strategies, solving, config, rng)
        tried.append(strategy)
        steps = _work_steps(strategy, numbers, config, rng)
        result = steps[-1].result
        parts.append(grammar.render_attempt(_pick_phrase("choose", config, rng), strategy, steps))
        if rng.random() >= config.check_rate:
            break
        parts.append(grammar.render_check(_pick_phrase("check", config, rng), result, target))
        last = attempt == config.max_attempts - 1
        if result == target or last or rng.random() >= config.backtrack_rate:
            break
        parts.append(grammar.render_backtrack(_pick_phrase("backtrack", config, rng)))
    parts.append(grammar.render_conclusion(_pick_phrase("conclude", config, rng), result))
    return " ".join(parts)
