"""`hicra eval`: pass@1 (mean over n samples per problem) and unbiased pass@k on math benchmarks.

The paper's protocol: sample n responses per problem at temperature 0.6, score each by its last
\\boxed{} answer (math-verify equivalence), report pass@1 = mean over problems of c/n. pass@k is
Chen et al.'s unbiased estimator 1 - C(n-c, k)/C(n, k), for k = 1, 2, 4, ... <= n (and n).

    hicra eval --model PATH --data aime24.parquet math500.jsonl --n 32 --temperature 0.6 --out eval/
    hicra eval --model smollm2-135m --task word-arith --limit 200 --n 4 --out eval/   # generated problems

Writes, under --out: `results.json` and `results.md` (one row per data file), `config.json`
(the options), and `samples/<benchmark>.jsonl` (every response with its verdict, one line per
problem). Generation uses vLLM when it is installed (`--backend auto`), else hicra's own
KV-cached sampler on the transformers model (`hicra.models.sampling`, batched). A run
interrupted before `results.json` is written resumes from the samples files: same options and
the same data (each file's SHA-256 is recorded) required; an existing `results.json` is never
overwritten without `--force`, and --out follows the ownership rule of run directories
(`hicra.runs.ownership`: never a directory hicra did not write, nor the model's). Every option
and data file is checked before the model loads or anything is written.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from hicra.cli_args import POSITIVE_COUNT, SEED, Range
from hicra.errors import InputError, command
from hicra.tasks.base import Problem

# Options that must match for samples on disk to be reused (with each data file's hash).
_RESUME_KEYS = (
    "model",
    "n",
    "temperature",
    "top_p",
    "max_new_tokens",
    "instruction",
    "system_prompt",
    "task",
    "task_options",
    "prompt_field",
    "answer_field",
    "seed",
)
EVAL_TASKS = ("word-arith",)  # generated tasks whose answers the math reward scores
TASK_PROBLEMS = 200  # problems of a generated task when --limit is not given
WRITER = "hicra eval"
OUTPUTS = ("samples", "results.json", "results.md")  # what eval writes besides config.json


@dataclass
class EvalConfig:
    """Options of one evaluation: the one source of the command line's flags
    (`hicra.cli_args.add_dataclass_flags`)."""

    model: str
    """A checkpoint directory, a model alias (smollm2-135m), a .gguf file or a Hub id."""
    data: list[str]
    """Benchmark files (parquet/json/jsonl); each file is one row of the table."""
    out: str = "eval"
    """Output directory."""
    n: int = 32
    """Samples per problem (the paper: 32 for AIME, 4 for AMC23)."""
    temperature: float = 0.6
    """Sampling temperature (0 = greedy: all n samples are identical)."""
    top_p: float = 1.0
    """Nucleus sampling threshold."""
    max_new_tokens: int = 4096
    """Longest response; longer ones are cut and counted as truncated."""
    backend: Literal["auto", "vllm", "hf"] = "auto"
    """"auto" (vLLM if installed, else transformers), "vllm" or "hf"."""
    batch_size: int = 64
    """Sequences generated together by the transformers backend."""
    prompt_field: str | None = None
    """Dataset column of the problem (None: auto-detect, see hicra.tasks.datasets)."""
    answer_field: str | None = None
    """Dataset column of the reference answer (None: auto-detect)."""
    instruction: str | None = None
    """Appended to every problem (None: the default boxed-answer instruction)."""
    system_prompt: str | None = None
    """Optional system message."""
    limit: int | None = None
    """Evaluate only the first `limit` problems of each file (and of a generated task)."""
    seed: int = 0
    """Sampling seed (and the seed that draws a generated task's problems)."""
    timeout_s: float = 5.0
    """Deadline of one math-verify check in seconds (a timeout counts as wrong)."""
    tensor_parallel_size: int = 1
    """GPUs per vLLM engine."""
    force: bool = False
    """Overwrite an existing results.json (and discard saved samples)."""
    task: str | None = None
    """A generated task instead of (or besides) files: word-arith (its `limit` problems,
    default 200, drawn with `seed`)."""
    task_options: dict | None = None
    """Options of `task`, e.g. {"difficulty": 1} (a JSON object on the command line)."""
    stop_strings: tuple[str, ...] | None = None
    """Strings that end a response besides EOS (vLLM's `stop`; the completing token is kept).
    None: none for files, the generated task's own for `task` (word-arith: "Question:")."""


BOUNDS = {  # the range of every numeric option (`hicra.cli_args.check_fields`)
    "n": Range(1, 10**6),
    "temperature": Range(0, 100),  # 0: greedy
    "top_p": Range(0, 1, low_open=True),
    "max_new_tokens": Range(1, 10**7),
    "batch_size": Range(1, 10**7),
    "limit": POSITIVE_COUNT,
    "seed": SEED,
    "timeout_s": Range(0, 86_400, low_open=True),  # longer waits overflow the thread timers
    "tensor_parallel_size": Range(1, 4096),
}


@dataclass
class Generation:
    """One response: its text, length in tokens, and whether it hit max_new_tokens."""

    text: str
    num_tokens: int
    truncated: bool


# ----------------------------------------------------------------------------- generators
class HFGenerator:
    """hicra's own KV-cached sampler (`hicra.models.sampling`) on a transformers model."""

    def __init__(self, config: EvalConfig) -> None:
        import torch

        from hicra.models import load_model_and_tokenizer

        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model, self.tokenizer = load_model_and_tokenizer(
            config.model, dtype=dtype, option="--model"
        )
        self.model = model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        eos_ids.discard(None)
        self.eos_ids = sorted(eos_ids)  # any of them ends a response
        self.config = config
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)

    def generate(
        self, prompts: list[str], n: int, stop_strings: tuple[str, ...] = ()
    ) -> list[list[Generation]]:
        """n samples for each prompt (rows g*n .. g*n+n-1 answer prompt g)."""
        from hicra.models.sampling import sample_responses

        config, tokenizer = self.config, self.tokenizer
        # Rendered prompts already carry the chat template's special tokens.
        batch = sample_responses(
            self.model,
            tokenizer,
            prompts,
            n,
            config.max_new_tokens,
            config.temperature,
            self.generator,
            top_p=config.top_p,
            eos_token_ids=self.eos_ids,
            add_special_tokens=not tokenizer.chat_template,
            stop_strings=stop_strings,
        )
        lengths = batch.response_mask.sum(1).tolist()
        truncated = batch.truncated_mask.tolist()
        generations = [
            Generation(text, int(length), bool(cut))
            for text, length, cut in zip(batch.texts, lengths, truncated)
        ]
        return [generations[i : i + n] for i in range(0, len(generations), n)]


