"""The agent's working state: one typed, versioned object that survives every compaction.

    import ctxkit
    from ctxkit.layers import State as StateLayer

    class AgentState(ctxkit.WorkingState):
        branch: str = "main"

    state = AgentState(goal="make the parser accept empty input")
    state.set_plan(["reproduce", "fix", "run the tests"])
    layer = StateLayer(state)                    # rendered near the end of every prompt
    prefix = Prefix(system=..., tools=[..., layer.tool])   # the model's update_state tool
    state.complete_step("1", why="reproduced")   # a versioned diff, a compaction milestone
    state.checkpoint("state.json")               # or MemoryCheckpoint(store, scope)
    resumed = AgentState.resume("state.json", root=repo)   # files re-read, not trusted

Changes are JSON-patch-like (``state.apply([{"op": "replace", "path": "/goal", ...}])``),
validated against the whole model, all or nothing; each leaves a ``StateDiff``.
"""

from ._checkpoint import Checkpointer, FileCheckpoint, MemoryCheckpoint, Resumed
from ._items import Fact, FileRef, PlanStep, StateDiff, ToolNote
from ._model import WorkingState
from ._patch import PatchOp, StatePatchError
from ._tool import TOOL_NAME, make_update_tool

__all__ = ["Checkpointer", "Fact", "FileCheckpoint", "FileRef", "MemoryCheckpoint", "PatchOp",
    "PlanStep", "Resumed", "StateDiff", "StatePatchError", "TOOL_NAME", "ToolNote",
    "WorkingState", "make_update_tool"]

from .._deprecated import aliases

__getattr__ = aliases(__name__, {"State": ("ctxkit.state.WorkingState", WorkingState)})
