"""The first implementation of boxed-answer extraction, kept verbatim as the reference the
linear scanner (hicra.tasks.math_extract) must agree with. It rescans the text from every
unclosed box (quadratic), so the tests run it on small inputs only."""

from __future__ import annotations

import re

BOX_COMMANDS = ("\\boxed", "\\fbox")


def _boxed_starts(text: str) -> list[tuple[int, int]]:
    """(start of the command, index just after its name) for every \\boxed / \\fbox in text."""
    found = []
    for command in BOX_COMMANDS:
        start = text.find(command)
        while start != -1:
            after = start + len(command)
            # `\boxedx` is another macro; `\boxed{`, `\boxed {` and `\boxed 5` are boxes.
            if after >= len(text) or not text[after].isalpha():
                found.append((start, after))
            start = text.find(command, after)
    return sorted(found)


def _box_argument(text: str, after: int) -> tuple[str, int] | None:
    """The argument of a box command whose name ends at `after`, and the index past it.

    Braces are matched by depth, skipping escaped `\\{` and `\\}`; None when unbalanced.
    """
    i = after
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        # `\boxed 5` (TeX's one-token argument): up to the next space, `$` or end.
        match = re.match(r"[^\s$]+", text[i:])
        return (match.group(0), i + match.end()) if match else None
    depth = 0
    j = i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2  # an escaped character never opens or closes a group
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
        j += 1
    return None


def find_boxed(text: str) -> list[str]:
    """Contents of all top-level, balanced boxes in order of appearance (boxes nested in a box
    count as part of the outer one).

    >>> find_boxed(r"\\boxed{1} then \\fbox{x^{2}} then \\boxed{\\boxed{3}}")
    ['1', 'x^{2}', '\\\\boxed{3}']
    """
    contents, end_of_last = [], 0
    for start, after in _boxed_starts(text):
        if start < end_of_last:
            continue
        parsed = _box_argument(text, after)
        if parsed is not None:
            contents.append(parsed[0])
            end_of_last = parsed[1]
    return contents


def extract_boxed(text: str) -> str | None:
    """The content of the last complete \\boxed{...} (or \\fbox{...}) in text; None if none.
    A box nested inside it (`\\boxed{\\boxed{3}}`) is unwrapped.
    """
    contents = find_boxed(text)
    if not contents:
        return None
    answer = contents[-1].strip()
    inner = find_boxed(answer)
    while len(inner) == 1 and answer.startswith(BOX_COMMANDS) and answer.endswith("}"):
        answer = inner[0].strip()
        inner = find_boxed(answer)
    return answer


_WRAPPERS = re.compile(r"^\$+|\$+$|^\\\(|\\\)$|^\\\[|\\\]$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?:\.\d+)?$")


def normalize_answer(answer: str) -> str:
    """Light, meaning-preserving clean-up done before any comparison.

    Strips math delimiters and spaces, `\\left`/`\\right`, `\\dfrac`/`\\tfrac` -> `\\frac`,
    thousands separators in plain numbers (`1,000` / `1{,}000` / `1\\,000` -> `1000`), and a
    trailing full stop.

    >>> normalize_answer(r"$1{,}000.$")
    '1000'
    """
    text = answer.strip().rstrip(".").strip()
    text = _WRAPPERS.sub("", text).strip().rstrip(".")
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = re.sub(r"\s+", "", text)
    if _THOUSANDS.match(text):
        text = text.replace("{,}", "").replace("\\,", "").replace(",", "")
    return text.rstrip(".")
