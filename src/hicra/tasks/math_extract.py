"""Final-answer extraction: the last top-level `\\boxed{...}` / `\\fbox{...}` of a response.

The rules (unchanged from the first, quadratic implementation, which the tests keep as a
reference and compare against):
- a box command is `\\boxed` or `\\fbox` not followed by a letter (`\\boxedx` is another macro);
- its argument follows optional spaces: a brace group matched by depth, where a backslash
  escapes the next character (`\\{`, `\\}` never open or close a group), or TeX's one-token form
  `\\boxed 5` (up to the next whitespace or `$`);
- boxes are taken left to right; a box nested in a box belongs to it; a box whose group never
  closes is ignored (the scan goes on right after its command);
- the answer is the last top-level box, stripped; `\\boxed{\\boxed{3}}` unwraps to `3`.

Why it is hand-written: every library extractor (math-verify's included) rescans the text from
each unclosed box, which is quadratic: `\\boxed{` repeated 9,000 times took a minute. Here one pass,
vectorised with numpy, finds every box command, its argument and where each brace group closes
(`_group_closes`: backslash runs, brace depth and the first closing brace at each depth); boxes
are then picked in a loop that jumps over whatever a taken box covers, so the work is linear in
the text's length (up to an n log n sort in C). Unwrapping nested boxes reuses that one pass on
sub-ranges instead of re-scanning copies.

    >>> extract_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{\\{1, 2\\}}")
    '\\\\{1, 2\\\\}'
    >>> find_boxed(r"\\boxed{1} then \\fbox{x^{2}} then \\boxed{\\boxed{3}} and \\boxed{4")
    ['1', 'x^{2}', '\\\\boxed{3}']
"""

from __future__ import annotations

import functools
import re
import time
from bisect import bisect_left

import numpy as np

BOX_COMMANDS = ("\\boxed", "\\fbox")
_COMMAND_CODES = [np.array([ord(c) for c in command], dtype=np.uint32) for command in BOX_COMMANDS]
# the code points of str.isspace (which is also what re's \s matches); a test keeps this exact
_WHITESPACE = np.array(
    [
        9,
        10,
        11,
        12,
        13,
        28,
        29,
        30,
        31,
        32,
        133,
        160,
        5760,
        *range(8192, 8203),
        8232,
        8233,
        8239,
        8287,
        12288,
    ],
    dtype=np.uint32,
)
_LEADING_WHITESPACE = re.compile(r"\s*")  # \s is exactly str.isspace
_COMMAND = re.compile(r"\\(?:boxed|fbox)")
_SPACES = re.compile(r" *")
_TOKEN = re.compile(r"[^\s$]+")  # `\boxed 5`: TeX's one-token argument
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.S)  # a backslash takes the next character with it
_BACKSLASH, _OPEN, _CLOSE, _SPACE, _DOLLAR = 92, 123, 125, 32, 36
_CHECK_EVERY = 4096  # loop iterations between deadline checks


class DeadlineExceeded(Exception):
    """The extraction ran past its deadline (only when a deadline was given)."""


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded


