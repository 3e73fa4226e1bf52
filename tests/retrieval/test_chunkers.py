"""Chunkers: Python by syntax, source by blocks, Markdown by headings, prose by paragraphs."""

from __future__ import annotations

import pytest

from ctxkit import UserError
from ctxkit.retrieval import ChunkConfig, chunk_text, kind_for

from .conftest import GUIDE, PARSER


def test_kind_for_picks_the_chunker_by_extension() -> None:
    assert kind_for("a/b.py") == "python"
    assert kind_for("README.md") == "markdown"
    assert kind_for("notes.txt") == "prose"
    assert kind_for("LICENSE") == "prose"
    assert kind_for("main.go") == "source"
    assert kind_for("dir.v2/file") == "prose"


def test_python_chunks_follow_definitions_and_name_their_class() -> None:
    spans = chunk_text(PARSER, "src/parser.py", "python")
    by_symbol = {s.symbol: s for s in spans}
    method = by_symbol["HeaderParser.parse_header"]
    assert method.text.startswith("# src/parser.py · in class HeaderParser\n")
    assert "def parse_header(self, line):" in method.text
    assert "Return the section name" in method.text  # the docstring stays with it
    assert "parse_lines" not in method.text  # one method per chunk
    header = by_symbol["HeaderParser"]
    assert "Reads section headers" in header.text and "strict = True" in header.text
    assert "# members: parse_header, parse_lines" in header.text
    assert "def load_config(path):" in by_symbol["load_config"].text
    lines = PARSER.splitlines()
    assert lines[method.start_line - 1].strip().startswith("def parse_header")
    assert lines[method.end_line - 1].strip().startswith("return m.group(1)")
    module = [s for s in spans if s.symbol == ""]
    assert any("import re" in s.text for s in module)
    starts = [s.start_line for s in spans]
    assert starts == sorted(starts)


def test_a_long_function_is_windowed_and_each_piece_repeats_its_signature() -> None:
    body = "\n".join(f"    x{i} = {i}\n" for i in range(60))
    src = f"def big(a, b):\n    '''Big.'''\n{body}\n    return a\n"
    spans = chunk_text(src, "m.py", "python", ChunkConfig(max_lines=20, max_def_lines=40))
    assert len(spans) > 2
    assert all(s.symbol == "big" for s in spans)
    assert all(s.end_line - s.start_line + 1 <= 20 for s in spans)
    assert all("def big(a, b): (part" in s.text for s in spans[1:])


def test_python_that_does_not_parse_falls_back_to_blocks() -> None:
    spans = chunk_text("def broken(:\n    pass\n\nx = 1\n", "bad.py", "python")
    assert spans and spans[0].text.startswith("# bad.py\n")


def test_source_blocks_stay_within_the_line_window() -> None:
    blocks = "\n\n".join("\n".join(f"line {b}.{i}" for i in range(7)) for b in range(10))
    spans = chunk_text(blocks, "x.go", "source", ChunkConfig(max_lines=20))
    assert all(s.end_line - s.start_line + 1 <= 20 for s in spans)
    # blocks are not cut: every span starts at a block's first line
    assert all(s.text.splitlines()[1].endswith(".0") for s in spans)
    covered = {n for s in spans for n in range(s.start_line, s.end_line + 1)}
    assert all(n in covered for n, ln in enumerate(blocks.splitlines(), 1) if ln)


def test_markdown_sections_carry_their_heading_path() -> None:
    spans = chunk_text(GUIDE, "docs/guide.md", "markdown")
    deploy = next(s for s in spans if "wheel" in s.text)
    assert deploy.symbol == "User guide > Deploying to production"
    assert deploy.text.startswith("# docs/guide.md · User guide > Deploying to production\n")
    assert "pip install" not in deploy.text


def test_markdown_ignores_hashes_inside_code_fences() -> None:
    text = "# Top\n\n```sh\n# not a heading\necho hi\n```\n"
    spans = chunk_text(text, "r.md", "markdown")
    assert [s.symbol for s in spans] == ["Top"]


def test_prose_merges_paragraphs_and_overlaps_at_the_boundary() -> None:
    paras = [" ".join(f"p{p}w{i}" for i in range(30)) for p in range(6)]
    spans = chunk_text("\n\n".join(paras), "doc", "prose", ChunkConfig(max_words=70))
    assert len(spans) >= 3
    assert all(len(s.text.split()) <= 70 for s in spans)
    for a, b in zip(spans, spans[1:], strict=False):
        last_para = a.text.split("\n\n")[-1]
        assert b.text.startswith(last_para)  # overlap by the boundary paragraph
    assert spans[-1].text.endswith(paras[-1])


def test_a_long_paragraph_is_split_by_sentences_with_a_title_on_each() -> None:
    text = " ".join(f"Sentence number {i} says something." for i in range(60))
    spans = chunk_text(text, "doc", "prose", ChunkConfig(max_words=50), title="A Title")
    assert len(spans) > 3
    assert all(s.text.startswith("A Title\n") for s in spans)
    assert all(s.text.rstrip().endswith(".") for s in spans)


def test_bad_config_and_kind_are_refused() -> None:
    with pytest.raises(UserError):
        ChunkConfig(max_lines=1)
    with pytest.raises(UserError, match="unknown chunk kind"):
        chunk_text("x", "x", "binary")
