"""Memory layers: session-stable semantic memory early, per-turn episodic recall late.

Two layers because memory has a stable part and a volatile part, and the cache rewards
keeping them apart (DESIGN: "where one concern has a stable and a volatile part, it is
two layers"). ``Memory`` reads the user's semantic facts once when a session opens and
renders the same bytes on every call of that session, with a cache mark, so it joins the
cached prefix; facts learned mid-session appear at the next session. ``Recall`` searches
memory with each turn's query and proposes the hits as flexible candidates in the
volatile tail, where the budget step packs the best of them. Both fence memory content
as data (``ctxkit.memory.fence``) and log every read — query, ids, scores and whether
each hit was packed — with ``draft.note("memory", ...)``, which the CallRecord keeps. In a
dry run (``turn.dry_run``) they read (audited as a dry-run read) but write nothing: no
write-through, and the session's first read is not remembered as done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._block import Block, CacheTTL, Provenance
from .._draft import Draft
from .._errors import UserError
from .._types import Turn
from ..memory._redact import redact
from ..memory._render import CLOSE, HEADER, HEADER_NO_IDS, OPEN, line
from ..memory._scope import MemoryRecord, Scope, check_scope
from ..memory._text import content_hash

if TYPE_CHECKING:  # the store needs the memory extra; these layers import without it
    from ..memory._policies import MemoryWriter
    from ..memory._store import MemoryStore


def _check_store(store: object, layer: str) -> None:
    from ..memory._store import MemoryStore

    if not isinstance(store, MemoryStore):
        raise UserError(f"{layer}(store, scope=...) needs a ctxkit.memory.MemoryStore, got "
                        f"{type(store).__name__}")


def _log(draft: Draft) -> _MemoryLog:
    log = draft.notes.get("memory")
    if not isinstance(log, _MemoryLog):
        log = _MemoryLog()
        draft.note("memory", log)
    return log


def _actor(turn: Turn) -> str:
    return "agent (dry run)" if turn.dry_run else "agent"


class _MemoryLog:
    """The memory part of a call's extras, resolved against the final draft.

    Layers append reads (with the keys of the blocks they proposed) and writes; when the
    CallRecord is made the pipeline calls it with the packed draft, and it answers plain
    JSON: ``{"reads": [{layer, query, ids, scores, packed, ...}], "writes": [ids]}``.
    """

    def __init__(self) -> None:
        self.reads: list[dict[str, Any]] = []
        self.writes: list[str] = []

    def __call__(self, draft: Draft) -> dict[str, Any]:
        kept = {b.key for b in draft.blocks}
        reads = []
        for r in self.reads:
            out = {k: v for k, v in r.items() if k != "keys"}
            out["packed"] = [key in kept for key in r["keys"]]
            reads.append(out)
        return {"reads": reads, "writes": list(self.writes)}


def _block(layer: str, rec: MemoryRecord, *, with_id: bool = True, **kw: Any) -> Block:
    return Block(layer=layer, content=line(rec, with_id=with_id), key=f"memory:{rec.id}",
                 trust="untrusted" if rec.trust != "trusted" else "trusted",
                 provenance=Provenance(source="memory", ref=rec.id, at=rec.created_at), **kw)


def _fence(layer: str, role: Any, records: list[Block], ttl: CacheTTL | None = None,
           header: str = HEADER) -> list[Block]:
    """The records between the fence's opening (with the header) and closing blocks."""
    if not records:
        return []
    src = Provenance(source="memory")
    return [Block(layer=layer, role=role, content=f"{header}\n{OPEN}", key=f"{layer}:open",
                  provenance=src), *records,
            Block(layer=layer, role=role, content=CLOSE, key=f"{layer}:close", cache=ttl,
                  provenance=src)]


