"""The countdown world: seeded puzzles, the verifier on hand-written responses, the lexicon."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hicra.lexicon import StrategicLexicon
from hicra.tasks import Problem, Task
from hicra.tasks.countdown import CountdownConfig, CountdownTask, grammar, lexicon_path
from hicra.tasks.countdown.problems import make_problem

TASK = CountdownTask()


def puzzle(numbers=(3, 5, 4), target=5) -> Problem:
    return make_problem(numbers, target, TASK.config)


def test_example_puzzle():
    # 3 5 4 mod 7: add add 1 + 4 = 5; add mul 1 * 4 = 4; mul add 1 + 4 = 5; mul mul 1 * 4 = 4
    p = puzzle()
    assert p.prompt == "numbers 3 5 4 target 5 :"
    assert sorted(p.answer["solving"]) == ["add then add", "multiply then add"]
    unique = puzzle((2, 3, 4), 6)  # add add: 5+4=2; add mul: 5*4=6; mul add: 6+4=3; mul mul: 6*4=3
    assert unique.answer["solving"] == ["add then multiply"]


def test_task_protocol_and_determinism():
    assert isinstance(TASK, Task)
    a = TASK.sample_problems(50, np.random.default_rng(7))
    b = TASK.sample_problems(50, np.random.default_rng(7))
    c = TASK.sample_problems(50, np.random.default_rng(8))
    assert a == b
    assert a != c
    assert all(
        p.id == make_problem(tuple(p.answer["numbers"]), p.answer["target"], TASK.config).id
        for p in a
    )


def test_unique_solution_and_uniform_solving_strategy():
    problems = TASK.sample_problems(2000, np.random.default_rng(0))
    assert all(len(p.answer["solving"]) == 1 for p in problems)
    assert all(all(1 <= x < 7 for x in p.answer["numbers"]) for p in problems)
    counts = {name: 0 for name in map(grammar.strategy_name, TASK.strategies)}
    for p in problems:
        counts[p.answer["solving"][0]] += 1
    # a blind first choice solves a quarter of the puzzles
    assert all(abs(c / 2000 - 0.25) < 0.04 for c in counts.values())


def test_puzzle_size_knobs():
    task = CountdownTask(CountdownConfig(modulus=11, n_numbers=4, ops=("+", "-", "*")))
    assert len(task.strategies) == 27
    p = task.sample_problems(1, np.random.default_rng(0))[0]
    assert len(p.answer["numbers"]) == 4 and 0 <= p.answer["target"] < 11
    problems = task.sample_problems(20, np.random.default_rng(1))
    examples = task.sft_examples(20, np.random.default_rng(1))
    for problem, example in zip(problems, examples):
        assert set(example.response.split()) <= set(task.vocabulary())
        assert task.score(problem, example.response).diagnostics["well_formed"] == 1.0


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="CountdownConfig.backtrack_rate"):
        CountdownConfig(backtrack_rate=1.5)
    with pytest.raises(ValueError, match="CountdownConfig.ops"):
        CountdownConfig(ops=("/",))


P = puzzle((2, 3, 4), 6)  # solved only by add then multiply: 2 + 3 = 5 ; 5 * 4 = 6


def score(text: str):
    return TASK.score(P, text)


def test_correct_response():
    s = score(
        "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; let us check 6 vs 6 yes . "
        "so the answer is 6 ."
    )
    assert (s.reward, s.correct) == (1.0, True)
    d = s.diagnostics
    assert d["well_formed"] == 1 and d["attempts"] == 1 and d["backtracks"] == 0
    assert d["exec_error_rate"] == 0 and d["first_attempt_exec_error"] == 0
    assert math.isnan(d["backtrack_after_failed_check"])
    assert d["first_strategy_solves"] == 1 and d["planning_failure"] == 0


def test_correct_without_check():
    assert (
        score("thus we get add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; thus we get 6 .").reward
        == 0.0
    )
    assert (
        score("first we try add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; thus we get 6 .").reward
        == 1.0
    )


def test_wrong_arithmetic_is_wrong_even_if_it_lands_on_target():
    # 5 * 4 = 6 is right, but the first step is wrong and carried on: 2 + 3 = 4 ; 4 * 4 = 2
    s = score("we can use add then multiply : 2 + 3 = 4 ; 4 * 4 = 2 ; so the answer is 2 .")
    assert s.reward == 0.0 and s.diagnostics["exec_error_rate"] == 0.5
    assert s.diagnostics["first_attempt_exec_error"] == 1
    assert s.diagnostics["execution_failure"] == 1 and s.diagnostics["planning_failure"] == 0
    # a wrong step whose claimed result equals the target is still wrong
    s = score("we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 5 ; so the answer is 5 .")
    assert s.reward == 0.0
    lucky = make_problem((2, 3, 4), 5, TASK.config)
    s = TASK.score(
        lucky, "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 5 ; so the answer is 5 ."
    )
    assert s.reward == 0.0 and s.diagnostics["exec_error_rate"] == 0.5


def test_wrong_operands_and_ops_count_as_execution_errors():
    s = score("we can use add then multiply : 2 + 4 = 6 ; 6 * 4 = 3 ; so the answer is 3 .")
    assert s.diagnostics["exec_error_rate"] == 0.5  # 2 + 4 copies a wrong number
    s = score("we can use add then multiply : 2 + 3 = 5 ; 5 + 4 = 2 ; so the answer is 2 .")
    assert s.diagnostics["exec_error_rate"] == 0.5  # op differs from the declared strategy


@pytest.mark.parametrize(
    "text",
    [
        "",
        "so the answer is 6 .",  # no worked chain
        "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ;",  # truncated, no conclusion
        "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; so the answer is 6 . extra",
        "we can use divide : 2 + 3 = 5 ; 5 * 4 = 6 ; so the answer is 6 .",
        "we can use add then multiply : 2 + 3 = 5 ; so the answer is 5 .",  # missing a step
        "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; let us check 6 vs 6 maybe . so the answer is 6 .",
    ],
)
def test_malformed_responses_get_zero(text):
    s = score(text)
    assert s.reward == 0.0 and not s.correct and s.diagnostics["well_formed"] == 0.0


def test_malformed_keeps_diagnostics_of_parsed_attempts():
    s = score(
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 3 ; let us check 3 vs 6 no . wait let us"
    )
    assert s.diagnostics["attempts"] == 1 and s.diagnostics["exec_error_rate"] == 1 / 2


BACKTRACK_OK = (
    "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
    "wait let us try a different approach . the plan is to multiply then add : 2 * 3 = 6 ; 6 + 4 = 3 ; "
    "compare with the target 3 vs 6 no . instead try another strategy . "
    "one way is to add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; does it match the target 6 vs 6 yes . "
    "hence the final answer is 6 ."
)


def test_correct_after_backtracking():
    s = score(BACKTRACK_OK)
    assert s.reward == 1.0
    d = s.diagnostics
    assert d["attempts"] == 3 and d["backtracks"] == 2 and d["failed_checks"] == 2
    assert d["backtrack_after_failed_check"] == 1.0 and d["repeated_strategy"] == 0
    assert d["distinct_strategies"] == 3 and d["first_strategy_solves"] == 0
    assert d["exec_error_rate"] == 0 and d["check_error_rate"] == 0


def test_giving_up_and_repeating():
    give_up = score(
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . so the answer is 2 ."
    )
    assert give_up.reward == 0 and give_up.diagnostics["backtrack_after_failed_check"] == 0.0
    assert give_up.diagnostics["planning_failure"] == 1
    repeat = score(
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
        "wait let us try a different approach . we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; "
        "let us check 2 vs 6 no . so the answer is 2 ."
    )
    d = repeat.diagnostics
    assert repeat.reward == 0 and d["repeated_strategy"] == 1 and d["distinct_strategies"] == 1
    assert d["backtrack_after_failed_check"] == 0.5


def test_check_errors_are_counted():
    s = score(
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 yes . so the answer is 2 ."
    )
    assert s.diagnostics["check_error_rate"] == 1.0 and s.reward == 0


def test_summarize_pools_conditional_rates():
    rows = [
        score(BACKTRACK_OK).diagnostics,
        score(
            "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . so the answer is 2 ."
        ).diagnostics,
        score(
            "first we try add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; thus we get 6 ."
        ).diagnostics,
    ]
    out = TASK.summarize_diagnostics(rows)
    assert out["backtrack_after_failed_check"] == pytest.approx(2 / 3)  # 2 of 3 failed checks
    assert out["attempts"] == pytest.approx(5 / 3)
    assert out["exec_error_rate"] == pytest.approx(0.0)


def test_strategy_entropy_within_responses_and_pooled():
    backtracked = score(BACKTRACK_OK).diagnostics  # add add, multiply add, add multiply
    assert {k: v for k, v in backtracked.items() if k.startswith("tried/")} == {
        "tried/add then add": 1.0,
        "tried/multiply then add": 1.0,
        "tried/add then multiply": 1.0,
    }
    assert backtracked["strategy_entropy"] == pytest.approx(math.log(3))
    repeat = score(
        "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . "
        "wait let us try a different approach . we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; "
        "let us check 2 vs 6 no . so the answer is 2 ."
    ).diagnostics
    assert (
        repeat["tried/add then add"] == 2.0 and repeat["strategy_entropy"] == 0.0
    )  # a retry is no new strategy
    out = TASK.summarize_diagnostics(
        [backtracked, repeat]
    )  # add add 3, multiply add 1, add multiply 1
    p = np.array([3, 1, 1]) / 5
    assert out["strategy_entropy_pooled"] == pytest.approx(float(-(p * np.log(p)).sum()))
    assert out["strategy_entropy"] == pytest.approx(math.log(3) / 2)
    assert not any(k.startswith("tried/") for k in out)
    none = TASK.summarize_diagnostics([score("so the answer is 6 .").diagnostics])
    assert math.isnan(none["strategy_entropy"]) and math.isnan(none["strategy_entropy_pooled"])


def test_lexicon_file_and_planning_lexicon():
    from_file = StrategicLexicon.from_file(lexicon_path())
    assert set(from_file.phrases) == {p.phrase for p in grammar.move_phrases()}
    for move in grammar.MOVES:
        assert 3 <= len(grammar.phrases_of(move)) <= 5
    assert all(len(p.split()) >= 2 for p in from_file.phrases)
    assert {from_file.category(p) for p in from_file.phrases} == {
        "deduction",
        "branching",
        "backtracing",
    }
    lexicon = TASK.planning_lexicon()
    assert lexicon.category("add then multiply") == "deduction"
    grams = [s.phrase for s in lexicon.find_grams(BACKTRACK_OK)]
    assert grams[:3] == ["we can use", "add then add", "let us check"]
    assert (
        "wait let us try a different approach" in grams and "instead try another strategy" in grams
    )
    plain = CountdownTask(CountdownConfig(strategy_names_are_planning=False)).planning_lexicon()
    assert "add then multiply" not in plain.phrases and len(plain) == len(from_file)


def test_every_sft_word_is_in_the_vocabulary_and_corpus_parses():
    examples = TASK.sft_examples(300, np.random.default_rng(3))
    vocab = set(TASK.vocabulary())
    problems = TASK.sample_problems(300, np.random.default_rng(3))
    for problem, example in zip(problems, examples):
        assert problem.prompt == example.prompt
        assert set(example.prompt.split()) | set(example.response.split()) <= vocab
        assert TASK.score(problem, example.response).diagnostics["well_formed"] == 1.0


def corpus_summary(n=300, **knobs):
    task = CountdownTask(CountdownConfig(**knobs))
    rng = np.random.default_rng(11)
    problems = task.sample_problems(n, np.random.default_rng(11))
    examples = task.sft_examples(n, rng)
    scores = [task.score(p, e.response) for p, e in zip(problems, examples)]
    summary = task.summarize_diagnostics([s.diagnostics for s in scores])
    summary["accuracy"] = float(np.mean([s.correct for s in scores]))
    return summary, examples


def test_corpus_knobs_change_the_measured_rates():
    clean, _ = corpus_summary(add_error_rate=0.0, mul_error_rate=0.0)
    sloppy, _ = corpus_summary(add_error_rate=0.3, mul_error_rate=0.3)
    assert clean["exec_error_rate"] == 0.0 and 0.2 < sloppy["exec_error_rate"] < 0.4
    never, _ = corpus_summary(backtrack_rate=0.0)
    always, _ = corpus_summary(backtrack_rate=1.0, repeat_strategy_rate=0.0)
    assert never["backtrack_after_failed_check"] == 0.0 and never["attempts"] == 1.0
    # a failed check is always followed by a backtrack except on the last allowed attempt
    assert always["backtrack_after_failed_check"] > 0.9
    assert always["repeated_strategy"] == 0.0 and always["accuracy"] > 0.6 > never["accuracy"]
    repeat, _ = corpus_summary(backtrack_rate=1.0, repeat_strategy_rate=1.0)
    assert repeat["repeated_strategy"] > 0.5 and repeat["distinct_strategies"] == 1.0
    unchecked, _ = corpus_summary(check_rate=0.0)
    assert unchecked["checks"] == 0.0 and unchecked["backtracks"] == 0.0
    oracle, _ = corpus_summary(first_choice_oracle_rate=1.0)
    blind, _ = corpus_summary()
    assert oracle["first_strategy_solves"] == 1.0 and 0.15 < blind["first_strategy_solves"] < 0.35


def test_phrase_zipf_skews_the_paraphrases():
    _, skewed = corpus_summary(phrase_zipf=4.0)
    _, uniform = corpus_summary(phrase_zipf=0.0)
    first = grammar.phrases_of("choose")[0]
    share = lambda examples: np.mean([e.response.startswith(first) for e in examples])  # noqa: E731
    assert share(skewed) > 0.85 and share(uniform) < 0.35
