"""Retrieval: find what the model needs for this turn.

    from ctxkit.retrieval import Index
    index = Index("path/to/index_dir")          # persistent; LanceDB underneath
    index.add_paths(["src/", "docs/"])           # chunk + index; re-run = incremental refresh
    index.add_texts([("id-1", "text ...")])      # arbitrary documents, optional metadata
    hits = index.search("query text", k=10)      # -> list[SearchHit], best first

Chunking is code-aware (Python by syntax, other source by blocks, Markdown by headings,
prose by paragraphs); BM25 and embeddings are fused by reciprocal-rank fusion; rerankers
plug in through the Reranker protocol; ``rewrite_query`` turns a user turn, plan step and
error text into a Query. ``ctxkit.layers.Retrieval`` puts hits into a pipeline's prompt.
Needs the ``retrieval`` extra: ``pip install 'ctxkit[retrieval]'``.
"""

from ._analyze import Analyzer
from ._chunkers import chunk_text, kind_for
from ._index import Index
from ._query import LLMQueryRewriter, QueryRewriter, extract_identifiers, rewrite_query
from ._rank import MMR, ChainedReranker, EmbeddingReranker, Reranker, Shortlist, rrf
from ._rerankers import CrossEncoderReranker, LLMReranker
from ._spans import ChunkConfig, Span
from ._types import Chunk, IndexReport, Query, SearchHit

__all__ = ["Analyzer", "ChainedReranker", "Chunk", "ChunkConfig", "CrossEncoderReranker",
    "EmbeddingReranker", "Index", "IndexReport", "LLMQueryRewriter", "LLMReranker", "MMR",
    "Query", "QueryRewriter", "Reranker", "SearchHit", "Shortlist", "Span", "chunk_text",
    "extract_identifiers", "kind_for", "rewrite_query", "rrf"]

from .._deprecated import aliases

__getattr__ = aliases(__name__, {"Hit": ("ctxkit.retrieval.SearchHit", SearchHit),
                                 "Chain": ("ctxkit.retrieval.ChainedReranker", ChainedReranker)})
