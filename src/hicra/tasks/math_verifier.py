"""math-verify behind a deadline: a pool of supervised worker processes (caller side).

math-verify's own timeout uses `signal.alarm`, which fails outside the main thread and cannot
interrupt sympy while it is inside C code, so its timeout is disabled and the deadline is
enforced from outside. Each slot of a `VerifierPool` is a *supervisor* subprocess (plain
`subprocess.Popen`, so it also works inside daemonic multiprocessing workers and Ray actors)
that imports math-verify once and forks an *executor* child that runs the checks
(`hicra.tasks.math_worker`). A check that misses its deadline costs only the executor: the
supervisor kills it, answers "timed out" at once and forks a warm replacement (milliseconds),
so no caller ever waits for a Python start.

    caller thread --(JSON line)--> supervisor --(pipe)--> executor: verify_latex(gold, predicted)
                  <--(JSON line)--            <--(pipe)--            (killed at the deadline)

The caller's deadline covers the wait for a free slot too: `VerifierPool.check` returns a
timed-out verdict when no slot frees up in time, and stops waiting for a supervisor's answer
`grace_s` after the deadline (a late supervisor is drained in the background and reused).

    >>> pool = VerifierPool(size=1)                                   # doctest: +SKIP
    >>> pool.check(r"\\frac12", "0.5", time.monotonic() + 5.0)         # doctest: +SKIP
    Verdict(equivalent=True, stage=None)
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from hicra.tasks.math_worker import DEFAULT_VERIFIER, _Lines, _write_all, verify_latex

__all__ = ["DEFAULT_VERIFIER", "Verdict", "VerifierPool", "default_pool", "verify_latex"]

_MIN_CHECK_S = 0.001  # less time than this left after the wait: not worth sending
_SUPERVISOR = "from hicra.tasks.math_worker import _supervisor_main; _supervisor_main()"


# ----------------------------------------------------------------------------- pool side
class _Supervisor:
    """The pool's handle on one supervisor subprocess."""

    def __init__(self, verifier: str) -> None:
        src_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = src_dir + os.pathsep + env.get("PYTHONPATH", "")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SUPERVISOR, verifier],
            env=env,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        os.set_blocking(self.process.stdin.fileno(), False)
        self.replies = _Lines(self.process.stdout.fileno())

    def wait_ready(self, timeout_s: float) -> bool:
        return bool(self.replies.read(time.monotonic() + timeout_s))

    def send(self, gold: str, predicted: str, deadline: float) -> bool:
        left = deadline - time.monotonic()
        line = json.dumps({"gold": gold, "predicted": predicted, "timeout_s": left})
        return _write_all(self.process.stdin.fileno(), (line + "\n").encode(), deadline)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


@dataclass(frozen=True)
class Verdict:
    """equivalent: math-verify's answer, None when there was none in time.
    stage: why there was none: "wait" (no free worker before the deadline), "verify" (the check
    itself ran past it, or its process died)."""

    equivalent: bool | None
    stage: str | None = None


