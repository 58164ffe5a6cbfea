"""Fixtures for the TRL adapter tests: a tiny random Llama, a word-level tokenizer, prompts."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

# Planning phrases of the test lexicon: single words, so random completions of the tiny model
# contain planning tokens and the HICRA path changes the advantages.
PLANNING_WORDS = ("wait", "try", "first", "check")
WORDS = (
    "wait try first check so the answer is x = 2 + 4 , we can use fact that let's a different "
    "approach verify"
).split()
PROMPTS = ["2 + 2 =", "x = 2 so", "we can use", "the answer is"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A saved tiny LlamaForCausalLM (hidden 32, 2 layers) and its word-level tokenizer."""
    from hicra.models import build_tiny_model, build_tokenizer

    out = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = build_tokenizer([" ".join(WORDS)], out_dir=out)
    build_tiny_model(tokenizer, hidden=32, layers=2, heads=2, max_positions=64, seed=0, out_dir=out)
    return out


@pytest.fixture()
def tiny(tiny_dir):
    """(model, tokenizer), freshly loaded (identical weights every time)."""
    from hicra.models import load_model_and_tokenizer

    return load_model_and_tokenizer(tiny_dir)


@pytest.fixture(scope="session")
def lexicon_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lexicon") / "words.txt"
    path.write_text("\n".join(PLANNING_WORDS) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture()
def dataset():
    from datasets import Dataset

    return Dataset.from_dict({"prompt": PROMPTS * 2, "answer": ["4", "2", "x", "4"] * 2})


def count_reward(completions, answer, **kwargs):
    """1.0 when the completion contains the answer word, else 0.0 (a verifiable toy reward)."""
    return [1.0 if a in c.split() else 0.0 for c, a in zip(completions, answer)]


@pytest.fixture()
def reward_func():
    return count_reward


@pytest.fixture()
def planning_words():
    return PLANNING_WORDS


@pytest.fixture()
def data_file(tmp_path):
    """A jsonl math-style dataset: problem + answer."""
    path = tmp_path / "train.jsonl"
    rows = [{"problem": p, "answer": a} for p, a in zip(PROMPTS, ["4", "2", "x", "4"])]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)
