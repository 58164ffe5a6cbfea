"""A tiny `LlamaForCausalLM` sized for CPU RL (about 1M parameters at the defaults)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_model(
    tokenizer,
    hidden: int = 128,
    layers: int = 4,
    heads: int = 4,
    intermediate: int | None = None,
    max_positions: int = 512,
    seed: int = 0,
    out_dir: str | Path | None = None,
):
    """A freshly initialised `LlamaForCausalLM` whose vocabulary is the tokenizer's.

    hidden: model width; layers: decoder blocks; heads: attention heads (hidden % heads == 0);
    intermediate: MLP width (default 4 * hidden); max_positions: longest prompt + response;
    seed: initialisation seed. Input and output embeddings are tied. With the countdown
    world's ~70-word vocabulary the defaults give ~1.06M parameters.
    out_dir: if given, `save_pretrained` there (reload with `AutoModelForCausalLM`).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if hidden % heads:
        raise ValueError(f"build_tiny_model: hidden={hidden} must be divisible by heads={heads}")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate or 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if out_dir is not None:
        model.save_pretrained(str(out_dir))
    return model
