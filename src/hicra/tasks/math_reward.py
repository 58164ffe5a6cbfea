"""Math answer checking: the last \\boxed{...} of a response against a reference answer.

Extraction is a brace-matching scan (nested braces, `\\boxed{...}`, `\\boxed x`, `\\fbox{...}`);
equivalence is math-verify's (`math_verify.parse` + `math_verify.verify`, LaTeX extraction only,
so sympy's `parse_expr` -- which calls `eval` -- never sees model text).

math-verify's own timeout uses `signal.alarm`, which fails outside the main thread and cannot
interrupt sympy while it is inside C code. So its timeout is disabled and ours is enforced by a
small pool of worker *subprocesses* (plain `subprocess.Popen`, so it also works inside daemonic
multiprocessing workers and Ray actors): each check gets a deadline; a worker that misses it is
killed and replaced. Cheap cases never leave the calling process: identical normalised strings
are correct, two different plain integers are wrong.

    >>> extract_boxed(r"so \\boxed{\\frac{1}{2}} and finally \\boxed{\\{1, 2\\}}")
    '\\\\{1, 2\\\\}'
    >>> score_response(r"The answer is \\boxed{0.5}.", r"\\frac12").correct
    True
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

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
_INTEGER = re.compile(r"^[+-]?\d{1,60}$")


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


# ----------------------------------------------------------------------------- worker process
def _verify_in_this_process(gold: str, predicted: str) -> bool:
    """math-verify on two extracted answers, its own signal timeout disabled (the caller kills
    this process at the deadline). LaTeX extraction only: no `parse_expr`/`eval` on model text."""
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse(f"${predicted}$", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def _worker_main() -> None:
    """Serve JSON lines {"gold", "predicted"} -> {"equivalent"} on stdin/stdout until EOF."""
    import logging
    import resource

    logging.disable(logging.WARNING)  # math-verify warns that its timeout is disabled
    # A runaway expression (a huge power) fails with MemoryError instead of exhausting the host.
    limit = int(os.environ.get("HICRA_VERIFY_MEMORY_MB", "2048")) * 2**20
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _verify_in_this_process("1", "1")  # warm the imports before saying ready
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"equivalent": _verify_in_this_process(request["gold"], request["predicted"])}
        except Exception as error:  # a malformed answer is a wrong answer, not a crash
            reply = {"equivalent": False, "error": type(error).__name__}
        out.write(json.dumps(reply) + "\n")
        out.flush()


class _Worker:
    """One verifier subprocess, talked to over pipes."""

    def __init__(self, startup_timeout_s: float) -> None:
        src_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = src_dir + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from hicra.tasks.math_reward import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True, bufsize=1,
        )
        self.startup_deadline = time.monotonic() + startup_timeout_s
        self.ready = False

    def _read_line(self, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        readable, _, _ = select.select([self.process.stdout], [], [], remaining)
        return self.process.stdout.readline() if readable else None

    def check(self, gold: str, predicted: str, timeout_s: float) -> bool | None:
        """True/False from math-verify; None when the deadline passed (the worker is then dead)."""
        if not self.ready:
            line = self._read_line(self.startup_deadline)
            if not line:
                raise RuntimeError("math-verify worker failed to start (is math-verify installed?)")
            self.ready = True
        self.process.stdin.write(json.dumps({"gold": gold, "predicted": predicted}) + "\n")
        self.process.stdin.flush()
        line = self._read_line(time.monotonic() + timeout_s)
        if not line:
            self.kill()
            return None
        return bool(json.loads(line)["equivalent"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class VerifierPool:
    """A thread-safe pool of verifier subprocesses with a per-call deadline.

    size: how many checks may run at once (callers beyond that wait for a free worker).
    Workers start lazily, are reused across calls, and are replaced after a timeout.
    """

    def __init__(self, size: int = 2, startup_timeout_s: float = 120.0) -> None:
        self.size = size
        self.startup_timeout_s = startup_timeout_s
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(size):
            self._idle.put(None)  # a slot whose worker is not started yet
        self._pid = os.getpid()

    def equivalent(self, gold: str, predicted: str, timeout_s: float) -> bool | None:
        """math-verify's verdict, or None if it took longer than timeout_s."""
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                worker = _Worker(self.startup_timeout_s)
            verdict = worker.check(gold, predicted, timeout_s)
            if verdict is None:  # killed at the deadline: start its replacement now
                worker = _Worker(self.startup_timeout_s)
            return verdict
        except BaseException:
            if worker is not None:
                worker.kill()
            worker = None
            raise
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child does not own its parent's workers
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                worker.kill()


_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()


def default_pool() -> VerifierPool:
    """The per-process shared pool (re-created in a forked child)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._pid != os.getpid():
            size = int(os.environ.get("HICRA_VERIFY_WORKERS", "2"))
            _POOL = VerifierPool(size=size)
            atexit.register(_POOL.close)
        return _POOL


# ----------------------------------------------------------------------------- public scoring
@dataclass(frozen=True)
class MathScore:
    """The verdict on one response.

    reward: correct_reward or incorrect_reward, plus format_reward when the format check passes.
    correct: the last boxed answer is equivalent to the reference.
    predicted: the extracted answer (None when the response has no complete box).
    format_ok: the response holds exactly one top-level box, and it is not empty.
    timed_out: the equivalence check hit its deadline (counted as incorrect).
    """

    reward: float
    correct: bool
    predicted: str | None
    format_ok: bool
    timed_out: bool = False


def answers_equivalent(
    gold: str, predicted: str, timeout_s: float = 5.0, pool: VerifierPool | None = None
) -> bool | None:
    """Whether predicted equals gold; None on timeout. Safe in any thread or process."""
    verdict = quick_verdict(gold, predicted)
    if verdict is not None:
        return verdict
    pool = pool or default_pool()
    return pool.equivalent(normalize_answer(gold), normalize_answer(predicted), timeout_s)


def reference_answer(ground_truth: str) -> str:
    """The gold answer: its last box when it is a worked solution, else the text itself."""
    boxed = extract_boxed(ground_truth)
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
    has exactly one non-empty box.
    """
    boxes = find_boxed(response)
    format_ok = len(boxes) == 1 and bool(boxes[0].strip())
    predicted = extract_boxed(response)
    timed_out = False
    correct = False
    if predicted:
        verdict = answers_equivalent(reference_answer(ground_truth), predicted, timeout_s, pool)
        timed_out = verdict is None
        correct = bool(verdict)
    reward = (correct_reward if correct else incorrect_reward) + (format_reward if format_ok else 0.0)
    return MathScore(reward, correct, predicted, format_ok, timed_out)


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
