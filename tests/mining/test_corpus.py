import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hicra.mining.corpus import CorpusError, CorpusStats, read_texts


def _jsonl(path, rows, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(data)
    else:
        path.write_text(data)
    return path


def test_correct_field_filters_and_lists_stand_for_first_element(tmp_path):
    rows = [
        {"code": ["trace one"], "score": [True]},
        {"code": ["trace two"], "score": [False]},
        {"code": ["trace three"], "score": [1]},
    ]
    p = _jsonl(tmp_path / "t.jsonl.gz", rows, gz=True)
    stats = CorpusStats()
    assert read_texts([p], "code", "score", stats) == ["trace one", "trace three"]
    assert (stats.n_records, stats.n_kept, stats.n_incorrect) == (3, 2, 1)


def test_absent_correct_field_keeps_all_and_nested_paths(tmp_path):
    p = _jsonl(
        tmp_path / "t.jsonl", [{"out": {"text": "a"}}, {"out": {"text": "b"}, "correct": False}]
    )
    assert read_texts([p], "out.text", "correct") == ["a"]
    assert read_texts([p], "out.text", None) == ["a", "b"]


def test_parquet(tmp_path):
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["x", "y"], "correct": [True, False]}), p)
    assert read_texts([p]) == ["x"]


def test_errors_name_file_line_and_field(tmp_path):
    p = _jsonl(tmp_path / "t.jsonl", [{"text": "ok"}, {"txt": "bad"}])
    with pytest.raises(CorpusError, match=r"t\.jsonl:2: field 'text' missing"):
        read_texts([p])
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(CorpusError, match=r"b\.jsonl:2: not valid JSON"):
        read_texts([bad])
    q = _jsonl(tmp_path / "q.jsonl", [{"text": "a", "correct": {"x": 1}}])
    with pytest.raises(CorpusError, match=r"q\.jsonl:1: field 'correct'"):
        read_texts([q])
