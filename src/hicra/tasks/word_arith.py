"""`word-arith`: arithmetic word problems in English, generated without end from a seed.

A problem is a short story about one person and one kind of object: a start sentence, then
each operation as a sentence, then a question. The answer is an integer, the response is
scored by the math reward (its last \\boxed{} against the answer, `hicra.tasks.math_reward`),
and the planning lexicon is the published 249 Strategic Grams: a natural-language task for a
real pretrained model (docs/word-arith.md).

    >>> import numpy as np
    >>> task = WordArithTask(WordArithConfig(difficulty=1))
    >>> p = task.sample_problems(1, np.random.default_rng(0))[0]
    >>> task.score(p, f"so the answer is \\\\boxed{{{p.answer}}}").correct
    True

Difficulty levels (`LEVELS`): 1 = one addition or subtraction with numbers up to 20;
2 = one operation of + - x /; 3 = two operations; 4 = three operations with larger numbers.
Every intermediate amount is a positive integer and divisions are exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from hicra.cli_args import Range, check_fields
from hicra.errors import InputError
from hicra.tasks.base import Problem, Score
from hicra.tasks.math_reward import task_score

if TYPE_CHECKING:
    from hicra.lexicon import StrategicLexicon

# One worked example before the question: SmolLM2-135M-Instruct rarely writes \boxed{} when
# only told to (0 of 32 sampled answers boxed a number with a plain instruction or a system
# prompt), but copies the example's form (docs/word-arith.md).
INSTRUCTION = (
    "Solve the problem. Write the calculation, then the answer as \\boxed{N}.\n\n"
    "Question: Ann has 3 pens. She gets 4 more pens. How many pens does she have now?\n"
    "Answer: 3 + 4 = 7. The answer is \\boxed{7}."
)


@dataclass(frozen=True)
class Level:
    """One difficulty: how many operations, which ones, and how large the numbers get."""

    ops: int
    kinds: str  # subset of "+-*/"
    max_start: int
    max_operand: int


LEVELS: dict[int, Level] = {
    1: Level(ops=1, kinds="+-", max_start=20, max_operand=10),
    2: Level(ops=1, kinds="+-*/", max_start=30, max_operand=10),
    3: Level(ops=2, kinds="+-*/", max_start=40, max_operand=12),
    4: Level(ops=3, kinds="+-*/", max_start=60, max_operand=15),
}

NAMES = ("Tom", "Sara", "Ben", "Mia", "Leo", "Anna", "Sam", "Lily", "Max", "Emma", "Jack", "Nora")
PRONOUNS = {"Tom": "he", "Ben": "he", "Leo": "he", "Sam": "he", "Max": "he", "Jack": "he"}
ITEMS = (
    "apples",
    "marbles",
    "stickers",
    "pencils",
    "cookies",
    "books",
    "coins",
    "shells",
    "cards",
    "balloons",
)
CONTAINERS = ("boxes", "bags", "jars", "packs")

# One sentence per operation kind; several phrasings each. {b}: the operand.
ADD = (
    "{P} buys {b} more {items}.",
    "{P} finds {b} more {items}.",
    "A friend gives {o} {b} {items}.",
    "{P} gets {b} more {items} from the shop.",
)
SUB = (
    "{P} gives {b} {items} to a friend.",
    "{P} loses {b} {items}.",
    "{P} sells {b} of the {items}.",
    "{P} uses {b} of the {items}.",
)
MUL = (
    "Then the number of {items} becomes {b} times as large.",
    "{P} ends up with {b} times as many {items} as before.",
)
DIV = (
    "{P} puts the {items} into {b} equal groups and keeps one group.",
    "{P} shares the {items} equally with {bm1} friends and keeps one share.",
)
START = (
    "{N} has {a} {items}.",
    "{N} starts with {a} {items}.",
    "There are {a} {items} in {N}'s {c}.",
)
QUESTION = (
    "How many {items} does {N} have now?",
    "How many {items} are there now?",
    "What is the number of {items} at the end?",
)


@dataclass(frozen=True)
class WordArithConfig:
    """Options of the word-arith task (`task_options` of a recipe)."""

    difficulty: int = 1
    """Difficulty level 1-4 (see LEVELS): 1 = one + or - with small numbers, 4 = three operations. The
    default is the easiest: SmolLM2-135M-Instruct solves 16.1% of it at temperature 0.3 with the
    stop string (56 problems x 4 samples; 3.6% at 0.7; docs/word-arith.md)."""
    instruction: str = INSTRUCTION
    """Text before every problem (the answer format and one worked example); the problem follows as
    "Question: ...\nAnswer:". Empty: the bare story."""
    correct_reward: float = 1.0
    """Reward of a right final answer."""
    incorrect_reward: float = 0.0
    """Reward of a wrong or missing final answer."""
    format_reward: float = 0.0
    """Added when the response holds exactly one non-empty \\boxed{} (0 = off)."""
    timeout_s: float = 5.0
    """Deadline of one math-verify check (a timeout counts as wrong)."""
    stop_strings: tuple[str, ...] = ("Question:",)
    """Strings that end a sampled response (the token completing one is the last). The default
    stops a model that, after its answer, goes on to invent the next "Question:" of the
    instruction's pattern (docs/word-arith.md). Empty: stop at EOS only."""

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> WordArithConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"unknown option(s) {unknown}; known: {sorted(known)}")
        if isinstance(options.get("stop_strings"), list):  # YAML and JSON give lists
            options = {**options, "stop_strings": tuple(options["stop_strings"])}
        config = cls(**options)
        if isinstance(config.difficulty, int) and config.difficulty not in LEVELS:
            raise InputError(
                f"difficulty must be one of {sorted(LEVELS)}, got {config.difficulty!r}"
            )
        check_fields(config, BOUNDS)
        if not all(config.stop_strings):
            raise InputError("stop_strings: expected non-empty strings, got an empty one")
        return config


