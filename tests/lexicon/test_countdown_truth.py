"""Known truth: in the countdown world every piece of a response has a known role.

Each detector is run on SFT-corpus responses and scored per move (choose, check, backtrack are
planning; step and conclude are not). The world's own lexicon recovers the roles exactly; the
published-lexicon detectors and the `sentence` detector (trained only on the real Thought
Anchors labels) transfer as docs/detectors.md reports: the test pins the facts that table
states, so a change in them is seen.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hicra.lexicon import load_detector
from hicra.lexicon.tagging import overlap_mask
from hicra.tasks.countdown import CountdownTask
from hicra.tasks.countdown.corpus import sft_response
from hicra.tasks.countdown.grammar import PLANNING_MOVES, move_spans


def move_detection(name: str, n: int = 200, seed: int = 0) -> dict[str, float]:
    """move -> share of that move's pieces the detector marks (a span overlaps the piece)."""
    task = CountdownTask()
    rng = np.random.default_rng(seed)
    detector = load_detector(name, task)
    hit, total = Counter(), Counter()
    for problem in task.sample_problems(n, rng):
        text = sft_response(problem, task.config, rng)
        moves = move_spans(text)
        starts, ends, _ = detector.span_arrays(text)
        marked = overlap_mask(
            starts, ends, np.array([m[0] for m in moves]), np.array([m[1] for m in moves])
        )
        for (_, _, move), m in zip(moves, marked.tolist()):
            hit[move] += m
            total[move] += 1
    return {move: hit[move] / total[move] for move in total}


def test_move_spans_cover_a_response():
    text = (
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
        "wait let us try a different approach . so the answer is 2 ."
    )
    assert [m for _, _, m in move_spans(text)] == [
        "choose",
        "step",
        "step",
        "check",
        "backtrack",
        "conclude",
    ]
    assert text[slice(*move_spans(text)[1][:2])] == "2 + 3 = 5 ;"


def test_the_worlds_lexicon_recovers_every_role():
    shares = move_detection("task")
    assert all(shares[m] == 1.0 for m in PLANNING_MOVES) and shares["step"] == 0.0


@pytest.mark.parametrize("name", ["lexicon", "lexicon-clause", "sentence-grams"])
def test_lexicon_detectors_never_mark_an_arithmetic_step(name):
    shares = move_detection(name)
    assert shares["step"] == 0.0
    assert max(shares[m] for m in PLANNING_MOVES) > 0.4  # they find some planning moves


def test_sentence_detector_transfer():
    """Trained on math traces only: it finds every backtrack ("wait, let us try a different
    approach ."), but a countdown "sentence" is a whole attempt (choose, arithmetic steps and
    check up to the "."), mostly digits and operators, which the math labels call computation:
    whole-sentence spans mark all of it or none, and the head marks none of it."""
    shares = move_detection("sentence")
    assert shares["backtrack"] >= 0.95
    assert shares["step"] <= 0.05 and shares["choose"] <= 0.05
    assert shares["conclude"] <= 0.2
