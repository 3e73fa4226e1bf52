"""The ``update_state`` tool: how a model changes the WorkingState, through the same validated
patch path as code.

Owns the tool function (its name, argument schema and description are what the model
sees) and its answers: a one-line confirmation, or — for an invalid patch — a
StatePatchError whose message the tool loop returns to the model as an error result,
with the state unchanged. Knows nothing of the pipeline beyond "a tool is a callable".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._patch import PatchOp

if TYPE_CHECKING:
    from ._model import WorkingState

TOOL_NAME = "update_state"


def make_update_tool(state: WorkingState, *, by: str = "model") -> Callable[..., str]:
    """The ``update_state`` tool bound to ``state``; give it to ``Prefix(tools=[...])``."""

    def update_state(ops: list[PatchOp], why: str = "") -> str:
        """Change your working state (goal, plan, facts, open_questions, blockers, ...) with
        JSON-patch operations, applied all or nothing; an invalid patch changes nothing.
        Each op is {"op": "add"|"remove"|"replace"|"test", "path": "/field/...", "value":
        ...}. Paths: /goal, /plan/@<step id>/status (todo|doing|done|blocked|dropped),
        /plan/- to append a step {"id", "text", "status"}, /facts/- to add a fact
        {"text", "key", "source", "ref"}, /open_questions/0 to remove the first question.
        A list item can be named by its id or key as @<id>. Say why in `why`.
        """
        diff = state.apply(ops, by=by, why=why)
        changed = ", ".join(f"{o['op']} {o['path']}" for o in diff.ops)
        return f"state updated to v{diff.version}: {changed}"

    return update_state


def tool_schema_for(state: WorkingState) -> dict[str, Any]:
    """The neutral schema of the tool (what Prefix renders), for inspection and docs."""
    from .._tools import tool_schema

    return tool_schema(make_update_tool(state))