BOUNDS = {  # the range of every numeric option (`hicra.cli_args.check_fields`)
    "difficulty": Range(min(LEVELS), max(LEVELS)),
    # rewards of any sign, small enough that their squares stay finite in float32 (group std)
    "correct_reward": Range(-1e6, 1e6),
    "incorrect_reward": Range(-1e6, 1e6),
    "format_reward": Range(-1e6, 1e6),
    "timeout_s": Range(0, 86_400, low_open=True),
}


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _operation(rng: np.random.Generator, value: int, level: Level) -> tuple[str, int] | None:
    """One operation applicable to `value` as (kind, operand), or None when none fits."""
    kinds = list(level.kinds)
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "+":
            return kind, int(rng.integers(2, level.max_operand + 1))
        if kind == "-" and value > 3:
            return kind, int(rng.integers(2, min(value - 1, level.max_operand) + 1))
        if kind == "*" and value <= 25:
            return kind, int(rng.integers(2, 4 if value > 10 else 6))
        if kind == "/":
            divisors = [
                d
                for d in range(2, min(value, level.max_operand) + 1)
                if value % d == 0 and value // d >= 2
            ]
            if divisors:
                return kind, divisors[int(rng.integers(len(divisors)))]
    return None


def _apply(kind: str, value: int, operand: int) -> int:
    return {
        "+": value + operand,
        "-": value - operand,
        "*": value * operand,
        "/": value // operand,
    }[kind]


def make_problem(level: int, rng: np.random.Generator, instruction: str = INSTRUCTION) -> Problem:
    """One problem of `level` drawn with `rng` (same rng state -> same problem)."""
    spec = LEVELS[level]
    name, items = _pick(rng, NAMES), _pick(rng, ITEMS)
    pronoun = PRONOUNS.get(name, "she")
    objective = "him" if pronoun == "he" else "her"
    while True:
        value = int(rng.integers(max(3, spec.max_start // 3), spec.max_start + 1))
        steps: list[tuple[str, int]] = []
        current = value
        for _ in range(spec.ops):
            op = _operation(rng, current, spec)
            if op is None:
                break
            steps.append(op)
            current = _apply(op[0], current, op[1])
        if len(steps) == spec.ops:
            break
    words = {
        "N": name,
        "P": pronoun.capitalize(),
        "p": pronoun,
        "o": objective,
        "items": items,
        "c": _pick(rng, CONTAINERS),
    }
    sentences = [_pick(rng, START).format(a=value, **words)]
    for kind, operand in steps:
        template = _pick(rng, {"+": ADD, "-": SUB, "*": MUL, "/": DIV}[kind])
        sentences.append(template.format(b=operand, bm1=operand - 1, **words))
    sentences.append(_pick(rng, QUESTION).format(**words))
    story = " ".join(sentences)
    prompt = f"{instruction}\n\nQuestion: {story}\nAnswer:" if instruction else story
    digest = hashlib.sha1(story.encode()).hexdigest()[:12]
    return Problem(
        id=f"wa{level}-{digest}",
        prompt=prompt,
        answer=str(current),
        meta={
            "difficulty": level,
            "ops": "".join(k for k, _ in steps),
            "start": value,
            "operands": [b for _, b in steps],
        },
    )


class WordArithTask:
    """Arithmetic word problems scored by their last \\boxed{} (see the module docstring)."""

    name = "word-arith"

    def __init__(self, config: WordArithConfig | None = None) -> None:
        self.config = config or WordArithConfig()
        if self.config.difficulty not in LEVELS:
            raise ValueError(
                f"WordArithConfig.difficulty must be one of {sorted(LEVELS)}, got {self.config.difficulty!r}"
            )

    def __repr__(self) -> str:
        return f"WordArithTask({self.config!r})"

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """What ends a sampled response besides EOS (`sample_responses(stop_strings=...)`)."""
        return self.config.stop_strings

    def sample_problems(self, n: int, rng: np.random.Generator) -> list[Problem]:
        """n problems drawn with rng (same rng state -> same problems)."""
        return [
            make_problem(self.config.difficulty, rng, self.config.instruction) for _ in range(n)
        ]

    def score(self, problem: Problem, response: str) -> Score:
        c = self.config
        return task_score(
            response,
            str(problem.answer),
            correct_reward=c.correct_reward,
            incorrect_reward=c.incorrect_reward,
            format_reward=c.format_reward,
            timeout_s=c.timeout_s,
        )

    def planning_lexicon(self) -> StrategicLexicon:
        """The published 249 Strategic Grams (the task's text is ordinary English)."""
        from hicra.lexicon import StrategicLexicon

        return StrategicLexicon.default()

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)
