import json
import math

import pytest

from hicra.ablations.cli import lexicon_main
from hicra.ablations.placebo import frequency_bin, phrase_document_frequency, placebo_lexicon
from hicra.ablations.quality import compare, coverage, drop_phrases
from hicra.ablations.sensitivity import lexicon_sensitivity
from hicra.lexicon import StrategicLexicon

TEXTS = [
    "Wait, let me check the sum. The sum of the two roots is five.",
    "We know that the product is six. Let me check: the product of the roots is six.",
    "The answer is seven. The sum of the digits is seven.",
    "Alternatively, we can try a different approach. The sum of the squares is nine.",
]


def test_coverage_by_hand():
    lex = StrategicLexicon.from_phrases(["let me check", "alternatively"])
    c = coverage(lex, TEXTS)
    assert c.response_share == 0.75
    words = [14, 17, 11, 14]  # words of each text (numbers spelled out)
    assert c.tokens == sum(words)
    assert c.token_share == pytest.approx(7 / sum(words))  # 3 + 3 + 0 + 1 tagged words
    assert c.occurrences_per_response == 0.75


def test_compare_overlap_and_only_sets():
    a = StrategicLexicon.from_phrases(["Let me check", "wait", "we know that"])
    b = StrategicLexicon.from_phrases(["let me check", "alternatively"])
    c = compare(a, b, TEXTS)
    assert c.shared == ["Let me check"]
    assert c.only_a == ["wait", "we know that"] and c.only_b == ["alternatively"]
    assert c.jaccard == pytest.approx(1 / 4)
    assert c.coverage_a.response_share == 0.5 and c.coverage_b.response_share == 0.75
    # tagged words: A 6 ("let me check" x2) + 3 ("we know that") + 1 ("wait") = 10;
    # B 6 + 1 ("alternatively") = 7; both 6
    assert c.a_tagged_also_b == pytest.approx(6 / 10)
    assert c.b_tagged_also_a == pytest.approx(6 / 7)
    assert c.tagged_both == pytest.approx(6 / 11)


def test_coverage_with_a_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "let", "me", "check", "it", "."])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    lex = StrategicLexicon.from_phrases(["let me check"])
    c = coverage(lex, ["let me check it .", "it ."], tok, "wordlevel")
    assert (c.tokens, c.token_share, c.token_unit) == (7, 3 / 7, "wordlevel")


def test_drop_is_seeded_and_keeps_categories():
    lex = StrategicLexicon.from_phrases([f"phrase {i}" for i in range(10)], ["cat"] * 10)
    a, b, c = drop_phrases(lex, 0.3, 0), drop_phrases(lex, 0.3, 0), drop_phrases(lex, 0.3, 1)
    assert len(a) == 7 and a.phrases == b.phrases and a.phrases != c.phrases
    assert set(a.phrases) <= set(lex.phrases) and a.category(a.phrases[0]) == "cat"
    with pytest.raises(ValueError):
        drop_phrases(lex, 1.0, 0)


def test_frequency_bins():
    assert [frequency_bin(d) for d in (0, 1, 2, 3, 4, 7, 8)] == [0, 0, 1, 1, 2, 2, 3]


def test_placebo_matches_count_length_and_frequency_bin():
    # "red green blue": DF 4 (bin 2); "cat dog": DF 1 (bin 0). Only "one two three" is a
    # 3-gram in bin 2 (DF 6); bin-0 2-grams abound.
    texts = [
        f"Red green blue. One two three. Cat dog {i}. Sun moon star{i}."
        if i == 0
        else f"Red green blue today. One two three. Word{i} here now."
        if i < 4
        else f"One two three. Lone words{i} here."
        for i in range(6)
    ]
    real = StrategicLexicon.from_phrases(["red green blue", "cat dog"])
    p = placebo_lexicon(real, texts, seed=0)
    assert len(p.phrases) == 2 and not p.unmatched
    pairs = {r: (rd, g, gd) for r, rd, g, gd in p.pairs}
    assert pairs["red green blue"] == (4, "one two three", 6)
    rd, g, gd = pairs["cat dog"]
    assert rd == 1 and gd == 1 and len(g.split()) == 2 and not real.find_spans(g)
    assert placebo_lexicon(real, texts, seed=0).phrases == p.phrases
    assert {placebo_lexicon(real, texts, seed=s).phrases[1] for s in range(5)} != {g}


