"""Local math datasets: every public layout loads, bad files and fields fail in one line."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hicra.tasks.base import Task
from hicra.tasks.datasets import (
    DEFAULT_INSTRUCTION,
    DatasetError,
    load_math_problems,
    read_records,
    render_prompt,
)
from hicra.tasks.math_task import MathTask

DAPO_CONTENT = (
    "Solve the following math problem step by step. The last line of your response should be of "
    "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
    'What is $1+1$?\n\nRemember to put your answer on its own line after "Answer:".'
)

LAYOUTS = {
    "dapo_math_17k": [
        {
            "data_source": "math_dapo",
            "ability": "MATH",
            "prompt": [{"role": "user", "content": DAPO_CONTENT}],
            "reward_model": {"ground_truth": "2", "style": "rule-lighteval/MATH_v2"},
            "extra_info": {"index": "a1b2"},
        }
    ],
    "math_lighteval": [
        {
            "problem": "What is $1+1$?",
            "level": "Level 1",
            "type": "Algebra",
            "solution": r"We add: $1+1=\boxed{2}$.",
        }
    ],
    "deepscaler": [{"problem": "What is $1+1$?", "answer": "2", "solution": "..."}],
    "math500": [
        {
            "problem": "What is $1+1$?",
            "solution": r"\boxed{2}",
            "answer": "2",
            "subject": "Algebra",
            "level": 1,
            "unique_id": "test/algebra/1.json",
        }
    ],
    "aime24": [
        {"id": 60, "problem": "What is $1+1$?", "solution": "...", "answer": 2, "year": 2024}
    ],
    "aime25": [{"question": "What is $1+1$?", "answer": "2"}],
    "amc23": [{"id": 0, "question": "What is $1+1$?", "answer": 2.0, "url": "x"}],
    "minerva": [{"question": "What is $1+1$?", "answer": "2"}],
    "olympiadbench": [
        {
            "id": 7,
            "question": "What is $1+1$?",
            "final_answer": ["$2$"],
            "unit": None,
            "is_multiple_answer": False,
        }
    ],
}


def write(path, rows, fmt):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_loads_in_every_format(layout, fmt, tmp_path):
    path = write(tmp_path / f"{layout}.{fmt}", LAYOUTS[layout], fmt)
    [problem] = load_math_problems(path)
    assert problem.meta["problem"] == "What is $1+1$?"
    assert problem.answer == "2"
    assert problem.prompt == f"What is $1+1$?\n\n{DEFAULT_INSTRUCTION}"


def test_ids_and_data_source(tmp_path):
    dapo = load_math_problems(write(tmp_path / "d.jsonl", LAYOUTS["dapo_math_17k"], "jsonl"))[0]
    assert (dapo.id, dapo.meta["data_source"]) == ("a1b2", "math_dapo")
    minerva = load_math_problems(write(tmp_path / "minerva.jsonl", LAYOUTS["minerva"] * 2, "jsonl"))
    assert [p.id for p in minerva] == ["minerva-0", "minerva-1"]
    assert minerva[0].meta["data_source"] == "minerva"


def test_explicit_fields_override_detection(tmp_path):
    rows = [{"q": "Compute 2+2.", "meta": {"gold": "4"}, "answer": "wrong"}]
    path = write(tmp_path / "custom.jsonl", rows, "jsonl")
    [problem] = load_math_problems(path, prompt_field="q", answer_field="meta.gold", instruction="")
    assert (problem.prompt, problem.answer) == ("Compute 2+2.", "4")


def test_deduplicate_keeps_the_first_of_repeated_rows(tmp_path):
    rows = LAYOUTS["dapo_math_17k"] * 3 + [
        {**LAYOUTS["dapo_math_17k"][0], "reward_model": {"ground_truth": "3"}}
    ]
    path = write(tmp_path / "dapo.jsonl", rows, "jsonl")
    assert len(load_math_problems(path)) == 4
    kept = load_math_problems(path, deduplicate=True)
    assert [(p.answer, p.meta["row"]) for p in kept] == [("2", 0), ("3", 3)]


def test_limit(tmp_path):
    path = write(tmp_path / "m.jsonl", LAYOUTS["minerva"] * 5, "jsonl")
    assert len(load_math_problems(path, limit=3)) == 3


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: str(d / "absent.jsonl"), "dataset file not found: .*absent.jsonl"),
        (
            lambda d: write(d / "x.jsonl", [{"text": "a", "answer": "1"}], "jsonl"),
            r"x.jsonl: no prompt field found .*columns: answer, text\); pass --prompt-field",
        ),
        (
            lambda d: write(d / "x.jsonl", [{"problem": "a", "hint": "1"}], "jsonl"),
            r"no answer field found .*pass --answer-field",
        ),
        (
            lambda d: write(
                d / "x.jsonl", [{"problem": "a", "answer": "1"}, {"problem": "b"}], "jsonl"
            ),
            r"x.jsonl row 1: field 'answer' is missing or empty",
        ),
        (
            lambda d: write(d / "x.jsonl", [{"problem": "a", "solution": "no box"}], "jsonl"),
            r"row 0: the solution has no \\boxed\{\} answer",
        ),
        (
            lambda d: (
                (d / "x.jsonl").write_text('{"problem": "a"}\n{oops\n') and str(d / "x.jsonl")
            ),
            r"x.jsonl:2: invalid JSON",
        ),
        (
            lambda d: (d / "x.csv").write_text("a,b\n") and str(d / "x.csv"),
            "unsupported file type .csv",
        ),
        (
            lambda d: (d / "x.json").write_text('{"a": 1}') and str(d / "x.json"),
            "expected a list of objects",
        ),
    ],
)
def test_bad_input_gives_one_line_error(setup, message, tmp_path):
    path = setup(tmp_path)
    with pytest.raises(DatasetError, match=message) as error:
        load_math_problems(path)
    assert "\n" not in str(error.value)


def test_explicit_missing_field_is_named(tmp_path):
    path = write(tmp_path / "x.jsonl", [{"problem": "a", "answer": "1"}], "jsonl")
    with pytest.raises(DatasetError, match="row 0: field 'question' is missing"):
        load_math_problems(path, prompt_field="question")


def test_read_records_json_with_data_key(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps({"data": [{"a": 1}]}))
    assert read_records(str(tmp_path / "d.json")) == [{"a": 1}]


class _ChatTokenizer:
    chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        body = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return body + "<assistant>"


def test_render_prompt_with_and_without_chat_template():
    assert render_prompt("Q", None) == "Q\n"
    assert render_prompt("Q", None, system_prompt="S") == "S\n\nQ\n"
    assert render_prompt("Q", _ChatTokenizer(), system_prompt="S") == "<system>S<user>Q<assistant>"


def test_render_prompt_with_a_real_hf_chat_template():
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import PreTrainedTokenizerFast

    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    assert render_prompt("Q", tokenizer) == "<|user|>Q\n<|assistant|>"


def test_math_task_implements_the_task_protocol(tmp_path):
    pytest.importorskip("math_verify")
    path = write(
        tmp_path / "deepscaler.jsonl",
        [{"problem": f"p{i}", "answer": str(i)} for i in range(5)],
        "jsonl",
    )
    task = MathTask.from_file(path, format_reward=0.1)
    assert isinstance(task, Task) and task.name == "deepscaler"
    drawn = task.sample_problems(5, np.random.default_rng(0))
    assert sorted(p.id for p in drawn) == [f"deepscaler-{i}" for i in range(5)]
    again = task.sample_problems(5, np.random.default_rng(0))
    assert [p.id for p in drawn] == [p.id for p in again]
    assert len(task.sample_problems(12, np.random.default_rng(0))) == 12
    problem = task.problems[3]
    right = task.score(problem, r"so \boxed{3}")
    wrong = task.score(problem, "no box")
    assert (right.correct, right.reward) == (True, pytest.approx(1.1))
    assert (wrong.correct, wrong.reward, wrong.diagnostics["boxed_rate"]) == (False, 0.0, 0.0)
