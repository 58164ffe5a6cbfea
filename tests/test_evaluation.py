"""`hicra eval` end to end on a tiny random Llama with a locally built tokenizer."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("math_verify")

from hicra.evaluation import main, markdown_table, summarize  # noqa: E402

PROBLEMS = [
    {"problem": "What is 1 + 1 ?", "answer": "2"},
    {"problem": "What is 2 + 3 ?", "answer": "5"},
    {"problem": "What is 3 + 3 ?", "answer": "6"},
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from hicra.models import build_tiny_model, build_tokenizer

    root = tmp_path_factory.mktemp("tiny")
    texts = [p["problem"] for p in PROBLEMS] + [r"so \boxed{2} 5 6 Please reason step by step"]
    tokenizer = build_tokenizer(texts, out_dir=root)
    build_tiny_model(tokenizer, hidden=32, layers=1, heads=2, out_dir=root)
    return str(root)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "toy_bench.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return str(path)


def run_eval(checkpoint, data, out, *extra):
    return main(
        [
            "--model",
            checkpoint,
            "--data",
            data,
            "--out",
            str(out),
            "--n",
            "4",
            "--max-new-tokens",
            "6",
            "--backend",
            "hf",
            "--batch-size",
            "8",
            *extra,
        ]
    )


def test_eval_writes_tables_and_samples(checkpoint, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(checkpoint, data, out) == 0
    results = json.loads((out / "results.json").read_text())
    row = results["results"]["toy_bench"]
    assert row["problems"] == 3 and row["samples_per_problem"] == 4
    assert 0.0 <= row["pass@1"] <= 1.0
    assert sorted(row["pass@k"], key=int) == ["1", "2", "4"]
    assert row["pass@k"]["1"] == pytest.approx(row["pass@1"])
    assert "| toy_bench | 3 | 4 |" in (out / "results.md").read_text()
    samples = [
        json.loads(line) for line in (out / "samples" / "toy_bench.jsonl").read_text().splitlines()
    ]
    assert [s["id"] for s in samples] == ["toy_bench-0", "toy_bench-1", "toy_bench-2"]
    assert all(len(s["responses"]) == 4 and len(s["correct"]) == 4 for s in samples)
    assert all(1 <= t <= 6 for s in samples for t in s["num_tokens"])
    assert "toy_bench" in capsys.readouterr().out


def test_eval_never_overwrites_without_force_and_resumes(checkpoint, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert run_eval(checkpoint, data, out) == 0
    assert run_eval(checkpoint, data, out) == 2
    assert "results.json exists; pass --force" in capsys.readouterr().err
    # An interrupted run: results.json missing, one problem sampled. The rerun keeps it.
    (out / "results.json").unlink()
    samples_path = out / "samples" / "toy_bench.jsonl"
    first_line = samples_path.read_text().splitlines()[0]
    samples_path.write_text(first_line + "\n")
    assert run_eval(checkpoint, data, out) == 0
    assert "resuming: 1 of 3" in capsys.readouterr().err
    lines = samples_path.read_text().splitlines()
    assert len(lines) == 3 and lines[0] == first_line
    # Other sampling options cannot reuse those samples.
    (out / "results.json").unlink()
    assert run_eval(checkpoint, data, out, "--temperature", "1.0") == 2
    assert "temperature: 0.6 -> 1.0" in capsys.readouterr().err
    assert run_eval(checkpoint, data, out, "--temperature", "1.0", "--force") == 0


def test_duplicate_ids_fall_back_to_row_numbers(checkpoint, tmp_path, capsys):
    path = tmp_path / "dups.jsonl"
    path.write_text("".join(json.dumps({**p, "id": 7}) + "\n" for p in PROBLEMS))
    assert run_eval(checkpoint, str(path), tmp_path / "eval") == 0
    assert "not unique" in capsys.readouterr().err
    samples = (tmp_path / "eval" / "samples" / "dups.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in samples] == ["dups-0", "dups-1", "dups-2"]
    assert (
        json.loads((tmp_path / "eval" / "results.json").read_text())["results"]["dups"]["problems"]
        == 3
    )


def test_missing_data_file_is_named(checkpoint, tmp_path, capsys):
    assert run_eval(checkpoint, str(tmp_path / "nope.jsonl"), tmp_path / "eval") == 2
    assert "dataset file not found: " in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_summarize_pass_at_k_by_hand():
    records = [
        {
            "correct": [True, False, False, False],
            "num_tokens": [1] * 4,
            "truncated": [False] * 4,
            "predicted": ["1", None, None, None],
            "timed_out": [False] * 4,
        },
        {
            "correct": [True] * 4,
            "num_tokens": [3] * 4,
            "truncated": [True] * 4,
            "predicted": ["1"] * 4,
            "timed_out": [False] * 4,
        },
    ]
    row = summarize(records, 4)
    assert row["pass@1"] == pytest.approx((0.25 + 1.0) / 2)
    assert row["pass@k"]["2"] == pytest.approx((0.5 + 1.0) / 2)  # 1 - C(3,2)/C(4,2) = 0.5
    assert row["pass@k"]["4"] == pytest.approx(1.0)
    assert (row["mean_response_tokens"], row["truncated_rate"], row["boxed_rate"]) == (
        2.0,
        0.5,
        0.625,
    )
    table = markdown_table({"a": row, "b": row})
    assert (
        "| a | 2 | 4 | 62.5 | 75.0 | 100.0 |" in table
        and "Mean pass@1 over 2 benchmarks: 62.5%" in table
    )


def test_resume_is_keyed_by_the_data_and_survives_a_cut_line(checkpoint, data, tmp_path, capsys):

    out = tmp_path / "eval"
    assert run_eval(checkpoint, data, out) == 0
    (out / "results.json").unlink()
    samples = out / "samples" / "toy_bench.jsonl"
    lines = samples.read_text().splitlines()
    samples.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # killed mid-write
    assert run_eval(checkpoint, data, out) == 0
    assert "resuming: 1 of 3" in capsys.readouterr().err
    assert [json.loads(line)["id"] for line in samples.read_text().splitlines()] == [
        "toy_bench-0",
        "toy_bench-1",
        "toy_bench-2",
    ]
    (out / "results.json").unlink()
    other = tmp_path / "elsewhere" / "toy_bench.jsonl"  # same benchmark name, other problems
    other.parent.mkdir()
    other.write_text(json.dumps({"problem": "What is 4 + 4 ?", "answer": "8"}) + "\n")
    before = samples.read_text()
    assert run_eval(checkpoint, str(other), out) == 2
    assert "other data" in capsys.readouterr().err
    assert samples.read_text() == before and not (out / "results.json").exists()


def test_stop_strings_end_responses(checkpoint, data, tmp_path):
    assert run_eval(checkpoint, data, tmp_path / "free", "--max-new-tokens", "12") == 0
    free = (tmp_path / "free" / "samples" / "toy_bench.jsonl").read_text().splitlines()
    words = [w for line in free for r in json.loads(line)["responses"] for w in r.split()[1:]]
    stop = max(set(words), key=words.count)  # a word sampled after the first position
    assert (
        run_eval(
            checkpoint, data, tmp_path / "stop", "--max-new-tokens", "12", "--stop-strings", stop
        )
        == 0
    )
    config = json.loads((tmp_path / "stop" / "results.json").read_text())["config"]
    assert config["stop_strings"] == [stop]
    records = [
        json.loads(line)
        for line in (tmp_path / "stop" / "samples" / "toy_bench.jsonl").read_text().splitlines()
    ]
    ended = 0
    for record in records:
        for text, cut in zip(record["responses"], record["truncated"]):
            if stop in text:
                ended += 1
                assert text.rstrip().endswith(stop) and text.count(stop) == 1 and not cut
    assert ended >= 1


def test_a_generated_task_is_sampled_with_its_stop_strings(checkpoint, tmp_path, monkeypatch):
    from hicra import evaluation

    seen = []
    generate = evaluation.HFGenerator.generate

    def spy(self, prompts, n, stop_strings=()):
        seen.append(stop_strings)
        return generate(self, prompts, n, stop_strings)

    monkeypatch.setattr(evaluation.HFGenerator, "generate", spy)
    out = tmp_path / "task"
    args = ["--model", checkpoint, "--task", "word-arith", "--limit", "2", "--n", "2"]
    args += ["--max-new-tokens", "4", "--backend", "hf", "--out", str(out)]
    assert main(args) == 0
    assert seen and all(s == ("Question:",) for s in seen)  # the task's own
    results = json.loads((out / "results.json").read_text())["results"]
    assert list(results) == ["word-arith"] and results["word-arith"]["problems"] == 2
    seen.clear()
    assert main([*args[:-1], str(tmp_path / "none"), "--stop-strings", "Q:"]) == 0
    assert seen and all(s == ("Q:",) for s in seen)  # --stop-strings overrides it
