"""Math reward: boxed extraction, equivalence through math-verify, deadlines in any thread or process."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

pytest.importorskip("math_verify")

from hicra.tasks.math_reward import (  # noqa: E402
    VerifierPool,
    answers_equivalent,
    compute_score,
    extract_boxed,
    find_boxed,
    normalize_answer,
    quick_verdict,
    score_response,
)


@pytest.fixture(scope="module")
def pool():
    pool = VerifierPool(size=1)
    yield pool
    pool.close()


# ------------------------------------------------------------------ extraction
@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so the answer is \boxed{42}.", "42"),
        (r"\boxed{1} no wait \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{\left\{ x \mid x^{2} > 1 \right\}}", r"\left\{ x \mid x^{2} > 1 \right\}"),
        (r"\fbox{7}", "7"),
        (r"$\boxed 5$", "5"),
        (r"\boxed {  3 }", "3"),
        (r"\boxed{\boxed{3}}", "3"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\boxed{a} and \boxed{b", "a"),  # the last box is unbalanced: the last complete one wins
        (r"\boxedx{5}", None),  # another macro, not a box
        ("no box at all", None),
        (r"\boxed{", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_find_boxed_counts_top_level_boxes_only():
    assert find_boxed(r"\boxed{\boxed{1}} \fbox{2}") == [r"\boxed{1}", "2"]


def test_extraction_of_a_huge_input():  # its speed: benchmarks/bench_math_reward.py
    text = "{" * 200_000 + r"\boxed{" + "{" * 100_000 + "}" * 100_001 + r" \boxed{9}"
    assert extract_boxed(text) == "9"


@pytest.mark.parametrize(
    "raw, normalized",
    [
        ("$1{,}000$", "1000"),
        ("1,000,000", "1000000"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        ("1,2", "1,2"),
        (r"\left( 1, 2 \right)", "(1,2)"),
        ("12.", "12"),
    ],
)
def test_normalize_answer(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_quick_verdict_decides_only_cheap_cases():
    assert quick_verdict("1,000", "1000") is True
    assert quick_verdict("3", "-3") is False
    assert quick_verdict("0.5", r"\frac12") is None


# ------------------------------------------------------------------ equivalence table
EQUIVALENT = [
    (r"\frac{1}{2}", "0.5"),
    (r"\frac12", r"\dfrac{1}{2}"),
    ("1/2", "0.5"),
    (r"50\%", "0.5"),
    ("1000", "1,000"),
    ("1000", "1{,}000"),
    (r"\pi", "3.14159265"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"),
    (r"\{1,2\}", r"\{2,1\}"),
    ("[1,2)", "[1, 2)"),
    (r"(-\infty, 3]", r"(-\infty,3]"),
    ("10", r"10\text{ cm}"),
    ("-3", "-3.0"),
    ("x^2+2x+1", "(x+1)^2"),
    ("0.333333", r"\frac13"),
    (r"\text{east}", "east"),
    ("3", "x=3"),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1 & 2\\ 3 & 4\end{pmatrix}"),
    ("-\\frac{1}{3}", "\\frac{-1}{3}"),
]
NOT_EQUIVALENT = [
    ("3", "-3"),
    ("(1,2)", "[1,2]"),
    ("(1,2)", "(2,1)"),
    ("1/3", "0.33"),
    (r"\sqrt{2}", "1.41"),
    (r"\pi", "3.14"),
    ("1000", "100"),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1&2\\3&5\end{pmatrix}"),
    ("x^2", "x^3"),
    (r"\frac{1}{2}", r"\frac{2}{1}"),
]


@pytest.mark.parametrize("gold, predicted", EQUIVALENT)
def test_equivalent_pairs(gold, predicted, pool):
    assert answers_equivalent(gold, predicted, timeout_s=10, pool=pool) is True


@pytest.mark.parametrize("gold, predicted", NOT_EQUIVALENT)
def test_not_equivalent_pairs(gold, predicted, pool):
    assert answers_equivalent(gold, predicted, timeout_s=10, pool=pool) is False


def test_model_text_is_never_evaluated(tmp_path, pool):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    result = score_response(rf"\boxed{{{payload}}}", "0", pool=pool, timeout_s=10)
    assert not result.correct
    assert not marker.exists()


def test_sympy_parse_expr_only_sees_number_literals(monkeypatch):
    """sympy's parse_expr evaluates its input with eval. math-verify's plain-expression
    extraction hands it whole answers; hicra uses LaTeX extraction only, where the sole route to
    it is latex2sympy's `sympy.Number(token)` on a lexer-validated number literal. (Routing the
    answers through ExprExtractionConfig alone makes this test fail.)"""
    import re

    import math_verify.parser
    import sympy.parsing.sympy_parser

    from hicra.tasks.math_reward import _verify_in_this_process

    pairs = [
        ("1/2", "0.5", True),
        ("x^2+2x+1", "(x+1)^2", True),
        ("3", "a+b", False),
        ("3", "__import__('os').getpid()", False),
    ]
    for gold, predicted, _ in pairs:  # sympy imports some modules lazily; let that happen first
        _verify_in_this_process(gold, predicted)
    original, seen = sympy.parsing.sympy_parser.parse_expr, []

    def numbers_only(text, *args, **kwargs):
        seen.append(text)
        if not re.fullmatch(r"[0-9.]+", str(text)):
            raise AssertionError(f"parse_expr called on {text!r}")
        return original(text, *args, **kwargs)

    monkeypatch.setattr(math_verify.parser, "parse_expr", numbers_only)
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", numbers_only)
    math_verify.parser.parse_expr_cached.cache_clear()
    math_verify.parser.parse_latex_cached.cache_clear()
    for gold, predicted, equivalent in pairs:
        assert _verify_in_this_process(gold, predicted) is equivalent
    assert seen and all(re.fullmatch(r"[0-9.]+", str(text)) for text in seen)


# ------------------------------------------------------------------ scoring
def test_score_response_reward_and_format(pool):
    good = score_response(r"thus \boxed{\dfrac{1}{2}}", r"\frac12", pool=pool, timeout_s=10)
    assert (good.correct, good.format_ok, good.reward, good.predicted) == (
        True,
        True,
        1.0,
        r"\dfrac{1}{2}",
    )
    two_boxes = score_response(r"\boxed{3} or \boxed{4}", "4", format_reward=0.1, pool=pool)
    assert two_boxes.correct and not two_boxes.format_ok and two_boxes.reward == 1.0
    empty = score_response(r"\boxed{}", "4", format_reward=0.1, incorrect_reward=-1.0, pool=pool)
    assert (empty.correct, empty.format_ok, empty.reward) == (False, False, -1.0)
    formatted_wrong = score_response(r"\boxed{5}", "4", format_reward=0.1, pool=pool)
    assert formatted_wrong.reward == pytest.approx(0.1)


def test_ground_truth_may_be_a_worked_solution(pool):
    assert score_response(r"\boxed{6}", r"2+4 gives $\boxed{6}$.", pool=pool).correct


def test_compute_score_dict(pool):
    result = compute_score(r"\boxed{12}", "12", pool=pool)
    assert result == {
        "score": 1.0,
        "acc": True,
        "pred": "12",
        "format_ok": True,
        "timed_out": False,
    }


# ------------------------------------------------------------------ deadlines
PATHOLOGICAL = [r"9^{9^{9^{9}}}", r"10^{10^{10^{10}}}!"]


def test_pathological_inputs_time_out_in_a_worker_thread_and_the_pool_recovers(pool):
    # math-verify's own timeout (signal.alarm) raises outside the main thread; ours does not.
    results = {}

    def work():
        for predicted in PATHOLOGICAL:
            start = time.monotonic()
            results[predicted] = (
                answers_equivalent("1", predicted, timeout_s=0.5, pool=pool),
                time.monotonic() - start,
            )
        start = time.monotonic()
        nested = "(" * 400 + "1" + ")" * 400  # deeply nested: a verdict or a timeout, in time
        results["nested"] = (
            answers_equivalent("2", nested, timeout_s=1.0, pool=pool),
            time.monotonic() - start,
        )
        results["after"] = answers_equivalent(r"\frac12", "0.5", timeout_s=30, pool=pool)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(120)
    for predicted in PATHOLOGICAL:
        verdict, seconds = results[predicted]
        assert verdict is None and seconds < 5.0, (predicted, verdict, seconds)
    assert results["nested"][0] in (False, None) and results["nested"][1] < 6.0
    assert results["after"] is True


def _score_in_child(predicted):
    result = score_response(rf"\boxed{{{predicted}}}", "1", timeout_s=0.5)
    return result.correct, result.timed_out


def test_timeout_from_a_daemonic_worker_process():
    # multiprocessing.Pool workers are daemonic and may not use multiprocessing children:
    # the verifier pool uses plain subprocesses, so this works.
    with multiprocessing.get_context("spawn").Pool(1) as workers:
        assert workers.map(_score_in_child, [PATHOLOGICAL[0]]) == [(False, True)]
