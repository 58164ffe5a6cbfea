"""hicra / public math datasets -> verl's RL parquet schema.

    python -m hicra.integrations.verl.convert dapo_math_17k.parquet math500.jsonl \
        --out train.parquet [--data-source NAME] [--split train] [--system-prompt TEXT]

Any file `hicra.tasks.datasets` reads (parquet/json/jsonl, auto-detected or --prompt-field /
--answer-field) becomes rows of verl's schema (the one verl's `RLHFDataset` and reward loop read):

    data_source   str    the set's name (file stem, or the file's data_source column)
    prompt        list   chat messages: [{"role": "system", ...}?, {"role": "user", "content": problem + instruction}]
    ability       str    "math"
    reward_model  dict   {"style": "rule", "ground_truth": answer}
    extra_info    dict   {"split", "index" (row number), "id", "question" (the bare problem)}

verl applies the model's chat template to `prompt` itself; `ground_truth` is what
`hicra.integrations.verl.reward.compute_score` receives.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hicra.cli_args import ArgumentParser
from hicra.errors import InputError, command
from hicra.tasks.base import Problem
from hicra.tasks.datasets import DEFAULT_INSTRUCTION, load_math_problems


def verl_record(
    problem: Problem,
    index: int,
    split: str,
    data_source: str | None = None,
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """One verl row for one hicra Problem (see the module docstring for the schema)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": problem.prompt})
    return {
        "data_source": data_source or problem.meta.get("data_source", "math"),
        "prompt": messages,
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": str(problem.answer)},
        "extra_info": {
            "split": split,
            "index": index,
            "id": problem.id,
            "question": problem.meta.get("problem", problem.prompt),
        },
    }


def convert(
    paths: list[str],
    out: str,
    *,
    split: str = "train",
    data_source: str | None = None,
    prompt_field: str | None = None,
    answer_field: str | None = None,
    instruction: str = DEFAULT_INSTRUCTION,
    system_prompt: str | None = None,
    deduplicate: bool = False,
    force: bool = False,
) -> int:
    """Write the rows of every input file to one verl parquet file; return the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hicra.runs.ownership import check_writable

    if os.path.isdir(out):
        raise InputError(f"--out {out}: is a directory; expected a .parquet file path")
    if any(os.path.exists(p) and os.path.samefile(p, out) for p in paths if os.path.exists(out)):
        raise InputError(f"--out {out}: is also an input; write the output elsewhere")
    if os.path.exists(out) and not force:
        raise InputError(f"{out} exists; pass --force to overwrite it")
    check_writable(os.path.dirname(os.path.abspath(out)), "--out folder")
    rows: list[dict[str, Any]] = []
    for path in paths:
        for problem in load_math_problems(
            path, prompt_field, answer_field, instruction, deduplicate=deduplicate
        ):
            rows.append(verl_record(problem, len(rows), split, data_source, system_prompt))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out)
    return len(rows)


@command("hicra to-verl")
def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="hicra to-verl", description="math datasets -> verl RL parquet")
    parser.add_argument("inputs", nargs="+", help="parquet/json/jsonl files")
    parser.add_argument("--out", required=True, help="output .parquet")
    parser.add_argument("--split", default="train")
    parser.add_argument(
        "--data-source", default=None, help="data_source of every row (default: per file)"
    )
    parser.add_argument("--prompt-field", default=None)
    parser.add_argument("--answer-field", default=None)
    parser.add_argument(
        "--instruction", default=DEFAULT_INSTRUCTION, help='appended to each problem ("" for none)'
    )
    parser.add_argument("--system-prompt", default=None)
    parser.add_argument(
        "--deduplicate", action="store_true", help="drop repeated (problem, answer) rows"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args(argv)
    count = convert(
        args.inputs,
        args.out,
        split=args.split,
        data_source=args.data_source,
        prompt_field=args.prompt_field,
        answer_field=args.answer_field,
        instruction=args.instruction,
        system_prompt=args.system_prompt,
        deduplicate=args.deduplicate,
        force=args.force,
    )
    print(f"wrote {count} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
