"""Model and tokenizer loading (aliases such as `smollm2-135m`, local checkpoints, GGUF files,
Hub ids) and the tiny Llama / word-level tokenizers built offline for the countdown world."""

from hicra.models.gguf import ModelLoadError
from hicra.models.loading import (
    MODEL_ALIASES,
    load_model_and_tokenizer,
    load_tokenizer,
    resolve_model,
)
from hicra.models.tiny import build_tiny_model
from hicra.models.tokenizer import BOS, EOS, PAD, UNK, build_tokenizer

__all__ = [
    "BOS",
    "EOS",
    "MODEL_ALIASES",
    "PAD",
    "UNK",
    "ModelLoadError",
    "build_tiny_model",
    "build_tokenizer",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "resolve_model",
]
