"""The CLI's dataset and reward glue: TRL's prompt/column format, images, hicra's verifiers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("datasets")


def test_task_dataset_text_and_chat_prompts(tiny_dir):
    from transformers import AutoTokenizer

    from hicra.integrations.trl.data import task_dataset
    from hicra.integrations.trl.rewards import problem_from_json
    from hicra.tasks.base import Problem

    problems = [Problem("p0", "2 + 2 =", "4"), Problem("p1", "x = 2 so", {"target": 3})]
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    plain = task_dataset(problems, tokenizer)
    assert plain["prompt"] == ["2 + 2 =\n", "x = 2 so\n"] and plain["prompt_id"] == ["p0", "p1"]
    assert plain["answer"] == ["4", '{"target": 3}']
    assert problem_from_json(plain["problem"][1]) == problems[1]
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    chat = task_dataset(problems, tokenizer, system_prompt="be brief")
    assert chat["prompt"][0] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "2 + 2 ="},
    ]


def test_images_column_from_paths_and_one_line_errors(tmp_path):
    import numpy as np
    from PIL import Image

    from hicra.integrations.trl.cli import TrlScriptArguments, problem_images
    from hicra.integrations.trl.data import task_dataset
    from hicra.tasks.base import Problem
    from hicra.tasks.datasets import DatasetError

    Image.fromarray(np.zeros((8, 8, 3), dtype="uint8")).save(tmp_path / "a.png")
    data = tmp_path / "vl.jsonl"
    data.write_text(
        json.dumps({"question": "what?", "answer": "1", "image": "a.png"})
        + "\n"
        + json.dumps({"question": "and?", "answer": "2", "image": ["a.png", "a.png"]})
        + "\n"
    )
    images = problem_images(TrlScriptArguments(data=str(data), image_field="image"))
    assert [len(x) for x in images] == [1, 2] and images[0][0].size == (8, 8)
    dataset = task_dataset(
        [Problem("a", "what?", "1"), Problem("b", "and?", "2")], None, images=images
    )
    assert dataset["prompt"][0] == [{"role": "user", "content": "what?"}]  # TRL adds the image part
    assert len(dataset[1]["images"]) == 2

    data.write_text(json.dumps({"question": "q", "answer": "1", "image": "missing.png"}) + "\n")
    with pytest.raises(
        DatasetError, match=r"vl.jsonl row 0: field 'image': cannot read image 'missing.png'"
    ):
        problem_images(TrlScriptArguments(data=str(data), image_field="image"))


def test_math_reward_func_scores_boxed_answers():
    from hicra.integrations.trl.rewards import make_math_reward

    reward = make_math_reward(
        format_reward=0.1, timeout_s=60.0
    )  # generous: the test machine is shared
    completions = [
        "so \\boxed{\\frac{1}{2}}",
        [{"role": "assistant", "content": "it is \\boxed{3}"}],
        "no box",
    ]
    assert reward(completions=completions, answer=["0.5", "4", "1"]) == pytest.approx(
        [1.1, 0.1, 0.0]
    )


def test_task_reward_func_uses_the_countdown_verifier():
    import numpy as np

    from hicra.integrations.trl.data import problem_to_json
    from hicra.integrations.trl.rewards import task_reward_func
    from hicra.tasks.countdown import CountdownTask
    from hicra.tasks.countdown.corpus import sft_response

    task = CountdownTask()
    rng = np.random.default_rng(0)
    problems = task.sample_problems(8, rng)
    responses = [sft_response(p, task.config, rng) for p in problems]
    reward = task_reward_func(task)
    assert reward.__name__ == "countdown_reward"
    got = reward(completions=responses, problem=[problem_to_json(p) for p in problems])
    assert got == [task.score(p, r).reward for p, r in zip(problems, responses)]
    assert 1.0 in got  # the SFT corpus solves some puzzles: the JSON round trip keeps them solvable