def test_placebo_falls_back_to_nearest_bin_when_a_pool_is_empty():
    real = StrategicLexicon.from_phrases(["the sum of", "let me check", "the roots"])
    p = placebo_lexicon(real, TEXTS, seed=0)
    assert len(p.phrases) == 3 and not p.unmatched
    for real_phrase, real_df, placebo, placebo_df in p.pairs:
        assert len(placebo.split()) == len(real_phrase.split())
        assert abs(frequency_bin(placebo_df) - frequency_bin(real_df)) <= 1
        assert not real.find_spans(placebo)  # never a real phrase or one containing it
    assert dict((r, d) for r, d, _, _ in p.pairs) == dict(phrase_document_frequency(real, TEXTS))


def test_sensitivity_full_vs_dropped():
    lex = StrategicLexicon.from_phrases(
        [
            "wait",
            "let me check",
            "alternatively",
            "we know that",
            "the answer is",
            "try a different approach",
        ]
    )
    by_step = {0: TEXTS[:2], 1: TEXTS[1:3], 2: TEXTS[2:], 3: TEXTS}
    res = lexicon_sensitivity(by_step, lex, frac=0.3, seeds=[0, 1])
    names = {m.metric for m in res.metrics}
    assert "semantic/entropy" in names
    ent = next(m for m in res.metrics if m.metric == "semantic/entropy")
    assert len(ent.full) == 4 and len(ent.dropped) == 2 and len(ent.pearson) == 2
    # with nothing dropped the curves are identical
    same = lexicon_sensitivity(by_step, lex, frac=0.0, seeds=[0])
    for m in same.metrics:
        assert m.dropped[0] == pytest.approx(m.full, nan_ok=True)
        assert m.relative_difference[0] == 0 or math.isnan(m.relative_difference[0])
    assert "semantic/entropy" in res.markdown()


def test_cli_compare_placebo_drop_sensitivity(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    lex = tmp_path / "l.txt"
    StrategicLexicon.from_phrases(["let me check", "the sum of", "wait"]).to_file(lex)
    drop = tmp_path / "d.txt"
    assert (
        lexicon_main(["drop", str(lex), "--frac", "0.34", "--seed", "0", "--out", str(drop)]) == 0
    )
    assert len(StrategicLexicon.from_file(drop)) == 2
    assert lexicon_main(["drop", str(lex), "--out", str(drop)]) == 2  # exists
    out_json = tmp_path / "cmp.json"
    assert (
        lexicon_main(
            ["compare", str(lex), "default", "--corpus", str(corpus), "--json", str(out_json)]
        )
        == 0
    )
    cmp = json.loads(out_json.read_text())
    assert cmp["size_b"] == len(StrategicLexicon.default()) and cmp["coverage_a"]["responses"] == 4
    plac = tmp_path / "p.txt"
    assert (
        lexicon_main(
            [
                "placebo",
                str(lex),
                "--corpus",
                str(corpus),
                "--out",
                str(plac),
                "--seed",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert len(StrategicLexicon.from_file(plac)) == 3
    assert (tmp_path / "p.pairs.tsv").read_text().count("\n") == 4
    assert lexicon_main(["sensitivity", str(lex), "--corpus", str(corpus), "--draws", "2"]) == 0
    assert "semantic/entropy" in capsys.readouterr().out
    assert lexicon_main(["compare", str(tmp_path / "missing.txt"), "default"]) == 2
    steps = tmp_path / "s.jsonl"
    steps.write_text(
        "".join(json.dumps({"text": t, "step": i % 3}) + "\n" for i, t in enumerate(TEXTS * 2))
    )
    out = tmp_path / "sens.json"
    assert (
        lexicon_main(
            [
                "sensitivity",
                str(lex),
                "--corpus",
                str(steps),
                "--step-field",
                "step",
                "--draws",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["steps"] == [0, 1, 2]
    assert (
        lexicon_main(["sensitivity", str(lex), "--corpus", str(steps), "--step-field", "text"]) == 2
    )