class VLLMGenerator:
    """vLLM's offline `LLM` engine with `SamplingParams(n=...)`."""

    def __init__(self, config: EvalConfig) -> None:
        from vllm import LLM, SamplingParams

        from hicra.models import resolve_model

        self.llm = LLM(
            model=resolve_model(config.model),
            seed=config.seed,
            tensor_parallel_size=config.tensor_parallel_size,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.params = SamplingParams(
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
            seed=config.seed,
        )

    def generate(
        self, prompts: list[str], n: int, stop_strings: tuple[str, ...] = ()
    ) -> list[list[Generation]]:
        """n samples for each prompt through SamplingParams(n=...) (one prefill per prompt)."""
        params = self.params
        if stop_strings:
            params = self.params.clone()
            params.stop, params.include_stop_str_in_output = list(stop_strings), True
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            [Generation(c.text, len(c.token_ids), c.finish_reason == "length") for c in o.outputs]
            for o in outputs
        ]


def resolve_backend(backend: str) -> str:
    """ "vllm" or "hf" for --backend (auto: vLLM when installed); InputError for vllm without vLLM."""
    installed = importlib.util.find_spec("vllm") is not None
    if backend == "auto":
        return "vllm" if installed else "hf"
    if backend == "vllm" and not installed:
        raise InputError(
            "--backend vllm: vLLM is not installed (pip install vllm); use --backend hf"
        )
    return backend


def make_generator(config: EvalConfig):
    return (
        VLLMGenerator(config) if resolve_backend(config.backend) == "vllm" else HFGenerator(config)
    )


