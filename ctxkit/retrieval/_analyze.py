"""Analyzer: text → index terms for BM25, for code and prose alike.

Owns tokenization: words lowercased; identifiers kept whole *and* split into their parts
(``parse_header`` → parse_header, parse, header; ``HTTPServer`` → httpserver, http, server),
so a query in words finds code and a query naming the identifier finds it exactly; English
stop-words dropped and Snowball stems (PyStemmer) when enabled. Knows nothing of indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"\w+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_MAX_WORD = 48

# the usual English stop-word list (as Lucene / bm25s ship it), plus a few function words
STOPWORDS = frozenset("""a about an and are as at be but by for from has have if in into is it
its no not of on or such that the their then there these they this to was were which will
with we our you your he she his her than those been being do does did can could would should
also""".split())


@dataclass(slots=True)
class Analyzer:
    """Turns text into BM25 terms.

    Args:
        stem: apply the English Snowball stemmer (needs PyStemmer) to every term.
        stopwords: drop English stop-words.
        split_identifiers: also index the parts of snake_case / CamelCase / digit-joined words.
    """

    stem: bool = True
    stopwords: bool = True
    split_identifiers: bool = True
    _memo: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _stemmer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.stem:
            try:
                import Stemmer
            except ImportError as exc:
                from .._errors import MissingExtraError

                raise MissingExtraError("retrieval", "Stemmer (PyStemmer)") from exc
            self._stemmer = Stemmer.Stemmer("english")

    @property
    def config(self) -> dict[str, bool]:
        """What identifies this analyzer in a saved index."""
        return {"stem": self.stem, "stopwords": self.stopwords,
                "split_identifiers": self.split_identifiers}

    def __call__(self, text: str) -> list[str]:
        memo = self._memo
        out: list[str] = []
        for word in _WORD.findall(text):
            terms = memo.get(word)
            if terms is None:
                terms = self._word(word)
                if len(memo) < 2_000_000:
                    memo[word] = terms
            out.extend(terms)
        return out

    def _word(self, word: str) -> tuple[str, ...]:
        if len(word) > _MAX_WORD:
            return ()
        low = word.lower()
        terms = [low]
        if self.split_identifiers:
            parts = [p.lower() for piece in word.split("_") for p in _PART.findall(piece)]
            if parts != [low]:
                terms.extend(parts)
        if self.stopwords:
            terms = [t for t in terms if t not in STOPWORDS]
        if self._stemmer is not None and terms:
            terms = self._stemmer.stemWords(terms)
        return tuple(dict.fromkeys(terms))
