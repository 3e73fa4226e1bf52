"""Built-in layers. A layer is a callable ``layer(draft, turn) -> draft`` with its config
in ``__init__``; a user-written layer looks exactly like these."""

from ._history import History
from ._memory import Memory, Recall
from ._prefix import Prefix
from ._retrieval import Retrieval
from ._state import State

__all__ = ["History", "Memory", "Prefix", "Recall", "Retrieval", "State"]
