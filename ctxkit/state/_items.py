"""The parts of a WorkingState: plan steps, facts with provenance, tool notes, file references,
and the versioned diff every change leaves.

Owns their shapes and validation (pydantic: they come back from checkpoints and from a
model's ``update_state`` call). Knows nothing of patching or rendering.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["todo", "doing", "done", "blocked", "dropped"]
STATUS_MARK = {"todo": "[ ]", "doing": "[>]", "done": "[x]", "blocked": "[!]", "dropped": "[-]"}


class PlanStep(BaseModel):
    """One step of the plan, in order. ``id`` is what patches and milestones name."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    status: Status = "todo"


class Fact(BaseModel):
    """Something known, with where it came from.

    Attributes:
        text: the fact, one sentence.
        key: the slot it fills (``"location:John"``); a newer fact with the same key
            replaces this one, so a superseded value never sits beside the current one.
        source: who established it: user, agent, tool, file, system, memory, subagent.
        ref: from what: a tool call id, a file path, a record id.
        at: when (unix seconds), if known. Not rendered (it would change the prompt).
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    key: str | None = None
    source: Literal["user", "agent", "tool", "file", "system", "memory", "subagent"] = "agent"
    ref: str | None = None
    at: float | None = None


class ToolNote(BaseModel):
    """A short note of a recent tool result (the list is bounded, oldest dropped first)."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    summary: str
    call_id: str | None = None
    is_error: bool = False


class FileRef(BaseModel):
    """A file the work depends on; ``sha256`` is of its content when last read. On resume
    the file is re-read, never trusted from the old copy."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str | None = None
    note: str = ""


class StateDiff(BaseModel):
    """One versioned change of a WorkingState.

    Attributes:
        version: the state's version after this change (the first change makes it 1).
        by: who changed it: ``code``, ``model`` (the update_state tool), ``subagent``,
            ``resume``, or any name the caller gives.
        at: when (unix seconds).
        why: the reason given with the change.
        ops: the JSON-patch operations applied, in order (replayable).
        before: the previous value of each top-level field the change touched.
        tags: milestones the change reached: ``goal_changed``, ``step_done:<id>``,
            ``subtask_done`` (what ``ctxkit.compaction.Milestone`` listens for).
    """

    model_config = ConfigDict(frozen=True)

    version: int
    by: str
    at: float
    why: str = ""
    ops: list[dict[str, Any]] = Field(default_factory=list)
    before: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


def milestone_tags(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Milestones reached between two dumps of a state: a goal that changed (not one set
    for the first time) and plan steps that became done."""
    tags = []
    if before.get("goal") and before.get("goal") != after.get("goal"):
        tags.append("goal_changed")
    was = {s.get("id"): s.get("status") for s in before.get("plan") or []
           if isinstance(s, dict)}
    for s in after.get("plan") or []:
        if isinstance(s, dict) and s.get("status") == "done" and was.get(s.get("id")) != "done":
            tags.append(f"step_done:{s.get('id')}")
    return tags
