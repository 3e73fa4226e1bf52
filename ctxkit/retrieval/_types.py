"""Value types of retrieval: Chunk (a span of a file or document), SearchHit (a chunk with its
scores), Query (a rewritten query) and IndexReport (what an indexing run did).

Owns their shapes only. Knows nothing of how chunks are made, stored or ranked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """A contiguous span of one file or document, the unit that is indexed and retrieved.

    Attributes:
        id: stable identity, ``"<path>:<start>-<end>"`` (plus ``"~n"`` if a span repeats).
        path: the file path as indexed (relative to the root given), or a document id.
        start_line: first line of the span (1-based, inclusive).
        end_line: last line of the span (inclusive).
        text: what is indexed and shown to the model: a short header naming the file and the
            enclosing class or section, then the source lines.
        hash: content hash of ``text`` (also the embedding cache key).
        mtime: modification time of the file when it was indexed (unix seconds).
        kind: the chunker that made it: python, source, markdown or prose.
        symbol: the enclosing definition or heading path (``"Parser.parse"``), if any.
        meta: metadata passed with ``Index.add_texts``.
    """

    id: str
    path: str
    start_line: int
    end_line: int
    text: str
    hash: str
    mtime: float = 0.0
    kind: str = "prose"
    symbol: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ref(self) -> str:
        """``path:start-end``: what a model or a person needs to find the span."""
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result.

    Attributes:
        chunk: the chunk found.
        score: the final score (higher is better); comparable within one result list only.
        lexical_rank: 1-based rank in the BM25 list, None if BM25 did not find it.
        dense_rank: 1-based rank in the embedding list, None if it was not there.
    """

    chunk: Chunk
    score: float
    lexical_rank: int | None = None
    dense_rank: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """A query as rewritten for the two retrievers.

    Attributes:
        text: natural-language query for the embedding retriever (and the reranker).
        lexical: keyword query for BM25 (``text`` plus identifiers, paths, error lines).
        identifiers: CamelCase / snake_case / dotted names found in the inputs.
        paths: file paths found in the inputs.
        source: the original user text, before rewriting.
    """

    text: str
    lexical: str = ""
    identifiers: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if not self.lexical:
            object.__setattr__(self, "lexical", self.text)
        if not self.source:
            object.__setattr__(self, "source", self.text)


@dataclass(slots=True)
class IndexReport:
    """What one ``add_paths`` / ``add_texts`` / ``refresh`` call did.

    Attributes:
        num_files_indexed: files (or documents) chunked and written, new or changed.
        num_files_unchanged: files skipped because size and mtime, or content hash, matched.
        num_files_removed: files indexed before that no longer exist.
        num_chunks_added: chunks written.
        num_chunks_removed: chunks deleted (changed or removed files).
        num_embedded: chunks whose vectors were computed (not found in the cache).
        skipped: files not indexed, by reason (binary, too_large, not_utf8, unreadable).
        seconds: wall time of the call.
    """

    num_files_indexed: int = 0
    num_files_unchanged: int = 0
    num_files_removed: int = 0
    num_chunks_added: int = 0
    num_chunks_removed: int = 0
    num_embedded: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
