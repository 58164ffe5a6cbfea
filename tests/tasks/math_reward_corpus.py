"""Regression corpus of the math reward: well-formed responses and what the reward made of them.

Cases come from two places:
- hand-written templates (always present): an answer in the usual places (`$\\boxed{..}$`,
  `\\fbox`, `\\boxed 5`, a corrected second box, a nested box, a trailing unclosed box, ...)
  against equivalent and non-equivalent reference answers;
- the real reasoning traces of the shared data folder (`../shared/data/` next to the
  repository, or `$HICRA_SHARED_DATA`), when present: each full trace against its reference
  answer and against the worked reference solution, the same trace cut inside its last box,
  and the reference answer boxed in two templates.

For each case it records `find_boxed`, `extract_boxed`, `reference_answer`, `normalize_answer`,
`quick_verdict` and `score_response` (format_reward 0.1). The expected file keeps digests of the
input, the extraction outputs and the score per case (and the outputs themselves for the
hand-written cases), never the traces.

    python tests/tasks/math_reward_corpus.py --write    # record the current outputs
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "data" / "math_reward_regression.json"
SHARED_DATA = Path(os.environ.get("HICRA_SHARED_DATA", HERE.parents[2] / "shared" / "data"))

TEMPLATES = {
    "dollar": r"Thus the answer is $\boxed{%s}$.",
    "display": "\\[\n\\boxed{%s}\n\\] \n<|end_of_solution|>",
    "fbox": r"we get \fbox{%s}",
    "token": r"so $\boxed %s$ is it",
    "spaced": r"\boxed {  %s }",
    "corrected": r"\boxed{0}, no wait: \boxed{%s}",
    "nested": r"\boxed{\boxed{%s}}",
    "unclosed_after": r"\boxed{%s} and then \boxed{1",
    "macro": r"\boxedx{%s}",
    "empty_after": r"$\boxed{%s}$ \\ \boxed{}",
    "text": "no box here, the answer is %s",
}
PAIRS = [  # (reference answer, predicted answer)
    ("42", "42"),
    ("42", "41"),
    ("-3", "-3.0"),
    ("3", "-3"),
    (r"\frac{1}{2}", "0.5"),
    (r"\frac12", r"\dfrac{1}{2}"),
    ("1/2", "0.5"),
    (r"50\%", "0.5"),
    ("1000", "1,000"),
    ("1000", "1{,}000"),
    (r"\pi", "3.14159265"),
    (r"\pi", "3.14"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\sqrt{2}", "1.41"),
    (r"\{1,2\}", r"\{2,1\}"),
    ("(1,2)", "(2,1)"),
    ("(1,2)", "[1,2]"),
    ("[1,2)", "[1, 2)"),
    (r"(-\infty, 3]", r"(-\infty,3]"),
    ("10", r"10\text{ cm}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("x^2", "x^3"),
    (r"\text{east}", "east"),
    ("3", "x=3"),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1 & 2\\ 3 & 4\end{pmatrix}"),
    (r"(3,\frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)"),
    ("12", "12."),
    ("5", "$5$"),
    (r"\$4.50", "4.50"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"),
    ("0.333333", r"\frac13"),
    (r"-\frac{1}{3}", r"\frac{-1}{3}"),
    ("1,2", "2,1"),
    (r"12\%", "12"),
    ("88572", "88,572"),
    (r"\frac{14}{3}", r"4\frac{2}{3}"),
    ("2\\text{ and }3", "2, 3"),
    ("a", r"\{a\}"),
]


def _traces(name: str) -> list[dict]:
    path = SHARED_DATA / name
    if not path.exists():
        return []
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


def _cut_inside_last_box(text: str) -> str | None:
    at = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    return text[: at + 9] if at >= 0 else None


def hand_cases() -> list[tuple[str, str, str]]:
    """(case id, response, reference answer) of the hand-written cases."""
    return [
        (f"hand/{name}/{i}", template % predicted, gold)
        for name, template in TEMPLATES.items()
        for i, (gold, predicted) in enumerate(PAIRS)
    ]


def trace_cases() -> list[tuple[str, str, str]]:
    """(case id, response, reference) from the shared traces; [] when the folder is absent."""
    cases = []
    for r in _traces("math500_sky_t1_27b_traces.jsonl.gz"):
        cases.append((f"math500/{r['idx']}/gt", r["code"][0], r["gt"]))
        cases.append((f"math500/{r['idx']}/solution", r["code"][0], r["solution"]))
    for r in _traces("math153_r1_distill_llama8b_traces.jsonl.gz"):
        key = f"math153/{r['problem_id']}/{r['seed']}"
        cases.append((f"{key}/gt", r["full_text"], r["gt_answer"]))
        cases.append((f"{key}/solution", r["full_text"], r["gt_solution"]))
    for i, r in enumerate(_traces("thought_anchors_dev.jsonl.gz")):
        text = " ".join(chunk["chunk"] for chunk in r["chunks"])
        cases.append((f"anchors/{i}/gt", text, r["gt_answer"]))
    derived = []
    for case_id, text, gold in cases:
        if case_id.endswith("/gt"):
            base = case_id[: -len("/gt")]
            cut = _cut_inside_last_box(text)
            if cut is not None:
                derived.append((f"{base}/cut", cut, gold))
            derived.append((f"{base}/boxed_gt", TEMPLATES["dollar"] % gold, gold))
            derived.append((f"{base}/corrected_gt", TEMPLATES["corrected"] % gold, gold))
    return cases + derived


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def extraction_outputs(response: str, gold: str) -> dict:
    """What the extraction and the cheap checks make of one case (no worker process)."""
    from hicra.tasks.math_reward import (
        extract_boxed,
        find_boxed,
        normalize_answer,
        quick_verdict,
        reference_answer,
    )

    extracted = extract_boxed(response)
    reference = reference_answer(gold)
    return {
        "boxes": find_boxed(response),
        "extracted": extracted,
        "reference": reference,
        "normalized": None if extracted is None else normalize_answer(extracted),
        "quick": None if not extracted else quick_verdict(reference, extracted),
    }


def score_outputs(response: str, gold: str, pool) -> list:
    """score_response's fields (format_reward 0.1, a long timeout: none may time out)."""
    from hicra.tasks.math_reward import score_response

    score = score_response(response, gold, format_reward=0.1, timeout_s=120.0, pool=pool)
    return [score.reward, score.correct, score.predicted, score.format_ok, score.timed_out]