class VerifierPool:
    """A thread-safe pool of verifier processes with a per-call deadline.

    size: how many checks may run at once (callers beyond that wait, within their deadline).
    startup_timeout_s: how long the pool's first start may take (math-verify imports sympy).
    grace_s: how long past a deadline a caller waits for the supervisor's own timed-out answer.
    verifier: "module:function" run on (gold, predicted) in the executor (default: math-verify).

    Workers start on the first call (or `start()`); that first start is waited for once, outside
    any deadline, since no check can run before it. Afterwards a supervisor that dies or stops
    answering is replaced in the background while other callers go on.
    """

    def __init__(
        self,
        size: int = 2,
        startup_timeout_s: float = 120.0,
        grace_s: float = 0.1,
        verifier: str = DEFAULT_VERIFIER,
    ) -> None:
        if size < 1:
            raise ValueError(f"VerifierPool size must be >= 1, got {size}")
        self.size, self.startup_timeout_s, self.grace_s = size, startup_timeout_s, grace_s
        self.verifier = verifier
        self._free: collections.deque[_Supervisor] = collections.deque()
        self._alive: set[_Supervisor] = set()
        self._cond = threading.Condition()
        self._started = False
        self._warm = threading.Event()  # set once every first start succeeded or failed
        self._first_starts_done = 0
        self._broken = False  # no worker came up at the first start
        self._closed = False
        self._pid = os.getpid()
        self.counts = collections.Counter()  # checks, timeouts by stage, restarts, max wait (ms)

    # -- life cycle
    def start(self, wait: bool = False) -> VerifierPool:
        """Start the workers (once); with wait, block until they are up (RuntimeError if none)."""
        with self._cond:
            if not self._started:
                self._started = True
                for _ in range(self.size):
                    threading.Thread(target=self._spawn, args=(True,), daemon=True).start()
        if wait:
            self._wait_warm()
        return self

    def _wait_warm(self) -> None:
        self._warm.wait(self.startup_timeout_s + 5.0)
        if self._broken or not self._warm.is_set():
            raise RuntimeError("math-verify worker failed to start (is math-verify installed?)")

    def _count(self, key: str, n: int = 1) -> None:
        with self._cond:
            self.counts[key] += n

    def _spawn(self, first: bool = False) -> None:
        """Start one supervisor and add it to the free ones when it says it is ready."""
        supervisor = _Supervisor(self.verifier)
        ready = supervisor.wait_ready(self.startup_timeout_s)
        with self._cond:
            if ready and not self._closed:
                self._alive.add(supervisor)
                self._free.append(supervisor)
                self.counts["supervisor_starts"] += 1
                self._cond.notify()
            if first:
                self._first_starts_done += 1
                if self._first_starts_done == self.size:
                    self._broken = not self._alive
                    self._warm.set()
        if not ready or self._closed:
            supervisor.kill()
            others_fine = self._warm.wait(self.startup_timeout_s) and self._alive
            if not ready and not self._closed and others_fine:
                time.sleep(1.0)  # others start fine: retry this one, gently
                self._spawn()

    def _retire(self, supervisor: _Supervisor) -> None:
        """Kill a supervisor that died or stopped answering; start its replacement."""
        supervisor.kill()
        with self._cond:
            self._alive.discard(supervisor)
            closed = self._closed
            self.counts["supervisor_retired"] += 1
        if not closed:
            threading.Thread(target=self._spawn, daemon=True).start()

    def _release(self, supervisor: _Supervisor) -> None:
        with self._cond:
            if self._closed:
                supervisor.kill()
                return
            self._free.append(supervisor)
            self._cond.notify()

    def _drain(self, supervisor: _Supervisor) -> None:
        """Wait (in the background) for the answer its caller gave up on, then reuse it."""
        if supervisor.replies.read(time.monotonic() + 30.0):
            self._release(supervisor)
        else:
            self._retire(supervisor)

    def close(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child does not own its parent's workers
        with self._cond:
            self._closed = True
            free, busy = list(self._free), self._alive.difference(self._free)
            self._free, self._alive = collections.deque(), set()
        for supervisor in free:
            supervisor.kill()
        for supervisor in busy:  # its caller sees its pipe end and closes it (never under it)
            supervisor.process.kill()

    # -- checks
    def _acquire(self, deadline: float) -> _Supervisor | None:
        start = time.monotonic()
        with self._cond:
            while not self._free:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            waited_ms = int((time.monotonic() - start) * 1000)
            self.counts["max_wait_ms"] = max(self.counts["max_wait_ms"], waited_ms)
            return self._free.popleft()

    def check(self, gold: str, predicted: str, deadline: float) -> Verdict:
        """math-verify's verdict on two normalised answers, or a timed-out one, by `deadline`
        (a time.monotonic() value) plus at most grace_s."""
        if not self._warm.is_set() or self._broken:  # the first start is not charged
            left = deadline - time.monotonic()
            self.start(wait=True)
            deadline = time.monotonic() + left
        self._count("checks")
        supervisor = self._acquire(deadline)
        if supervisor is None or deadline - time.monotonic() < _MIN_CHECK_S:
            if supervisor is not None:
                self._release(supervisor)
            self._count("timeouts_wait")
            return Verdict(None, "wait")
        if not supervisor.send(gold, predicted, deadline):
            self._retire(supervisor)  # a half-written request: this one cannot be reused
            self._count("timeouts_verify")
            return Verdict(None, "verify")
        line = supervisor.replies.read(deadline + self.grace_s)
        if line is None:
            threading.Thread(target=self._drain, args=(supervisor,), daemon=True).start()
        elif not line:
            self._retire(supervisor)
        else:
            self._release(supervisor)
            reply = json.loads(line)
            if "restart_ms" in reply:
                with self._cond:
                    longest = max(self.counts["max_restart_ms"], int(reply["restart_ms"]))
                    self.counts["max_restart_ms"] = longest
            if "equivalent" in reply:
                return Verdict(bool(reply["equivalent"]))
            self._count("executor_restarts")
        self._count("timeouts_verify")
        return Verdict(None, "verify")

    def equivalent(self, gold: str, predicted: str, timeout_s: float) -> bool | None:
        """math-verify's verdict, or None if there was none within timeout_s."""
        return self.check(gold, predicted, time.monotonic() + timeout_s).equivalent

    def stats(self) -> dict[str, int]:
        """Counters since the pool started: checks, timeouts_wait, timeouts_verify,
        executor_restarts, supervisor_starts, supervisor_retired, max_wait_ms (the longest wait
        for a free worker), max_restart_ms (the longest replacement of a killed executor)."""
        with self._cond:
            return dict(self.counts)


_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()


def default_pool() -> VerifierPool:
    """The per-process shared pool (re-created in a forked child); size from
    HICRA_VERIFY_WORKERS (default 2)."""
    import atexit

    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._pid != os.getpid():
            _POOL = VerifierPool(size=int(os.environ.get("HICRA_VERIFY_WORKERS", "2")))
            atexit.register(_POOL.close)
        return _POOL
