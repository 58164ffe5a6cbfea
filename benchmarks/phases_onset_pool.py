"""How to combine the exploration onset with accuracy's: alone, product, or log-linear pool.

    python benchmarks/phases_onset_pool.py --set dev --n 300      # seeds 0-299 of one set

For the cases of a `bench_phases.py` set with a planted exploration onset, the onset's error
(% of the run; a miss counts 100) and whether its 95% interval covers the truth, three ways:
the exploration fit alone (`PhaseConfig(joint_onset=False)`), the product of its posterior and
accuracy's (independent evidence; `hicra.dynamics.phases.pooled_onset` with weight 1), and
their geometric mean (the log-linear pool with equal weights, what `detect_phases` does);
docs/phases.md (Method, step 8) has the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_phases import SETS  # noqa: E402
from phase_series import make_case  # noqa: E402

WAYS = ("alone", "product", "pool")


def onsets(case) -> dict[str, dict] | None:
    """way -> {step, ci_low, ci_high}; None where the detector reports no onset."""
    from hicra.dynamics.phases import ACCURACY_SERIES, PhaseConfig, detect_phases, pooled_onset
    from hicra.dynamics.phases_fit import fit_transition

    config = PhaseConfig(joint_onset=False)
    res = detect_phases(case.steps, case.series, config)
    if res.exploration_onset is None:
        return None
    out = dict.fromkeys(WAYS, res.exploration_onset)
    x = np.asarray(case.steps, float)
    rise = fit_transition(x, case.series[res.signals["exploration"]], "rise")
    accuracy = next((case.series[k] for k in ACCURACY_SERIES if k in case.series), None)
    acc = None if accuracy is None else fit_transition(x, accuracy, "rise")
    for way, weight in (("product", 1.0), ("pool", 0.5)):
        pooled = None if acc is None else pooled_onset(x, rise, {"accuracy": acc}, config, weight)
        out[way] = pooled[0] if pooled else out[way]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", default="dev", choices=tuple(SETS))
    p.add_argument("--n", type=int, default=300)
    args = p.parse_args(argv)
    if args.n < 1:
        p.error(f"--n: expected at least 1 case, got {args.n}")
    rows: dict[str, list] = {w: [] for w in WAYS}
    for seed in range(args.n):
        case = make_case(seed, heldout=SETS[args.set])
        if case.exploration_onset is None or case.family not in ("two_phase", "exploration_only"):
            continue
        found = onsets(case)
        for way in WAYS:
            est = None if found is None else found[way]
            truth = case.exploration_onset
            error = 100.0 if est is None else 100.0 * abs(est["step"] - truth) / case.length
            covered = est is not None and est["ci_low"] <= truth <= est["ci_high"]
            rows[way].append((error, covered))
    print(f"{args.set}, seeds 0-{args.n - 1}: exploration onset, % of the run")
    for way, r in rows.items():
        a = np.asarray(r, float)
        print(
            f"{way:8s} n {len(a)}  median {np.median(a[:, 0]):.2f}  "
            f"p90 {np.percentile(a[:, 0], 90):.2f}  coverage {100 * a[:, 1].mean():.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
