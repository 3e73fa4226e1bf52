"""textstats: word, sentence and readability statistics for plain-text and Markdown documents.

    >>> from textstats import parse
    >>> doc = parse("# Notes\n\nShort text. Two sentences.")
    >>> doc.title, doc.stats().num_sentences
    ('Notes', 2)
"""

from .parser import Document, Paragraph, Stats, parse
from .tokenizer import count_syllables, sentences, words

__all__ = ["Document", "Paragraph", "Stats", "count_syllables", "parse", "sentences", "words"]
__version__ = "0.3.1"
