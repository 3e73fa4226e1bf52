"""Test doubles for agents built on ctxkit: scripted and function backends, and
``capture_calls()`` to observe every call a pipeline makes. (Replaying a trace is
``ctxkit.backends.Replay``.)"""

from .._capture import Captured, capture_calls
from ._doubles import FunctionBackend, ScriptedBackend, as_response
from ._invariants import assert_prefix_extends

__all__ = ["Captured", "FunctionBackend", "ScriptedBackend",
           "as_response", "assert_prefix_extends", "capture_calls"]


def __getattr__(name: str) -> object:
    if name == "ReplayBackend":  # deprecated for one release: one Replay, in ctxkit.backends
        from .._deprecated import aliases
        from ..backends import Replay

        return aliases(__name__, {name: ("ctxkit.backends.Replay", Replay)})(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
