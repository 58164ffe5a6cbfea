"""``hicra train --backend trl``: HICRA/GRPO training with TRL from the command line.

    hicra train --backend trl --model PATH --data FILE [--recipe YAML] [--task math|countdown]
                [any HICRAConfig / GRPOConfig / TrainingArguments flag] [any TRL ModelConfig flag]

Flags are TRL's own (``TrlParser`` over ``HICRAConfig`` and ``trl.ModelConfig``), so a TRL user's
recipe works as is; every flag has both spellings (``--output-dir``, ``--output_dir``).
``--recipe YAML`` (alias of TRL's ``--config``) sets defaults that the command line overrides.
Multi-GPU: ``accelerate launch --config_file recipes/trl/zero2.yaml -m
hicra.integrations.trl.cli --model ...`` (docs/trl.md).
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field

from hicra.cli_args import ArgumentParser
from hicra.errors import InputError, command

TASKS = ("math", "countdown", "word-arith")


@dataclass
class TrlScriptArguments:
    """What the command trains on; everything else is an HICRAConfig / ModelConfig flag."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "Model alias (smollm2-135m), local model directory, .gguf file or Hub id "
            "(same as --model_name_or_path)."
        },
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "Training data: a local .parquet/.json/.jsonl file (math), or optional for countdown."
        },
    )
    task: str = field(
        default="math",
        metadata={
            "help": "math: the math reward on --data; countdown: the synthetic countdown world; "
            "word-arith: generated arithmetic word problems (--task_options for its options).",
            "choices": list(TASKS),
        },
    )
    prompt_field: str | None = field(
        default=None, metadata={"help": "Prompt column (dotted for nested); default: auto-detect."}
    )
    answer_field: str | None = field(
        default=None, metadata={"help": "Answer column (dotted for nested); default: auto-detect."}
    )
    instruction: str | None = field(
        default=None,
        metadata={
            "help": "Instruction appended to each math problem; default: put the answer in \\boxed{}."
        },
    )
    image_field: str | None = field(
        default=None,
        metadata={
            "help": "Vision-language models: the column with each problem's image(s) (path relative to "
            "the data file, bytes, or an HF image dict; or a list of them). Loads the model's processor."
        },
    )
    system_prompt: str | None = field(default=None, metadata={"help": "Optional system message."})
    limit: int | None = field(default=None, metadata={"help": "Use only the first N problems."})
    num_problems: int = field(
        default=512,
        metadata={
            "help": "countdown without --data, word-arith: how many problems to generate "
            "(seeded by --seed)."
        },
    )
    task_options: str | None = field(
        default=None,
        metadata={
            "help": "Options of a generated task as a JSON object, e.g. '{\"difficulty\": 1}'."
        },
    )
    format_reward: float = field(
        default=0.0,
        metadata={"help": "math: reward added for exactly one non-empty \\boxed{} (0 = off)."},
    )
    verify_timeout_s: float = field(
        default=5.0, metadata={"help": "math: deadline of one equivalence check."}
    )


def parse(argv: list[str]):
    """(script_args, training_args, model_args) from argv; ``--recipe`` is TRL's ``--config``."""
    from trl import ModelConfig, TrlParser

    from hicra.integrations.trl.config import HICRAConfig

    argv = ["--config" if a == "--recipe" else a for a in argv]
    parser = TrlParser(
        (TrlScriptArguments, HICRAConfig, ModelConfig), prog="hicra train --backend trl"
    )
    parser.error = types.MethodType(
        ArgumentParser.error, parser
    )  # one line, not TRL's 300-line usage
    script_args, training_args, model_args = parser.parse_args_and_config(argv)
    if script_args.model:
        model_args.model_name_or_path = script_args.model
    if not model_args.model_name_or_path:
        parser.error("--model is required (a local model directory or a Hub id)")
    if script_args.task == "math" and not script_args.data:
        parser.error("--data is required for --task math (a .parquet/.json/.jsonl file)")
    return script_args, training_args, model_args


