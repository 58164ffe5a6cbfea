"""Countdown traces whose deciding sentences are known by construction (the anchors' known truth).

Per puzzle (numbers, target, the one solving strategy, a wrong one), four traces:

- right:     the solving strategy, right steps, a check that passes, the conclusion;
- slip:      the solving strategy, a wrong first step carried on, a failed check, a wrong conclusion;
- concludes: a wrong strategy, a failed check, then a (wrong) conclusion instead of a backtrack;
- backtracks: a wrong strategy, a failed check, a backtrack, the solving strategy, the conclusion.

    python tests/anchors/known_truth.py tests/anchors/data/known_truth.jsonl   # regenerate
"""

from __future__ import annotations

import json
import sys

from hicra.tasks.countdown import grammar
from hicra.tasks.countdown.grammar import Step

# (numbers, solving strategy, a wrong strategy); the target is the solving strategy's result,
# and no other strategy reaches it (mod 7)
PUZZLES = (
    ((2, 3, 4), ("+", "*"), ("+", "+")),
    ((4, 2, 5), ("*", "+"), ("+", "*")),
    ((5, 4, 3), ("*", "*"), ("+", "+")),
)


def _steps(strategy, numbers, slip: bool = False) -> list[Step]:
    steps, value = [], numbers[0]
    for k, (op, number) in enumerate(zip(strategy, numbers[1:])):
        result = grammar.apply_op(op, value, number, 7)
        if slip and k == 0:
            result = (result + 1) % 7
        steps.append(Step(value, op, number, result))
        value = result
    return steps


def _attempt(
    choose: str, strategy, numbers, target: int, check: str, slip: bool = False
) -> tuple[str, int]:
    steps = _steps(strategy, numbers, slip)
    result = steps[-1].result
    return grammar.render_attempt(choose, strategy, steps) + " " + grammar.render_check(
        check, result, target
    ), result


def known_truth_traces() -> list[dict]:
    rows = []
    for numbers, solving, wrong in PUZZLES:
        target = grammar.run_strategy(solving, numbers, 7)
        prompt = grammar.render_prompt(numbers, target)
        name = "-".join(map(str, numbers))
        right, r = _attempt("we can use", solving, numbers, target, "let us check")
        slip, s = _attempt("we can use", solving, numbers, target, "let us check", slip=True)
        fail, f = _attempt("we can use", wrong, numbers, target, "let us check")
        retry, _ = _attempt("one way is to", solving, numbers, target, "does it match the target")
        traces = {
            "right": f"{right} so the answer is {r} .",
            "slip": f"{slip} so the answer is {s} .",
            "concludes": f"{fail} so the answer is {f} .",
            "backtracks": f"{fail} wait let us try a different approach . {retry} hence the final answer is {target} .",
        }
        rows += [
            {"id": f"{name}-{kind}", "prompt": prompt, "response": text}
            for kind, text in traces.items()
        ]
    return rows


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        for row in known_truth_traces():
            f.write(json.dumps(row) + "\n")
