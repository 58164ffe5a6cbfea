"""The worker side of the math verifier: a supervisor process and its forked executor.

A supervisor (started by `hicra.tasks.math_verifier.VerifierPool` with plain `subprocess.Popen`)
imports the verifier once, warms it up and forks an executor child that runs the checks. It
relays each request to the executor and waits for the reply until the request's deadline; past
it, it kills the executor, answers `{"timed_out": true}` at once and then forks a warm
replacement (milliseconds: no Python start, no imports). The executor dies with its supervisor,
and a supervisor whose pool is gone (its stdin closed) stops at once, even mid-check.

Requests and replies are JSON lines: `{"gold", "predicted", "timeout_s"}` ->
`{"equivalent": bool}` (with "error" when the verifier raised: a wrong answer) or
`{"timed_out": true}`; a reply after a replacement carries its duration as "restart_ms".
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

DEFAULT_VERIFIER = "hicra.tasks.math_worker:verify_latex"
# Checks the default verifier runs once in the supervisor before it forks executors: they load
# sympy's lazily imported parts (0.6 s more per supervisor start here), so a replacement
# executor's first fraction, root or polynomial check costs 2-140 ms instead of 40-630 ms.
_WARM_UP = [
    ("1", "1"),
    (r"\frac{1}{2}", "0.5"),
    ("x^2+2x+1", "(x+1)^2"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
]


def verify_latex(gold: str, predicted: str) -> bool:
    """math-verify on two extracted answers, its own signal timeout disabled (the supervisor
    kills the executor at the deadline). LaTeX extraction only: no `parse_expr`/`eval` on model
    text."""
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    gold_parsed = parse(f"${gold}$", extraction_config=config, parsing_timeout=None)
    pred_parsed = parse(f"${predicted}$", extraction_config=config, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


# ----------------------------------------------------------------------------- pipes
class _CallerGone(Exception):
    """The supervisor's stdin closed while a check ran: the pool (or its process) is gone."""


class _Lines:
    """Newline-terminated messages read from a file descriptor, with a deadline.

    watch: another descriptor whose closing (or any input) aborts a read with _CallerGone."""

    def __init__(self, fd: int, watch: int | None = None) -> None:
        self.fd, self.buffer, self.watch = fd, b"", watch
        self.poller = select.poll()  # poll, not select: no FD_SETSIZE limit in big processes
        self.poller.register(fd, select.POLLIN)
        if watch is not None:
            self.poller.register(watch, select.POLLIN)

    def read(self, deadline: float | None) -> bytes | None:
        """One line (with its newline); b"" at end of file; None when the deadline passed."""
        while b"\n" not in self.buffer:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return None
            if wait is not None or self.watch is not None:
                events = self.poller.poll(None if wait is None else wait * 1000)
                if not events:
                    return None
                if any(fd == self.watch for fd, _ in events):
                    raise _CallerGone
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return b""
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    """Write data to a non-blocking fd before the deadline; False if that was not possible."""
    view, poller = memoryview(data), select.poll()
    poller.register(fd, select.POLLOUT)
    while view:
        wait = deadline - time.monotonic()
        if wait <= 0 or not poller.poll(wait * 1000):
            return False
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
        except OSError:  # the reader is gone
            return False
    return True


# ----------------------------------------------------------------------------- supervisor side
def _load_verifier(spec: str):
    module, _, name = spec.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


def _executor_main(requests: int, replies: int, verifier, supervisor_pid: int) -> None:
    """The forked child: answer {"gold", "predicted"} lines with {"equivalent"} lines."""
    try:  # die with the supervisor (Linux); elsewhere the closed pipe ends the loop when idle
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    if os.getppid() != supervisor_pid:
        return  # the supervisor died before the line above
    lines = _Lines(requests)
    while line := lines.read(None):
        request = json.loads(line)
        try:
            reply = {"equivalent": bool(verifier(request["gold"], request["predicted"]))}
        except Exception as error:  # a malformed answer is a wrong answer, not a crash
            reply = {"equivalent": False, "error": type(error).__name__}
        os.write(replies, (json.dumps(reply) + "\n").encode())


class _Executor:
    """The supervisor's forked child and the pipes to it."""

    killed_pids: list[int] = []  # killed, not yet reaped: reaped later, never waited for

    def __init__(self, verifier) -> None:
        import gc

        _Executor.reap(block=False)
        gc.freeze()  # objects so far stay shared with the child (fewer copy-on-write faults)
        requests_r, self.requests = os.pipe()
        self.replies_fd, replies_w = os.pipe()
        supervisor_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)  # the pool reads the supervisor's stdout: never write there
            os.close(self.requests)
            os.close(self.replies_fd)
            _executor_main(requests_r, replies_w, verifier, supervisor_pid)
            os._exit(0)
        os.close(requests_r)
        os.close(replies_w)
        os.set_blocking(self.requests, False)
        self.replies = _Lines(self.replies_fd, watch=0)  # fd 0: the pool's requests
        self.killed = False

    def run(self, line: bytes, timeout_s: float) -> bytes:
        """The reply line to one request; past timeout_s, a timed-out reply (child killed)."""
        deadline = time.monotonic() + timeout_s
        reply = self.replies.read(deadline) if _write_all(self.requests, line, deadline) else None
        if reply:
            return reply
        os.kill(self.pid, 9)  # past the deadline, or the child died
        self.killed = True
        if reply is None:
            return b'{"timed_out": true}\n'
        return b'{"timed_out": true, "error": "died"}\n'

    def close(self) -> None:
        """Kill the child without waiting for the system to tear it down (a child that filled
        gigabytes takes a while): it is reaped by a later reap()."""
        if not self.killed:
            os.kill(self.pid, 9)
        os.close(self.requests)
        os.close(self.replies_fd)
        _Executor.killed_pids.append(self.pid)

    @staticmethod
    def reap(block: bool) -> None:
        for pid in list(_Executor.killed_pids):
            if os.waitpid(pid, 0 if block else os.WNOHANG)[0]:
                _Executor.killed_pids.remove(pid)


def _supervisor_main() -> None:
    """Serve {"gold", "predicted", "timeout_s"} lines on stdin with reply lines on stdout."""
    import ctypes  # noqa: F401  (imported before forking: executors use it at once)
    import logging
    import resource

    logging.disable(logging.WARNING)  # math-verify warns that its timeout is disabled
    # A runaway expression (a huge power) fails with MemoryError instead of exhausting the host.
    limit = int(os.environ.get("HICRA_VERIFY_MEMORY_MB", "2048")) * 2**20
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    spec = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VERIFIER
    verifier = _load_verifier(spec)
    for gold, predicted in _WARM_UP if spec == DEFAULT_VERIFIER else []:
        verifier(gold, predicted)  # import and warm up once: every executor is forked warm
    executor = _Executor(verifier)
    os.write(1, b'{"ready": true}\n')
    requests, restart_ms = _Lines(0), None
    while line := requests.read(None):
        try:
            reply = executor.run(line, float(json.loads(line)["timeout_s"]))
        except _CallerGone:  # nobody will read the answer: stop the check now
            break
        if restart_ms is not None:  # how long the last replacement took, for the pool's counters
            reply = (json.dumps({**json.loads(reply), "restart_ms": restart_ms}) + "\n").encode()
            restart_ms = None
        os.write(1, reply)  # answer first, then replace a killed executor before the next request
        if executor.killed:
            start = time.monotonic()
            executor.close()
            executor = _Executor(verifier)
            restart_ms = round((time.monotonic() - start) * 1000, 1)
    executor.close()
    _Executor.reap(block=True)
