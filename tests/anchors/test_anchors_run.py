"""The resampling loop end to end on a tiny countdown model: files, classes, resume, budgets."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from anchors_helpers import CountingBackend, one_torch_thread, tiny_countdown_model  # noqa: F401 (fixtures)

from hicra.anchors.backends import BuiltinBackend
from hicra.anchors.outcomes import AnchorsTask
from hicra.anchors.run import AnchorsConfig, run_anchors, selected_sentences
from hicra.anchors.store import AnchorsStore
from hicra.anchors.summary import summarize
from hicra.anchors.traces import Trace
from hicra.lexicon.detectors import load_detector
from hicra.models import load_model_and_tokenizer

PROMPT = "numbers 2 3 4 target 6 :"
RESPONSES = [
    "we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; let us check 6 vs 6 yes . so the answer is 6 .",
    "we can use add then add : 2 + 3 = 5 ; 5 + 4 = 2 ; let us check 2 vs 6 no . so the answer is 2 .",
]
CFG = AnchorsConfig(
    samples=3,
    max_new_tokens=12,
    temperature=1.0,
    top_p=1.0,
    batch_rows=9,
    require_ending=False,
    sentence_mode="clauses",
)


def words_embed(texts):
    """A cheap bag-of-words stand-in for MiniLM in loop tests (the CLI tests use MiniLM)."""
    vocab = sorted({w for t in texts for w in t.split()})
    out = np.zeros((len(texts), max(len(vocab), 1)), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.split():
            out[i, vocab.index(w)] += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


@pytest.fixture(scope="module")
def backend(tiny_countdown_model):
    model, tokenizer = load_model_and_tokenizer(tiny_countdown_model)
    return BuiltinBackend(model, tokenizer, temperature=1.0, top_p=1.0, max_new_tokens=12)


def traces():
    return [
        Trace(f"000{i}-t", PROMPT, PROMPT, r, None, f"test {i}") for i, r in enumerate(RESPONSES)
    ]


def run(backend, tmp_path, cfg=CFG, name="out"):
    task = AnchorsTask("countdown")
    detector = load_detector(None, task.detector_task)
    store = AnchorsStore(tmp_path / name)
    settings = {"cfg": str(cfg)}
    store.open(settings, store.claim(settings, force=False))
    return run_anchors(traces(), backend, task, detector, store, cfg, words_embed), store


def test_every_sentence_is_classed_and_scored(backend, tmp_path):
    results, store = run(backend, tmp_path)
    assert [r["key"] for r in results] == ["0000-t", "0001-t"]
    first = results[0]
    assert [s["role"]["move"] for s in first["sentences"]] == [
        "choose",
        "step",
        "step",
        "check",
        "conclude",
    ]
    # the world's lexicon: choices, checks and conclusions are planning, arithmetic is execution
    assert [s["class"] for s in first["sentences"]] == [
        "planning",
        "execution",
        "execution",
        "planning",
        "planning",
    ]
    assert first["correct"] is True and results[1]["correct"] is False
    for s in first["sentences"]:
        imp = s["importance"]
        assert 0 <= imp["accuracy"] <= 1 and imp["resampling_importance_kl"] >= 0
    # n + 1 boundaries (the last one after the final sentence), CFG.samples continuations each
    assert sorted(store.done_boundaries("0000-t")) == list(range(6))
    rows = json.loads(store.boundary_path("0000-t", 5).read_text())["rows"]
    assert len(rows) == CFG.samples and {
        "replacement",
        "answer",
        "correct",
        "n_tokens",
        "ended",
    } <= set(rows[0])
    summary = summarize(results)
    assert summary["n_sentences"] == 10 and 0 < summary["planning_share_of_sentences"] < 1
    assert set(summary["by_role"]["resampling_importance_accuracy"]) >= {
        "choose (final attempt)",
        "step (right)",
    }


def test_resume_skips_what_is_on_disk_and_reproduces_an_uninterrupted_run(backend, tmp_path):
    whole, _ = run(backend, tmp_path, name="whole")
    counting = CountingBackend(backend)
    run(counting, tmp_path, name="whole")
    assert counting.calls == 0  # everything was on disk

    # an interrupted run: the second generate call dies, then the run is resumed
    class Dying(CountingBackend):
        def sample(self, contexts, n, seed):
            if self.calls == 1:
                raise KeyboardInterrupt
            return super().sample(contexts, n, seed)

    with pytest.raises(KeyboardInterrupt):
        run(Dying(backend), tmp_path, name="cut")
    resumed = CountingBackend(backend)
    again, store = run(resumed, tmp_path, name="cut")
    assert resumed.calls >= 1
    assert again == whole  # same seeds per boundary group: same samples


def test_max_sentences_budget(backend, tmp_path):
    assert selected_sentences(5, 2) == [0, 4] and selected_sentences(5, 0) == [0, 1, 2, 3, 4]
    results, store = run(backend, tmp_path, replace(CFG, max_sentences=2), name="budget")
    assert results[0]["analysed"] == [0, 4]
    assert ["importance" in s for s in results[0]["sentences"]] == [True, False, False, False, True]
    assert sorted(store.done_boundaries("0000-t")) == [0, 1, 4, 5]


def test_top_p_keeps_sampling_inside_the_nucleus(backend):
    """With a tiny nucleus every continuation takes the most likely token: all samples agree."""
    narrow = BuiltinBackend(
        backend.model, backend.tokenizer, temperature=1.0, top_p=1e-6, max_new_tokens=6
    )
    rows = narrow.sample([PROMPT], 4, seed=0)
    assert len({r.text for r in rows}) == 1


def test_shared_prefill_samples_the_same_distribution(backend):
    """One prompt forward copied to the n rows gives the same next-token distribution as n
    forwards: with the same generator the samples agree (float noise aside)."""
    import torch

    from hicra.models.sampling import sample_responses

    prompts = [PROMPT, "numbers 4 2 5 target 6 : we can use"]
    a = sample_responses(
        backend.model,
        backend.tokenizer,
        prompts,
        4,
        8,
        1.0,
        torch.Generator().manual_seed(3),
        share_prefill=False,
    )
    b = sample_responses(
        backend.model,
        backend.tokenizer,
        prompts,
        4,
        8,
        1.0,
        torch.Generator().manual_seed(3),
        share_prefill=True,
    )
    assert torch.equal(a.response_ids, b.response_ids)
    assert torch.allclose(a.sample_logp, b.sample_logp, atol=1e-5)
