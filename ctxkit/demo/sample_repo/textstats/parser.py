"""Parser: turn a plain-text or Markdown document into a title, paragraphs and statistics.

The first line is the document's title (a leading Markdown ``#`` is dropped); the body is
split into paragraphs at blank lines. Knows nothing of output formats: ``textstats.cli``
prints what this module computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tokenizer import count_syllables, sentences, words


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: its text and its sentences."""

    text: str
    sentences: list[str] = field(default_factory=list)

    @property
    def num_words(self) -> int:
        return len(words(self.text))


@dataclass(frozen=True)
class Stats:
    """Counts and readability of a document's body."""

    num_paragraphs: int
    num_sentences: int
    num_words: int
    num_syllables: int
    mean_sentence_length: float
    flesch_reading_ease: float


@dataclass(frozen=True)
class Document:
    """A parsed document."""

    title: str
    paragraphs: list[Paragraph] = field(default_factory=list)

    def stats(self) -> Stats:
        """Counts, mean sentence length (words) and Flesch reading ease of the body."""
        all_words = [w for p in self.paragraphs for w in words(p.text)]
        num_sentences = sum(len(p.sentences) for p in self.paragraphs)
        num_syllables = sum(count_syllables(w) for w in all_words)
        if not all_words or not num_sentences:
            return Stats(len(self.paragraphs), num_sentences, len(all_words), num_syllables,
                         0.0, 0.0)
        mean_len = len(all_words) / num_sentences
        per_word = num_syllables / len(all_words)
        ease = 206.835 - 1.015 * mean_len - 84.6 * per_word
        return Stats(len(self.paragraphs), num_sentences, len(all_words), num_syllables,
                     round(mean_len, 2), round(ease, 1))


def _title(line: str) -> str:
    return line.lstrip("#").strip()


def _paragraphs(lines: list[str]) -> list[Paragraph]:
    out: list[Paragraph] = []
    chunk: list[str] = []
    for line in lines + [""]:
        if line.strip():
            chunk.append(line.strip())
        elif chunk:
            text = " ".join(chunk)
            out.append(Paragraph(text=text, sentences=sentences(text)))
            chunk = []
    return out


def parse(text: str) -> Document:
    """Parse ``text``: the first line is the title, the rest is split into paragraphs.

    Args:
        text: the document, plain text or Markdown.

    Returns:
        The Document; ``Document.stats()`` computes its statistics.
    """
    lines = text.splitlines()
    title = _title(lines[0])
    return Document(title=title, paragraphs=_paragraphs(lines[1:]))
