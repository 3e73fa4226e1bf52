"""Rerankers with a model: a cross-encoder from a local path, and an LLM listwise reranker
through any backend.

Owns scoring (query, chunk) pairs with a model and parsing a model's ranking; the LLM
reranker's ``acall`` awaits the backend (``Index.asearch``, and so ``arun``, uses it). Knows
nothing of how the shortlist was made. No package reachable offline ships cross-encoder
weights, so ``CrossEncoderReranker`` needs a local model directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from .._errors import MissingExtraError, UserError
from ._rank import Shortlist
from ._types import SearchHit


class CrossEncoderReranker:
    """Score each (query, chunk) pair with a sentence-transformers CrossEncoder.

    Args:
        path: a local cross-encoder model directory (nothing is downloaded).
        max_candidates: only the best this many fused hits are scored; the rest follow.
        batch_size: pairs per forward pass.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_candidates: int = 50,
                 batch_size: int = 32, device: str = "cpu") -> None:
        if not os.path.isdir(path):
            raise UserError(f"cross-encoder path {path} is not a directory; pass a local "
                            "sentence-transformers CrossEncoder directory")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            raise MissingExtraError("retrieval", "sentence_transformers") from exc
        self.model = CrossEncoder(str(path), device=device)
        self.max_candidates = max_candidates
        self.batch_size = batch_size

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        head = shortlist.hits[: self.max_candidates]
        tail = shortlist.hits[self.max_candidates:]
        if not head:
            return []
        pairs = [(shortlist.query.text, h.chunk.text) for h in head]
        scores = [float(s) for s in self.model.predict(pairs, batch_size=self.batch_size,
                                                       show_progress_bar=False)]
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
        low = min(scores) - 1.0
        return [replace(head[i], score=scores[i]) for i in order] + \
            [replace(h, score=low) for h in tail]


_LIST_PROMPT = ("You rank search results by how useful each is for answering the query. "
                "Answer with the bracketed numbers of the results, most useful first, "
                "separated by '>', e.g. [3] > [1] > [2]. Leave out results that do not help.")


class LLMReranker:
    """Listwise reranking by a model: it sees the query and numbered snippets and answers
    with an order. Results it leaves out follow in their fused order.

    Args:
        backend: any ctxkit Backend.
        max_candidates: snippets shown to the model.
        max_chars: characters of each snippet shown.
    """

    def __init__(self, backend: Any, *, max_candidates: int = 20, max_chars: int = 600) -> None:
        self.backend = backend
        self.max_candidates = max_candidates
        self.max_chars = max_chars

    def __call__(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        from ._llm import ask

        prompt = self._prompt(shortlist)
        if prompt is None:
            return []
        return self._ranked(shortlist, ask(self.backend, _LIST_PROMPT, prompt))

    async def acall(self, shortlist: Shortlist, k: int) -> list[SearchHit]:
        """The async form: the backend's ``acomplete`` is awaited."""
        from ._llm import aask

        prompt = self._prompt(shortlist)
        if prompt is None:
            return []
        return self._ranked(shortlist, await aask(self.backend, _LIST_PROMPT, prompt))

    def _prompt(self, shortlist: Shortlist) -> str | None:
        head = shortlist.hits[: self.max_candidates]
        if not head:
            return None
        listing = "\n\n".join(f"[{i}] {h.chunk.ref}\n{h.chunk.text[: self.max_chars]}"
                              for i, h in enumerate(head, 1))
        return f"Query: {shortlist.query.text}\n\n{listing}"

    def _ranked(self, shortlist: Shortlist, reply: str) -> list[SearchHit]:
        head = shortlist.hits[: self.max_candidates]
        order = parse_ranking(reply, len(head))
        n = len(shortlist.hits)
        ranked = [head[i] for i in order] + [h for i, h in enumerate(head) if i not in
                                             set(order)] + shortlist.hits[len(head):]
        return [replace(h, score=float(n - r) / n) for r, h in enumerate(ranked)]


def parse_ranking(reply: str, n: int) -> list[int]:
    """0-based indices named in a reply like ``[3] > [1] > [2]``, first mention wins;
    numbers outside 1..n are ignored."""
    seen: dict[int, None] = {}
    for m in re.finditer(r"\[?(\d+)\]?", reply):
        i = int(m.group(1)) - 1
        if 0 <= i < n:
            seen.setdefault(i, None)
    return list(seen)


