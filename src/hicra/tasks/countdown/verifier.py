"""Parse a countdown response, re-do its arithmetic, and score it.

Reward 1 only for a well-formed response whose final attempt is a worked chain over the
puzzle's numbers with every step right and a result equal to the target, followed by a
conclusion stating that result. Everything else gets 0. Diagnostics are per response.

Worked example (numbers 3 5 2, target 4, mod 7):

    >>> from hicra.tasks.countdown.verifier import parse_response
    >>> from hicra.tasks.countdown.grammar import strategies
    >>> trace = parse_response("we can use add then add : 3 + 5 = 1 ; 1 + 2 = 3 ; "
    ...                        "so the answer is 3 .", strategies(("+", "*"), 3))
    >>> trace.well_formed, len(trace.attempts), trace.conclusion
    (True, 1, 3)
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from hicra.tasks.countdown import grammar
from hicra.tasks.countdown.grammar import Step, Strategy

TRIED_PREFIX = "tried/"
"""Diagnostics `tried/<strategy name>`: how many attempts of a response used that strategy."""


@dataclass
class ParsedAttempt:
    """One attempt as written: its strategy, its steps, and its check if any."""

    strategy: Strategy | None
    steps: list[Step] = field(default_factory=list)
    check_result: int | None = None
    check_target: int | None = None
    check_says_yes: bool | None = None
    backtracked_after: bool = False

    @property
    def claimed_result(self) -> int | None:
        return self.steps[-1].result if self.steps else None


@dataclass
class ParsedResponse:
    """What the parser read; `error` says where parsing stopped when not well formed."""

    attempts: list[ParsedAttempt]
    conclusion: int | None
    well_formed: bool
    error: str = ""
    n_words: int = 0


class _Reader:
    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.words)

    def peek_phrase(self, candidates: tuple[str, ...]) -> str | None:
        """The longest candidate phrase starting at pos, or None."""
        best = None
        for phrase in candidates:
            parts = phrase.split()
            if self.words[self.pos : self.pos + len(parts)] == parts and (
                best is None or len(parts) > len(best.split())
            ):
                best = phrase
        return best

    def take_phrase(self, candidates: tuple[str, ...]) -> str | None:
        phrase = self.peek_phrase(candidates)
        if phrase is not None:
            self.pos += len(phrase.split())
        return phrase

    def take(self, expected: str) -> bool:
        if not self.done() and self.words[self.pos] == expected:
            self.pos += 1
            return True
        return False

    def take_int(self) -> int | None:
        if not self.done() and self.words[self.pos].isdigit():
            self.pos += 1
            return int(self.words[self.pos - 1])
        return None


class _ParseError(Exception):
    pass


def _parse_steps(reader: _Reader, n_steps: int, attempt: ParsedAttempt) -> None:
    for _ in range(n_steps):
        left = reader.take_int()
        op = reader.words[reader.pos] if not reader.done() else None
        if left is None or op not in grammar.OP_NAMES:
            raise _ParseError(f"word {reader.pos}: expected a step 'x op y = z ;'")
        reader.pos += 1
        right = reader.take_int()
        if right is None or not reader.take("="):
            raise _ParseError(f"word {reader.pos}: expected 'y =' in a step")
        result = reader.take_int()
        if result is None or not reader.take(";"):
            raise _ParseError(f"word {reader.pos}: expected 'z ;' ending a step")
        attempt.steps.append(Step(left, op, right, result))


def _parse_check(reader: _Reader, attempt: ParsedAttempt) -> None:
    result = reader.take_int()
    if result is None or not reader.take("vs"):
        raise _ParseError(f"word {reader.pos}: expected 'r vs t yes|no .' after a check phrase")
    target = reader.take_int()
    verdict = reader.words[reader.pos] if not reader.done() else None
    if target is None or verdict not in ("yes", "no"):
        raise _ParseError(f"word {reader.pos}: expected 't yes|no' in a check")
    reader.pos += 1
    if not reader.take("."):
        raise _ParseError(f"word {reader.pos}: expected '.' ending a check")
    attempt.check_result, attempt.check_target = result, target
    attempt.check_says_yes = verdict == "yes"


def parse_response(text: str, strategies: tuple[Strategy, ...]) -> ParsedResponse:
    """Read a response word by word; stop at the first word the grammar does not allow.

    strategies: the world's strategies (all of one length = steps per attempt). Attempts read before
    a parse error are kept,
    so diagnostics of a malformed (e.g. truncated) response still count its steps.
    """
    reader = _Reader(text.split())
    names = {grammar.strategy_name(s): s for s in strategies}
    n_steps = len(strategies[0])
    chooses, checks = grammar.phrases_of("choose"), grammar.phrases_of("check")
    backtracks, concludes = grammar.phrases_of("backtrack"), grammar.phrases_of("conclude")
    attempts: list[ParsedAttempt] = []
    conclusion: int | None = None
    try:
        while True:
            if reader.take_phrase(chooses) is None:
                raise _ParseError(f"word {reader.pos}: expected a strategy-choice phrase")
            name = reader.take_phrase(tuple(names))
            if name is None or not reader.take(":"):
                raise _ParseError(f"word {reader.pos}: expected a strategy name and ':'")
            attempt = ParsedAttempt(strategy=names[name])
            attempts.append(attempt)
            _parse_steps(reader, n_steps, attempt)
            if reader.take_phrase(checks) is not None:
                _parse_check(reader, attempt)
            if reader.take_phrase(backtracks) is not None:
                if not reader.take("."):
                    raise _ParseError(f"word {reader.pos}: expected '.' after a backtrack phrase")
                attempt.backtracked_after = True
                continue
            if reader.take_phrase(concludes) is None:
                raise _ParseError(f"word {reader.pos}: expected a check, backtrack or conclusion")
            conclusion = reader.take_int()
            if conclusion is None or not reader.take("."):
                raise _ParseError(f"word {reader.pos}: expected 'r .' after the conclusion phrase")
            if not reader.done():
                raise _ParseError(f"word {reader.pos}: text after the conclusion")
            return ParsedResponse(attempts, conclusion, True, "", len(reader.words))
    except _ParseError as err:
        return ParsedResponse(attempts, None, False, str(err), len(reader.words))


@dataclass(frozen=True)
class StepCheck:
    """Per-attempt arithmetic verdicts: which steps are wrong (operand copied wrong or result
    not the true value of what is written)."""

    step_wrong: tuple[bool, ...]

    @property
    def any_wrong(self) -> bool:
        return any(self.step_wrong)


def check_steps(attempt: ParsedAttempt, numbers: tuple[int, ...], modulus: int) -> StepCheck:
    """Mark each step wrong if its operands are not (previous claimed result or the first
    number, next number), or if its op is not the strategy's, or its result is wrong."""
    wrong = []
    previous = numbers[0]
    for i, step in enumerate(attempt.steps):
        expected_op = (
            attempt.strategy[i] if attempt.strategy and i < len(attempt.strategy) else None
        )
        ok = (
            step.left == previous
            and i + 1 < len(numbers)
            and step.right == numbers[i + 1]
            and step.op == expected_op
            and step.result == grammar.apply_op(step.op, step.left, step.right, modulus)
        )
        wrong.append(not ok)
        previous = step.result
    return StepCheck(tuple(wrong))


