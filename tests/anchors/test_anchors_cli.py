"""`hicra anchors` from the command line: a smoke run, resume, and bad input (one line, exit 2)."""

from __future__ import annotations

import json

import pytest
from anchors_helpers import one_torch_thread, tiny_countdown_model  # noqa: F401 (fixtures)

from hicra.anchors.backends import BuiltinBackend
from hicra.anchors.cli import anchors_main
from hicra.anchors.run import AnchorsConfig, check_generation
from hicra.anchors.traces import AnchorsInputError, Trace, sample_base_traces
from hicra.models import load_model_and_tokenizer

PROMPT = "numbers 2 3 4 target 6 :"


def test_smoke_run_writes_traces_summary_and_report(tiny_countdown_model, tmp_path, capsys):
    out = tmp_path / "anchors"
    argv = [
        "--model",
        str(tiny_countdown_model),
        "--problems",
        "2",
        "--out",
        str(out),
        "--samples",
        "2",
        "--max-new-tokens",
        "8",
        "--no-require-ending",
        "--no-progress",
        "--max-sentences",
        "2",
    ]
    assert anchors_main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_traces"] == 2 and summary["task"] == "countdown" and summary["samples"] == 2
    assert len(list((out / "traces").glob("*.json"))) == 2
    assert "Thought anchors" in (out / "report.html").read_text()
    # a rerun resumes: nothing left to generate, same summary
    assert anchors_main(argv) == 0
    assert json.loads((out / "summary.json").read_text()) == summary
    # other settings in the same directory are refused, --force starts over
    capsys.readouterr()
    assert anchors_main(argv[:-2] + ["--max-sentences", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_sentences: 2 -> 1" in err
    assert anchors_main(argv[:-2] + ["--max-sentences", "1", "--force"]) == 0


@pytest.mark.parametrize("flag", ["--samples", "--batch-rows"])
def test_zero_budget_is_one_line(tmp_path, capsys, flag):
    code = anchors_main(
        ["--model", str(tmp_path), "--problems", "1", "--out", str(tmp_path / "o"), flag, "0"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and flag.lstrip("-") in err
    assert not (tmp_path / "o").exists()


def test_trace_without_prompt_is_named(tiny_countdown_model, tmp_path, capsys):
    traces = tmp_path / "traces.jsonl"
    traces.write_text(
        json.dumps({"id": "a", "prompt": PROMPT, "response": "so the answer is 6 ."})
        + "\n"
        + json.dumps({"id": "b", "response": "so the answer is 6 ."})
        + "\n"
    )
    code = anchors_main(
        [
            "--model",
            str(tiny_countdown_model),
            "--traces",
            str(traces),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{traces}:2: trace 'b' has no prompt" in err


def test_math_trace_without_reference_answer_is_named(tiny_countdown_model, tmp_path, capsys):
    traces = tmp_path / "traces.jsonl"
    traces.write_text(
        json.dumps({"id": "q1", "question": "What is 2+2?", "response": "It is \\boxed{4}."}) + "\n"
    )
    code = anchors_main(
        [
            "--model",
            str(tiny_countdown_model),
            "--traces",
            str(traces),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "trace '0000-q1' has no reference answer" in err


@pytest.fixture
def silent_model(tiny_countdown_model):
    """The tiny model with its end-of-sequence logit forced up: it answers nothing at all."""
    model, tokenizer = load_model_and_tokenizer(tiny_countdown_model)

    def force_eos(module, inputs, output):
        output[..., :] = -1e4
        output[..., tokenizer.eos_token_id] = 1e4
        return output

    handle = model.lm_head.register_forward_hook(force_eos)
    yield model, tokenizer
    handle.remove()


def test_a_model_that_answers_nothing_is_named_by_trace(silent_model):
    model, tokenizer = silent_model
    backend = BuiltinBackend(model, tokenizer, max_new_tokens=8)
    records = [
        {"key": "0000-p", "prompt": PROMPT, "context": PROMPT, "gold": None, "source": "puzzle 0"}
    ]
    with pytest.raises(
        AnchorsInputError, match=r"trace 0000-p \(puzzle 0\): the model produced an empty response"
    ):
        sample_base_traces(backend, records, seed=0)
    trace = Trace("0000-p", PROMPT, PROMPT, "so the answer is 6 .", None, "given")
    with pytest.raises(
        AnchorsInputError, match="trace 0000-p .* continuations from the prompt are empty"
    ):
        check_generation(trace, backend.sample([PROMPT], 3, seed=0), AnchorsConfig())


def test_a_model_that_never_ends_is_named_by_trace(tiny_countdown_model):
    model, tokenizer = load_model_and_tokenizer(tiny_countdown_model)
    handle = model.lm_head.register_forward_hook(
        lambda m, i, out: out.index_fill_(
            -1, __import__("torch").tensor([tokenizer.eos_token_id]), -1e4
        )
    )
    try:
        backend = BuiltinBackend(model, tokenizer, max_new_tokens=5)
        records = [
            {
                "key": "0000-p",
                "prompt": PROMPT,
                "context": PROMPT,
                "gold": None,
                "source": "puzzle 0",
            }
        ]
        with pytest.raises(
            AnchorsInputError, match="trace 0000-p .*without an end-of-sequence token"
        ):
            sample_base_traces(backend, records, seed=0)
    finally:
        handle.remove()


def test_a_tokenizer_without_eos_cannot_be_used(tiny_countdown_model):
    model, tokenizer = load_model_and_tokenizer(tiny_countdown_model)
    tokenizer.eos_token = None
    with pytest.raises(ValueError, match="no end-of-sequence token"):
        BuiltinBackend(model, tokenizer)


def test_vllm_backend_without_vllm_is_one_line(tiny_countdown_model, tmp_path, capsys):
    from hicra.anchors.backends import vllm_available

    if vllm_available():
        pytest.skip("vLLM is installed here")
    code = anchors_main(
        [
            "--model",
            str(tiny_countdown_model),
            "--problems",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--backend",
            "vllm",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(
        "vLLM is not installed (pip install vllm), use --backend builtin"
    )
    assert not (tmp_path / "o").exists()


def test_skip_unended_leaves_out_base_traces_that_never_end(tiny_countdown_model):
    model, tokenizer = load_model_and_tokenizer(tiny_countdown_model)
    handle = model.lm_head.register_forward_hook(
        lambda m, i, out: out.index_fill_(
            -1, __import__("torch").tensor([tokenizer.eos_token_id]), -1e4
        )
    )
    try:
        backend = BuiltinBackend(model, tokenizer, max_new_tokens=5)
        records = [
            {
                "key": "0000-p",
                "prompt": PROMPT,
                "context": PROMPT,
                "gold": None,
                "source": "puzzle 0",
            }
        ]
        skipped = []
        assert sample_base_traces(backend, records, seed=0, skipped=skipped) == []
        assert skipped == [{"key": "0000-p", "source": "puzzle 0", "tokens": 5}]
    finally:
        handle.remove()
