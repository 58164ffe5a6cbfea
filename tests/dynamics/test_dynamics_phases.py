"""Phase detection on synthetic series with planted transitions, at several noise levels."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hicra.dynamics.phases import (
    KINDS,
    TOKEN_EXECUTION_SERIES,
    PhaseConfig,
    detect_phases,
    ols_slope,
    pooled_onset,
    series_from_metrics,
)
from hicra.dynamics.phases_fit import EDGE_SPACING, _edge_grid, fit_transition

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from phase_series import make_case  # noqa: E402


def synthetic(kind, n=200, turn=60, noise=0.02, seed=0, text_only=False, onset=None):
    """Execution entropy, semantic entropy and accuracy of a run of the given kind.

    two_phase: execution falls linearly to `turn`, then flat; semantic entropy and accuracy
    flat, then rising after `onset` (default: the turn). exploration: execution flat, the
    others rise from the start. stall: the fall, then semantic entropy and accuracy drift
    down. noise: all flat.
    """
    rng = np.random.default_rng(seed)
    s = np.arange(n, dtype=float)
    onset = turn if onset is None else onset
    post = np.clip((s - onset) / (n - onset), 0, None)
    if kind == "two_phase":
        ex = np.where(
            s < turn, 1 - 0.35 * s / turn, 0.65 - 0.02 * np.clip((s - turn) / (n - turn), 0, None)
        )
        sem, acc = 2.0 + 0.6 * post, 0.3 + 0.05 * np.minimum(s / turn, 1) + 0.3 * post
    elif kind == "exploration_only":
        ex, sem, acc = np.ones(n), 2 + 0.5 * s / n, 0.3 + 0.3 * s / n
    elif kind == "consolidation_stall":
        ex = np.where(s < turn, 1 - 0.35 * s / turn, 0.65)
        sem, acc = 2.0 - 0.2 * post, 0.3 + 0.1 * np.minimum(s / turn, 1) - 0.1 * post
    else:
        ex, sem, acc = np.ones(n), np.full(n, 2.0), np.full(n, 0.4)
    series = {
        "semantic/entropy": sem + rng.normal(0, 3 * noise, n),
        "accuracy": acc + rng.normal(0, noise, n),
    }
    if not text_only:
        series["entropy/execution"] = ex + rng.normal(0, noise, n)
    return s.astype(int), series


@pytest.mark.parametrize("noise", [0.005, 0.02, 0.05])
@pytest.mark.parametrize("kind", ["two_phase", "consolidation_stall"])
def test_planted_turn_found_within_its_interval(kind, noise):
    for seed in range(2):
        steps, series = synthetic(kind, noise=noise, seed=seed)
        res = detect_phases(steps, series)
        assert res.kind == kind, (seed, res)
        # the end of consolidation: three quarters of the linear fall to step 60 done at 45
        end, corner = res.consolidation_end, res.evidence["consolidation_corner"]
        assert abs(res.transition_step - 45) <= 8 and end["ci_low"] <= 45 <= end["ci_high"], (
            seed,
            end,
        )
        assert end["ci_high"] - end["ci_low"] <= 40
        assert abs(corner["step"] - 60) <= 10 and corner["ci_low"] <= 60 <= corner["ci_high"]
        assert res.evidence["share_of_drop_before_turn"] > 0.8


def test_exploration_onset_is_found_apart_from_the_consolidation_end():
    steps, series = synthetic("two_phase", n=300, turn=40, onset=120, noise=0.01)
    res = detect_phases(steps, series)
    assert res.kind == "two_phase"
    assert (
        abs(res.consolidation_end["step"] - 30) <= 5
        and abs(res.exploration_onset["step"] - 120) <= 8
    )
    assert res.exploration_onset["ci_low"] <= 120 <= res.exploration_onset["ci_high"]


@pytest.mark.parametrize("noise", [0.005, 0.02, 0.05])
def test_exploration_only(noise):
    steps, series = synthetic("exploration_only", noise=noise)
    res = detect_phases(steps, series)
    assert res.kind == "exploration_only" and res.transition_step == 0
    assert res.consolidation_end is None and res.exploration_onset["ci_low"] == 0
    assert res.evidence["semantic_entropy_slope_whole_run"]["ci_low"] > 0


@pytest.mark.parametrize("noise", [0.005, 0.02, 0.1])
def test_pure_noise_is_inconclusive(noise):
    for seed in range(3):
        steps, series = synthetic("noise", noise=noise, seed=seed)
        res = detect_phases(steps, series)
        assert (
            res.kind == "inconclusive"
            and res.consolidation_end is None
            and res.exploration_onset is None
        )


def test_a_consolidation_over_within_ten_steps_is_reported_with_its_interval():
    """Like the countdown world: slips vanish within ~10 of 300 steps, backtracking climbs later."""
    rng = np.random.default_rng(4)
    s = np.arange(1, 301)
    ex = (
        np.where(s < 10, 0.09 - 0.04 * s / 10, 0.05)
        - 0.005 * s / 300
        + rng.normal(0, 0.004, s.size)
    )
    sem = 2 + 0.5 * np.clip((s - 100) / 200, 0, None) + rng.normal(0, 0.03, s.size)
    acc = 0.2 + 0.25 * np.clip((s - 100) / 200, 0, None) + rng.normal(0, 0.03, s.size)
    res = detect_phases(s, {"entropy/execution": ex, "task/strategy_entropy": sem, "accuracy": acc})
    assert res.kind == "two_phase" and res.signals["exploration"] == "task/strategy_entropy"
    end = res.consolidation_end  # three quarters of the fall done at step 8
    assert end["ci_low"] <= 8 <= end["ci_high"] and end["ci_high"] <= 25
    assert res.exploration_onset["ci_low"] <= 100 <= res.exploration_onset["ci_high"]


def test_planted_turn_in_exponential_decay_with_outliers():
    rng = np.random.default_rng(3)
    s = np.arange(300)
    ex = 1 + 0.6 * np.exp(-s / 25) + rng.normal(0, 0.01, s.size)
    ex[[40, 120, 200]] += 0.5  # single-step spikes: despiking removes their pull
    sem = 2 + 0.4 * np.clip((s - 80) / 220, 0, None) + rng.normal(0, 0.03, s.size)
    acc = 0.2 + 0.3 * np.clip((s - 80) / 220, 0, None) + rng.normal(0, 0.02, s.size)
    res = detect_phases(s, {"entropy/execution": ex, "semantic/entropy": sem, "accuracy": acc})
    assert res.kind == "two_phase"
    assert 30 <= res.transition_step <= 110


@pytest.mark.parametrize("seed", range(3))
def test_a_fall_that_slows_down_gradually_ends_where_three_quarters_are_done(seed):
    """A broken-line fall (70% of it by step 40, the rest by step 100, then flat): where its
    tail stops is confounded with phase 2's slow drift, so the end reported is the step by
    which three quarters of the fall are done (step 50), with an interval that covers it."""
    rng = np.random.default_rng(seed)
    s = np.arange(1, 301)
    g = np.interp(s, [1, 40, 100], [0.0, 0.7, 1.0])
    ex = 1.0 - 0.4 * g + rng.normal(0, 0.02, s.size)
    xp = 2 + 0.5 * np.clip((s - 120) / 180, 0, None) + rng.normal(0, 0.03, s.size)
    acc = 0.2 + 0.3 * np.clip((s - 120) / 180, 0, None) + rng.normal(0, 0.02, s.size)
    res = detect_phases(s, {"entropy/execution": ex, "task/strategy_entropy": xp, "accuracy": acc})
    end = res.consolidation_end
    assert res.kind == "two_phase" and res.transition_step == int(round(end["step"]))
    assert abs(end["step"] - 50) <= 10 and end["ci_low"] <= 50 <= end["ci_high"], end
    assert res.evidence["execution_fit"]["done_share"] == 0.75


def test_fit_reports_the_step_by_which_a_share_of_the_fall_is_done():
    t = np.arange(1.0, 201.0)
    y = np.where(t < 100, 1 - t / 100, 0.0) + np.random.default_rng(1).normal(0, 0.01, t.size)
    fit = fit_transition(t, y, "fall")
    assert fit.done_share == 0.75 and abs(fit.done_step - 75) <= 3
    assert fit.done_low <= 75 <= fit.done_high and abs(fit.step - 100) <= 3
    half = fit_transition(t, y, "fall", done_share=0.5)
    assert half.done_step == pytest.approx(half.half_step)


def test_text_only_runs_report_the_onset_with_reason():
    steps, series = synthetic("two_phase", text_only=True)
    res = detect_phases(steps, series)
    assert res.kind == "inconclusive" and "text-only" in res.evidence["reason"]
    assert abs(res.evidence["exploration_onset_step"] - 60) <= 6
    assert (
        res.transition_step == round(res.exploration_onset["step"])
        and res.consolidation_end is None
    )


@pytest.mark.parametrize("n", [0, 1, 3, 9])
def test_too_few_steps_is_inconclusive_saying_how_many(n):
    steps, series = synthetic("two_phase", n=max(n, 1))
    steps, series = steps[:n], {k: v[:n] for k, v in series.items()}
    res = detect_phases(steps, series)
    assert res.kind == "inconclusive" and res.transition_step is None
    assert res.evidence["reason"] == (
        f"too few logged steps for a turn: {n} seen in the execution/exploration series, "
        "at least 10 needed"
    )


def test_sparse_and_degenerate_series_never_raise():
    s = np.arange(50)
    nan = np.full(50, np.nan)
    sparse = nan.copy()
    sparse[::10] = 1.0  # 5 logged values among 50 steps
    for series in (
        {"entropy/execution": sparse, "semantic/entropy": sparse},
        {"entropy/execution": nan, "semantic/entropy": nan, "accuracy": nan},
        {
            "entropy/execution": np.ones(50),
            "semantic/entropy": np.full(50, 2.0),
            "accuracy": np.zeros(50),
        },
        {"accuracy": np.linspace(0, 1, 50)},
    ):
        res = detect_phases(s, series)
        assert (
            res.kind == "inconclusive" and res.consolidation_end is None and res.evidence["reason"]
        )
    res = detect_phases(s, {"entropy/execution": sparse, "semantic/entropy": sparse})
    assert "5 seen" in res.evidence["reason"]
    res = detect_phases(s, {"accuracy": np.linspace(0, 1, 50)})
    assert res.evidence["reason"].startswith("no execution or exploration series")


def test_repeated_steps_of_a_resumed_run_are_averaged():
    steps, series = synthetic("two_phase", noise=0.01)
    again = np.arange(100, 130)  # resumed from step 100: steps 100..129 logged twice
    steps2 = np.concatenate([steps, again])
    series2 = {k: np.concatenate([v, v[again]]) for k, v in series.items()}
    a, b = detect_phases(steps, series), detect_phases(steps2, series2)
    assert b.kind == a.kind == "two_phase" and abs(a.transition_step - b.transition_step) <= 2


def test_task_strategy_entropy_is_preferred_and_can_be_overridden():
    steps, series = synthetic("two_phase", noise=0.01)
    series["task/strategy_entropy"] = series["semantic/entropy"]
    series["semantic/entropy"] = 2.5 - 0.3 * steps / 200  # falls, as on the countdown world
    res = detect_phases(steps, series)
    assert res.signals["exploration"] == "task/strategy_entropy" and res.kind == "two_phase"
    assert res.evidence["semantic_entropy_slope_after_turn"]["ci_high"] < 0
    semantic = detect_phases(steps, series, PhaseConfig(exploration_series=("semantic/entropy",)))
    assert semantic.kind != "two_phase" and semantic.exploration_onset is None


def test_benchmark_cases_are_found_within_the_targets():
    """A few cases of bench_phases.py's generator: the estimate and the interval."""
    errors, covered = [], []
    for seed in range(8):
        case = make_case(seed, family="two_phase")
        res = detect_phases(case.steps, case.series)
        for truth, est in (
            (case.consolidation_end, res.consolidation_end),
            (case.exploration_onset, res.exploration_onset),
        ):
            if truth is not None and est is not None:
                errors.append(abs(est["step"] - truth) / case.length)
                covered.append(est["ci_low"] <= truth <= est["ci_high"])
    assert len(errors) >= 12 and np.median(errors) <= 0.03 and np.mean(covered) >= 0.85


