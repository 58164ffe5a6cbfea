"""Tiny Hugging Face models and word-level tokenizers built offline (no Hub access)."""

from hicra.models.tiny import build_tiny_model, load_model_and_tokenizer
from hicra.models.tokenizer import BOS, EOS, PAD, UNK, build_tokenizer

__all__ = ["BOS", "EOS", "PAD", "UNK", "build_tiny_model", "build_tokenizer", "load_model_and_tokenizer"]
