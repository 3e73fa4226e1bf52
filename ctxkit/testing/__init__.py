"""Test doubles for agents built on ctxkit: scripted, function and replay backends, and
``capture_calls()`` to observe every call a pipeline makes."""

from .._capture import Captured, capture_calls
from ._doubles import FunctionBackend, ReplayBackend, ScriptedBackend, as_response
from ._invariants import assert_prefix_extends

__all__ = ["Captured", "FunctionBackend", "ReplayBackend", "ScriptedBackend",
           "as_response", "assert_prefix_extends", "capture_calls"]
