"""Query rewriting: identifiers, paths and error lines join the query."""

from __future__ import annotations

from ctxkit.retrieval import LLMQueryRewriter, extract_identifiers, rewrite_query
from ctxkit.retrieval._query import error_summary
from ctxkit.testing import ScriptedBackend

TRACE = """Traceback (most recent call last):
  File "tests/test_parser.py", line 12, in test_empty
    assert parse_header("") is None
  File "src/parser.py", line 30, in parse_header
    return HEADER.match(line).group(1)
AttributeError: 'NoneType' object has no attribute 'group'
"""


def test_identifiers_and_paths_are_extracted() -> None:
    idents, paths = extract_identifiers(
        "HeaderParser.parse_header fails in src/parser.py; see getValue and os.path.join")
    assert paths == ["src/parser.py"]
    for name in ["HeaderParser", "parse_header", "getValue", "os.path.join",
                 "HeaderParser.parse_header"]:
        assert name in idents


def test_error_summary_keeps_the_frames_and_the_exception() -> None:
    summary = error_summary(TRACE)
    assert "src/parser.py parse_header" in summary
    assert "AttributeError: 'NoneType' object has no attribute 'group'" in summary
    assert "assert parse_header" not in summary
    assert error_summary("plain failure\nexit 1") == "plain failure\nexit 1"


def test_rewrite_joins_turn_plan_step_and_error() -> None:
    q = rewrite_query("the parser test fails on empty input; fix it",
                      plan_step="Handle empty header lines in HeaderParser", error=TRACE)
    assert q.source == "the parser test fails on empty input; fix it"
    assert "Current step: Handle empty header lines in HeaderParser" in q.text
    assert q.text.endswith("AttributeError: 'NoneType' object has no attribute 'group'")
    assert "parse_header" in q.identifiers and "HeaderParser" in q.identifiers
    assert "src/parser.py" in q.paths and "tests/test_parser.py" in q.paths
    assert "parse_header" in q.lexical and "src/parser.py" in q.lexical
    plain = rewrite_query("hello there")
    assert plain.text == plain.lexical == "hello there" and plain.identifiers == ()


def test_llm_rewriter_adds_the_models_query() -> None:
    backend = ScriptedBackend(["empty header regex match None"])
    q = LLMQueryRewriter(backend)("fix the parser", error=TRACE)
    assert q.text.endswith("empty header regex match None")
    assert "parse_header" in q.lexical and "empty header regex" in q.lexical
    sent = backend.drafts[0].blocks[-1].content
    assert "Request: fix the parser" in sent and "AttributeError" in sent
