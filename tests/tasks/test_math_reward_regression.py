"""The math reward makes exactly what it made before of well-formed responses (the corpus and
its recorded outputs: tests/tasks/math_reward_corpus.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("math_verify")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from math_reward_corpus import (  # noqa: E402
    EXPECTED,
    SHARED_DATA,
    digest,
    extraction_outputs,
    hand_cases,
    score_outputs,
    trace_cases,
)

from hicra.tasks.math_reward import VerifierPool  # noqa: E402

RECORDED = json.loads(EXPECTED.read_text())


@pytest.fixture(scope="module")
def pool():
    pool = VerifierPool(size=1)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def traces():
    cases = trace_cases()
    if not cases:
        pytest.skip(f"shared traces not present under {SHARED_DATA}")
    return cases


def _check_inputs(cases):
    changed = [
        case_id
        for case_id, response, gold in cases
        if RECORDED[case_id]["input"] != digest([response, gold])
    ]
    assert not changed, f"corpus inputs changed (math_reward_corpus.py --write?): {changed[:5]}"


def test_hand_written_cases_extract_as_recorded():
    cases = hand_cases()
    _check_inputs(cases)
    for case_id, response, gold in cases:
        recorded = dict(RECORDED[case_id]["outputs"])
        recorded.pop("score")
        assert extraction_outputs(response, gold) == recorded, case_id


def test_hand_written_cases_score_as_recorded(pool):
    # one template in the fast suite (every pair once); all of them in the slow one
    for case_id, response, gold in hand_cases():
        if case_id.startswith("hand/dollar/"):
            recorded = RECORDED[case_id]["outputs"]["score"]
            assert score_outputs(response, gold, pool) == recorded, case_id


@pytest.mark.slow
def test_all_hand_written_cases_score_as_recorded(pool):
    for case_id, response, gold in hand_cases():
        assert score_outputs(response, gold, pool) == RECORDED[case_id]["outputs"]["score"], case_id


def test_real_traces_extract_as_recorded(traces):
    _check_inputs(traces)
    differing = [
        (case_id, extraction_outputs(response, gold))
        for case_id, response, gold in traces
        if digest(extraction_outputs(response, gold)) != RECORDED[case_id]["extraction"]
    ]
    assert not differing, differing[:3]


@pytest.mark.slow
def test_real_traces_score_as_recorded(traces, pool):
    differing = [
        (case_id, score_outputs(response, gold, pool))
        for case_id, response, gold in traces
        if digest(score_outputs(response, gold, pool)) != RECORDED[case_id]["score"]
    ]
    assert not differing, differing[:3]