class Memory:
    """Semantic memory, read once per session, byte-stable, cached.

    Args:
        store: the memory store.
        scope: whose memory.
        max_tokens: ceiling on the block's tokens; the newest facts that fit are kept.
        ttl: cache TTL asked for at the end of the block.
        role: ``system`` (joins the system prompt) or ``user``.
        name: the layer name in records and reports.
    """

    def __init__(self, store: MemoryStore, *, scope: Scope, max_tokens: int = 1500,
                 ttl: CacheTTL = "5m", role: str = "system", name: str = "memory") -> None:
        _check_store(store, "Memory")
        if role not in ("system", "user"):
            raise UserError(f"Memory role must be 'system' or 'user', got {role!r}")
        self.store = store
        self.scope = check_scope(scope)
        self.max_tokens = max_tokens
        self.ttl = ttl
        self.role = role
        self.name = name
        self._session: str | None = None
        self._blocks: list[Block] = []

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        log = _log(draft)
        if self._session != turn.session.id:
            blocks = self._read(draft, _actor(turn))
            if turn.dry_run:  # the real first call still reads at session open
                ids = [b.provenance.ref for b in blocks if b.provenance and b.provenance.ref]
                log.reads.append({"layer": self.name, "query": None, "ids": ids,
                                  "scores": [None] * len(ids), "reused": False,
                                  "keys": [f"memory:{i}" for i in ids]})
                return draft.extend(blocks)
            self._session = turn.session.id
            self._blocks = blocks
            ids = [b.provenance.ref for b in self._blocks if b.provenance and b.provenance.ref]
            log.reads.append({"layer": self.name, "query": None, "ids": ids,
                              "scores": [None] * len(ids), "reused": False,
                              "keys": [f"memory:{i}" for i in ids]})
        elif self._blocks:  # the same blocks as at session open: no new read
            ids = [b.provenance.ref for b in self._blocks if b.provenance and b.provenance.ref]
            log.reads.append({"layer": self.name, "query": None, "ids": ids,
                              "scores": [None] * len(ids), "reused": True,
                              "keys": [f"memory:{i}" for i in ids]})
        return draft.extend(self._blocks)

    def _read(self, draft: Draft, actor: str = "agent") -> list[Block]:
        facts = self.store.list(self.scope, tier="semantic", actor=actor)
        used = draft.counter.count_text(f"{HEADER}\n{OPEN}") + draft.counter.count_text(CLOSE)
        chosen: list[Block] = []
        for rec in reversed(facts):  # newest first while they fit, then in time order
            b = _block(self.name, rec, role=self.role)
            n = draft.tokens(b)
            if used + n > self.max_tokens:
                continue
            used += n
            chosen.append(b)
        chosen.reverse()
        return _fence(self.name, self.role, chosen, self.ttl)


