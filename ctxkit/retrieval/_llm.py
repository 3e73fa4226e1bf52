"""One-shot model calls for retrieval helpers (LLM rerank, LLM query rewrite).

Owns building a two-block Draft and returning the reply text. Knows nothing of what the
prompt asks: callers write it.
"""

from __future__ import annotations

from typing import Any

from .._block import Block, Provenance
from .._draft import Budget, Draft
from .._errors import UserError


def ask(backend: Any, system: str, user: str) -> str:
    """Send ``system`` + ``user`` to ``backend`` and return the reply text."""
    from .._backend import Backend

    if not isinstance(backend, Backend):
        raise UserError(f"expected a ctxkit Backend, got {type(backend).__name__}; see "
                        "ctxkit.backends or ctxkit.testing.ScriptedBackend")
    draft = Draft(profile=backend.profile, counter=backend.counter(), budget=Budget())
    draft.add(Block(layer="retrieval", role="system", key="system", content=system,
                    provenance=Provenance(source="system")),
              Block(layer="retrieval", role="user", key="ask", content=user,
                    provenance=Provenance(source="retrieval")))
    return str(backend.complete(draft).text or "")
