"""The one configuration of the countdown world: puzzle size and SFT-corpus imperfections."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hicra.cli_args import FRACTION, Range, check_fields
from hicra.errors import InputError

OP_SYMBOLS = ("+", "-", "*")


# The range of every numeric field (`hicra.cli_args.check_fields`): small enough to enumerate
# the world (len(ops) ** (n_numbers - 1) strategies).
BOUNDS = {
    "modulus": Range(2, 10_000),
    "n_numbers": Range(2, 10),
    "max_attempts": Range(1, 100),
    "phrase_zipf": Range(0, 100),
    **dict.fromkeys(
        (
            "add_error_rate",
            "mul_error_rate",
            "first_choice_oracle_rate",
            "check_rate",
            "backtrack_rate",
            "repeat_strategy_rate",
        ),
        FRACTION,
    ),
}


@dataclass(frozen=True)
class CountdownConfig:
    """Puzzle size, grammar options and the knobs of the imperfect SFT corpus.

    The defaults are the frozen world of the demo (docs/world.md says why each value): a solver
    that picks its first strategy blindly solves about a quarter of the puzzles, the SFT corpus
    makes an arithmetic slip in about one response in seven and backtracks after about half of
    its failed checks, so RL has room to first fix execution, then to make backtracking
    systematic.
    """

    # ---- puzzle size -------------------------------------------------------------------------
    modulus: int = 7
    """All arithmetic is modulo this number; numbers and results are words "0".."modulus-1"."""
    n_numbers: int = 3
    """How many numbers a puzzle gives; a strategy combines them left to right with
    n_numbers - 1 operations, so there are len(ops) ** (n_numbers - 1) strategies."""
    ops: tuple[str, ...] = ("+", "*")
    """The operation symbols strategies may use, a subset of "+", "-", "*"."""
    unique_solution: bool = True
    """Draw only puzzles that exactly one strategy solves, so a blind first choice succeeds
    with probability 1 / n_strategies and planning (check, backtrack, switch) pays off."""

    # ---- grammar -------------------------------------------------------------------------------
    strategy_names_are_planning: bool = True
    """Whether the strategy names ("add then multiply") belong to the planning lexicon
    (category "deduction") besides the move phrases: the choice of the next strategy, new or
    already failed, is the planning decision of this world."""

    # ---- SFT corpus imperfections ----------------------------------------------------------------
    add_error_rate: float = 0.06
    """Probability that an addition (or subtraction) step of the corpus has a wrong result
    (a uniformly drawn wrong value, carried on by the next step)."""
    mul_error_rate: float = 0.10
    """Probability that a multiplication step of the corpus has a wrong result."""
    first_choice_oracle_rate: float = 0.0
    """Probability that the corpus's first strategy is the solving one; otherwise it is drawn
    uniformly (0 = strategy choice not adapted to the problem)."""
    check_rate: float = 0.85
    """Probability that an attempt of the corpus is followed by a check against the target."""
    backtrack_rate: float = 0.55
    """Probability that the corpus backtracks after a failed check; otherwise it concludes
    with the wrong result anyway. The SFT model under-produces this move (corpus 0.31 / 0.44 /
    0.52 / 0.58 of failed checks -> SFT model 0.09 / 0.16 / 0.23 / 0.41 at backtrack_rate 0.3 /
    0.45 / 0.55 / 0.6). RL amplifies it only when the policy samples it often enough and it
    pays more than concluding; at 0.55 the warm start does it after ~23% of its failed checks,
    so it can still double within the demo (docs/world.md, "Why backtrack_rate is 0.55")."""
    repeat_strategy_rate: float = 0.3
    """Probability that a retry of the corpus re-uses a strategy it already tried (which fails
    again unless the earlier failure was an arithmetic slip)."""
    max_attempts: int = 4
    """Most attempts in one corpus response (the last one concludes whatever its check says)."""
    phrase_zipf: float = 1.0
    """Paraphrase k (0-based) of a move is used with weight 1 / (k + 1) ** phrase_zipf in the
    corpus: 0 = uniform; larger = the corpus sticks to the first paraphrase."""

    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Free-form notes kept with the config (never read by the world)."""

    def __post_init__(self) -> None:
        check_fields(self, BOUNDS, lambda name: f"CountdownConfig.{name}", skip=("ops",))
        if not isinstance(self.ops, (tuple, list)):
            raise InputError(
                f"CountdownConfig.ops: expected a list of symbols among {OP_SYMBOLS}, got {self.ops!r:.40}"
            )
        bad = [op for op in self.ops if op not in OP_SYMBOLS]
        if bad or not self.ops or len(set(self.ops)) != len(self.ops):
            raise InputError(
                f"CountdownConfig.ops: expected distinct symbols among {OP_SYMBOLS}, got {self.ops}"
            )
        if self.unique_solution and len(self.ops) ** (self.n_numbers - 1) < 2:
            raise InputError("CountdownConfig.unique_solution needs at least two strategies")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists); `CountdownConfig.from_dict` inverts it."""
        out = asdict(self)
        out["ops"] = list(self.ops)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CountdownConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"CountdownConfig: unknown fields {sorted(unknown)}")
        data = dict(data)
        if "ops" in data:
            if not isinstance(data["ops"], (list, tuple, str)):
                raise ValueError(
                    f"CountdownConfig.ops: expected a list of symbols among {OP_SYMBOLS}, "
                    f"got {data['ops']!r:.40}"
                )
            data["ops"] = tuple(data["ops"])
        return cls(**data)
