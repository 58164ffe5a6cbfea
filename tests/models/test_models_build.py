"""Word-level tokenizer and tiny Llama: real HF objects that save and reload."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from hicra.models import build_tiny_model, build_tokenizer, load_model_and_tokenizer
from hicra.tasks.countdown import CountdownTask

TEXT = (
    "numbers 2 3 4 target 6 : we can use add then multiply : 2 + 3 = 5 ; 5 * 4 = 6 ; "
    "wait let us try a different approach . so the answer is 6 ."
)


def test_tokenizer_round_trip(tmp_path):
    task = CountdownTask()
    tokenizer = build_tokenizer(task, out_dir=tmp_path)
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path))
    assert len(reloaded) == len(task.vocabulary()) + 4
    for tok in (tokenizer, reloaded):
        ids = tok(TEXT).input_ids
        assert ids[0] == tok.bos_token_id and tok.eos_token_id not in ids
        assert len(ids) == len(TEXT.split()) + 1  # one word, one token
        assert tok.unk_token_id not in ids
        assert tok.decode(ids, skip_special_tokens=True) == TEXT
    assert (reloaded.bos_token, reloaded.eos_token, reloaded.pad_token) == (
        "<bos>",
        "<eos>",
        "<pad>",
    )
    assert reloaded(TEXT).input_ids == tokenizer(TEXT).input_ids
    # the same task always gives the same ids
    assert build_tokenizer(task).get_vocab() == tokenizer.get_vocab()
    # word offsets, as planning-token tagging needs them
    offsets = reloaded(TEXT, return_offsets_mapping=True, add_special_tokens=False).offset_mapping
    assert [TEXT[a:b] for a, b in offsets] == TEXT.split()


def test_tokenizer_from_a_corpus_and_unknown_words(tmp_path):
    tokenizer = build_tokenizer(["a b c", "c d"], out_dir=tmp_path)
    assert len(tokenizer) == 4 + 4
    assert tokenizer("a zzz", add_special_tokens=False).input_ids[1] == tokenizer.unk_token_id


def test_tiny_model_save_load(tmp_path):
    tokenizer = build_tokenizer(CountdownTask(), out_dir=tmp_path)
    model = build_tiny_model(tokenizer, out_dir=tmp_path)
    assert isinstance(model, LlamaForCausalLM)
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.9e6 < n_params < 1.2e6
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.config.pad_token_id == tokenizer.pad_token_id
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path))
    ids = torch.tensor([tokenizer(TEXT).input_ids])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reloaded(ids).logits)
    same = build_tiny_model(tokenizer, seed=0)
    other = build_tiny_model(tokenizer, seed=1)
    first = next(model.parameters())
    assert torch.equal(first, next(same.parameters()))
    assert not torch.equal(first, next(other.parameters()))
    loaded_model, loaded_tok = load_model_and_tokenizer(tmp_path)
    assert loaded_tok.eos_token_id == tokenizer.eos_token_id
    out = loaded_model.generate(
        ids, do_sample=False, max_new_tokens=3, pad_token_id=tokenizer.pad_token_id
    )
    assert out.shape[1] <= ids.shape[1] + 3