class Recall:
    """Episodic recall for this turn: hybrid search on the turn's query, packed by budget.

    Args:
        store: the memory store.
        scope: whose memory.
        k: hits proposed per call.
        tier: ``episodic`` (default), ``semantic`` or None for both.
        min_score: hits below this fused score are not proposed (noise hurts).
        max_tokens: a ceiling on the tokens this layer proposes (best hits first); the
            budget step may still drop some. ``Budget(caps={"recall": N})`` also works.
        query: ``query(turn) -> str | None``; default: the turn's user message.
        decompose: recall by parts and expand along links (``store.recall``); False
            searches the whole question only (``store.search``).
        decomposer: an opt-in ``ctxkit.memory.LLMDecomposer`` (or any callable
            ``(question, now=) -> QueryParts``); default: the rule-based split.
        recall_params: ``ctxkit.memory.RecallParams`` (fusion weights, expansion).
        show_ids: put each record's short id on its line (``[3f2a9c1e 2026-11-28 user]``);
            off by default: the id costs ~9 tokens a line, about a fifth of a typical
            turn, and the blocks' provenance (and the trace) name the records anyway.
        writer: a ``MemoryWriter`` run on the transcript at every call (write-through of
            tool results, salient marks); its writes are logged with the reads.
        name: the layer name in records and reports.
    """

    def __init__(self, store: MemoryStore, *, scope: Scope, k: int = 8,
                 tier: str | None = "episodic", min_score: float = 0.0,
                 max_tokens: int | None = None,
                 query: Callable[[Turn], str | None] | None = None,
                 decompose: bool = True, decomposer: Any = None, recall_params: Any = None,
                 show_ids: bool = False, writer: MemoryWriter | None = None,
                 name: str = "recall") -> None:
        _check_store(store, "Recall")
        self.store = store
        self.scope = check_scope(scope)
        self.k = k
        self.tier = tier
        self.min_score = min_score
        self.max_tokens = max_tokens
        self.query = query
        self.decompose = decompose
        self.decomposer = decomposer
        self.recall_params = recall_params
        self.show_ids = show_ids
        self.writer = writer
        self.name = name

    def _query(self, turn: Turn) -> str | None:
        if self.query is not None:
            return self.query(turn)
        if turn.message:
            return turn.message
        for b in reversed(turn.session.transcript):  # a tool-loop step: the asking turn
            if b.role == "user" and b.kind == "text":
                return b.content
        return None

    def _observe(self, draft: Draft, turn: Turn) -> tuple[Any, str | None]:
        """Write what the session observed; the query to recall for (None: nothing to ask)."""
        log = _log(draft)
        if self.writer is not None and not turn.dry_run:
            log.writes.extend(self.writer.observe(turn.session))
        q = self._query(turn)
        return log, (q if q and q.strip() else None)

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        log, q = self._observe(draft, turn)
        if q is None:
            return draft
        parts = self.decomposer(q, now=self.store.clock()) \
            if self.decomposer is not None and self.decompose else None
        return self._propose(draft, turn, log, q, parts)

    async def acall(self, draft: Draft, turn: Turn) -> Draft:
        """The async form: an ``LLMDecomposer`` is awaited (its ``acall``)."""
        log, q = self._observe(draft, turn)
        if q is None:
            return draft
        parts = None
        if self.decomposer is not None and self.decompose:
            acall = getattr(self.decomposer, "acall", None)
            parts = await acall(q, now=self.store.clock()) if callable(acall) \
                else self.decomposer(q, now=self.store.clock())
        return self._propose(draft, turn, log, q, parts)

    def _propose(self, draft: Draft, turn: Turn, log: _MemoryLog, q: str,
                 parts: Any) -> Draft:
        if self.decompose:
            hits = self.store.recall(self.scope, q, k=self.k, tier=self.tier,
                                     min_score=self.min_score, actor=_actor(turn),
                                     parts=parts, recall_params=self.recall_params)
        else:
            hits = self.store.search(self.scope, q, k=self.k, tier=self.tier,
                                     min_score=self.min_score, actor=_actor(turn))
        shown = {b.provenance.ref for b in draft.blocks if b.provenance and b.provenance.ref}
        present = {content_hash(b.content) for b in turn.session.transcript}
        blocks: list[Block] = []
        used = 0
        for rec, score in hits:
            if rec.content_hash in present or rec.id in shown:  # already in the prompt
                continue
            b = _block(self.name, rec, with_id=self.show_ids, score=score, must_keep=False)
            n = draft.tokens(b)
            if self.max_tokens is not None and used + n > self.max_tokens:
                continue
            used += n
            blocks.append(b)
        # the trace keeps the query as the store saw it: redacted
        log.reads.append({"layer": self.name, "query": redact(q).text,
                          "ids": [b.provenance.ref for b in blocks if b.provenance],
                          "scores": [b.score for b in blocks],
                          "keys": [b.key for b in blocks]})
        fenced = _fence(self.name, "user", blocks,
                        header=HEADER if self.show_ids else HEADER_NO_IDS)
        if not fenced:
            return draft
        # the hits are candidates for the packing step; the fence around them stays
        return draft.add(fenced[0]).propose(fenced[1:-1]).add(fenced[-1])
