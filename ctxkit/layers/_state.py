"""State layer: the agent's working state, rendered compactly near the end of the prompt.

Owns putting one block — ``state.render()`` — after the history and before the user's
message, where a change costs no cache (everything before it is the cached history), and
offering the state's ``update_state`` tool through ``draft.add_tool`` (its schema joins
the tools section; the tool loop runs it). Changes made in place are committed as a diff
first, so what the model sees is always a versioned state; a dry run renders them without
committing. Knows nothing of compaction: compaction never touches the state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from .._block import Block, Provenance
from .._draft import Draft
from .._errors import UserError
from .._types import Turn
from ..state import WorkingState as StateModel
from ..state import make_update_tool


class State:
    """The working state as a layer; put it after History.

    Args:
        state: a ``ctxkit.WorkingState`` (or subclass) instance; the layer renders it every call.
        role: the block's role (``"user"``: renders into the final user message).
        tool: offer the ``update_state`` tool (default True); the layer adds it to the
            draft itself, so it needs no place in ``Prefix(tools=...)``. False when the
            caller offers ``layer.tool`` (or a wrapper of it) some other way.

    Attributes:
        tool: the ``update_state`` tool bound to ``state``.
    """

    name = "state"

    def __init__(self, state: StateModel, *, role: str = "user", tool: bool = True) -> None:
        if not isinstance(state, StateModel):
            raise UserError(f"layers.State(state) takes a ctxkit.WorkingState, got "
                            f"{type(state).__name__}; subclass ctxkit.WorkingState for your fields")
        if role not in ("user", "system"):
            raise UserError("layers.State(role=...) must be 'user' or 'system'")
        self.state = state
        self.role = role
        self.tool: Callable[..., str] = make_update_tool(state)
        self.offers_tool = tool
        self._warned = False

    def block(self, *, commit: bool = True) -> Block:
        """The state's block as it would be rendered now (``commit``: first record changes
        made in place as a new version)."""
        if commit:
            self.state.commit()
        return Block(layer=self.name, role=self.role,  # type: ignore[arg-type]
                     key="state", content=self.state.render(),
                     provenance=Provenance(source="system", ref=f"state:v{self.state.version}"))

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        if self.offers_tool:
            if "update_state" in draft.tools:  # the old wiring: Prefix(tools=[layer.tool])
                if not self._warned:
                    self._warned = True
                    warnings.warn("the State layer offers its update_state tool itself; "
                                  "drop it from Prefix(tools=[...]) (kept there for now, "
                                  "where it was)", DeprecationWarning, stacklevel=2)
            else:
                draft.add_tool(self.tool)
        return draft.add(self.block(commit=not turn.dry_run))

