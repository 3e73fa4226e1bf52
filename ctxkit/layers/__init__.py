"""Built-in layers. A layer is a callable ``layer(draft, turn) -> draft`` with its config
in ``__init__``; a user-written layer looks exactly like these."""

from ._history import History
from ._prefix import Prefix

__all__ = ["History", "Prefix"]