def _next_where(mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each position, the first index >= it where mask holds (len(mask) if none)."""
    hits = np.flatnonzero(mask)
    k = np.searchsorted(hits, positions)
    found = hits[np.minimum(k, hits.size - 1)] if hits.size else 0
    return np.where(k < hits.size, found, mask.size)


def _previous_where(mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each position, the last index < it where mask holds (-1 if none)."""
    hits = np.flatnonzero(mask)
    k = np.searchsorted(hits, positions) - 1
    return np.where(k >= 0, hits[np.maximum(k, 0)] if hits.size else -1, -1)


def _box_commands(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, afters): where each box command starts and where its name ends, in order.

    A command followed by a letter (str.isalpha, so `\\boxedé` too) is another macro."""
    n = codes.size
    backslashes = np.flatnonzero(codes == _BACKSLASH)
    starts, afters = [], []
    for command in _COMMAND_CODES:
        found = backslashes[backslashes <= n - command.size]
        for offset in range(1, command.size):
            found = found[codes[found + offset] == command[offset]]
        starts.append(found)
        afters.append(found + command.size)
    starts, afters = np.concatenate(starts), np.concatenate(afters)
    order = np.argsort(starts, kind="stable")
    starts, afters = starts[order], afters[order]
    following = codes[np.minimum(afters, n - 1)]
    upper, lower = (following >= 65) & (following <= 90), (following >= 97) & (following <= 122)
    ascii_letter = upper | lower
    wide = np.unique(following[following >= 128])
    wide_letters = np.array([c for c in wide.tolist() if chr(c).isalpha()], dtype=np.uint32)
    letter = ascii_letter | np.isin(following, wide_letters)
    keep = (afters >= n) | ~letter
    return starts[keep], afters[keep]


def _group_closes(codes: np.ndarray, opens: np.ndarray, check=lambda: None) -> np.ndarray:
    """For each `{` position in opens, the position of the `}` closing its group, or -1
    (check() is called between steps: it raises DeadlineExceeded when time is up).

    A character is escaped when an odd run of backslashes precedes it (a scan from any box's `{`
    pairs backslashes the same way, since a box's `{` is never itself escaped). With depth D =
    the running count of unescaped `{` minus `}`, the group opened at o (D = d just after o)
    closes at the first unescaped `}` after o where D falls to d - 1.
    """
    braces = np.flatnonzero((codes == _OPEN) | (codes == _CLOSE))  # (M,) positions of { and }
    index = np.arange(codes.size)
    last_other = np.maximum.accumulate(np.where(codes == _BACKSLASH, -1, index))  # last non-\ <= i
    run_before = braces - 1 - last_other[np.maximum(braces - 1, 0)]
    braces = braces[(braces == 0) | (run_before % 2 == 0)]  # the unescaped ones, in order
    check()
    is_close = codes[braces] == _CLOSE
    depth = np.cumsum(np.where(is_close, -1, 1))  # (M,) D just after each brace
    closes, close_depth = braces[is_close], depth[is_close]
    result = np.full(opens.size, -1, dtype=np.int64)
    if closes.size == 0:
        return result
    # the first close after o at depth d - 1: sort closes by (depth, position), search (d - 1, o)
    stride = np.int64(codes.size + 1)
    low = int(close_depth.min())
    keys = np.sort((close_depth - low).astype(np.int64) * stride + closes)
    check()
    level = (depth[np.searchsorted(braces, opens)] - 1 - low).astype(np.int64)
    found = np.searchsorted(keys, level * stride + opens, side="right")
    candidate = keys[np.minimum(found, keys.size - 1)]
    ok = (level >= 0) & (found < keys.size) & (candidate // stride == level)
    result[ok] = candidate[ok] % stride
    return result


def _whitespace_or_dollar(codes: np.ndarray) -> np.ndarray:
    """(N,) bool: where a one-token argument stops (str.isspace, or `$`)."""
    mask = ((codes >= 9) & (codes <= 13)) | ((codes >= 28) & (codes <= 32)) | (codes == 133)
    mask |= (codes == 160) | (codes == _DOLLAR)
    wide = np.flatnonzero(codes >= 5760)
    if wide.size:
        mask[wide] = np.isin(codes[wide], _WHITESPACE)
    return mask


class _BoxScan:
    """One pass over a text: every box command and its argument, parsed as if the text ended at
    its end; `top_level` then picks boxes inside any range, clipping arguments at the range's end.

    Per command that parses in the whole text (lists, in order of position): starts, afters (end
    of its name), args (first non-space after it), brace (argument is a brace group), closes (its
    `}`), ends (end of the box in the whole text: past the `}`, or the token's end), next_free
    (the first command at or after ends), for brace groups the stripped content (inner_lo,
    inner_hi) and filled_by (the brace box that is exactly that content, or -1). Positions are
    into the text; the arrays cover it from its first box command on.
    """

    def __init__(self, text: str, deadline: float | None = None, small: int = 16_384) -> None:
        self.text = text
        self.deadline = deadline
        self.starts: list[int] = []
        self.next_free: list[int] = []
        found = (text.find("\\boxed"), text.find("\\fbox"))
        first = min((at for at in found if at >= 0), default=-1)
        if first < 0:
            return
        # nothing before the first command matters (its own `\\` is never escaped by it)
        if len(text) - first <= small:
            self._parse_loop(first)  # fewer steps than numpy's fixed cost on short texts
        else:
            self._parse_vectorised(first)
        _check(deadline)

    def _keep(self, start: int, after: int, arg: int, brace: bool, close: int, end: int) -> None:
        self.starts.append(start)
        self.afters.append(after)
        self.args.append(arg)
        self.brace.append(brace)
        self.closes.append(close)
        self.ends.append(end)

    def _parse_loop(self, first: int) -> None:
        """The per-command facts by a plain loop: the same results as _parse_vectorised."""
        text, n = self.text, len(self.text)
        self.afters, self.args, self.brace, self.closes, self.ends = [], [], [], [], []
        self.inner_lo, self.inner_hi = [], []
        commands = []
        for match in _COMMAND.finditer(text, first):
            after = match.end()
            if after >= n or not text[after].isalpha():
                commands.append((match.start(), after, _SPACES.match(text, after).end()))
        opens = [arg for _, _, arg in commands if arg < n and text[arg] == "{"]
        close_of, stack = {}, []
        for token in _BRACE_TOKEN.finditer(text, opens[0] if opens else n):
            char = token.group()
            if char == "{":
                stack.append(token.start())
            elif char == "}" and stack:
                close_of[stack.pop()] = token.start()
        for start, after, arg in commands:
            if arg >= n:
                continue
            if text[arg] == "{":
                if arg not in close_of:
                    continue  # a group that never closes
                close = close_of[arg]
                self._keep(start, after, arg, True, close, close + 1)
                inner = self.strip(arg + 1, close)
            elif token := _TOKEN.match(text, arg):
                self._keep(start, after, arg, False, -1, token.end())
                inner = (0, 0)
            else:
                continue
            self.inner_lo.append(inner[0])
            self.inner_hi.append(inner[1])
        self.next_free = [bisect_left(self.starts, end, k + 1) for k, end in enumerate(self.ends)]
        self.filled_by = [-1] * len(self.starts)  # answer()'s fast step covers short texts

    def _parse_vectorised(self, first: int) -> None:
        """The per-command facts with numpy, on text[first:]: linear however many commands,
        braces or backslashes it holds."""
        encoded = self.text[first:].encode("utf-32-le", "surrogatepass")
        codes = np.frombuffer(encoded, dtype=np.uint32)
        n = codes.size
        check = functools.partial(_check, self.deadline)  # between steps of ~10 ms per MB
        starts, afters = _box_commands(codes)
        check()
        arg = _next_where(codes != _SPACE, afters)
        stop = _whitespace_or_dollar(codes)
        check()
        head = codes[np.minimum(arg, n - 1)]
        brace = (arg < n) & (head == _OPEN)
        token = (arg < n) & ~brace & ~stop[np.minimum(arg, n - 1)]
        closes = np.full(starts.size, -1, dtype=np.int64)
        if brace.any():
            opens = arg[brace]
            closes[brace] = _group_closes(codes[opens[0] :], opens - opens[0], check) + opens[0]
            closes[brace & (closes < opens[0])] = -1
        check()
        ok = (brace & (closes >= 0)) | token
        starts, afters, arg, brace, closes = starts[ok], afters[ok], arg[ok], brace[ok], closes[ok]
        ends = np.where(brace, closes + 1, _next_where(stop, arg))
        check()
        space = stop & (codes != _DOLLAR)
        inner_lo = np.minimum(_next_where(~space, arg + 1), closes)
        inner_hi = np.maximum(_previous_where(~space, closes) + 1, inner_lo)
        check()
        self.starts, self.afters = (first + starts).tolist(), (first + afters).tolist()
        self.args, self.brace = (first + arg).tolist(), brace.tolist()
        self.closes, self.ends = (first + closes).tolist(), (first + ends).tolist()
        self.next_free = np.searchsorted(starts, ends).tolist()
        self.inner_lo, self.inner_hi = (first + inner_lo).tolist(), (first + inner_hi).tolist()
        # the brace box j that fills brace box k's stripped content exactly (`\\boxed{\\boxed{..}}`)
        j = np.minimum(np.searchsorted(starts, inner_lo), max(starts.size - 1, 0))
        fills = (
            brace
            & (starts[j] == inner_lo)
            & brace[j]
            & (closes[j] == inner_hi - 1)
            & (afters[j] <= inner_hi)
            & (arg[j] < inner_hi)
        )
        self.filled_by = np.where(fills, j, -1).tolist()

    def all_top_level(self) -> list[int]:
        """Indices of the top-level boxes of the whole text (every command here parses there)."""
        chosen, k, count, next_free = [], 0, len(self.starts), self.next_free
        while k < count:
            chosen.append(k)
            k = next_free[k]
        return chosen

    def content(self, k: int) -> tuple[int, int]:
        """Bounds of box k's argument in the whole text (not stripped)."""
        return (self.args[k] + 1, self.closes[k]) if self.brace[k] else (self.args[k], self.ends[k])

    def stripped(self, k: int, hi: int) -> tuple[int, int]:
        """Bounds of box k's argument, stripped, in a range ending at hi (a token has no
        whitespace; a brace group's stripped bounds are precomputed)."""
        if self.brace[k]:
            return self.inner_lo[k], self.inner_hi[k]
        return self.args[k], min(self.ends[k], hi)

    def top_level(self, lo: int, hi: int, limit: int) -> list[int]:
        """Indices of the top-level boxes of text[lo:hi], at most limit.

        Only commands that parse in the whole text can parse in a range; a range's end can only
        cut a one-token argument short or leave a brace group unclosed."""
        found: list[int] = []
        starts, count = self.starts, len(self.starts)
        k = bisect_left(starts, lo)
        steps = 0
        while k < count and starts[k] < hi:
            steps += 1
            if steps % _CHECK_EVERY == 0:
                _check(self.deadline)
            cut = self.brace[k] and self.closes[k] >= hi
            if self.afters[k] > hi or self.args[k] >= hi or cut:
                k += 1
                continue
            found.append(k)
            if len(found) >= limit:
                break
            # boxes inside this one belong to it
            k = bisect_left(starts, min(self.ends[k], hi), k + 1)
        return found

    def strip(self, lo: int, hi: int) -> tuple[int, int]:
        """The bounds of text[lo:hi].strip()."""
        lo = _LEADING_WHITESPACE.match(self.text, lo, hi).end()
        while hi > lo and self.text[hi - 1].isspace():
            hi -= 1
        return lo, hi

    def answer(self, last: int) -> str:
        """Box `last`'s content, stripped, with boxes wrapped around the whole of it removed:
        while the stripped answer starts with a box command, ends with `}` and holds exactly one
        top-level box, the answer becomes that box's stripped content."""
        text, starts, count, filled_by = self.text, self.starts, len(self.starts), self.filled_by
        box, hi = last, len(text)
        steps = 0
        while True:
            steps += 1
            if steps % _CHECK_EVERY == 0:
                _check(self.deadline)
            while filled_by[box] >= 0:  # precomputed chains of brace boxes filling brace boxes
                box = filled_by[box]
            lo, hi = self.stripped(box, hi)
            # a command at lo whose box covers [lo, hi) is the one top-level box
            k = bisect_left(starts, lo)
            if k < count and starts[k] == lo and self.afters[k] <= hi and self.args[k] < hi:
                if self.brace[k]:
                    covers = self.closes[k] == hi - 1
                else:
                    covers = self.ends[k] >= hi and text[hi - 1] == "}"
                if covers:
                    box = k
                    continue
            inner = self.top_level(lo, hi, limit=2)
            wrapped = text.startswith(BOX_COMMANDS, lo, hi) and text.endswith("}", lo, hi)
            if not (len(inner) == 1 and wrapped):
                return text[lo:hi]
            box = inner[0]


class Boxed:
    """What a response's boxes hold.

    count: how many top-level boxes there are.
    answer: the last one's content, stripped and unwrapped (None when there is no box).
    contents: the contents of all top-level boxes, in order, not stripped (built on first use:
        a response can hold a hundred thousand boxes, and scoring needs only count and answer).
    """

    def __init__(self, scan: _BoxScan, boxes: list[int]) -> None:
        self._scan, self._boxes = scan, boxes
        self.count = len(boxes)
        self.answer = scan.answer(boxes[-1]) if boxes else None

    @property
    def contents(self) -> list[str]:
        text = self._scan.text
        return [text[start:end] for start, end in map(self._scan.content, self._boxes)]

    def __repr__(self) -> str:
        return f"Boxed(count={self.count}, answer={self.answer!r})"


def scan_boxed(text: str, deadline: float | None = None, *, small: int = 16_384) -> Boxed:
    """All top-level boxes and the final answer in one pass; raises DeadlineExceeded once
    time.monotonic() passes deadline (checked between stages and every few thousand boxes).

    small: texts with at most this many characters from their first box command on are parsed
    by a plain loop, longer ones with numpy (same results; numpy's fixed cost only pays off on
    long texts)."""
    scan = _BoxScan(text, deadline, small)
    return Boxed(scan, scan.all_top_level())


def find_boxed(text: str) -> list[str]:
    """Contents of all top-level, balanced boxes in order of appearance (boxes nested in a box
    count as part of the outer one).

    >>> find_boxed(r"\\boxed{\\boxed{1}} \\fbox{2} \\boxed 3")
    ['\\\\boxed{1}', '2', '3']
    """
    return scan_boxed(text).contents


def extract_boxed(text: str) -> str | None:
    """The content of the last complete \\boxed{...} (or \\fbox{...}) in text; None if none.
    A box nested inside it (`\\boxed{\\boxed{3}}`) is unwrapped.

    >>> extract_boxed(r"\\boxed{1} no wait \\boxed{ \\boxed{2} } and \\boxed{3")
    '2'
    """
    return scan_boxed(text).answer
