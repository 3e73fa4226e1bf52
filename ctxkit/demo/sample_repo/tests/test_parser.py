from textstats.parser import parse

DOC = """# Release notes

The parser is faster. It also handles Markdown titles.

Thanks to everyone who reported bugs!
"""


def test_title_drops_markdown_hashes():
    assert parse(DOC).title == "Release notes"


def test_paragraphs_split_at_blank_lines():
    doc = parse(DOC)
    assert [len(p.sentences) for p in doc.paragraphs] == [2, 1]


def test_stats_counts():
    s = parse(DOC).stats()
    assert (s.num_paragraphs, s.num_sentences, s.num_words) == (2, 3, 15)
    assert s.mean_sentence_length == 5.0


def test_title_only_document():
    doc = parse("Just a title")
    assert doc.title == "Just a title"
    assert doc.paragraphs == []
    assert doc.stats().num_words == 0


def test_empty_input():
    doc = parse("")
    assert doc.title == ""
    assert doc.paragraphs == []
    assert doc.stats().num_sentences == 0
