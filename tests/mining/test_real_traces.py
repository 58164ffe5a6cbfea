"""Smoke run of the miner and the quality tools on real reasoning traces (skips without data)."""

import gzip
import json
from pathlib import Path

import pytest

from hicra.ablations.cli import lexicon_main
from hicra.ablations.quality import compare
from hicra.lexicon import StrategicLexicon

TRACES = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "math500_sky_t1_27b_traces.jsonl.gz"
)

pytestmark = pytest.mark.skipif(not TRACES.exists(), reason=f"{TRACES} not present")


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """The first 80 records, in the shared file's own format (code: [trace], score: [bool])."""
    path = tmp_path_factory.mktemp("traces") / "subset.jsonl.gz"
    with gzip.open(TRACES, "rt") as f, gzip.open(path, "wt") as out:
        for i, line in enumerate(f):
            if i == 80:
                break
            out.write(line)
    return path


def test_mine_real_traces(subset, tmp_path, embedder):
    out = tmp_path / "mined.txt"
    assert (
        lexicon_main(
            [
                "mine",
                str(subset),
                "--text-field",
                "code",
                "--correct-field",
                "score",
                "--out",
                str(out),
                "--min-df",
                "0.1",
                "--cache-dir",
                str(embedder.cache_dir),
                "--quiet",
            ]
        )
        == 0
    )
    mined = StrategicLexicon.from_file(out)
    report = json.loads((tmp_path / "mined.report.json").read_text())
    assert report["run"]["dropped (incorrect)"] > 0  # the score field filtered something
    assert 20 <= len(mined) <= 2000
    assert all(3 <= len(p.split()) <= 5 for p in mined.phrases)
    # a model that writes "wait"/"let me double-check" a lot: its reflective phrases are found
    assert any("double-check" in p or "wait" in p for p in mined.phrases)
    with gzip.open(subset, "rt") as f:
        texts = [json.loads(line)["code"][0] for line in f]
    cmp = compare(mined, StrategicLexicon.default(), texts)
    assert cmp.coverage_a.response_share > 0.9
    assert 0 < cmp.coverage_b.token_share < 1
