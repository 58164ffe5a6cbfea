"""verl's reward function and dataset converter; checked against verl's own reader when installed."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("math_verify")

from hicra.integrations.verl.convert import convert  # noqa: E402
from hicra.integrations.verl.convert import main as convert_main
from hicra.integrations.verl.reward import compute_score  # noqa: E402
from hicra.tasks.datasets import DEFAULT_INSTRUCTION  # noqa: E402


def test_compute_score_verdicts():
    right = compute_score(
        "math_dapo", r"... so \boxed{\dfrac{1}{2}}", "0.5", extra_info={"index": 0}
    )
    assert (right["score"], right["acc"], right["pred"]) == (1.0, True, r"\dfrac{1}{2}")
    wrong = compute_score("aime24", "I think it is 7", "8")
    assert (wrong["score"], wrong["acc"], wrong["pred"]) == (0.0, False, "")


def test_compute_score_reward_kwargs_and_verl_extras():
    result = compute_score(
        "x",
        r"\boxed{3}",
        "4",
        None,
        format_reward=0.1,
        incorrect_reward=-1.0,
        reward_router_address=None,
        reward_model_tokenizer=None,
    )
    assert result["score"] == pytest.approx(-0.9) and result["format_ok"]


def test_compute_score_list_ground_truth():
    assert compute_score("x", r"\boxed{6}", np.array(["5", "6"], dtype=object))["acc"]
    assert not compute_score("x", r"\boxed{7}", ["5", "6"])["acc"]


def test_compute_score_in_verl_style_executor_threads():
    # verl's reward loop calls it through loop.run_in_executor(None, ...): worker threads, where
    # math-verify's own signal timeout raises. Ours works there and still times out.
    async def score_all():
        loop = asyncio.get_running_loop()
        calls = [(r"\boxed{0.5}", r"\frac12"), (r"\boxed{9^{9^{9^{9}}}}", "1"), (r"\boxed{2}", "3")]
        return await asyncio.gather(
            *[
                loop.run_in_executor(None, lambda s=s, g=g: compute_score("x", s, g, timeout_s=1.0))
                for s, g in calls
            ]
        )

    good, slow, wrong = asyncio.run(score_all())
    assert good["acc"] and not good["timed_out"]
    assert slow["timed_out"] and slow["score"] == 0.0
    assert not wrong["acc"]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_convert_writes_verl_schema(tmp_path):
    math500 = write_jsonl(
        tmp_path / "math500.jsonl",
        [
            {"problem": "What is $1+1$?", "answer": "2", "unique_id": "test/1.json"},
            {"problem": "What is $2+2$?", "answer": "4", "unique_id": "test/2.json"},
        ],
    )
    olympiad = write_jsonl(
        tmp_path / "olympiadbench.jsonl", [{"question": "Q?", "final_answer": ["$3$"]}]
    )
    out = tmp_path / "verl" / "train.parquet"
    assert convert([math500, olympiad], str(out), system_prompt="Be brief.") == 3
    rows = pq.read_table(out).to_pylist()
    assert rows[0] == {
        "data_source": "math500",
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"What is $1+1$?\n\n{DEFAULT_INSTRUCTION}"},
        ],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "2"},
        "extra_info": {
            "split": "train",
            "index": 0,
            "id": "test/1.json",
            "question": "What is $1+1$?",
        },
    }
    assert [r["data_source"] for r in rows] == ["math500", "math500", "olympiadbench"]
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2]
    assert rows[2]["reward_model"]["ground_truth"] == "3"


def test_convert_cli_refuses_to_overwrite_and_names_bad_input(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [{"problem": "p", "answer": "1"}])
    out = str(tmp_path / "o.parquet")
    assert convert_main([data, "--out", out]) == 0
    assert convert_main([data, "--out", out]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert convert_main([data, "--out", out, "--force", "--data-source", "mine"]) == 0
    assert pq.read_table(out).to_pylist()[0]["data_source"] == "mine"
    assert convert_main([str(tmp_path / "missing.jsonl"), "--out", out, "--force"]) == 2
    assert "dataset file not found" in capsys.readouterr().err


def test_converted_file_loads_in_verl_rlhf_dataset(tmp_path):
    pytest.importorskip("verl")
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from hicra.models import build_tokenizer

    data = write_jsonl(
        tmp_path / "deepscaler.jsonl", [{"problem": "what is one plus one", "answer": "2"}]
    )
    out = str(tmp_path / "train.parquet")
    convert([data], out)
    tokenizer = build_tokenizer(["what is one plus one", DEFAULT_INSTRUCTION])
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    config = OmegaConf.create(
        {
            "max_prompt_length": 256,
            "filter_overlong_prompts": True,
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    dataset = RLHFDataset(out, tokenizer, config)
    assert len(dataset) == 1
    item = dataset[0]
    assert item["raw_prompt"][-1]["content"].startswith("what is one plus one")
    assert item["reward_model"]["ground_truth"] == "2" and item["data_source"] == "deepscaler"
