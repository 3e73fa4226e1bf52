"""Tokenizer: split text into words and sentences, and count syllables.

Knows nothing of documents; ``textstats.parser`` builds paragraphs on top of it.
"""

from __future__ import annotations

import re

# a word: letters, digits, inner apostrophes and hyphens ("don't", "state-of-the-art")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")
# a sentence ends at . ! or ? followed by whitespace (or the end), except after these
_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "vs", "fig"})
_END = re.compile(r"([.!?]+)(\s+|$)")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


def words(text: str) -> list[str]:
    """The words of ``text`` in order, punctuation dropped, case kept."""
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, keeping abbreviations such as "e.g." inside them."""
    out: list[str] = []
    start = 0
    for m in _END.finditer(text):
        before = text[start:m.start()].rsplit(None, 1)
        last_word = before[-1].lower().rstrip(".") if before else ""
        if m.group(1) == "." and last_word in _ABBREVIATIONS:
            continue
        sentence = text[start:m.end(1)].strip()
        if sentence:
            out.append(sentence)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def count_syllables(word: str) -> int:
    """A heuristic syllable count: vowel groups, minus a silent final "e", at least 1."""
    w = word.lower()
    if not w:
        return 0
    n = len(_VOWEL_GROUPS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee")) and n > 1:
        n -= 1
    return max(1, n)
