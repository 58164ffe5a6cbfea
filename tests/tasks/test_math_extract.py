"""The linear boxed-answer scanner agrees with the first (quadratic) implementation, kept in
boxed_reference.py, on both of its paths (plain loop for short texts, numpy for long ones), and
normalisation agrees with the regular expression it replaced. No timings here: the speed is
measured by benchmarks/bench_math_reward.py."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boxed_reference as reference  # noqa: E402

from hicra.tasks import math_extract  # noqa: E402
from hicra.tasks.math_extract import DeadlineExceeded, extract_boxed, find_boxed, scan_boxed  # noqa: E402
from hicra.tasks.math_reward import _strip_wrappers, normalize_answer  # noqa: E402

PIECES = [
    "\\boxed",
    "\\fbox",
    "\\boxedx",
    "\\boxedé",
    "\\",
    "\\\\",
    "{",
    "}",
    "\\{",
    "\\}",
    " ",
    "  ",
    "\n",
    "\t",
    "$",
    "x",
    "1",
    "é",
    "\u00a0",
    "\u3000",
    "²",
    "\x00",
    "\ud800",
    "\U0001d400",
    "a b",
    ".",
    "\\frac{1}{2}",
]


def _boxes(depth: int):
    """Text built like answers are: boxes in any form, nested, closed or not, among pieces."""
    leaf = st.sampled_from(PIECES)
    if depth == 0:
        return leaf
    inner = st.lists(_boxes(depth - 1), max_size=3).map("".join)
    box = st.tuples(
        st.sampled_from(["\\boxed", "\\fbox", "\\boxedx"]),
        st.sampled_from(["", " ", "  "]),
        st.sampled_from(["{", "{ ", "{\n", ""]),
        inner,
        st.sampled_from(["}", " }", ""]),
    )
    return st.one_of(leaf, box.map("".join))


TEXTS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.lists(_boxes(4), max_size=4).map("".join),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_both_paths_agree_with_the_reference(text):
    expected = (reference.find_boxed(text), reference.extract_boxed(text))
    for small in (0, 1 << 30):  # numpy path, loop path
        boxed = scan_boxed(text, small=small)
        assert (boxed.contents, boxed.answer) == expected, small


DELIMITERS = ["$", "\\", "(", ")", "[", "]", "x", " ", "\\(", "\\)", "\\[", "\\]", "."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(DELIMITERS), max_size=10).map("".join))
def test_normalisation_matches_the_regular_expression_it_replaced(text):
    assert normalize_answer(text) == reference.normalize_answer(text)
    old = re.compile(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$")
    assert _strip_wrappers(text.strip()) == old.sub("", text.strip())


def test_whitespace_table_is_str_isspace():
    assert math_extract._WHITESPACE.tolist() == [c for c in range(0x110000) if chr(c).isspace()]


@pytest.mark.parametrize("small", [0, 1 << 30])
@pytest.mark.parametrize(
    "text, answer, count",
    [
        (r"\boxed{" * 3000 + r" \boxed{7}", "7", 1),  # unclosed boxes before a good one
        (r"\boxed{" * 3000 + "3" + "}" * 3000, "3", 1),  # nested boxes unwrap
        (r"\boxed{ \fbox{ \boxed{4} } }", "4", 1),
        (r"\boxed{ \fbox{ \boxed 4 } }", r"\boxed 4", 1),  # unwrapping stops: no } at its end
        (r"\boxed 1 " * 2000, "1", 2000),  # one-token boxes
        ("{" * 5000 + r"\boxed{9}" + "}" * 5000, "9", 1),
        ("\\{" * 2000 + r"\boxed{\}}", "\\}", 1),  # escaped braces never close a group
        (r"\boxed{1" + "\x00" * 100 + "}", "1" + "\x00" * 100, 1),
        (r"\boxed{数学 😀}", "数学 😀", 1),
        (r"\boxedé{1} \boxed{\def\a{\a\a}\a}", r"\def\a{\a\a}\a", 1),
        (r"\boxed{x" + "$" * 5000 + "}", "x" + "$" * 5000, 1),
        (r"\boxed{" + " \u3000\n" * 1000 + "5" + "\t " * 1000 + "}", "5", 1),
    ],
)
def test_adversarial_families_extract_what_the_rules_say(text, answer, count, small):
    boxed = scan_boxed(text, small=small)
    assert (boxed.answer, len(boxed.contents)) == (answer, count)
    assert boxed.answer == extract_boxed(text) and boxed.contents == find_boxed(text)


def test_a_passed_deadline_stops_the_scan():
    with pytest.raises(DeadlineExceeded):
        scan_boxed(r"\boxed{" * 50_000, deadline=0.0)
    assert scan_boxed("no box", deadline=0.0).answer is None  # nothing to scan: nothing raised