def record(cases, pool, dump=None) -> dict:
    table = {}
    for case_id, response, gold in cases:
        extraction, score = extraction_outputs(response, gold), score_outputs(response, gold, pool)
        assert not score[-1], f"{case_id} timed out while recording"
        if dump is not None:
            dump.write(json.dumps({"id": case_id, **extraction, "score": score}) + "\n")
        row = {
            "input": digest([response, gold]),
            "extraction": digest(extraction),
            "score": digest(score),
        }
        if case_id.startswith("hand/"):
            row["outputs"] = {**extraction, "score": score}
        table[case_id] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help=f"write {EXPECTED.relative_to(HERE.parents[1])}"
    )
    parser.add_argument("--dump", help="also write every case's outputs to this JSON-lines file")
    args = parser.parse_args()
    from hicra.tasks.math_reward import VerifierPool

    cases = hand_cases() + trace_cases()
    assert len({case[0] for case in cases}) == len(cases), "case ids must be unique"
    if not any(case_id.startswith("math500/") for case_id, _, _ in cases):
        sys.exit(f"the shared traces are missing under {SHARED_DATA} (set HICRA_SHARED_DATA)")
    pool = VerifierPool(size=2)
    try:
        with open(args.dump or os.devnull, "w") as dump:
            table = record(cases, pool, dump)
    finally:
        pool.close()
    print(f"{len(table)} cases", file=sys.stderr)
    if args.write:
        EXPECTED.parent.mkdir(exist_ok=True)
        lines = [
            f"{json.dumps(key)}: {json.dumps(table[key], sort_keys=True)}" for key in sorted(table)
        ]
        EXPECTED.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one case a line: readable diffs
        print(f"wrote {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    main()