def test_series_from_metrics_adds_relative_perplexity():
    rows = [{"step": 2, "nll/execution": 0.5}, {"step": 1, "nll/execution": 1.0, "tag": "x"}]
    steps, series = series_from_metrics(rows)
    assert steps.tolist() == [1, 2] and "tag" not in series
    assert series["rel_perplexity/execution"] == pytest.approx([1.0, np.exp(-0.5)])


def test_ols_slope_interval_covers_truth_and_widens_for_correlated_noise():
    rng = np.random.default_rng(0)
    x = np.arange(100.0)
    s = ols_slope(x, 0.01 * x + rng.normal(0, 0.1, 100))
    assert s.low < 0.01 < s.high and s.rises
    walk = np.cumsum(rng.normal(0, 0.1, 100))  # strongly correlated: the interval must widen
    e = rng.normal(0, 0.1, 100)
    assert ols_slope(x, walk).high - ols_slope(x, walk).low > 2 * (
        ols_slope(x, e).high - ols_slope(x, e).low
    )
    assert set(KINDS) >= {"two_phase"} and PhaseConfig().confidence == 0.95


def test_flat_after_consolidation_is_a_stall_when_precise_enough():
    rng = np.random.default_rng(1)
    s = np.arange(200)
    ex = np.where(s < 60, 1 - 0.35 * s / 60, 0.65) + rng.normal(0, 0.01, s.size)
    series = {
        "entropy/execution": ex,
        "semantic/entropy": 2 + rng.normal(0, 0.03, s.size),
        "accuracy": 0.4 + rng.normal(0, 0.01, s.size),
    }
    res = detect_phases(s, series)
    # three quarters of the linear fall to step 60 are done at step 45
    assert res.kind == "consolidation_stall" and abs(res.transition_step - 45) <= 6
    # the same flat tail, but so noisy that a real gain cannot be ruled out: not a stall
    series["accuracy"] = 0.4 + rng.normal(0, 0.3, s.size)
    res = detect_phases(s, series)
    assert res.kind == "inconclusive" and res.consolidation_end is not None


