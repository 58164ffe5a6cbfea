"""Planning tokens on a real byte-level BPE tokenizer (SmolLM2-135M-Instruct's, 49,152 ids).

The token masks must match the detector's character spans exactly: a token is planning iff
one of its characters lies in a span. Checked against a reference that owes nothing to the
tokenizer's offsets (each token's characters found by decoding the ids one prefix at a time),
across leading-space tokens ("Ġwait"), words split into pieces ("Ġh" "mm"), special tokens and
the chat template's tokens, for the 249-phrase lexicon and every registered detector.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hicra.lexicon import StrategicLexicon, detector_names, load_detector

TEXTS = [
    "Hmm, wait. Let's try a different angle: 8 + 9 = 17, so the answer is \\boxed{17}.",
    "Tom has 8 apples. But wait, does this make sense? Let me double-check: 8 + 9 = 17.",
    "First, I need to re-evaluate. Alright, alternatively we could subtract: 24 - 7 = 17.",
    "Je pense — naïvement — que 3 × 4 = 12. So, let's verify: 12 / 4 = 3 😀.",
    "So\nwait\n\nBut  we also know that the total is 17.",
]


def reference_mask(detector, text: str, ids: list[int], tokenizer) -> list[bool]:
    """Each token's characters from decoding growing prefixes of the ids (no offsets used);
    planning iff a character of the token is inside a span."""
    inside = np.zeros(len(text) + 1, dtype=bool)
    for span in detector.find_spans(text):
        inside[span.start : span.end] = True
    mask, previous = [], 0
    for k in range(1, len(ids) + 1):
        end = len(tokenizer.decode(ids[:k], skip_special_tokens=True).rstrip("\ufffd"))
        end = max(end, previous)
        mask.append(bool(inside[previous:end].any()))
        previous = end
    return mask


def detectors():
    names = [n for n in detector_names() if n != "default"]
    return [load_detector(n) for n in names]


@pytest.mark.parametrize("text", TEXTS)
def test_masks_match_character_spans(smollm2_tokenizer, text):
    tokenizer = smollm2_tokenizer
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text  # byte-level BPE: the ids are the text
    for detector in detectors():
        expected = reference_mask(detector, text, ids, tokenizer)
        by_offsets = detector.tag(text, tokenizer).planning_mask.tolist()
        by_ids = detector.tag_batch(torch.tensor([ids]), tokenizer)[0].tolist()
        assert by_offsets == expected, (type(detector).__name__, text)
        assert by_ids == expected, (type(detector).__name__, text)


def test_leading_space_tokens_and_split_words(smollm2_tokenizer):
    lexicon = StrategicLexicon.default()
    text = "Then hmm, alright. We know 8 + 9 = 17. But wait, that is it."
    result = lexicon.tag(text, smollm2_tokenizer)
    marked = dict(zip(result.tokens, result.planning_mask.tolist()))
    assert (
        result.tokens[1:3] == ["Ġh", "mm"] and marked["Ġh"] and marked["mm"]
    )  # "hmm" in two pieces
    assert marked["Ġal"] and marked["right"]  # "alright" in two pieces
    assert (
        marked["ĠBut"] and marked["Ġwait"]
    )  # leading-space tokens: the space is not planning, the word is
    assert not marked["Then"] and not marked["Ġ="] and not marked["Ġthat"]


def test_special_and_chat_template_tokens_are_never_planning(smollm2_tokenizer):
    """A whole conversation whose prompt (system, user) is full of planning phrases: with the
    response mask of a rollout, only the assistant's words can be planning; <|im_end|>,
    <|im_start|> and the template's role names never are."""
    tokenizer = smollm2_tokenizer
    messages = [
        {
            "role": "user",
            "content": "But wait, let's think step by step. Alternatively, what is 8 + 9?",
        }
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    assert (
        prompt_ids[-4:] == tokenizer("<|im_start|>assistant\n", add_special_tokens=False).input_ids
    )
    response_ids = tokenizer(
        "Wait, 8 + 9 = 17. So the answer is \\boxed{17}.", add_special_tokens=False
    ).input_ids
    response_ids += [tokenizer.eos_token_id]  # <|im_end|>, as the model ends its turn
    ids = torch.tensor([prompt_ids + response_ids])  # (1, P + T)
    response_mask = torch.zeros_like(ids, dtype=torch.bool)
    response_mask[0, len(prompt_ids) :] = True
    lexicon = StrategicLexicon.default()
    mask = lexicon.tag_batch(ids, tokenizer, response_mask)[0]
    assert not mask[: len(prompt_ids)].any()  # the template and the user's words are the prompt's
    assert not mask[-1]  # <|im_end|>
    words = tokenizer.convert_ids_to_tokens(response_ids)
    assert [w for w, m in zip(words, mask[len(prompt_ids) :].tolist()) if m] == ["Wait", "ĠSo"]
    # the same response alone (as the trainer holds it) gives the same mask
    alone = lexicon.tag_batch(torch.tensor([response_ids]), tokenizer)[0]
    assert alone.tolist() == mask[len(prompt_ids) :].tolist()
    # special tokens in the middle of a response are hard boundaries: "but <|im_end|> wait" is not "but wait"
    ids = tokenizer("so but", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    ids += tokenizer(" wait", add_special_tokens=False).input_ids
    spans = lexicon.find_spans("so but wait")
    assert any(s.phrase == "but wait" for s in spans)
    tagged = lexicon.tag_batch(torch.tensor([ids]), tokenizer)[0].tolist()
    assert tagged[-1] == any(s.phrase == "wait" for s in spans) and tagged[-2] is False


def test_trainer_prompts_are_chat_templated_and_responses_exclude_them(smollm2_tokenizer):
    from hicra.models.sampling import chat_prompt, encode_prompts

    tokenizer = smollm2_tokenizer
    text = chat_prompt(tokenizer, "What is 2 + 3?")
    assert text.startswith("<|im_start|>system") and text.endswith("<|im_start|>assistant\n")
    ids, mask = encode_prompts(
        tokenizer,
        [text, chat_prompt(tokenizer, "Longer: what is 20 + 30?")],
        add_special_tokens=False,
    )
    first = ids[0][mask[0]].tolist()
    assert first == tokenizer(text, add_special_tokens=False).input_ids
    assert first.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # no BOS added twice
