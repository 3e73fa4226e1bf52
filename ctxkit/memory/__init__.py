"""Agent memory: working / episodic / semantic tiers with provenance, isolation, audit
and revocation.

    from ctxkit.memory import MemoryStore, Scope

    store = MemoryStore("sqlite:///agent.db", vectors="./vectors")
    scope = Scope(tenant="acme", user="u1", session="s42")
    rec = store.write(scope, "prefers pytest over unittest", tier="semantic", source="user")
    store.search(scope, "test framework", k=5)        # [(record, score), ...]
    store.revoke(scope, source="tool", since=t0, reason="poisoned doc")
    store.as_of(t).search(scope, "...")               # the store as it was at t
    store.audit(scope, record_id=rec.id)              # who wrote/read/revoked it, when, why

Records, provenance and the append-only audit log live in SQL (SQLite by default,
PostgreSQL by URL); vectors in LanceDB. Every call names its Scope; nothing reads across
tenants or users. Prompt-side layers are ``ctxkit.layers.Memory`` (session-stable semantic
memory) and ``ctxkit.layers.Recall`` (per-turn episodic recall).

The value types, redaction and rendering import with the core alone; the store needs the
``memory`` extra (``pip install 'ctxkit[memory]'``) and says so when it is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._redact import Redaction, redact
from ._render import fence
from ._scope import AuditEntry, MemoryHit, MemoryLink, MemoryRecord, Scope

_LAZY = {
    "Consolidation": "._consolidate", "ExtractedFact": "._consolidate",
    "rule_extractor": "._consolidate", "ModelExtractor": "._extract",
    "HashingEmbedder": "._hashing", "LLMDecomposer": "._recall", "QueryParts": "._recall",
    "RecallParams": "._recall", "decompose": "._recall", "MemoryStore": "._store",
    "MemoryView": "._view",
    "MemoryWriter": "._policies", "explicit_mark": "._policies",
    "extractive_summary": "._policies", "SearchParams": "._search",
}

__all__ = ["AuditEntry", "Consolidation", "ExtractedFact", "HashingEmbedder", "LLMDecomposer",
    "MemoryHit", "MemoryLink", "MemoryRecord", "MemoryStore", "MemoryView", "MemoryWriter",
    "ModelExtractor", "QueryParts", "RecallParams", "Redaction", "Scope", "SearchParams",
    "decompose", "explicit_mark", "extractive_summary", "fence", "redact", "rule_extractor"]


_RENAMED = {"Hit": "MemoryHit", "Fact": "ExtractedFact"}  # deprecated for one release


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        from .._deprecated import aliases

        new = _RENAMED[name]
        return aliases(__name__, {name: (f"ctxkit.memory.{new}", __getattr__(new) if new in _LAZY
                                         else globals()[new])})(name)
    if name not in _LAZY:
        raise AttributeError(f"module 'ctxkit.memory' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name], __name__)
    except ImportError as exc:
        from .._errors import MissingExtraError

        raise MissingExtraError("memory", exc.name or "sqlalchemy") from exc
    return getattr(module, name)
