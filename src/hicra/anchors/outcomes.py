"""What a continuation ends in: its answer, whether it is right, and (countdown) each sentence's move.

The estimators compare answer distributions and accuracies, so each task says how to read the
final answer of a response and how to check it:

- countdown: the number of the conclusion of a well-formed response ("" when the response does
  not parse to the end), right iff the world's verifier gives reward 1 (`CountdownTask.score`);
- math: the last \\boxed{} answer, normalised (`hicra.tasks.math_reward`), right iff math-verify
  finds it equivalent to the trace's reference answer (checked once per distinct answer).

`countdown_roles` labels the clauses of a countdown response with the world's moves (choose a
strategy, arithmetic step, check, backtrack, conclude), whether a step is wrong, whether a check
failed, and whether a choice picks the puzzle's solving strategy: the known truth the anchors
are checked against (docs/anchors.md).

    >>> task = countdown_task()
    >>> problem = countdown_problem(task, "numbers 3 5 2 target 4 :")
    >>> countdown_outcome(task, problem)("we can use add then multiply : 3 + 5 = 1 ; 1 * 2 = 2 ; "
    ...                                  "so the answer is 2 .")
    ('2', False)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

Outcome = Callable[[str], tuple[str, bool]]
"""response text -> (answer, correct); answer "" when the response reaches none."""

_PROMPT = re.compile(r"^\s*numbers((?:\s+\d+)+)\s+target\s+(\d+)\s*:\s*$")


def countdown_task(config: dict[str, Any] | None = None):
    """The countdown task with a config dict (e.g. an SFT checkpoint's `task_config`)."""
    from hicra.tasks.countdown import CountdownConfig, CountdownTask

    return CountdownTask(CountdownConfig(**config) if config else None)


def countdown_problem(task, prompt: str):
    """The Problem a countdown prompt states; ValueError when it is not one."""
    from hicra.tasks.countdown.problems import make_problem

    match = _PROMPT.match(prompt)
    if not match:
        raise ValueError(
            f"not a countdown prompt (expected 'numbers a b c target t :'): {prompt[:80]!r}"
        )
    numbers = tuple(int(x) for x in match.group(1).split())
    if len(numbers) != task.config.n_numbers:
        raise ValueError(
            f"countdown prompt has {len(numbers)} numbers, the task expects {task.config.n_numbers}"
        )
    return make_problem(numbers, int(match.group(2)), task.config)


def countdown_outcome(task, problem) -> Outcome:
    """(conclusion, reward == 1) of a countdown response to `problem`."""
    from hicra.tasks.countdown.verifier import parse_response

    def outcome(response: str) -> tuple[str, bool]:
        parsed = parse_response(response, task.strategies)
        answer = (
            str(parsed.conclusion) if parsed.well_formed and parsed.conclusion is not None else ""
        )
        return answer, bool(task.score(problem, response).correct)

    return outcome


def math_outcome(gold: str, timeout_s: float = 5.0) -> Outcome:
    """(normalised last boxed answer, equivalent to `gold`) of a math response."""
    from hicra.tasks.math_reward import (
        answers_equivalent,
        extract_boxed,
        normalize_answer,
        reference_answer,
    )

    reference = reference_answer(gold)

    @cache
    def right(answer: str) -> bool:
        return bool(answers_equivalent(reference, answer, timeout_s))

    def outcome(response: str) -> tuple[str, bool]:
        boxed = extract_boxed(response)
        answer = normalize_answer(boxed) if boxed else ""
        return answer, bool(answer) and right(answer)

    return outcome


def countdown_roles(task, problem, sentences: Sequence[str]) -> list[dict[str, Any]]:
    """Per clause of a countdown response: {"move", "attempt", ...} (see the module doc).

    move is one of choose, step, check, backtrack, conclude, other. Steps carry "wrong" (operand,
    operation or result not what the declared strategy gives); checks carry "verdict" (yes/no);
    choices carry "solving"; every clause carries "attempt" (0-based), "final_attempt" and
    "after_failed_check" (the clause right after a check whose verdict is "no").
    """
    from hicra.tasks.countdown import grammar

    numbers = tuple(int(x) for x in problem.answer["numbers"])
    solving = set(problem.answer["solving"])
    names = {grammar.strategy_name(s): s for s in task.strategies}
    moves = {m: grammar.phrases_of(m) for m in ("choose", "check", "backtrack", "conclude")}
    roles: list[dict[str, Any]] = []
    attempt, strategy, step, previous = -1, None, 0, numbers[0]
    for text in sentences:
        words = text.split()
        move = next(
            (m for m, phrases in moves.items() if any(text.startswith(p + " ") for p in phrases)),
            None,
        )
        role: dict[str, Any] = {"move": move or "other"}
        if move == "choose":
            attempt, step, previous = attempt + 1, 0, numbers[0]
            name = next((n for n in names if f" {n} " in f" {text} "), None)
            strategy = names.get(name) if name else None
            role["solving"] = name in solving
        elif move is None and len(words) == 6 and words[3] == "=" and words[5] == ";":
            role["move"] = "step"
            left, op, right, result = words[0], words[1], words[2], words[4]
            ok = (
                all(w.isdigit() for w in (left, right, result))
                and strategy is not None
                and step < len(strategy)
                and op == strategy[step]
                and int(left) == previous
                and step + 1 < len(numbers)
                and int(right) == numbers[step + 1]
                and int(result) == grammar.apply_op(op, int(left), int(right), task.config.modulus)
            )
            role["wrong"] = not ok
            previous = int(result) if result.isdigit() else -1
            step += 1
        elif move == "check":
            role["verdict"] = words[-2] if len(words) >= 2 else ""
        role["attempt"] = max(attempt, 0)
        roles.append(role)
    last = max((r["attempt"] for r in roles), default=0)
    for i, role in enumerate(roles):
        role["final_attempt"] = role["attempt"] == last
        role["after_failed_check"] = i > 0 and roles[i - 1].get("verdict") == "no"
    return roles


class AnchorsTask:
    """What `hicra anchors` needs from a task, by name ("countdown" or "math").

    sentence_mode: how its traces split into sentences (clauses for countdown).
    detector_task: the task object `load_detector` gets (its own planning lexicon), or None.
    """

    def __init__(self, name: str, countdown_config: dict[str, Any] | None = None) -> None:
        if name not in ("countdown", "math"):
            raise ValueError(f"unknown task {name!r}: expected countdown or math")
        self.name = name
        self.sentence_mode = "clauses" if name == "countdown" else "sentences"
        self.detector_task = countdown_task(countdown_config) if name == "countdown" else None

    @property
    def needs_gold(self) -> bool:
        return self.name == "math"

    def outcome(self, prompt: str, gold: str | None) -> Outcome:
        if self.name == "countdown":
            return countdown_outcome(
                self.detector_task, countdown_problem(self.detector_task, prompt)
            )
        return math_outcome(gold or "")

    def roles(self, prompt: str, sentences: Sequence[str]) -> list[dict[str, Any]] | None:
        if self.name != "countdown":
            return None
        problem = countdown_problem(self.detector_task, prompt)
        return countdown_roles(self.detector_task, problem, sentences)
