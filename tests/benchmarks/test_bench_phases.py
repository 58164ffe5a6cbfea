"""The phase benchmark's harness: the generator's truth and the scoring (no detector accuracy
claims here; bench_phases.py measures those)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_phases  # noqa: E402
from hicra.dynamics.phases import LENGTH_SERIES  # noqa: E402
from phase_series import (  # noqa: E402
    FAMILIES,
    ROUND3_SHAPES,
    ROUND4_SHAPES,
    ROUND5_SHAPES,
    done_at,
    make_case,
    progress,
    shape,
)


def _same(a, h):
    return (
        a.steps.size == h.steps.size
        and np.allclose(a.steps, h.steps)
        and a.family == h.family
        and all(np.allclose(a.series[k], h.series.get(k, np.nan), equal_nan=True) for k in a.series)
    )


def test_cases_are_seeded_and_held_out_cases_differ():
    a, b = make_case(3), make_case(3)
    h1, h1_again, h2 = make_case(3, heldout=True), make_case(3, heldout=1), make_case(3, heldout=2)
    assert a.family == b.family and np.array_equal(a.steps, b.steps)
    assert all(np.array_equal(a.series[k], b.series[k], equal_nan=True) for k in a.series)
    assert _same(h1, h1_again)  # True is round 1: the committed held-out results stay reproducible
    assert not _same(a, h1) and not _same(a, h2) and not _same(h1, h2)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_its_truth(family):
    for seed in range(4):
        case = make_case(seed, family=family)
        assert case.family == family and all(
            v.size == case.steps.size for v in case.series.values()
        )
        if family in ("two_phase", "consolidation_stall") and not case.text_only:
            window_end = case.meta["fall_window_end"]
            assert 0.05 * case.length <= window_end <= 0.8 * case.length
            # the truth is where three quarters of the fall are done (docs/phases.md)
            assert 1.0 < case.consolidation_end <= window_end
        if family in ("noise", "sparse"):
            assert case.consolidation_end is None and case.exploration_onset is None
        if family == "sparse":
            assert np.unique(case.steps).size < 10
        if case.text_only:
            assert "entropy/execution" not in case.series and case.consolidation_end is None


def test_the_planted_end_is_a_corner():
    """The truth is where the fall ends: flat (slow) after it, still falling just before it."""
    rng = np.random.default_rng(0)
    t = np.arange(1, 201, dtype=float)
    for name in ("linear", "log", "sigmoid"):
        h, d0, d1, _ = shape(name, rng)
        g = progress(t, 1.0, 80.0, h)
        assert g[t >= 80].min() == 1.0 and g[t < 80].max() < 1.0
        assert 0.3 <= d1 and 0.3 <= d0  # the edge keeps >= 30% of the mean slope
        assert g[78] - g[77] > 0.3 / 79  # still falling at the last step before the end
    step = progress(t, 1.0, 80.0, None)
    assert step[t < 80].max() == 0.0 and step[t >= 80].min() == 1.0


@pytest.mark.parametrize(
    "name",
    ["linear", "log", "sigmoid", "exp", "broken", *ROUND3_SHAPES, *ROUND4_SHAPES, *ROUND5_SHAPES],
)
def test_shapes_go_from_0_to_1_and_the_truth_is_their_three_quarter_point(name):
    rng = np.random.default_rng(0)
    h, d0, d1, _ = shape(name, rng)
    u = np.linspace(0, 1, 1001)
    assert h(u)[0] == pytest.approx(0) and h(u)[-1] == pytest.approx(1)
    assert np.all(np.diff(h(u)) >= -1e-12) and d0 >= 0 and d1 >= 0
    assert h(np.array([done_at(h, 0.75)]))[0] == pytest.approx(0.75, abs=1e-3)
    assert done_at(None, 0.75) == 1.0  # a step: all of it at once


def test_round3_cases_use_their_own_shapes():
    shapes = {
        "".join(c for c in make_case(s, heldout=3).meta.get("fall_shape", "") if c.isalpha())
        for s in range(60)
    }
    assert shapes - {""} <= {"power", "hyper", "segments"} and len(shapes - {""}) >= 2


@pytest.mark.parametrize("heldout, own", [(4, ROUND4_SHAPES), (5, ROUND5_SHAPES)])
def test_later_rounds_use_their_own_shapes_and_noise(heldout, own):
    shapes = {
        "".join(c for c in make_case(s, heldout=heldout).meta.get("rise_shape", "") if c.isalpha())
        for s in range(60)
    }
    assert shapes - {""} == set(own)
    assert not _same(make_case(5, heldout=heldout - 1), make_case(5, heldout=heldout))


def test_round7_adds_a_loose_length_series_and_leaves_the_rest_alone():
    """Round 7 is round 6's generator with a response-length series drawn from its own
    generator: without it a case is the same; dev-length adds one that rises with the
    exploration; earlier rounds have none."""
    shifts, names = [], set()
    for seed in range(80):
        case = make_case(seed, heldout=7)
        plain = make_case(seed, heldout=7, length=False)
        if case.family == "sparse":  # 3-9 points: nothing to add
            assert set(case.series) == set(plain.series)
            continue
        (name,) = set(case.series) - set(plain.series)
        names.add(name)
        assert _same(case, make_case(seed, heldout=7)) and name in LENGTH_SERIES
        for key, values in plain.series.items():
            np.testing.assert_array_equal(case.series[key], values)
        if "length_onset" in case.meta:
            shifts.append((case.meta["length_onset"] - case.exploration_onset) / case.length)
        dev = make_case(seed, length=True)
        if "length_onset" in dev.meta:
            assert dev.meta["length_onset"] == round(dev.exploration_onset, 1)
        assert not set(make_case(seed, heldout=6).series) & set(LENGTH_SERIES)
    assert names == {"length/mean", "response_length/mean"}
    assert min(shifts) < -0.03 and max(shifts) > 0.01 and all(-0.101 <= s <= 0.051 for s in shifts)


def test_round8_lets_length_start_after_the_exploration_too():
    shifts = [
        (c.meta["length_onset"] - c.exploration_onset) / c.length
        for c in (make_case(seed, heldout=8) for seed in range(120))
        if "length_onset" in c.meta
    ]
    assert max(shifts) > 0.06 and min(shifts) < -0.06
    assert all(-0.101 <= s <= 0.101 for s in shifts)


def test_scoring_counts_misses_as_100_and_checks_coverage():
    case = make_case(0, family="two_phase")
    truth = case.consolidation_end if case.consolidation_end is not None else case.exploration_onset
    key = "end" if case.consolidation_end is not None else "onset"
    hit = {"kind": "two_phase", "reason": None, "end": None, "onset": None}
    hit[key] = {"step": truth + 0.02 * case.length, "ci_low": truth - 1, "ci_high": truth + 1}
    miss = {"kind": "inconclusive", "reason": "x", "end": None, "onset": None}
    r_hit, r_miss = bench_phases.score(case, hit), bench_phases.score(case, miss)
    assert r_hit[f"{key}_error"] == pytest.approx(2.0) and r_hit[f"{key}_covered"]
    assert r_miss[f"{key}_error"] == 100.0 and not r_miss[f"{key}_covered"]
    summary = bench_phases.summarise([r_hit, r_miss])["overall"][key]
    assert (
        summary["found"] == 50.0
        and summary["median"] == pytest.approx(51.0)
        and summary["coverage"] == 50.0
    )


def test_false_positives_on_noise_and_monotone():
    noise = make_case(0, family="noise")
    quiet = {"kind": "inconclusive", "reason": "x", "end": None, "onset": None}
    assert not bench_phases.score(noise, quiet)["false_positive"]
    assert bench_phases.score(noise, quiet | {"kind": "exploration_only"})["false_positive"]
    mono = next(
        c
        for c in (make_case(s, family="monotone") for s in range(20))
        if c.exploration_onset == 1.0
    )
    start = {"step": 1.0, "ci_low": 1.0, "ci_high": 5.0}
    late = {"step": 0.3 * mono.length, "ci_low": 1.0, "ci_high": 0.5 * mono.length}
    assert not bench_phases.score(mono, quiet | {"kind": "exploration_only", "onset": start})[
        "false_positive"
    ]
    assert bench_phases.score(mono, quiet | {"kind": "exploration_only", "onset": late})[
        "false_positive"
    ]


def test_quick_run_writes_results(tmp_path):
    assert (
        bench_phases.main(["--n", "3", "--set", "dev", "--out", str(tmp_path), "--no-progress"])
        == 0
    )
    assert (tmp_path / "results.json").exists() and (tmp_path / "cases.jsonl.gz").exists()
    assert "| new | turn |" in (tmp_path / "results.md").read_text()


def test_first_seed_draws_fresh_cases_of_the_same_set():
    res = bench_phases.evaluate(2, 0, False, first_seed=500)["new"]["cases"]
    assert [r["seed"] for r in res] == [500, 501]


def test_a_negative_first_seed_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        bench_phases.main(["--set", "dev", "--first-seed", "-3"])
    assert stop.value.code == 2
    assert "--first-seed: expected a seed >= 0, got -3" in capsys.readouterr().err


def test_the_cases_of_dev_and_rounds_1_to_5_never_change():
    """Published figures refer to these cases: a new round may add draws, never move theirs
    (the digest of seeds 0-39 of every set as of round 5's results)."""
    import hashlib

    digest = hashlib.sha256()
    for heldout in range(6):
        for seed in range(40):
            case = make_case(seed, heldout=heldout)
            digest.update(np.asarray(case.steps, float).tobytes())
            for name in sorted(case.series):
                digest.update(name.encode())
                digest.update(np.asarray(case.series[name], float).tobytes())
            truth = (case.consolidation_end, case.exploration_onset, case.family)
            digest.update(repr(truth).encode())
    assert digest.hexdigest()[:16] == "42cb94caf59ffbb3"


def test_the_onset_pool_comparison_refuses_no_cases_in_one_line(capsys):
    import phases_onset_pool

    with pytest.raises(SystemExit) as stop:
        phases_onset_pool.main(["--set", "dev", "--n", "0"])
    assert stop.value.code == 2
    assert "--n: expected at least 1 case, got 0" in capsys.readouterr().err


def test_the_onset_pool_comparison_reports_three_ways(capsys):
    import phases_onset_pool

    assert phases_onset_pool.main(["--set", "dev", "--n", "6"]) == 0
    out = capsys.readouterr().out
    assert all(f"{way} " in out for way in ("alone", "product", "pool"))
