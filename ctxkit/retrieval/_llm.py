"""One-shot model calls for retrieval helpers (LLM rerank, LLM query rewrite).

Owns building a two-block Draft and returning the reply text: ``ask`` through the
backend's ``complete``, ``aask`` through its ``acomplete`` (for ``arun``, which must not
block its event loop). Knows nothing of what the prompt asks: callers write it.
"""

from __future__ import annotations

from typing import Any

from .._block import Block, Provenance
from .._draft import Budget, Draft
from .._errors import UserError


def _draft(backend: Any, system: str, user: str) -> Draft:
    from .._backend import Backend

    if not isinstance(backend, Backend):
        raise UserError(f"expected a ctxkit Backend, got {type(backend).__name__}; see "
                        "ctxkit.backends or ctxkit.testing.ScriptedBackend")
    draft = Draft(profile=backend.profile, counter=backend.counter(), budget=Budget())
    draft.add(Block(layer="retrieval", role="system", key="system", content=system,
                    provenance=Provenance(source="system")),
              Block(layer="retrieval", role="user", key="ask", content=user,
                    provenance=Provenance(source="retrieval")))
    return draft


def ask(backend: Any, system: str, user: str) -> str:
    """Send ``system`` + ``user`` to ``backend`` and return the reply text."""
    return str(backend.complete(_draft(backend, system, user)).text or "")


async def aask(backend: Any, system: str, user: str) -> str:
    """``ask``, awaiting the backend's ``acomplete``."""
    return str((await backend.acomplete(_draft(backend, system, user))).text or "")