def _demo_like(seed=0, n=120):
    """A run like the countdown demo's: the task's execution-error rate (first-attempt slips)
    falls linearly over the first 12 steps, then stays flat; the execution tokens' entropy is
    flat, then falls late and still at the end (phase 2's retries); strategy entropy and
    accuracy rise from step 5 on."""
    rng = np.random.default_rng(seed)
    s = np.arange(1, n + 1, dtype=float)
    slips = 0.15 - 0.07 * np.clip((s - 1) / 11, 0, 1) + rng.normal(0, 0.01, n)
    tokens = 0.065 - 0.03 * np.clip((s - 60) / 60, 0, 1) ** 2 + rng.normal(0, 0.005, n)
    rise = np.clip((s - 5) / (n - 5), 0, 1)
    return s, {
        "task/execution_error": slips,
        "entropy/execution": tokens,
        "task/strategy_entropy": 0.08 + 0.5 * rise + rng.normal(0, 0.03, n),
        "accuracy": 0.2 + 0.3 * rise + rng.normal(0, 0.03, n),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_task_execution_error_is_preferred_and_a_short_consolidation_is_two_phase(seed):
    s, series = _demo_like(seed)
    res = detect_phases(s, series)
    assert res.signals["execution"] == "task/execution_error"
    # three quarters of the fall over steps 1..12 are done at step 9.25: a short phase 1,
    # reported with its interval, not exploration_only at step 1
    end = res.consolidation_end
    assert res.kind == "two_phase" and end["ci_low"] <= 9.25 <= end["ci_high"]
    assert abs(end["step"] - 9.25) <= 4 and abs(res.transition_step - end["step"]) <= 0.5
    # the execution tokens alone see only the late fall, never the early end
    tokens = detect_phases(s, series, PhaseConfig(execution_series=TOKEN_EXECUTION_SERIES))
    assert tokens.signals["execution"] == "entropy/execution"
    assert tokens.consolidation_end is None or tokens.consolidation_end["step"] > 40


def test_countdown_summary_logs_the_execution_error_under_the_detectors_name():
    from hicra.tasks.countdown import CountdownTask

    task = CountdownTask()
    rows = [{"first_attempt_exec_error": 1.0}, {"first_attempt_exec_error": 0.0}, {}]
    out = task.summarize_diagnostics(rows)
    assert out["execution_error"] == out["first_attempt_exec_error"] == 0.5


def test_text_summary_prints_the_share_of_the_drop_only_for_a_consolidation():
    from types import SimpleNamespace

    from hicra.reports.cli import text_summary

    s, series = _demo_like(0)
    flat = 0.065 + np.random.default_rng(9).normal(0, 0.005, s.size)
    for config, printed in (
        (PhaseConfig(), True),  # two_phase: the share at the corner of the slips' fall
        (PhaseConfig(execution_series=TOKEN_EXECUTION_SERIES), False),  # exploration_only
    ):
        res = detect_phases(s, {**series, "entropy/execution": flat}, config)
        assert res.kind == ("two_phase" if printed else "exploration_only")
        run = SimpleNamespace(
            name="run", format="hicra", steps=s, records=0, lexicon=None, phases=res,
            missing={}, final=dict,
        )  # fmt: skip
        text = text_summary([run], Path("report.html"))
        assert ("of the execution drop happened before that corner" in text) is printed


def test_edge_grid_fills_gaps_between_sparse_points():
    grid = _edge_grid(np.array([0.0, 0.02, 0.5, 1.0]))
    assert grid[0] == 0.0 and grid[-1] == 1.0 and np.all(np.diff(grid) <= EDGE_SPACING + 1e-12)
    assert {0.02, 0.5} <= set(grid.round(12).tolist())


@pytest.mark.parametrize("onset", [75.0, 44.0])
def test_an_onset_between_two_sparse_logged_steps_is_placed_between_them(onset):
    """Logged every 10 steps: the rise's start is a candidate between two logged points too
    (the prior of the edge is uniform over time, not over logged steps)."""
    rng = np.random.default_rng(0)
    s = np.arange(0.0, 201.0, 10.0)
    y = 1.0 + 0.5 * np.clip((s - onset) / (200 - onset), 0, None) + rng.normal(0, 0.003, s.size)
    fit = fit_transition(s, y, "rise")
    assert abs(fit.step - onset) <= 3 and fit.low <= onset <= fit.high


def test_an_onset_inside_a_logging_gap_is_estimated_inside_it():
    rng = np.random.default_rng(1)
    s = np.concatenate([np.arange(0.0, 30.0), np.arange(70.0, 300.0)])
    y = 2.0 + 0.6 * np.log1p(6 * np.clip((s - 50) / 250, 0, None)) / np.log(7)
    fit = fit_transition(s, y + rng.normal(0, 0.005, s.size), "rise")
    assert 30 < fit.step < 70 and fit.low <= 50 <= fit.high


def _rising(steps, onset, width, size, sd, rng, start_slope=0.0):
    u = np.clip((steps - onset) / width, 0.0, 1.0)
    return size * u + start_slope * np.minimum(steps - onset, 0) + rng.normal(0, sd, steps.size)


def test_a_noisy_onset_is_sharpened_by_accuracy_rising_with_it():
    errors = {True: [], False: []}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        steps = np.arange(1.0, 201.0)
        series = {
            "semantic/entropy": 2 + _rising(steps, 80, 120, 0.4, 0.4 / 3, rng),  # SNR 3
            "accuracy": 0.2 + _rising(steps, 80, 120, 0.3, 0.3 / 15, rng),  # SNR 15
        }
        for joint in (True, False):
            res = detect_phases(steps, series, PhaseConfig(joint_onset=joint))
            onset = res.exploration_onset
            assert onset["ci_low"] <= onset["step"] <= onset["ci_high"]
            errors[joint].append(abs(onset["step"] - 80))
            if joint:
                assert res.evidence["onset_from"] == "exploration+accuracy"
                assert onset["ci_low"] <= 80 <= onset["ci_high"]
    assert np.mean(errors[True]) < 0.6 * np.mean(errors[False])
    assert max(errors[True]) <= 8


def test_an_accuracy_rising_from_the_start_does_not_move_the_onset():
    rng = np.random.default_rng(0)
    steps = np.arange(1.0, 201.0)
    series = {
        "semantic/entropy": 2 + _rising(steps, 100, 100, 0.4, 0.02, rng),
        "accuracy": 0.2 + _rising(steps, 1, 60, 0.3, 0.01, rng),  # consolidation raised it
    }
    joint = detect_phases(steps, series)
    alone = detect_phases(steps, series, PhaseConfig(joint_onset=False))
    assert joint.evidence["onset_from"] == "exploration"
    assert joint.exploration_onset == alone.exploration_onset
    assert abs(joint.exploration_onset["step"] - 100) <= 4


@pytest.mark.parametrize("name", ["length/mean", "response_length/mean", "completions/mean_length"])
def test_a_noisy_onset_is_sharpened_by_response_length_rising_with_it(name):
    """Phase 2 lengthens responses: a smooth length series pins a noisy exploration onset,
    under hicra's, verl's and TRL's names, with or without accuracy."""
    errors = {"alone": [], "length": [], "both": []}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        steps = np.arange(1.0, 201.0)
        xp = 2 + _rising(steps, 80, 120, 0.4, 0.4 / 3, rng)  # SNR 3
        length = 200 + _rising(steps, 80, 100, 150.0, 150.0 / 30, rng)  # SNR 30
        acc = 0.2 + _rising(steps, 80, 120, 0.3, 0.3 / 3, rng)  # SNR 3
        cases = {
            "alone": {"semantic/entropy": xp},
            "length": {"semantic/entropy": xp, name: length},
            "both": {"semantic/entropy": xp, name: length, "accuracy": acc},
        }
        for way, series in cases.items():
            res = detect_phases(steps, series)
            onset = res.exploration_onset
            assert onset["ci_low"] <= onset["step"] <= onset["ci_high"]
            errors[way].append(abs(onset["step"] - 80))
            if way != "alone":
                assert "length" in res.evidence["onset_from"].split("+")
                assert res.evidence["length_fit"]["bins"] > 0
                assert onset["ci_low"] <= 80 <= onset["ci_high"]
    assert np.mean(errors["length"]) < 0.6 * np.mean(errors["alone"])
    assert max(errors["length"]) <= 6 and max(errors["both"]) <= 8


def test_a_length_that_rises_apart_from_the_exploration_is_not_pooled():
    """Longer responses from the first step (a consolidation can lengthen them) leave the
    onset where the exploration signal puts it; so does `length_series=()`."""
    rng = np.random.default_rng(1)
    steps = np.arange(1.0, 201.0)
    series = {
        "semantic/entropy": 2 + _rising(steps, 120, 80, 0.4, 0.02, rng),
        "length/mean": 200 + _rising(steps, 1, 50, 150.0, 3.0, rng),
    }
    pooled = detect_phases(steps, series)
    alone = detect_phases(steps, series, PhaseConfig(length_series=()))
    assert pooled.evidence["onset_from"] == "exploration"
    assert "length_fit" not in alone.evidence
    assert pooled.exploration_onset == alone.exploration_onset
    assert abs(pooled.exploration_onset["step"] - 120) <= 4


def test_the_pool_of_one_companion_is_the_geometric_mean_of_two_posteriors():
    rng = np.random.default_rng(2)
    steps = np.arange(1.0, 151.0)
    rise = fit_transition(steps, 2 + _rising(steps, 60, 80, 0.4, 0.1, rng), "rise")
    acc = fit_transition(steps, 0.2 + _rising(steps, 60, 80, 0.3, 0.05, rng), "rise")
    config = PhaseConfig()
    onset, used = pooled_onset(steps, rise, {"accuracy": acc}, config)
    assert used == ["accuracy"]
    again, _ = pooled_onset(steps, rise, {"accuracy": acc}, config, weight=0.5)
    assert again == onset
    flat = fit_transition(steps, 0.2 + rng.normal(0, 0.05, steps.size), "rise")
    assert pooled_onset(steps, rise, {"accuracy": flat}, config) is None


def test_a_sharp_length_that_starts_a_little_early_bounds_the_onset_without_fixing_it():
    """Longer responses 8 steps (4% of the run) before the new strategies: with the slack the
    pooled interval still holds the exploration's onset; pinned to length's (slack 0) not."""
    covered = {0.05: 0, 0.0: 0}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        steps = np.arange(1.0, 201.0)
        series = {
            "semantic/entropy": 2 + _rising(steps, 100, 80, 0.4, 0.4 / 4, rng),  # SNR 4
            "length/mean": 200 + _rising(steps, 92, 60, 150.0, 1.5, rng),  # SNR 100
        }
        for slack in covered:
            res = detect_phases(steps, series, PhaseConfig(onset_slack=slack))
            onset = res.exploration_onset
            assert res.evidence["onset_from"] == "exploration+length"
            assert abs(onset["step"] - 100) <= 12
            covered[slack] += onset["ci_low"] <= 100 <= onset["ci_high"]
    assert covered == {0.05: 4, 0.0: 0}


@pytest.mark.parametrize("slack", [-0.01, 0.5, 2.0])
def test_an_onset_slack_outside_a_fraction_of_the_run_is_refused_in_one_line(slack):
    with pytest.raises(ValueError, match=r"^PhaseConfig.onset_slack: expected .*got") as err:
        PhaseConfig(onset_slack=slack)
    assert "\n" not in str(err.value)
