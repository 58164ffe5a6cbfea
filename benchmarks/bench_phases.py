"""Benchmark: how accurately the phase detector finds the turn, on series with a known truth.

    python benchmarks/bench_phases.py              # 500 dev + 5 x 500 held-out cases, 2 detectors
    python benchmarks/bench_phases.py --set dev    # the dev cases only (what tuning may look at)
    python benchmarks/bench_phases.py --quick      # 40 cases per set, seconds

Cases come from `phase_series.make_case` (dev: seeds 0..n-1 with the main shapes and Gaussian
noise; held-out: other seeds, other shapes, AR(1)/Student-t noise, in rounds of fresh
seeds: `heldout` was studied after the first version of the detector missed on it,
`heldout2` after the second version missed the end of gradual falls on it, `heldout3`, with
its own shapes and noise, was drawn after the end of consolidation was redefined and studied
after the onset missed on it, `heldout4`, with its own shapes and noise, was drawn after the
onset's candidate grid and noise model changed and studied after changes in two stages
missed on it, `heldout5`, with its own shapes and noise, was drawn after the fitter gained
its two-stage shape and studied for its low-SNR onsets, `heldout6`, with every earlier shape,
an accuracy that follows the exploration loosely and other noise, was drawn after the onset
became the one shared by the exploration signal and accuracy, `heldout7`, round 6 with a
response-length series that follows the exploration loosely, after the onset became shared
with length too, `heldout8`, round 7 with length's onset up to 10% of the run after the
exploration's as well as before, after the companions' onsets were given a slack; `dev-length`
is dev with a length series, for screening). Each is run through the
detector of this tree (`hicra.dynamics.phases.detect_phases`) and, side by side, the previous
two-segment piecewise-linear detector kept verbatim in `baseline_phases.py`.

Scored (docs/phases.md defines the turn):
- consolidation end (cases with an execution series and a planted consolidation) and
  exploration onset (cases with a planted rise): absolute error as % of the run length,
  median and 90th percentile; a case where the detector reports nothing counts as an error
  of 100% (a miss), so the percentiles include misses; `found` is the share reported;
- coverage: share of those cases whose reported 95% interval contains the truth (misses and
  the baseline, which gives no interval, are not covered);
- false positives: on pure noise, the share given any kind but inconclusive or any
  consolidation end or exploration onset; on monotone series (no turn), the share given a
  two_phase/consolidation_stall kind, a consolidation end, or an exploration onset later than
  5% of the run (a rise from the start has its onset at the first step);
- kinds: share of each family given its expected kind; sparse cases must be inconclusive with
  a one-line reason and never raise.
All by family, shape, noise (SNR band), run length, turn position, and irregular logging.
Writes benchmarks/out/phases[_quick]/: results.json (summaries), results.md, cases.jsonl.gz
(every case and detector).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_phases  # noqa: E402
from common import markdown_table, out_dir, write_json  # noqa: E402
from hicra.dynamics.phases import detect_phases  # noqa: E402
from phase_series import FAMILIES, SNR_RANGES, Case, make_case  # noqa: E402

SETS = {
    "dev": 0,
    "heldout": 1,
    "heldout2": 2,
    "heldout3": 3,
    "heldout4": 4,
    "heldout5": 5,
    "heldout6": 6,
    "heldout7": 7,
    "heldout8": 8,
    "dev-length": 0,
}
"""Set name -> held-out round (phase_series.HELDOUT_SEED_OFFSET); 0 = dev. `dev-length` is the
dev set with a response-length series added (the dev generator's: rising from the
exploration's onset), for screening; round 7 has one that follows the exploration loosely."""
WITH_LENGTH = ("dev-length",)
"""Sets given a length series besides those whose round has one (round 7 on)."""
TARGETS = {"median": 3.0, "p90": 8.0, "coverage": 90.0, "false_positive": 5.0}
EXPECTED = {
    "two_phase": ("two_phase",),
    "consolidation_stall": ("consolidation_stall",),
    "exploration_only": ("exploration_only",),
    "noise": ("inconclusive",),
    "monotone": ("inconclusive", "exploration_only"),
    "sparse": ("inconclusive",),
}


def expected_kinds(case: Case) -> tuple[str, ...]:
    """Text-only data cannot show phase 1, so no kind but "inconclusive" is right for it."""
    return ("inconclusive",) if case.text_only else EXPECTED[case.family]


def run_new(case: Case) -> dict:
    res = detect_phases(case.steps, case.series)
    return {
        "kind": res.kind,
        "end": res.consolidation_end,
        "onset": res.exploration_onset,
        "reason": res.evidence.get("reason"),
    }


def run_old(case: Case) -> dict:
    series = dict(case.series)
    if "task/strategy_entropy" in series:  # the old detector knew only semantic/entropy
        series["semantic/entropy"] = series.pop("task/strategy_entropy")
    steps, series = _dedupe(case.steps, series)
    res = baseline_phases.detect_phases(steps, series)
    end = onset = None
    if case.text_only:  # its onset, reported as the turn when the rise after it is significant
        onset = None if res.transition_step is None else {"step": float(res.transition_step)}
    elif res.kind == "exploration_only":
        onset = {"step": float(res.transition_step)}
    elif res.transition_step is not None:
        end = {"step": float(res.transition_step)}
    return {"kind": res.kind, "end": end, "onset": onset, "reason": res.evidence.get("reason")}


def _dedupe(steps, series):
    """The old detector assumed one row per step: average repeats."""
    u, inv = np.unique(steps, return_inverse=True)
    out = {}
    for k, v in series.items():
        ok = np.isfinite(v)
        s = np.bincount(inv[ok], weights=v[ok], minlength=u.size)
        c = np.bincount(inv[ok], minlength=u.size)
        out[k] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return u.astype(int), out


def score(case: Case, out: dict) -> dict:
    """Per-case record: errors (% of the run), coverage, false-positive flag, kind check."""
    T = case.length
    rec = {
        "seed": case.seed,
        "family": case.family,
        "length": T,
        "text_only": case.text_only,
        "kind": out["kind"],
        "kind_ok": out["kind"] in expected_kinds(case),
        "reason": out["reason"],
        "meta": case.meta,
    }
    for name, truth, est in (
        ("end", case.consolidation_end, out["end"]),
        ("onset", case.exploration_onset, out["onset"]),
    ):
        scored = truth is not None and (
            name == "end" or case.family in ("two_phase", "exploration_only")
        )
        if not scored:
            continue
        rec[f"{name}_truth"] = truth
        if est is None:
            rec[f"{name}_error"], rec[f"{name}_covered"] = 100.0, False
        else:
            rec[f"{name}_est"] = est["step"]
            rec[f"{name}_error"] = 100.0 * abs(est["step"] - truth) / T
            rec[f"{name}_covered"] = bool(
                "ci_low" in est and est["ci_low"] <= truth <= est["ci_high"]
            )
            rec[f"{name}_interval"] = [est.get("ci_low"), est.get("ci_high")]
    if case.family == "noise":
        rec["false_positive"] = bool(
            out["kind"] != "inconclusive" or out["end"] is not None or out["onset"] is not None
        )
    if case.family == "monotone":
        t0 = float(np.min(case.steps))
        late_onset = out["onset"] is not None and out["onset"]["step"] > t0 + 0.05 * T
        rec["false_positive"] = bool(
            out["kind"] in ("two_phase", "consolidation_stall")
            or out["end"] is not None
            or late_onset
        )
    if case.family == "sparse":
        rec["kind_ok"] = (
            out["kind"] == "inconclusive" and bool(out["reason"]) and "steps" in out["reason"]
        )
    return rec


def summarise(records: list[dict]) -> dict:
    """Headline and per-group statistics of one detector on one set."""

    def stats(recs):
        out = {}
        for name in ("end", "onset", "turn"):
            keys = ("end", "onset") if name == "turn" else (name,)
            err = [r[f"{k}_error"] for r in recs for k in keys if f"{k}_error" in r]
            cov = [r[f"{k}_covered"] for r in recs for k in keys if f"{k}_covered" in r]
            width = [
                100 * (r[f"{k}_interval"][1] - r[f"{k}_interval"][0]) / r["length"]
                for r in recs
                for k in keys
                if r.get(f"{k}_interval") and r[f"{k}_interval"][0] is not None
            ]
            if err:
                e = np.array(err)
                out[name] = {
                    "n": int(e.size),
                    "found": float(100 * np.mean(e < 100)),
                    "median": float(np.median(e)),
                    "p90": float(np.percentile(e, 90)),
                    "coverage": float(100 * np.mean(cov)),
                    "interval_width": float(np.median(width)) if width else math.nan,
                }
        fp = [r["false_positive"] for r in recs if "false_positive" in r]
        if fp:
            out["false_positive"] = {"n": len(fp), "rate": float(100 * np.mean(fp))}
        out["kind_ok"] = {
            "n": len(recs),
            "rate": float(100 * np.mean([r["kind_ok"] for r in recs])),
        }
        return out

    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        m = r["meta"]
        groups["family"][r["family"] + (" (text-only)" if r["text_only"] else "")].append(r)
        for key in ("fall_shape", "rise_shape"):
            if key in m:
                groups[key]["".join(c for c in m[key] if c.isalpha())].append(r)
        if "snr" in m:
            low = min(
                m["snr"]["execution"] if not r["text_only"] else math.inf, m["snr"]["exploration"]
            )
            groups["min_snr"]["<6" if low < 6 else "6-15" if low < 15 else ">=15"].append(r)
        groups["length"][
            "50-150" if r["length"] < 150 else "150-400" if r["length"] < 400 else "400-1000"
        ].append(r)
        truth = r.get("end_truth", r.get("onset_truth"))
        if truth is not None and r["family"] in (
            "two_phase",
            "consolidation_stall",
            "exploration_only",
        ):
            pos = 100 * truth / r["length"]
            groups["turn_position"][
                "<20%" if pos < 20 else "20-50%" if pos < 50 else ">=50%"
            ].append(r)
        irregular = [k for k in ("gap", "resumed", "missing") if k in m] + (
            ["log_every>1"] if m.get("log_every", 1) > 1 else []
        )
        groups["logging"]["regular" if not irregular else "irregular"].append(r)
        for k in irregular:
            groups["logging"][k].append(r)
    return {
        "overall": stats(records),
        "by": {g: {k: stats(v) for k, v in sorted(d.items())} for g, d in groups.items()},
    }


def evaluate(
    n: int, heldout: int, progress: bool, first_seed: int = 0, length: bool | None = None
) -> dict:
    out = {"new": [], "old": []}
    cpu = {"new": 0.0, "old": 0.0}
    errors = {"new": 0, "old": 0}
    t_start = time.perf_counter()
    for done, seed in enumerate(range(first_seed, first_seed + n), 1):
        case = make_case(seed, heldout=heldout, length=length)
        for name, fn in (("new", run_new), ("old", run_old)):
            t0 = time.process_time()
            try:
                result = fn(case)
            except Exception as e:  # a crash is a failure of the detector, recorded, not fatal
                errors[name] += 1
                result = {
                    "kind": "error",
                    "end": None,
                    "onset": None,
                    "reason": f"{type(e).__name__}: {e}",
                }
            cpu[name] += time.process_time() - t0
            out[name].append(score(case, result))
        if progress and done % max(1, n // 20) == 0:
            el = time.perf_counter() - t_start
            print(
                f"  {'held-out ' + str(heldout) if heldout else 'dev'}: {done}/{n} cases, "
                f"{el:.0f} s, "
                f"eta {el / done * (n - done):.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return {
        name: {
            "summary": summarise(recs),
            "cpu_s_per_case": cpu[name] / n,
            "exceptions": errors[name],
            "cases": recs,
        }
        for name, recs in out.items()
    }


def _fmt(s: dict | None, key: str, digits: int = 1) -> str:
    return "-" if not s or key not in s else f"{s[key]:.{digits}f}"


def markdown(results: dict) -> str:
    lines = [
        "# Phase detection accuracy (bench_phases.py)\n",
        f"Targets: median <= {TARGETS['median']}% of the run, p90 <= {TARGETS['p90']}%, "
        f"95% interval coverage >= {TARGETS['coverage']}%, "
        f"false positives <= {TARGETS['false_positive']}%. "
        "Errors in % of the run length; a miss counts as 100%.\n",
    ]
    for set_name, res in results["sets"].items():
        lines.append(f"\n## {set_name} ({results['n'][set_name]} cases)\n")
        rows = []
        for det in ("new", "old"):
            o = res[det]["summary"]["overall"]
            for est in ("end", "onset", "turn"):
                s = o.get(est)
                rows.append(
                    [
                        det,
                        est,
                        s["n"] if s else 0,
                        _fmt(s, "found"),
                        _fmt(s, "median"),
                        _fmt(s, "p90"),
                        _fmt(s, "coverage") if det == "new" else "n/a",
                        _fmt(s, "interval_width") if det == "new" else "n/a",
                        _fmt(o.get("false_positive"), "rate") if est == "turn" else "",
                        _fmt(o.get("kind_ok"), "rate") if est == "turn" else "",
                    ]
                )
        lines.append(
            markdown_table(
                [
                    "detector",
                    "estimand",
                    "n",
                    "found %",
                    "median %",
                    "p90 %",
                    "coverage %",
                    "interval width % (median)",
                    "false positives %",
                    "kind right %",
                ],
                rows,
            )
        )
        lines.append(
            f"CPU per case: new {res['new']['cpu_s_per_case']:.2f} s, "
            f"old {res['old']['cpu_s_per_case']:.2f} s; "
            f"exceptions: new {res['new']['exceptions']}, old {res['old']['exceptions']}.\n"
        )
        for group in (
            "family",
            "fall_shape",
            "rise_shape",
            "min_snr",
            "length",
            "turn_position",
            "logging",
        ):
            rows = []
            new_by, old_by = (
                res["new"]["summary"]["by"].get(group, {}),
                res["old"]["summary"]["by"].get(group, {}),
            )
            for key, s in new_by.items():
                so = old_by.get(key, {})
                for est in ("end", "onset"):
                    if est in s:
                        rows.append(
                            [
                                key,
                                est,
                                s[est]["n"],
                                _fmt(s[est], "median"),
                                _fmt(s[est], "p90"),
                                _fmt(s[est], "coverage"),
                                _fmt(so.get(est), "median"),
                                _fmt(so.get(est), "p90"),
                                "",
                                "",
                            ]
                        )
                if "false_positive" in s:
                    rows.append(
                        [
                            key,
                            "false positives",
                            s["false_positive"]["n"],
                            "",
                            "",
                            "",
                            "",
                            "",
                            _fmt(s["false_positive"], "rate"),
                            _fmt(so.get("false_positive"), "rate"),
                        ]
                    )
                if group == "family":
                    rows.append(
                        [
                            key,
                            "kind right %",
                            s["kind_ok"]["n"],
                            "",
                            "",
                            "",
                            "",
                            "",
                            _fmt(s["kind_ok"], "rate"),
                            _fmt(so.get("kind_ok"), "rate"),
                        ]
                    )
            lines.append(f"\n### by {group}\n")
            lines.append(
                markdown_table(
                    [
                        group,
                        "estimand",
                        "n",
                        "new median %",
                        "new p90 %",
                        "new coverage %",
                        "old median %",
                        "old p90 %",
                        "new rate %",
                        "old rate %",
                    ],
                    rows,
                )
            )
    return "\n".join(lines)


def write_outputs(out: Path, results: dict) -> None:
    """results.json (summaries), results.md, and cases.jsonl.gz (one line per case and
    detector: the truth, the estimates, the intervals, the kind)."""
    import gzip
    import json

    with gzip.open(out / "cases.jsonl.gz", "wt") as f:
        for set_name, res in results["sets"].items():
            for det in ("new", "old"):
                for rec in res[det]["cases"]:
                    f.write(
                        json.dumps({"set": set_name, "detector": det, **rec}, default=float) + "\n"
                    )
    summary = {
        **results,
        "sets": {
            name: {det: {k: v for k, v in r.items() if k != "cases"} for det, r in res.items()}
            for name, res in results["sets"].items()
        },
    }
    write_json(out / "results.json", summary)
    (out / "results.md").write_text(markdown(results))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="cases per set (default 500)")
    p.add_argument(
        "--set",
        nargs="+",
        choices=(*SETS, "all"),
        default=["all"],
        help="one or more of dev, heldout, heldout2, ..., heldout8 (held-out rounds 1-8), "
        "dev-length (dev with a response-length series); all (default)",
    )
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="cases are seeds FIRST..FIRST+n-1 of each set (default 0); e.g. --set dev "
        "--first-seed 500: fresh cases of the dev shapes and noise",
    )
    p.add_argument(
        "--no-length",
        action="store_true",
        help="leave the response-length series out of every case (round 7 on, dev-length): "
        "the same cases otherwise",
    )
    p.add_argument("--quick", action="store_true", help="40 cases per set, into out/phases_quick")
    p.add_argument(
        "--out", type=Path, default=None, help="output directory (default benchmarks/out/phases)"
    )
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.first_seed < 0:
        p.error(f"--first-seed: expected a seed >= 0, got {args.first_seed}")
    n = 40 if args.quick else args.n
    out = out_dir("phases_quick" if args.quick else "phases", args.out)
    sets = SETS if "all" in args.set else {name: SETS[name] for name in SETS if name in args.set}
    results = {
        "n": {k: n for k in sets},
        "first_seed": args.first_seed,
        "length": not args.no_length,
        "families": FAMILIES,
        "snr_ranges": SNR_RANGES,
        "targets": TARGETS,
        "sets": {},
    }
    t0, c0 = time.perf_counter(), time.process_time()
    for name, heldout in sets.items():
        length = False if args.no_length else (True if name in WITH_LENGTH else None)
        results["sets"][name] = evaluate(n, heldout, not args.no_progress, args.first_seed, length)
    results["wall_s"], results["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    try:
        import os

        results["load_average"] = os.getloadavg()
    except OSError:
        pass
    write_outputs(out, results)
    for set_name, res in results["sets"].items():
        o = res["new"]["summary"]["overall"]
        t = o.get("turn", {})
        print(
            f"{set_name}: turn median {_fmt(t, 'median')}% p90 {_fmt(t, 'p90')}% "
            f"coverage {_fmt(t, 'coverage')}% "
            f"false positives {_fmt(o.get('false_positive'), 'rate')}% (old: median "
            f"{_fmt(res['old']['summary']['overall'].get('turn'), 'median')}% p90 "
            f"{_fmt(res['old']['summary']['overall'].get('turn'), 'p90')}% false positives "
            f"{_fmt(res['old']['summary']['overall'].get('false_positive'), 'rate')}%)"
        )
    print(
        f"wrote {out / 'results.md'} ({results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} s CPU)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
