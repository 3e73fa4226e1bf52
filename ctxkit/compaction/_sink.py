"""Where compacted turns go before they leave the prompt: episodic sinks.

Owns the narrow seam between compaction and memory — ``EpisodicSink.write_episodes(
blocks, reason) -> ids`` — an in-process sink (tests, evals, scripts) and the adapter for
``ctxkit.memory.MemoryStore``. A sink may also ``recall(query, k)``: what an agent (or an
eval) uses to reach a compacted turn again. Knows nothing of policies or summaries.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._block import Block
from .._errors import StoreError, UserError


@runtime_checkable
class EpisodicSink(Protocol):
    """Stores blocks about to be compacted away; returns one id per stored block."""

    def write_episodes(self, blocks: Sequence[Block], reason: str) -> list[str]: ...


@runtime_checkable
class Recaller(Protocol):
    """Finds stored episodes again: ``(id, text)`` pairs, best first."""

    def recall(self, query: str, k: int = 5) -> list[tuple[str, str]]: ...


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    text: str
    block: Block
    reason: str


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset("a an the and or of to in on at is are was were be been it this that for "
                  "with as by from i you he she we they my your his her our their me him us "
                  "them do did does not no yes so but if then than what where when who how "
                  "why which there here have has had will would can could".split())


def terms(text: str) -> list[str]:
    """Lower-cased content words (stop words out): the recall index's vocabulary."""
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _STOP]


class InMemorySink:
    """Episodes kept in a list, recalled by BM25 — for tests, evals and short scripts.

    Nothing survives the process: use ``MemoryStoreSink`` for that.
    """

    def __init__(self) -> None:
        self.episodes: list[Episode] = []
        self._tf: list[Counter[str]] = []
        self._df: Counter[str] = Counter()

    def write_episodes(self, blocks: Sequence[Block], reason: str) -> list[str]:
        ids = []
        for b in blocks:
            if not b.content.strip():
                ids.append("")
                continue
            eid = f"ep-{len(self.episodes) + 1}"
            self.episodes.append(Episode(eid, b.content, b, reason))
            tf = Counter(terms(b.content))
            self._tf.append(tf)
            self._df.update(tf.keys())
            ids.append(eid)
        return ids

    def recall(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        if k < 1:
            raise UserError(f"recall k must be >= 1, got {k}")
        q = set(terms(query))
        n = len(self.episodes)
        if not q or not n:
            return []
        avg = sum(sum(tf.values()) for tf in self._tf) / n
        scored = []
        for i, tf in enumerate(self._tf):
            length = sum(tf.values()) or 1
            s = 0.0
            for t in q:
                f = tf.get(t, 0)
                if f:
                    idf = math.log(1 + (n - self._df[t] + 0.5) / (self._df[t] + 0.5))
                    s += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avg))
            if s > 0:
                scored.append((-s, i))
        scored.sort()
        return [(self.episodes[i].id, self.episodes[i].text) for _, i in scored[:k]]


class MemoryStoreSink:
    """Compacted turns as episodic records of a ``ctxkit.memory.MemoryStore``.

    Args:
        store: the MemoryStore.
        scope: whose memory (``Scope(tenant, user, session)``).
        kind: the records' kind label.
    """

    def __init__(self, store: Any, scope: Any, *, kind: str = "turn") -> None:
        if not hasattr(store, "write_episodes"):
            raise UserError("MemoryStoreSink needs a ctxkit.memory.MemoryStore (it has no "
                            "write_episodes)")
        self.store, self.scope, self.kind = store, scope, kind

    def write_episodes(self, blocks: Sequence[Block], reason: str) -> list[str]:
        try:
            ids = self.store.write_episodes(self.scope, list(blocks), source="compaction",
                                            kind=self.kind)
        except StoreError:
            raise
        except Exception as exc:  # the store's own failure, named for the caller
            raise StoreError(f"writing compacted turns to memory failed ({exc}); the "
                             "transcript was left as it was") from exc
        return [str(i) for i in ids]

    def recall(self, query: str, k: int = 5) -> list[tuple[str, str]]:
        hits = self.store.search(self.scope, query, k=k, tier="episodic")
        return [(h.record.id, h.record.content) for h in hits]