def build_task(script_args, training_args, tokenizer):
    """(train_dataset, reward_funcs) for the chosen task."""
    import numpy as np

    from hicra.integrations.trl.data import task_dataset
    from hicra.integrations.trl.rewards import make_math_reward, task_reward_func

    if script_args.task in ("countdown", "word-arith"):
        import json

        from hicra.tasks import load_task

        try:
            task = load_task(script_args.task, json.loads(script_args.task_options or "{}"))
        except ValueError as err:  # not JSON, or options the task refuses
            raise InputError(f"--task_options: {err}") from None
        if script_args.data:
            from hicra.tasks.base import Problem
            from hicra.tasks.datasets import read_records

            problems = [
                Problem(
                    id=str(r["id"]),
                    prompt=r["prompt"],
                    answer=r["answer"],
                    meta=r.get("meta") or {},
                )
                for r in read_records(script_args.data)
            ]
        else:
            problems = task.sample_problems(
                script_args.num_problems, np.random.default_rng(training_args.seed)
            )
        if script_args.limit is not None:
            problems = problems[: script_args.limit]
        if (
            training_args.detector is None and script_args.task == "countdown"
        ):  # the world's own moves
            from hicra.tasks.countdown.task import lexicon_path

            training_args.detector = str(lexicon_path())
        return task_dataset(problems, tokenizer, script_args.system_prompt), [
            task_reward_func(task)
        ]

    from hicra.tasks.datasets import DEFAULT_INSTRUCTION, load_math_problems

    instruction = (
        DEFAULT_INSTRUCTION if script_args.instruction is None else script_args.instruction
    )
    problems = load_math_problems(
        script_args.data,
        script_args.prompt_field,
        script_args.answer_field,
        instruction=instruction,
        limit=script_args.limit,
    )
    reward = make_math_reward(script_args.format_reward, script_args.verify_timeout_s)
    images = problem_images(script_args) if script_args.image_field else None
    return task_dataset(problems, tokenizer, script_args.system_prompt, images), [reward]


def problem_images(script_args) -> list[list]:
    """Per problem (file order, same --limit), its images from --image_field."""
    from hicra.integrations.trl.data import load_image
    from hicra.tasks.datasets import DatasetError, get_field, read_records

    records = read_records(script_args.data)[: script_args.limit]
    base_dir = os.path.dirname(os.path.abspath(script_args.data))
    out = []
    for row, record in enumerate(records):
        where = f"{script_args.data} row {row}: field {script_args.image_field!r}"
        value = get_field(record, script_args.image_field)
        if value is None:
            raise DatasetError(f"{where} is missing")
        values = value if isinstance(value, list) else [value]
        try:
            out.append([load_image(v, base_dir, where) for v in values])
        except ValueError as error:
            raise DatasetError(str(error)) from None
    return out


def check_inputs(script_args, training_args, model: str) -> str:
    """Before anything loads: the model (`hicra.models.check_model`: a local checkpoint, an
    alias, a Hub id owner/name), the data file, the output and run directories
    (`hicra.runs.ownership`). Returns the model's resolved spelling."""
    from hicra.errors import check_number
    from hicra.integrations.trl.rundir import claim
    from hicra.models.loading import check_model
    from hicra.runs.ownership import check_apart, check_writable

    resolved = check_model(model, "--model")
    if script_args.data and not os.path.isfile(script_args.data):
        raise InputError(
            f"--data {script_args.data}: no such file (expected a .parquet, .json or .jsonl file)"
        )
    check_number("--limit", script_args.limit, integer=True, low=1, optional=True)
    check_number("--num_problems", script_args.num_problems, integer=True, low=1, high=10**8)
    check_number("--verify_timeout_s", script_args.verify_timeout_s, low=0, low_open=True)
    check_number("--format_reward", script_args.format_reward)
    check_apart(
        training_args.output_dir, {"--model": model, "--model (resolved)": resolved}, "--output_dir"
    )
    check_writable(training_args.output_dir, "--output_dir")
    if training_args.write_run_dir:
        claim(training_args, model, bool(training_args.resume_from_checkpoint))
    return resolved


@command("hicra train")
def train_trl(argv: list[str] | None = None) -> int:
    """Run ``hicra train --backend trl``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        script_args, training_args, model_args = parse(argv)
    except ValueError as error:  # HICRAConfig / GRPOConfig __post_init__ checks
        raise InputError(str(error)) from None
    path = model_args.model_name_or_path = check_inputs(
        script_args, training_args, model_args.model_name_or_path
    )

    from transformers import AutoProcessor, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    from hicra.integrations.trl.trainer import HICRATrainer
    from hicra.models.checks import loading

    # a vision-language model needs its processor (image processor + tokenizer), as in TRL
    auto = AutoProcessor if script_args.image_field else AutoTokenizer
    with loading(path, "--model", "tokenizer"):
        tokenizer = auto.from_pretrained(
            path,
            revision=model_args.model_revision,
            trust_remote_code=training_args.trust_remote_code,
        )
    train_dataset, reward_funcs = build_task(script_args, training_args, tokenizer)
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    trainer = HICRATrainer(
        model=path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    if trainer.accelerator.is_main_process:
        run_dir = trainer.hicra_recorder.run_dir
        print(f"model saved to {training_args.output_dir}")
        if training_args.write_run_dir:
            print(f"hicra run directory: {run_dir}  (read it with `hicra analyze {run_dir}`)")
    return 0


def main() -> None:
    """Entry point for ``accelerate launch -m hicra.integrations.trl.cli ...``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(train_trl())


if __name__ == "__main__":
    main()
