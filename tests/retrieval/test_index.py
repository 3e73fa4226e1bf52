"""Index: add paths and texts, search, persistence, incremental refresh and freshness,
through the public API on real LanceDB directories and the real embedding model."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxkit import UserError
from ctxkit.retrieval import Index, Query


def test_search_finds_the_method_that_answers(make_index: Callable[..., Index],
                                              tree: Path) -> None:
    index = make_index()
    report = index.add_paths([tree])
    assert report.num_files_indexed == 4
    assert report.skipped == {"binary": 1}
    assert report.num_chunks_added == len(index) > 6
    hits = index.search("read the section name from a header line", k=3)
    top = hits[0]
    assert top.chunk.symbol == "HeaderParser.parse_header"
    assert top.chunk.path == os.path.join("proj", "src", "parser.py")
    text = (tree / "src" / "parser.py").read_text().splitlines()
    assert "def parse_header" in text[top.chunk.start_line - 1]
    assert top.chunk.kind == "python" and len(top.chunk.hash) == 24
    assert top.chunk.mtime == pytest.approx((tree / "src" / "parser.py").stat().st_mtime)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert top.lexical_rank is not None and top.dense_rank is not None
    assert index.get(top.chunk.id) == top.chunk


def test_modes_and_identifier_queries(make_index: Callable[..., Index], tree: Path) -> None:
    index = make_index()
    index.add_paths([tree])
    lex = index.search("retry_backoff", k=2, mode="lexical")
    assert lex[0].chunk.symbol == "retry_backoff" and lex[0].dense_rank is None
    dense = index.search("wait longer after each failed attempt", k=2, mode="dense")
    assert dense[0].chunk.symbol == "retry_backoff" and dense[0].lexical_rank is None
    assert index.search("deploy the service to production servers")[0].chunk.symbol == \
        "User guide > Deploying to production"
    with pytest.raises(UserError, match="mode"):
        index.search("x", mode="fuzzy")
    with pytest.raises(UserError, match="k must be"):
        index.search("x", k=0)


def test_reopening_gives_the_same_answers(make_index: Callable[..., Index],
                                          tree: Path) -> None:
    index = make_index()
    index.add_paths([tree])
    index.close()
    before = [h.chunk.id for h in index.search("TCP socket timeout", k=5)]
    again = make_index()
    assert len(again) == len(index)
    assert [h.chunk.id for h in again.search("TCP socket timeout", k=5)] == before
    assert again.add_paths([tree]).num_files_indexed == 0  # nothing changed


def test_refresh_touches_only_changed_files(make_index: Callable[..., Index],
                                            tree: Path) -> None:
    index = make_index()
    index.add_paths([tree])
    net = tree / "src" / "network.py"
    os.utime(net, (1, 1))  # mtime changes, content does not
    report = index.add_paths([tree])
    assert report.num_files_indexed == 0 and report.num_files_unchanged == 4
    net.write_text(net.read_text().replace("def retry_backoff(attempt):",
                                           "def jittered_delay(attempt):"))
    report = index.add_paths([tree])
    assert report.num_files_indexed == 1
    assert report.num_chunks_removed == report.num_chunks_added
    assert report.num_embedded == 1  # unchanged chunks of the file came from the cache
    symbols = {h.chunk.symbol for h in index.search("jittered_delay", k=3, mode="lexical")}
    assert "jittered_delay" in symbols
    assert all("retry_backoff" not in h.chunk.text for h in index.search("retry_backoff"))
    (tree / "docs" / "guide.md").unlink()
    report = index.refresh()
    assert report.num_files_removed == 1
    assert all(not h.chunk.path.endswith("guide.md") for h in index.search("deploying", k=20))


def test_search_rechecks_a_file_changed_since_indexing(make_index: Callable[..., Index],
                                                       tree: Path) -> None:
    index = make_index()
    index.add_paths([tree])
    parser = tree / "src" / "parser.py"
    parser.write_text(parser.read_text().replace("Return the section name",
                                                 "Give back the bracketed label"))
    hits = index.search("section name of a header line", k=10)  # no refresh called
    texts = [h.chunk.text for h in hits if h.chunk.path.endswith("parser.py")]
    assert texts and all("Return the section name" not in t for t in texts)
    assert any("Give back the bracketed label" in t for t in texts)
    parser.unlink()
    assert all(not h.chunk.path.endswith("parser.py") for h in index.search("header", k=20))


def test_add_texts_replaces_changed_documents(make_index: Callable[..., Index]) -> None:
    index = make_index()
    r = index.add_texts([("d1", "Cats purr when they are content.", {"title": "Cats"}),
                         ("d2", "Rust has no garbage collector.")])
    assert r.num_files_indexed == 2
    hit = index.search("why do cats purr", k=1)[0]
    assert hit.chunk.path == "d1" and hit.chunk.meta == {"title": "Cats"}
    assert hit.chunk.text.startswith("Cats\n") and hit.chunk.id == "d1:1-1"
    assert index.add_texts([("d2", "Rust has no garbage collector.")]).num_files_indexed == 0
    index.add_texts([("d2", "Go has a garbage collector.")])
    assert [h.chunk.text for h in index.search("garbage collector", k=5)
            if h.chunk.path == "d2"] == ["Go has a garbage collector."]
    index.remove(["d1"])
    assert all(h.chunk.path != "d1" for h in index.search("cats purr", k=5))
    with pytest.raises(UserError, match="tuples"):
        index.add_texts(["just a string"])  # type: ignore[list-item]


def test_a_lexical_only_index_needs_no_model(tmp_path: Path, tree: Path) -> None:
    index = Index(tmp_path / "lex", embedder=None)
    index.add_paths([tree / "src"])
    assert index.search("open_connection")[0].chunk.symbol == "open_connection"
    with pytest.raises(UserError, match="no embedder"):
        index.search("x", mode="dense")


def test_a_query_object_feeds_each_retriever_its_own_text(
        make_index: Callable[..., Index], tree: Path) -> None:
    index = make_index()
    index.add_paths([tree])
    q = Query(text="how long to wait before trying again", lexical="retry_backoff attempt")
    assert index.search(q, k=1)[0].chunk.symbol == "retry_backoff"


def test_large_indexes_search_through_the_ann_index(make_index: Callable[..., Index]) -> None:
    index = make_index(ann_min_rows=300, nprobes=64)
    docs = [(f"n{i}", f"Note {i}: the colour of item {i} is shade {i * 7 % 13}.")
            for i in range(330)]
    docs.append(("target", "The lighthouse keeper logs every passing ship at night."))
    index.add_texts(docs)
    assert index.store.has_ann()
    assert index.search("who records ships passing the lighthouse", k=3)[0].chunk.path == \
        "target"


def test_bad_input_gets_clear_errors(make_index: Callable[..., Index], tmp_path: Path,
                                     embedder: object) -> None:
    index = make_index()
    with pytest.raises(UserError, match="no such file"):
        index.add_paths([tmp_path / "missing"])
    with pytest.raises(UserError, match="no chunk"):
        index.get("nope")
    with pytest.raises(UserError, match="embedder"):
        Index(tmp_path / "x", embedder="openai")
    index.add_texts([("a", "alpha")])
    with pytest.raises(UserError, match="built with embedder"):
        Index(tmp_path / "index", embedder=None)
