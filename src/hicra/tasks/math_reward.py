"""Math answer checking: the last \\boxed{...} of a response against a reference answer.

Extraction is a linear-time scan (`hicra.tasks.math_extract`: nested braces, `\\boxed{...}`,
`\\boxed x`, `\\fbox{...}`); equivalence is math-verify's (`math_verify.parse` +
`math_verify.verify`, LaTeX extraction only, so sympy's `parse_expr` -- which calls `eval` --
never sees model text), run in a pool of worker processes with a deadline
(`hicra.tasks.math_verifier`). Cheap cases never leave the calling process: identical
normalised strings are correct, two different plain integers are wrong.

One deadline (`timeout_s`, from the call's start) covers everything a call does: extraction,
the wait for a free worker and the check. A call that runs out of time is scored as wrong, with
`timed_out=True` and `timeout_stage` saying where: "extract", "wait" or "verify".

    >>> extract_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{\\{1, 2\\}}")
    '\\\\{1, 2\\\\}'
    >>> score_response(r"The answer is \\boxed{0.5}.", r"\\frac12").correct
    True
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from hicra.tasks.base import Score
from hicra.tasks.math_extract import (
    BOX_COMMANDS,
    DeadlineExceeded,
    extract_boxed,
    find_boxed,
    scan_boxed,
)
from hicra.tasks.math_verifier import Verdict, VerifierPool, default_pool, verify_latex

__all__ = [
    "BOX_COMMANDS",
    "MathScore",
    "VerifierPool",
    "answers_equivalent",
    "compute_score",
    "default_pool",
    "extract_boxed",
    "find_boxed",
    "normalize_answer",
    "quick_verdict",
    "reference_answer",
    "score_response",
]
_verify_in_this_process = verify_latex  # the name earlier versions used

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?:\.\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d{1,60}$")


def _strip_wrappers(text: str) -> str:
    r"""text without a leading `$...`, `\(` or `\[` and a trailing `...$`, `\)` or `\]`.

    Exactly what `re.sub(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$", "", text)` gives on a
    stripped text, without its quadratic backtracking on a long run of `$` (8,000 took 3.6 s).

    >>> _strip_wrappers("$$x$$"), _strip_wrappers(r"\(1\)"), _strip_wrappers("2$$3")
    ('x', '1', '2$$3')
    """
    start = 0
    if text.startswith("$"):
        start = len(text) - len(text.lstrip("$"))
    elif text.startswith(("\\(", "\\[")):
        start = 2
    elif text in ("\\)", "\\]"):
        return ""
    end = len(text.rstrip("$"))
    if end == len(text) and text.endswith(("\\)", "\\]")):
        end -= 2
    return text[start : max(start, end)]


def normalize_answer(answer: str) -> str:
    """Light, meaning-preserving clean-up done before any comparison.

    Strips math delimiters and spaces, `\\left`/`\\right`, `\\dfrac`/`\\tfrac` -> `\\frac`,
    thousands separators in plain numbers (`1,000` / `1{,}000` / `1\\,000` -> `1000`), and a
    trailing full stop.

    >>> normalize_answer(r"$1{,}000.$")
    '1000'
    """
    text = answer.strip().rstrip(".").strip()
    text = _strip_wrappers(text).strip().rstrip(".")
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\s+", "", text)
    if _THOUSANDS.match(text):
        text = text.replace("{,}", "").replace("\\,", "").replace(",", "")
    return text.rstrip(".")


def quick_verdict(gold: str, predicted: str) -> bool | None:
    """Decide the cheap cases without sympy: True for identical normalised strings, False for
    two different plain integers (no rounding or form can make them equal); None otherwise.
    """
    gold_n, pred_n = normalize_answer(gold), normalize_answer(predicted)
    if gold_n and gold_n == pred_n:
        return True
    if _INTEGER.match(gold_n) and _INTEGER.match(pred_n):
        return int(gold_n) == int(pred_n)
    return None


# ----------------------------------------------------------------------------- public scoring
@dataclass(frozen=True)
class MathScore:
    """The verdict on one response.

    reward: correct_reward or incorrect_reward, plus format_reward when the format check passes.
    correct: the last boxed answer is equivalent to the reference.
    predicted: the extracted answer (None when the response has no complete box, or when the
        extraction itself ran out of time).
    format_ok: the response holds exactly one top-level box, and it is not empty.
    timed_out: the call ran out of time before a verdict (counted as incorrect).
    timeout_stage: where it ran out: "extract", "wait" (no free worker in time), "verify".
    """

    reward: float
    correct: bool
    predicted: str | None
    format_ok: bool
    timed_out: bool = False
    timeout_stage: str | None = None


def _verdict(gold: str, predicted: str, deadline: float, pool: VerifierPool | None) -> Verdict:
    verdict = quick_verdict(gold, predicted)
    if verdict is not None:
        return Verdict(verdict)
    pool = pool or default_pool()
    return pool.check(normalize_answer(gold), normalize_answer(predicted), deadline)


def answers_equivalent(
    gold: str, predicted: str, timeout_s: float = 5.0, pool: VerifierPool | None = None
) -> bool | None:
    """Whether predicted equals gold; None when there was no verdict within timeout_s (waiting
    for a free worker included). Safe in any thread or process."""
    return _verdict(gold, predicted, time.monotonic() + timeout_s, pool).equivalent


def reference_answer(ground_truth: str, deadline: float | None = None) -> str:
    """The gold answer: its last box when it is a worked solution, else the text itself."""
    boxed = scan_boxed(ground_truth, deadline).answer
    return boxed if boxed is not None else ground_truth.strip()


def score_response(
    response: str,
    ground_truth: str,
    *,
    correct_reward: float = 1.0,
    incorrect_reward: float = 0.0,
    format_reward: float = 0.0,
    timeout_s: float = 5.0,
    pool: VerifierPool | None = None,
) -> MathScore:
    """Score a response by its last boxed answer.

    response: generated text (after the prompt). ground_truth: a reference answer, or a worked
    solution whose last box is the answer. format_reward (0 = off) is added when the response
    has exactly one non-empty box. timeout_s: the deadline of the whole call, from extraction to
    verdict; a call past it scores incorrect_reward (+ format_reward if the format was checked)
    with timed_out=True. It returns within timeout_s plus the pool's grace_s (0.1 s by default);
    only the pool's one-off first start is not counted (see VerifierPool).
    """
    deadline = time.monotonic() + timeout_s
    try:
        boxed = scan_boxed(response, deadline)
    except DeadlineExceeded:
        return MathScore(incorrect_reward, False, None, False, True, "extract")
    format_ok = boxed.count == 1 and bool(boxed.contents[0].strip())
    predicted, verdict = boxed.answer, Verdict(False)
    if predicted:
        try:
            verdict = _verdict(reference_answer(ground_truth, deadline), predicted, deadline, pool)
        except DeadlineExceeded:
            verdict = Verdict(None, "extract")
    correct = bool(verdict.equivalent)
    reward = correct_reward if correct else incorrect_reward
    reward += format_reward if format_ok else 0.0
    timed_out = verdict.equivalent is None
    return MathScore(reward, correct, predicted, format_ok, timed_out, verdict.stage)


def compute_score(solution_str: str, ground_truth: str, **options) -> dict:
    """verl-style result dict: {"score", "acc", "pred", "format_ok", "timed_out"}.

    options are score_response's keyword arguments.
    """
    result = score_response(solution_str, ground_truth, **options)
    return {
        "score": result.reward,
        "acc": result.correct,
        "pred": result.predicted if result.predicted is not None else "",
        "format_ok": result.format_ok,
        "timed_out": result.timed_out,
    }


def task_score(response: str, ground_truth: str, **options) -> Score:
    """`score_response` as a task's `Score` (the math task and word-arith): the reward, the
    verdict and the per-response diagnostics boxed_rate, format_ok_rate and
    verify_timeout_rate. `options` are score_response's keyword arguments."""
    result = score_response(response, ground_truth, **options)
    return Score(
        reward=result.reward,
        correct=result.correct,
        diagnostics={
            "boxed_rate": float(result.predicted is not None),
            "format_ok_rate": float(result.format_ok),
            "verify_timeout_rate": float(result.timed_out),
        },
    )
