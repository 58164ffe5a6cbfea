"""`CountdownTask`: the countdown world behind the `hicra.tasks.Task` protocol."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from hicra.tasks.base import Problem, Score
from hicra.tasks.countdown import grammar
from hicra.tasks.countdown.config import CountdownConfig
from hicra.tasks.countdown.corpus import SFTExample, sft_response
from hicra.tasks.countdown.problems import sample_problem
from hicra.tasks.countdown.verifier import TRIED_PREFIX, diagnose, parse_response

if TYPE_CHECKING:
    from hicra.lexicon import StrategicLexicon


class CountdownTask:
    """Reach a target from a few numbers mod `modulus` by choosing, working out, checking and
    switching strategies (docs/world.md).

    >>> import numpy as np
    >>> task = CountdownTask()
    >>> p = task.sample_problems(1, np.random.default_rng(0))[0]
    >>> p.prompt.split()[0], task.score(p, "so the answer is 1 .").reward
    ('numbers', 0.0)
    """

    name = "countdown"

    def __init__(self, config: CountdownConfig | None = None) -> None:
        self.config = config or CountdownConfig()
        self.strategies = grammar.strategies(self.config.ops, self.config.n_numbers)

    def __repr__(self) -> str:
        return f"CountdownTask({self.config!r})"

    # ---- the Task protocol ---------------------------------------------------------------------
    def sample_problems(self, n: int, rng: np.random.Generator) -> list[Problem]:
        """n puzzles drawn with rng (same rng state -> same puzzles)."""
        return [sample_problem(self.config, rng) for _ in range(n)]

    def score(self, problem: Problem, response: str) -> Score:
        """Reward 1.0 iff the response is well formed and its final attempt is a right
        worked chain reaching the target; diagnostics as in `verifier.diagnose`."""
        answer = problem.answer
        numbers = tuple(int(x) for x in answer["numbers"])
        if len(numbers) != self.config.n_numbers:
            raise ValueError(
                f"CountdownTask.score: problem {problem.id} has {len(numbers)} numbers, "
                f"the task's config expects n_numbers={self.config.n_numbers}"
            )
        solving = frozenset(
            s for s in self.strategies if grammar.strategy_name(s) in answer["solving"]
        )
        parsed = parse_response(response, self.strategies)
        correct, diagnostics = diagnose(
            parsed, numbers, int(answer["target"]), self.config.modulus, solving
        )
        return Score(reward=float(correct), correct=correct, diagnostics=diagnostics)

    def planning_lexicon(self) -> StrategicLexicon:
        """The move phrases of lexicon.tsv, plus the strategy names (category "deduction")
        when `config.strategy_names_are_planning`."""
        from hicra.lexicon import StrategicLexicon

        if not self.config.strategy_names_are_planning:
            return StrategicLexicon.from_file(lexicon_path())
        phrases = [p.phrase for p in grammar.move_phrases()]
        categories = [p.category for p in grammar.move_phrases()]
        for strategy in self.strategies:
            phrases.append(grammar.strategy_name(strategy))
            categories.append("deduction")
        return StrategicLexicon.from_phrases(phrases, categories)

    # ---- beyond the protocol: what SFT and tokenizers need ------------------------------------
    def sft_examples(self, n: int, rng: np.random.Generator) -> list[SFTExample]:
        """n (prompt, imperfect response) pairs from the corpus knobs of the config."""
        return [
            SFTExample(p.prompt, sft_response(p, self.config, rng))
            for p in self.sample_problems(n, rng)
        ]

    def vocabulary(self) -> list[str]:
        """Every word of this world's prompts and well-formed responses."""
        return grammar.vocabulary(self.config.ops, self.config.modulus)

    def config_dict(self) -> dict:
        """The JSON-able config (what caches key on)."""
        return self.config.to_dict()

    @staticmethod
    def summarize_diagnostics(diagnostics: Iterable[Mapping[str, float]]) -> dict[str, float]:
        """Batch means of `score(...).diagnostics` (see the module function of this name),
        with the strategy entropies always present (NaN for a batch without any attempt), and
        `execution_error`, the phase detector's execution signal (logged as
        task/execution_error): the share of first attempts with an arithmetic slip, i.e.
        `first_attempt_exec_error` under the name the detector reads (docs/phases.md)."""
        out = summarize_diagnostics(diagnostics)
        out.setdefault("strategy_entropy", math.nan)
        out.setdefault("strategy_entropy_pooled", math.nan)
        out["execution_error"] = out.get("first_attempt_exec_error", math.nan)
        return out


def lexicon_path():
    """Path of the world's lexicon file (phrase<TAB>category)."""
    return resources.files("hicra.tasks.countdown").joinpath(grammar.LEXICON_FILE)


# diagnostics that are rates defined only for some responses: averaged over those
_CONDITIONAL = {
    "exec_error_rate": "exec_steps",
    "check_error_rate": "checks",
    "backtrack_after_failed_check": "failed_checks",
}


def strategy_entropy(counts: Mapping[str, float]) -> float:
    """Shannon entropy (nats) of the strategies tried, from attempts per strategy; NaN when
    no attempt was made.

    >>> round(strategy_entropy({"add then add": 2.0, "add then multiply": 2.0}), 4)
    0.6931
    """
    total = sum(counts.values())
    if total <= 0:
        return math.nan
    return float(-sum(c / total * math.log(c / total) for c in counts.values() if c > 0))


def summarize_diagnostics(diagnostics: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Batch means of per-response diagnostics. Conditional rates are pooled ratios over the
    responses where they are defined (e.g. backtrack_after_failed_check = backtracks after
    failed checks / failed checks); other keys are NaN-skipping means, among them
    `strategy_entropy`: the mean over responses of the entropy of the strategies each tried,
    the world's exact strategy-level exploration (the phase detector's exploration signal).
    The attempts per strategy (`tried/<strategy>`) are pooled over the batch into
    `strategy_entropy_pooled`, the entropy of all strategies tried in the batch: the exact
    analogue of the paper's semantic entropy, flat near its maximum on this world because
    the first strategy is chosen blindly (docs/world.md).

    >>> summarize_diagnostics([{"attempts": 1.0}, {"attempts": 3.0}])
    {'attempts': 2.0}
    """
    rows = list(diagnostics)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    out: dict[str, float] = {}
    tried = [k for k in keys if k.startswith(TRIED_PREFIX)]
    if tried:
        pooled = {k: sum(row.get(k, 0.0) for row in rows) for k in tried}
        out["strategy_entropy_pooled"] = strategy_entropy(pooled)
    for key in keys:
        if key.startswith(TRIED_PREFIX):
            continue
        weight_key = _CONDITIONAL.get(key)
        if weight_key is not None and all(weight_key in row for row in rows if key in row):
            pairs = [
                (row[key] * row[weight_key], row[weight_key])
                for row in rows
                if key in row and not math.isnan(row[key])
            ]
            total = sum(w for _, w in pairs)
            out[key] = sum(v for v, _ in pairs) / total if total else math.nan
        else:
            values = [row[key] for row in rows if key in row and not math.isnan(row[key])]
            out[key] = float(np.mean(values)) if values else math.nan
    return out