def diagnose(
    parsed: ParsedResponse,
    numbers: tuple[int, ...],
    target: int,
    modulus: int,
    solving: frozenset[Strategy],
) -> tuple[bool, dict[str, float]]:
    """(correct, diagnostics) of a parsed response. Rates undefined for a response (no step,
    no failed check) are NaN: average them with a NaN-skipping mean (`summarize_diagnostics`)."""
    nan = math.nan
    checks = [check_steps(a, numbers, modulus) for a in parsed.attempts]
    n_steps = sum(len(c.step_wrong) for c in checks)
    n_wrong = sum(sum(c.step_wrong) for c in checks)
    final = parsed.attempts[-1] if parsed.attempts else None
    correct = bool(
        parsed.well_formed
        and final is not None
        and not checks[-1].any_wrong
        and len(final.steps) == len(numbers) - 1
        and final.claimed_result == target
        and parsed.conclusion == target
    )
    checked = [a for a in parsed.attempts if a.check_says_yes is not None]
    failed = [a for a in checked if not a.check_says_yes]
    check_errors = sum(
        a.check_result != a.claimed_result
        or a.check_target != target
        or a.check_says_yes != (a.check_result == a.check_target)
        for a in checked
    )
    used = [a.strategy for a in parsed.attempts]
    repeated = sum(1 for i, s in enumerate(used) if s in used[:i])
    tried_solving = any(s in solving for s in used)
    diagnostics = {
        "well_formed": float(parsed.well_formed),
        "n_words": float(parsed.n_words),
        "attempts": float(len(parsed.attempts)),
        "backtracks": float(sum(a.backtracked_after for a in parsed.attempts)),
        "exec_steps": float(n_steps),
        "exec_error_rate": n_wrong / n_steps if n_steps else nan,
        "first_attempt_exec_error": float(checks[0].any_wrong) if checks else nan,
        "checks": float(len(checked)),
        "check_error_rate": check_errors / len(checked) if checked else nan,
        "failed_checks": float(len(failed)),
        "backtrack_after_failed_check": (
            sum(a.backtracked_after for a in failed) / len(failed) if failed else nan
        ),
        "repeated_strategy": float(repeated),
        "distinct_strategies": float(len(set(used))),
        "first_strategy_solves": float(used[0] in solving) if used else nan,
        # Failure classes (the paper's planning vs execution error analysis, exact here):
        # a planning failure never tried a strategy that solves the puzzle; an execution
        # failure tried one but the answer is still wrong.
        "planning_failure": float(not correct and not tried_solving),
        "execution_failure": float(not correct and tried_solving),
    }
    # Strategy-level diversity: the entropy of the strategies this response tried (0 for one
    # strategy, however often retried), and attempts per strategy, which a batch summary pools.
    counts = Counter(grammar.strategy_name(s) for s in used)
    diagnostics["strategy_entropy"] = (
        -sum(c / len(used) * math.log(c / len(used)) for c in counts.values()) if used else nan
    )
    for name, count in counts.items():
        diagnostics[TRIED_PREFIX + name] = float(count)
    return correct, diagnostics