# ----------------------------------------------------------------------------- scoring and tables
def benchmark_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def summarize(records: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Per-benchmark numbers from the per-problem records (each with `correct`: n booleans)."""
    from hicra.dynamics.metrics import default_ks, pass_at_k

    ks = default_ks(n)
    counts = [sum(r["correct"]) for r in records]
    total = len(records) * n
    return {
        "problems": len(records),
        "samples_per_problem": n,
        "pass@1": sum(c / n for c in counts) / len(records),
        "pass@k": {str(k): sum(pass_at_k(n, c, k) for c in counts) / len(records) for k in ks},
        "mean_response_tokens": sum(sum(r["num_tokens"]) for r in records) / total,
        "truncated_rate": sum(sum(r["truncated"]) for r in records) / total,
        "boxed_rate": sum(sum(p is not None for p in r["predicted"]) for r in records) / total,
        "verify_timeouts": sum(sum(r["timed_out"]) for r in records),
    }


def markdown_table(results: dict[str, dict[str, Any]]) -> str:
    ks = sorted({int(k) for row in results.values() for k in row["pass@k"]})
    header = [
        "benchmark",
        "problems",
        "n",
        "pass@1 (%)",
        *[f"pass@{k} (%)" for k in ks if k > 1],
        "mean tokens",
        "truncated (%)",
        "boxed (%)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in results.items():
        cells = [
            name,
            str(row["problems"]),
            str(row["samples_per_problem"]),
            f"{100 * row['pass@1']:.1f}",
        ]
        cells += [
            f"{100 * row['pass@k'][str(k)]:.1f}" if str(k) in row["pass@k"] else ""
            for k in ks
            if k > 1
        ]
        cells += [
            f"{row['mean_response_tokens']:.0f}",
            f"{100 * row['truncated_rate']:.1f}",
            f"{100 * row['boxed_rate']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(results) > 1:
        mean = sum(row["pass@1"] for row in results.values()) / len(results)
        lines.append(f"\nMean pass@1 over {len(results)} benchmarks: {100 * mean:.1f}%")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the run
def data_hashes(paths: list[str]) -> dict[str, str]:
    """{benchmark name: SHA-256 of its file}: what a resumed evaluation must find unchanged."""
    out = {}
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        out[benchmark_name(path)] = digest.hexdigest()
    return out


def _claim_out_dir(config: EvalConfig, hashes: dict[str, str]):
    """Decide what may happen to --out (`hicra.runs.ownership`), writing nothing: resume an
    evaluation made with the same options and data, replace one with --force, refuse anything
    else. Returns (the decision, the data hashes config.json will record)."""
    from hicra.runs.ownership import claim_run_dir

    results_path = os.path.join(config.out, "results.json")
    options = {key: asdict(config)[key] for key in _RESUME_KEYS}
    decision = claim_run_dir(
        config.out,
        options,
        writer=WRITER,
        resume=not config.force,
        force=config.force,
        protect={"--model": config.model},
        what="--out",
    )
    if decision.action == "resume":
        if os.path.exists(results_path):
            raise InputError(f"{results_path} exists; pass --force to overwrite it")
        saved = decision.saved.get("data_sha256") or {}
        changed = [
            name
            for name, digest in hashes.items()
            if name in saved
            and saved[name] != digest
            and os.path.exists(os.path.join(config.out, "samples", f"{name}.jsonl"))
        ]
        if changed:
            raise InputError(
                f"--out {config.out}: holds samples of other data under the name(s) {', '.join(changed)} "
                "(the file's content changed); use another --out or pass --force"
            )
        for name in hashes:  # a corrupt samples file is reported before anything is written
            _load_done(os.path.join(config.out, "samples", f"{name}.jsonl"), repair=False)
        hashes = {**saved, **hashes}
    return decision, hashes


def _write_out_dir(config: EvalConfig, decision, hashes: dict[str, str]) -> None:
    """Clear --out when replacing, then write config.json (with the data hashes) and samples/."""
    from hicra.runs.ownership import clear_run, write_run_config

    if decision.action == "replace":
        clear_run(config.out, extra=OUTPUTS)
    write_run_config(config.out, {**asdict(config), "data_sha256": hashes}, WRITER)
    os.makedirs(os.path.join(config.out, "samples"), exist_ok=True)


def _load_done(path: str, repair: bool = True) -> dict[str, dict[str, Any]]:
    """The records of a samples file; a last line cut by a kill is dropped (and, with
    `repair`, cut off the file, so that appending starts on a fresh line)."""
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as handle:
        lines = handle.readlines()
    done, keep = {}, 0
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            if number == len(lines) and not line.endswith(b"\n"):
                if repair:
                    with open(path, "r+b") as handle:
                        handle.truncate(keep)
                break
            raise InputError(
                f"{path}:{number}: not valid JSON; delete the file to sample its problems again"
            ) from None
        keep += len(line)
        if record is None:
            continue
        if not isinstance(record, dict) or "id" not in record:
            raise InputError(f"{path}:{number}: expected a sample record with an 'id'")
        done[record["id"]] = record
    return done


def evaluate_file(config: EvalConfig, path: str, generator, pool) -> dict[str, Any]:
    """Generate, score and save the samples of one benchmark file; return its summary."""
    from hicra.tasks.datasets import DEFAULT_INSTRUCTION, load_math_problems

    instruction = DEFAULT_INSTRUCTION if config.instruction is None else config.instruction
    problems = load_math_problems(
        path, config.prompt_field, config.answer_field, instruction, config.limit
    )
    name = benchmark_name(path)
    if len({p.id for p in problems}) != len(problems):  # ids key the resume file: make them unique
        print(f"[{name}] problem ids are not unique; using row numbers instead", file=sys.stderr)
        problems = [replace(p, id=f"{name}-{p.meta['row']}") for p in problems]
    stops = tuple(config.stop_strings or ())
    return evaluate_problems(config, name, problems, generator, pool, stops)


def task_problems(config: EvalConfig) -> tuple[str, list[Problem], tuple[str, ...]]:
    """(benchmark name, problems, stop strings) of the generated task: `limit` problems drawn with
    `seed`; the stop strings are --stop-strings when given, else the task's own."""
    import numpy as np

    from hicra.tasks import load_task

    try:
        task = load_task(config.task, config.task_options or {})
    except ValueError as err:  # options the task refuses
        raise InputError(f"--task-options: {err}") from None
    problems = task.sample_problems(
        config.limit or TASK_PROBLEMS, np.random.default_rng(config.seed)
    )
    options = "".join(
        f"-{k}{v}" for k, v in sorted((config.task_options or {}).items()) if k != "instruction"
    )
    unique = {p.id: p for p in problems}  # a generator may repeat a small problem: score it once
    stops = (
        getattr(task, "stop_strings", ()) if config.stop_strings is None else config.stop_strings
    )
    return f"{task.name}{options}", list(unique.values()), tuple(stops)


def evaluate_problems(
    config: EvalConfig,
    name: str,
    problems: list[Problem],
    generator,
    pool,
    stop_strings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Generate, score and save the samples of one benchmark's problems; return its summary."""
    from hicra.tasks.datasets import render_prompt
    from hicra.tasks.math_reward import score_response

    samples_path = os.path.join(config.out, "samples", f"{name}.jsonl")
    done = _load_done(samples_path)
    todo = [p for p in problems if p.id not in done]
    if len(todo) < len(problems):
        print(
            f"[{name}] resuming: {len(problems) - len(todo)} of {len(problems)} problems already sampled",
            file=sys.stderr,
        )
    per_call = (
        max(1, config.batch_size // config.n)
        if isinstance(generator, HFGenerator)
        else max(1, 1024 // config.n)
    )
    start = time.monotonic()
    with open(samples_path, "a") as out, ThreadPoolExecutor(max(1, pool.size)) as scorers:
        for first in range(0, len(todo), per_call):
            chunk: list[Problem] = todo[first : first + per_call]
            prompts = [
                render_prompt(p.prompt, generator.tokenizer, config.system_prompt) for p in chunk
            ]
            groups = generator.generate(prompts, config.n, stop_strings)
            for i, problem in enumerate(chunk):
                group = groups[i]
                scores = list(
                    scorers.map(
                        lambda g, answer=str(problem.answer): score_response(
                            g.text, answer, timeout_s=config.timeout_s, pool=pool
                        ),
                        group,
                    )
                )
                record = {
                    "id": problem.id,
                    "answer": problem.answer,
                    "prompt": prompts[i],
                    "responses": [g.text for g in group],
                    "num_tokens": [g.num_tokens for g in group],
                    "truncated": [g.truncated for g in group],
                    "predicted": [s.predicted for s in scores],
                    "correct": [s.correct for s in scores],
                    "timed_out": [s.timed_out for s in scores],
                }
                out.write(json.dumps(record, allow_nan=False) + "\n")
                out.flush()
                done[problem.id] = record
            finished = first + len(chunk)
            rate = finished / max(time.monotonic() - start, 1e-9)
            print(f"[{name}] {finished}/{len(todo)} problems ({rate:.2f}/s)", file=sys.stderr)
    records = [done[p.id] for p in problems]
    return summarize(records, config.n)


def run(config: EvalConfig) -> dict[str, dict[str, Any]]:
    """Evaluate every file of config.data; write results.json/.md; return the per-benchmark rows."""
    from hicra.tasks.math_reward import VerifierPool

    hashes = check_config(config)
    generated = task_problems(config) if config.task else None
    decision, hashes = _claim_out_dir(config, hashes)
    generator = make_generator(config)  # loaded before anything is written
    _write_out_dir(config, decision, hashes)
    pool = VerifierPool(size=2)
    try:
        results = {
            benchmark_name(path): evaluate_file(config, path, generator, pool)
            for path in config.data
        }
        if generated is not None:
            name, problems, stops = generated
            results[name] = evaluate_problems(config, name, problems, generator, pool, stops)
    finally:
        pool.close()
    with open(os.path.join(config.out, "results.json"), "w") as handle:
        json.dump({"config": asdict(config), "results": results}, handle, indent=2, allow_nan=False)
    with open(os.path.join(config.out, "results.md"), "w") as handle:
        handle.write(f"# hicra eval: {config.model}\n\n")
        handle.write(
            f"n={config.n}, temperature={config.temperature}, top_p={config.top_p}, "
            f"max_new_tokens={config.max_new_tokens}\n\n"
        )
        handle.write(markdown_table(results))
    return results


def check_config(config: EvalConfig) -> dict[str, str]:
    """Every option, the model and every data file checked before anything loads or is
    written (InputError naming the culprit); returns the data files' hashes."""
    from hicra.cli_args import check_fields
    from hicra.models.loading import check_model
    from hicra.tasks.datasets import DEFAULT_INSTRUCTION, load_math_problems

    check_fields(config, BOUNDS, lambda name: f"--{name.replace('_', '-')}")
    if not config.data and not config.task:
        raise InputError("give benchmark files (--data) or a generated task (--task)")
    if config.task is not None and config.task not in EVAL_TASKS:
        raise InputError(f"--task {config.task!r}: expected one of {', '.join(EVAL_TASKS)}")
    if config.task_options is not None and not isinstance(config.task_options, dict):
        raise InputError(f"--task-options: expected a JSON object, got {config.task_options!r:.40}")
    if config.stop_strings is not None and not all(config.stop_strings):
        raise InputError("--stop-strings: expected non-empty strings, got an empty one")
    if resolve_backend(config.backend) == "hf" or os.path.exists(config.model):
        check_model(config.model, "--model")  # vLLM resolves Hub ids itself
    names = [benchmark_name(path) for path in config.data]
    if len(set(names)) != len(names):
        raise InputError(
            f"--data: two files share a benchmark name ({', '.join(names)}); rename one"
        )
    instruction = DEFAULT_INSTRUCTION if config.instruction is None else config.instruction
    for path in config.data:  # every file read (and its fields found) before the model loads
        load_math_problems(
            path, config.prompt_field, config.answer_field, instruction, config.limit
        )
    return data_hashes(config.data)


def parse_args(argv: list[str]) -> EvalConfig:
    """EvalConfig from the command line: one flag per field (`hicra.cli_args`), the data
    files as a list and the task options as JSON."""
    from hicra.cli_args import ArgumentParser, add_dataclass_flags, dataclass_values

    parser = ArgumentParser(prog="hicra eval", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        required=True,
        help="checkpoint directory, model alias (smollm2-135m), .gguf file or Hub id",
    )
    parser.add_argument(
        "--data", nargs="+", default=[], help="benchmark files (parquet/json/jsonl)"
    )
    parser.add_argument(
        "--task-options",
        type=json.loads,
        default=None,
        metavar="JSON",
        help="options of --task as a JSON object, e.g. '{\"difficulty\": 1}'",
    )
    add_dataclass_flags(parser, EvalConfig, skip=("model", "data", "task_options"))
    args = parser.parse_args(argv)
    values = dataclass_values(args, EvalConfig)
    return EvalConfig(
        **{
            **values,
            "model": args.model,
            "data": list(args.data),
            "task_options": args.task_options,
        }
    )


@command("hicra eval")
def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    results = run(config)
    print(markdown_table(results), end="")
    print(f"wrote {os.path.join(config.out, 'results.json')} and results.md")
    return 0
