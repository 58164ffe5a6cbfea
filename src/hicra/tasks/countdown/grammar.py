"""The words of the countdown world: move phrases, strategies, steps, and how they are written.

A response is a sequence of attempts, each a strategy choice, the worked chain of steps and an
optional check, joined by backtracking moves, and ends with a conclusion (docs/world.md):

    we can use add then multiply : 3 + 5 = 1 ; 1 * 2 = 2 ; let us check 2 vs 4 no .
    wait let us try a different approach . let us start with multiply then add :
    3 * 5 = 1 ; 1 + 2 = 3 ; ... so the answer is 4 .

The move phrases live in `lexicon.tsv` beside this file (the single source of truth: its
"# move: NAME" headers assign phrases to moves).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

MOVES = ("choose", "check", "backtrack", "conclude")
OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply"}
PROMPT_WORDS = ("numbers", "target")
SYMBOL_WORDS = (":", ";", "=", ".", "vs", "yes", "no")
LEXICON_FILE = "lexicon.tsv"

Strategy = tuple[str, ...]
"""A strategy: the operation symbols applied left to right, e.g. ("+", "*") = (a + b) * c."""


@dataclass(frozen=True)
class MovePhrase:
    phrase: str
    category: str
    move: str


@lru_cache(maxsize=1)
def move_phrases() -> tuple[MovePhrase, ...]:
    """The move phrases of lexicon.tsv, in file order (first phrase of a move = most common)."""
    text = resources.files(__package__).joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    out: list[MovePhrase] = []
    move: str | None = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("# move:"):
                move = line.split(":", 1)[1].strip()
                if move not in MOVES:
                    raise ValueError(
                        f"{LEXICON_FILE}:{line_no}: unknown move {move!r}, expected one of {MOVES}"
                    )
            continue
        if move is None:
            raise ValueError(f"{LEXICON_FILE}:{line_no}: phrase before any '# move: NAME' header")
        phrase, _, category = line.partition("\t")
        if len(phrase.split()) < 2 or not category:
            raise ValueError(
                f"{LEXICON_FILE}:{line_no}: expected 'multi-word phrase<TAB>category', got {line!r}"
            )
        out.append(MovePhrase(" ".join(phrase.split()), category.strip(), move))
    return tuple(out)


def phrases_of(move: str) -> tuple[str, ...]:
    """The paraphrases of one move, e.g. phrases_of("check")[0] == "let us check"."""
    return tuple(p.phrase for p in move_phrases() if p.move == move)


def strategies(ops: tuple[str, ...], n_numbers: int) -> tuple[Strategy, ...]:
    """All op sequences of length n_numbers - 1, e.g. ("+","*"), 3 -> 4 strategies."""
    return tuple(itertools.product(ops, repeat=n_numbers - 1))


def strategy_name(strategy: Strategy) -> str:
    """("+", "*") -> "add then multiply"."""
    return " then ".join(OP_NAMES[op] for op in strategy)


def apply_op(op: str, left: int, right: int, modulus: int) -> int:
    if op == "+":
        return (left + right) % modulus
    if op == "-":
        return (left - right) % modulus
    if op == "*":
        return (left * right) % modulus
    raise ValueError(f"unknown op {op!r}")


def run_strategy(strategy: Strategy, numbers: tuple[int, ...], modulus: int) -> int:
    """The exact result of a strategy: ((n0 op0 n1) op1 n2) ... mod modulus."""
    value = numbers[0]
    for op, number in zip(strategy, numbers[1:]):
        value = apply_op(op, value, number, modulus)
    return value


def render_prompt(numbers: tuple[int, ...], target: int) -> str:
    """(3, 5, 2), 4 -> "numbers 3 5 2 target 4 :"."""
    return " ".join(["numbers", *map(str, numbers), "target", str(target), ":"])


@dataclass(frozen=True)
class Step:
    """One written step "left op right = result ;" (result as claimed, maybe wrong)."""

    left: int
    op: str
    right: int
    result: int

    def render(self) -> str:
        return f"{self.left} {self.op} {self.right} = {self.result} ;"


def render_attempt(choose: str, strategy: Strategy, steps: list[Step]) -> str:
    return " ".join([choose, strategy_name(strategy), ":", *(s.render() for s in steps)])


def render_check(check: str, result: int, target: int) -> str:
    return f"{check} {result} vs {target} {'yes' if result == target else 'no'} ."


def render_backtrack(backtrack: str) -> str:
    return f"{backtrack} ."


def render_conclusion(conclude: str, result: int) -> str:
    return f"{conclude} {result} ."


def vocabulary(ops: tuple[str, ...], modulus: int) -> list[str]:
    """Every word a prompt or a well-formed response of this world can contain."""
    words: list[str] = [str(v) for v in range(modulus)]
    words += list(PROMPT_WORDS) + list(SYMBOL_WORDS) + list(ops) + ["then"]
    words += [OP_NAMES[op] for op in ops]
    for p in move_phrases():
        words += p.phrase.split()
    return list(dict.fromkeys(words))


PLANNING_MOVES = ("choose", "check", "backtrack")


def move_spans(response: str) -> list[tuple[int, int, str]]:
    """The known role of every piece of a response: (start, end, move) character ranges.

    A piece ends at ":", ";" or "." (each ends its own piece); its move is the move whose
    phrase opens it (choose, check, backtrack, conclude), else "step" (one arithmetic step).
    Planning pieces are those of `PLANNING_MOVES`; "conclude" states the answer.

        >>> [m for _, _, m in move_spans("we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; "
        ...                                "let us check 2 vs 6 no . so the answer is 2 .")]
        ['choose', 'step', 'step', 'check', 'conclude']
    """
    openers = sorted(((p.phrase, p.move) for p in move_phrases()), key=lambda pm: -len(pm[0]))
    out, start = [], 0
    for match in re.finditer(r"[:;.]", response):
        piece = response[start : match.end()]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        move = next(
            (m for phrase, m in openers if body == phrase or body.startswith(phrase + " ")), "step"
        )
        out.append((start + lead, match.end(), move))
        start = match.end()
    return out
