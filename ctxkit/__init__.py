"""ctxkit: context engineering for agents.

Every model call is assembled by a ContextPipeline from layers (cached prefix, history,
retrieval, state, memory), and every call leaves a CallRecord: tokens by layer, cached vs.
uncached, cost, and the reason for every cache miss.

    from ctxkit import ContextPipeline
    from ctxkit.layers import Prefix, History
    from ctxkit.testing import ScriptedBackend

    pipe = ContextPipeline(backend=ScriptedBackend(["hi"]),
                           layers=[Prefix(system="You are terse."), History()])
    pipe.run("hello")
    print(pipe.report())
"""

from ._backend import Backend
from ._block import Block, Provenance, canonical_json
from ._draft import Breakpoint, Budget, Draft
from ._drift import DriftEvent
from ._errors import (
    BackendError,
    BudgetError,
    CtxkitError,
    MissingExtraError,
    StoreError,
    UserError,
)
from ._layer import Layer
from ._pipeline import ContextPipeline
from ._profile import CacheRules, Prices, Profile, profile_for, register_profile
from ._record import CallRecord, LayerTokens, Trace, load_trace
from ._tokens import TokenCounter, get_tokenizer
from ._types import Response, Session, ToolCall, ToolResult, Turn, Usage
from .packing import Candidate, GreedyPacker, Packer
from .state import WorkingState

__all__ = [
    "Backend", "BackendError", "Block", "Breakpoint", "Budget", "BudgetError", "CacheRules",
    "CallRecord", "Candidate", "ContextPipeline", "CtxkitError", "Draft", "DriftEvent",
    "GreedyPacker", "Layer", "LayerTokens", "MissingExtraError", "Packer", "Prices", "Profile",
    "Provenance", "Response", "Session", "StoreError", "TokenCounter", "ToolCall",
    "ToolResult", "Trace", "Turn", "Usage", "UserError", "WorkingState", "canonical_json",
    "get_tokenizer", "load_trace", "profile_for", "register_profile",
]
__version__ = "0.1.0"

from ._deprecated import aliases  # noqa: E402

__getattr__ = aliases(__name__, {"State": ("ctxkit.WorkingState (the model; "
                                           "ctxkit.layers.State is the layer)", WorkingState)})
