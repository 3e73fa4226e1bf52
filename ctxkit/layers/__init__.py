"""Built-in layers. Each implements ``ctxkit.Layer`` — a ``name`` and ``__call__(draft,
turn) -> Draft``, config in ``__init__`` — and contributes only through the Draft
(``add``, ``propose``, ``add_tool``, ``note``); a user-written layer looks exactly like
these (docs/write-a-layer.md)."""

from ._history import History
from ._memory import Memory, Recall
from ._prefix import Prefix
from ._retrieval import Retrieval
from ._state import State

__all__ = ["History", "Memory", "Prefix", "Recall", "Retrieval", "State"]
