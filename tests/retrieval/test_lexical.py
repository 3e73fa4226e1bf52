"""BM25: analyzer, ranking, incremental adds and deletes, persistence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ctxkit.retrieval import Analyzer
from ctxkit.retrieval._lexical import LexicalIndex

DOCS = ["the quick brown fox jumps", "parse_header reads a header line",
        "HTTPServer serves requests", "a brown dog sleeps", "foxes are quick animals"]


def test_the_analyzer_splits_identifiers_and_stems() -> None:
    a = Analyzer()
    assert a("parse_header") == ["parse_head", "pars", "header"]
    assert a("HTTPServer") == ["httpserver", "http", "server"]
    assert a("The running foxes") == ["run", "fox"]
    raw = Analyzer(stem=False, stopwords=False, split_identifiers=False)
    assert raw("The parse_header") == ["the", "parse_header"]


def test_bm25_scores_match_the_formula() -> None:
    ix = LexicalIndex(Analyzer(stem=False, stopwords=False), k1=1.2, b=0.75)
    ix.add(DOCS)
    s = ix.scores("brown")
    n, df = len(DOCS), 2
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    lens = [5, 7, 5, 4, 4]  # parse_header counts 3 terms: the name and its two parts
    avgdl = sum(lens) / n
    want0 = idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * lens[0] / avgdl))
    assert s[0] == np.float32(want0) or abs(s[0] - want0) < 1e-5
    assert s[1] == 0 and s[3] > s[0]  # the shorter document wins


def test_search_ranks_and_identifier_parts_match() -> None:
    ix = LexicalIndex()
    ix.add(DOCS)
    rows, scores = ix.search("header parsing", 3)
    assert rows[0] == 1 and list(scores) == sorted(scores, reverse=True)
    assert ix.search("server", 1)[0].tolist() == [2]
    assert ix.search("zebra", 3)[0].tolist() == []


def test_deletes_and_appends_behave_like_a_fresh_index() -> None:
    grown = LexicalIndex()
    grown.add(DOCS[:2])
    for d in DOCS[2:]:
        grown.add([d])  # one segment per add, merged as they pile up
    grown.add(["fox fox fox"])
    grown.delete([5])
    fresh = LexicalIndex()
    fresh.add(DOCS)
    for q in ["quick fox", "brown", "header"]:
        assert grown.search(q, 5)[0].tolist() == fresh.search(q, 5)[0].tolist()
    grown.delete([0])
    assert 0 not in grown.search("quick fox", 5)[0].tolist()


def test_many_small_adds_are_merged() -> None:
    ix = LexicalIndex()
    for i in range(30):
        ix.add([f"document number {i} about {['alpha', 'beta', 'gamma'][i % 3]}"])
    assert len(ix.segments) <= 9
    assert sorted(ix.search("beta", 30)[0].tolist()) == list(range(1, 30, 3))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    ix = LexicalIndex()
    ix.add(DOCS)
    ix.delete([3])
    ix.save(tmp_path / "lex.npz", {"v": 1})
    back = LexicalIndex()
    assert not back.load(tmp_path / "lex.npz", {"v": 2})  # stale stamp: rebuild instead
    assert back.load(tmp_path / "lex.npz", {"v": 1})
    for q in ["brown dog", "quick", "requests"]:
        assert back.search(q, 5)[0].tolist() == ix.search(q, 5)[0].tolist()
    other = LexicalIndex(Analyzer(stem=False))
    assert not other.load(tmp_path / "lex.npz", {"v": 1})  # another analyzer
