"""Word-level tokenizers built offline with the `tokenizers` library.

The synthetic world's text is space-separated words, so one word = one token: planning
phrases stay whole words, and a planning mask over tokens is exactly a mask over words.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)


def build_tokenizer(source: Any, out_dir: str | Path | None = None):
    """A word-level `PreTrainedTokenizerFast` with bos/eos/pad/unk set; encoding a text
    prepends <bos> (never <eos>: the model learns to emit it).

    source: a task with `vocabulary() -> list[str]` (ids follow that order after the four
        special tokens, so the same task always gives the same ids), or an iterable of texts
        (a `WordLevelTrainer` learns the vocabulary from their whitespace-split words).
    out_dir: if given, `save_pretrained` there; `AutoTokenizer.from_pretrained(out_dir)`
        reloads it.

    >>> tok = build_tokenizer(["2 + 3 = 5 ;"])
    >>> tok("2 + 3").input_ids[0] == tok.bos_token_id, tok.decode(tok("2 + 3").input_ids,
    ...     skip_special_tokens=True)
    (True, '2 + 3')
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if hasattr(source, "vocabulary"):
        words = [w for w in dict.fromkeys(source.vocabulary()) if w not in SPECIAL_TOKENS]
        vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}
        core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
        core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    else:
        texts = [source] if isinstance(source, str) else list(_texts(source))
        if not texts:
            raise ValueError("build_tokenizer: the corpus is empty; expected texts or a task")
        core = Tokenizer(models.WordLevel(unk_token=UNK))
        core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=1)
        core.train_from_iterator(texts, trainer=trainer)
    bos_id = core.token_to_id(BOS)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK
    )
    if out_dir is not None:
        tokenizer.save_pretrained(str(out_dir))
    return tokenizer


def _texts(source: Iterable[Any]) -> Iterable[str]:
    """Strings as they are; (prompt, response)-like records as both parts."""
    for item in source:
        if isinstance(item, str):
            yield item
        elif hasattr(item, "prompt") and hasattr(item, "response"):
            yield item.prompt
            yield item.response
        else:
            raise TypeError(
                f"build_tokenizer: expected texts or SFT examples, got {type(item).__name__}"
            )
