"""The verifier pool's deadline: it covers the wait for a free worker and a killed check's
replacement. A verifier that sleeps stands in for a slow check, so these tests hardly load the
CPU; their bounds are generous (the promised figure, timeout + 0.5 s, is measured by
benchmarks/bench_math_reward.py)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hicra.tasks.math_reward import score_response
from hicra.tasks.math_verifier import VerifierPool

MARGIN_S = 3.0  # far above the 0.2 s grace: a loaded 2-core machine must not make these flake


@pytest.fixture(scope="module")
def sleepy_verifier(tmp_path_factory):
    """ "sleepy_check:check": sleeps `predicted` seconds, then says whether gold == "yes"."""
    folder = tmp_path_factory.mktemp("verifier")
    check = (
        "def check(gold, predicted):\n    time.sleep(float(predicted))\n    return gold == 'yes'\n"
    )
    (folder / "sleepy_check.py").write_text("import time\n\n" + check)
    (folder / "slow_start_check.py").write_text("import time\n\ntime.sleep(1.5)\n\n" + check)
    with pytest.MonkeyPatch.context() as patch:  # workers inherit the environment
        patch.setenv("PYTHONPATH", f"{folder}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        yield "sleepy_check:check"


@pytest.fixture
def make_pool(sleepy_verifier):
    pools = []

    def make(size):
        pools.append(VerifierPool(size=size, verifier=sleepy_verifier).start(wait=True))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def _timed(pool, gold, seconds, timeout_s):
    start = time.monotonic()
    verdict = pool.check(gold, str(seconds), start + timeout_s)
    return verdict, time.monotonic() - start


def test_verdicts_come_back(make_pool):
    pool = make_pool(1)
    assert _timed(pool, "yes", 0, 30.0)[0].equivalent is True
    assert _timed(pool, "no", 0, 30.0)[0].equivalent is False


def test_eight_threads_on_two_workers_all_return_by_the_deadline(make_pool):
    pool, timeout_s, results = make_pool(2), 1.0, []
    barrier = threading.Barrier(8)

    def caller():
        barrier.wait()
        results.append(_timed(pool, "yes", 30, timeout_s))  # every check sleeps past its deadline

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 8
    for verdict, seconds in results:
        assert verdict.equivalent is None and verdict.stage in ("wait", "verify")
        assert seconds < timeout_s + MARGIN_S, seconds  # before: up to 4 rounds of kill + restart
    counts = pool.stats()
    assert counts["timeouts_wait"] + counts["timeouts_verify"] == 8
    assert counts["timeouts_wait"] >= 1  # 8 callers, 2 workers, one deadline: most never got one


def test_a_caller_that_gets_no_worker_in_time_is_told_so(make_pool):
    pool = make_pool(1)
    holder = threading.Thread(target=_timed, args=(pool, "yes", 30, 20.0))
    holder.start()
    deadline = time.monotonic() + 10
    while pool.stats().get("checks", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the holder has the only worker
    verdict, seconds = _timed(pool, "yes", 0, 0.5)
    assert verdict.equivalent is None and verdict.stage == "wait"
    assert seconds < 0.5 + MARGIN_S
    pool.close()  # ends the holder's check
    holder.join(30)


def test_a_check_past_its_deadline_is_replaced_by_a_fork_not_a_new_process(make_pool):
    pool = make_pool(1)
    verdict, seconds = _timed(pool, "yes", 30, 0.5)
    assert verdict.equivalent is None and verdict.stage == "verify" and seconds < 0.5 + MARGIN_S
    assert _timed(pool, "yes", 0, 30.0)[0].equivalent is True
    counts = pool.stats()
    assert counts["executor_restarts"] == 1 and counts["supervisor_starts"] == 1


def test_a_dead_worker_process_is_replaced_in_the_background(make_pool):
    pool = make_pool(1)
    (supervisor,) = pool._alive
    supervisor.process.kill()
    supervisor.process.wait()
    first = _timed(pool, "yes", 0, 30.0)[0]  # finds it dead: no verdict, a replacement starts
    assert first.equivalent is None and first.stage == "verify"
    assert _timed(pool, "yes", 0, 60.0)[0].equivalent is True  # the replacement answers
    assert pool.stats()["supervisor_retired"] == 1


def test_the_first_start_is_not_charged_to_the_deadline(sleepy_verifier):
    pool = VerifierPool(size=1, verifier="slow_start_check:check")  # starting takes > 1.5 s
    try:
        assert pool.check("yes", "0", time.monotonic() + 0.5).equivalent is True
    finally:
        pool.close()


def test_a_response_whose_extraction_runs_out_of_time_is_a_timed_out_wrong_answer():
    result = score_response(r"\boxed{" * 50_000 + r"\boxed{1}", "1", timeout_s=0.0)
    got = (result.correct, result.timed_out, result.timeout_stage, result.predicted)
    assert got == (False, True, "extract", None)
