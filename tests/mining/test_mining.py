from collections import Counter

import numpy as np
from mining_synthetic import DISTRACTORS, PLANTED, synthetic_corpus
from scipy import sparse

from hicra.ablations.cli import lexicon_main
from hicra.lexicon import StrategicLexicon
from hicra.mining.mining import (
    MiningConfig,
    cluster_document_frequency,
    effective_min_df,
    mine_lexicon,
    select_candidates,
)


def _texts(records):
    return [r["text"] for r in records if r["correct"]]


def test_effective_min_df():
    assert effective_min_df(0.02, 300) == 6
    assert effective_min_df(5, 300) == 5
    assert effective_min_df(0.001, 10) == 2


def test_select_candidates_prunes_rare_and_fragments():
    df = Counter(
        {
            "let me check": 10,
            "me check that": 10,
            "let me check that": 10,
            "check that it": 3,
            "rare phrase here": 1,
        }
    )
    cands, stats = select_candidates(df, 20, MiningConfig(n_min=3, n_max=4, min_df=3))
    # "let me check" (10) and "me check that" (10) are fragments of "let me check that" (10)
    assert cands == ["let me check that", "check that it"]
    assert stats["after_min_df"] == 4 and stats["after_closed"] == 2
    cands, _ = select_candidates(df, 20, MiningConfig(n_min=3, n_max=4, min_df=3, closed_ratio=0))
    assert len(cands) == 4


def test_cluster_document_frequency_by_hand():
    # 3 docs x 4 candidates; clusters {0, 1} and {2, 3}
    inc = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=bool))
    labels = np.array([0, 0, 1, 1])
    assert cluster_document_frequency(inc, labels).tolist() == [2, 1]


def test_mining_recovers_planted_phrases(embedder):
    texts = _texts(synthetic_corpus())
    config = MiningConfig(min_df=3, keep_top=0.6, seed=0)
    result = mine_lexicon(texts, config, embedder)
    phrases, categories = result.phrases()
    planted = [p for ps in PLANTED.values() for p in ps]
    assert set(planted) <= set(phrases), result.stats
    assert not set(DISTRACTORS) & set(phrases)
    # the closed-pattern step keeps the whole phrase, not its fragments
    assert "try a different approach" not in phrases
    assert "so we can deduce that" in phrases
    lex = result.lexicon()
    assert lex.find_spans("Hmm. Let\u2019s try a different approach now.")
    # labels: the backtracing prototypes are close to "let me double-check that"
    cat = dict(zip(phrases, categories))
    assert cat["let me double-check that"] == "backtracing"
    assert result.stats["documents"] == len(texts)
    assert result.stats["peak_rss_mb"] > 0


def test_mining_is_deterministic(embedder):
    texts = _texts(synthetic_corpus(seed=1))
    for method in ("agglomerative", "kmeans"):
        cfg = MiningConfig(min_df=3, keep_top=0.6, seed=3, method=method, cluster_size=2)
        a = mine_lexicon(texts, cfg, embedder).phrases()
        b = mine_lexicon(list(texts), cfg, embedder).phrases()
        assert a == b


def test_cli_mine_writes_loadable_lexicon_and_report(tmp_path, embedder):
    import json

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in synthetic_corpus()))
    out = tmp_path / "mined.txt"
    args = [
        "mine",
        str(corpus),
        "--out",
        str(out),
        "--min-df",
        "3",
        "--keep-top",
        "0.6",
        "--cache-dir",
        str(embedder.cache_dir),
        "--quiet",
    ]
    assert lexicon_main(args) == 0
    lex = StrategicLexicon.from_file(out)
    assert "so we can deduce that" in lex.phrases
    report = json.loads((tmp_path / "mined.report.json").read_text())
    assert report["stats"]["lexicon_size"] == len(lex)
    assert "Kept clusters" in (tmp_path / "mined.report.md").read_text()
    before = out.read_text()
    assert lexicon_main(args) == 2  # refuses to overwrite
    assert out.read_text() == before
    assert lexicon_main(args + ["--force"]) == 0


def test_cli_mine_bad_input_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"body": "x"}\n')
    assert lexicon_main(["mine", str(bad), "--out", str(tmp_path / "o.txt"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "c.jsonl:1: field 'text' missing" in err
