"""Answers, correctness and the countdown world's moves of each clause."""

from __future__ import annotations

import pytest

from hicra.anchors.outcomes import (
    AnchorsTask,
    countdown_outcome,
    countdown_problem,
    countdown_roles,
    countdown_task,
)
from hicra.anchors.sentences import split_sentences

# numbers 2 3 4, target 6 (mod 7): only "add then multiply" reaches it, (2 + 3) * 4 = 20 = 6
PROMPT = "numbers 2 3 4 target 6 :"
BACKTRACKS = (
    "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
    "wait let us try a different approach . one way is to add then multiply : 2 + 3 = 5 ; "
    "5 * 4 = 6 ; does it match the target 6 vs 6 yes . hence the final answer is 6 ."
)


@pytest.fixture(scope="module")
def task():
    return countdown_task()


def test_outcome_reads_the_conclusion_and_the_verifier(task):
    outcome = countdown_outcome(task, countdown_problem(task, PROMPT))
    assert outcome(BACKTRACKS) == ("6", True)
    assert outcome(
        "we can use add then multiply : 2 + 3 = 4 ; 4 * 4 = 6 ; so the answer is 6 ."
    ) == ("6", False)
    assert outcome("we can use add then multiply : 2 + 3 = 5 ;") == ("", False)  # cut: no answer
    assert outcome(BACKTRACKS + " so") == ("", False)  # text after the end


def test_prompt_that_is_not_a_puzzle_is_refused(task):
    with pytest.raises(ValueError, match="not a countdown prompt"):
        countdown_problem(task, "What is 2 + 2?")


def test_roles_of_a_trace_that_backtracks(task):
    clauses = [s.text for s in split_sentences(BACKTRACKS, "clauses")]
    roles = countdown_roles(task, countdown_problem(task, PROMPT), clauses)
    assert [r["move"] for r in roles] == [
        "choose",
        "step",
        "step",
        "check",
        "backtrack",
        "choose",
        "step",
        "step",
        "check",
        "conclude",
    ]
    assert roles[0]["solving"] is False and roles[5]["solving"] is True
    assert [r["attempt"] for r in roles] == [0] * 5 + [1] * 5
    assert roles[5]["final_attempt"] and not roles[0]["final_attempt"]
    assert roles[3]["verdict"] == "no" and roles[8]["verdict"] == "yes"
    assert roles[4]["after_failed_check"] and not roles[9]["after_failed_check"]
    assert not any(r["wrong"] for r in roles if r["move"] == "step")


def test_a_wrong_step_and_the_steps_it_carries(task):
    text = "we can use add then multiply : 2 + 3 = 4 ; 4 * 4 = 2 ; let us check 2 vs 6 no . so the answer is 2 ."
    roles = countdown_roles(
        task, countdown_problem(task, PROMPT), [s.text for s in split_sentences(text, "clauses")]
    )
    # 2 + 3 = 4 is wrong; 4 * 4 = 2 is right arithmetic on the carried value
    assert [r.get("wrong") for r in roles if r["move"] == "step"] == [True, False]
    assert roles[-1]["move"] == "conclude" and roles[-1]["after_failed_check"]


def test_task_adapter():
    countdown = AnchorsTask("countdown")
    assert countdown.sentence_mode == "clauses" and not countdown.needs_gold
    assert countdown.outcome(PROMPT, None)(BACKTRACKS) == ("6", True)
    assert AnchorsTask("math").sentence_mode == "sentences"
    with pytest.raises(ValueError, match="unknown task 'chess'"):
        AnchorsTask("chess")
