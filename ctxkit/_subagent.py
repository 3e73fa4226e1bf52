"""Subagents: a scoped child pipeline whose final summary — not its trace — returns to the
parent's history and state.

Owns building the child (its own session, by default the parent's prefix layers plus a
fresh History, so it reads the same cached system prompt), tagging each of its records
with ``extras["parent"]``, and handing back one block: the task and the child's final
answer, appended to the parent's history after everything already there (the parent's
prefix is untouched). Knows nothing of what the task is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._block import Block, Provenance
from ._draft import Draft
from ._errors import UserError
from ._layer import layer_name
from ._types import Response, Turn

if TYPE_CHECKING:
    from ._backend import Backend
    from ._pipeline import ContextPipeline


class _ParentTag:
    """A layer that adds no blocks: it stamps each record with who spawned the session."""

    name = "parent_tag"

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    def __call__(self, draft: Draft, turn: Turn) -> Draft:
        return draft.note("parent", dict(self.info))


def child(parent: ContextPipeline, task: str, *, layers: Sequence[Any] | None,
          backend: Backend | None, max_steps: int | None) -> ContextPipeline:
    """The child pipeline for ``task`` (not yet run)."""
    from .layers import History

    if not isinstance(task, str) or not task.strip():
        raise UserError("subagent(task) needs the task as a non-empty str")
    index = len(parent.subagents) + 1
    if layers is None:
        layers = [x for x in parent.layers if layer_name(x) == "prefix"] + [History()]
    info = {"session": parent.session.id, "subagent": index, "task": task[:200]}
    # type(parent): the parent's own class, so this module needs no import of the pipeline
    sub = type(parent)(backend or parent.backend, [*layers, _ParentTag(info)],
                          budget=parent.budget, packer=parent.packer,
                          trace=parent.trace.path if parent.trace is not None else None,
                          session_id=f"{parent.session.id}/sub{index}",
                          max_steps=parent.max_steps if max_steps is None else max_steps,
                          clock=parent.clock,
                          canonical=parent.canonical)
    if sub.backend is parent.backend:
        # one provider cache: the child's calls can read the prefix the parent cached
        sub._cache = parent._cache
    parent.subagents.append(sub)
    return sub


def finish(parent: ContextPipeline, sub: ContextPipeline, task: str, response: Response, *,
           to_history: bool, to_state: bool, state: Any) -> Response:
    """Fold the child's final answer into the parent: history block, state, records."""
    index = len(parent.subagents)
    text = response.text.strip()
    if sub.session.pending_calls:
        names = ", ".join(c.name for c in sub.session.pending_calls.values())
        text = (f"{text}\n" if text else "") + (
            f"(the subagent stopped after {len(sub.records)} model calls with tool calls "
            f"still pending: {names})")
    text = text or "(the subagent gave no answer)"
    if to_history:
        parent.session.transcript.append(Block(
            layer="history", role="user", key=f"subagent:{index}",
            content=f"[subagent {index} finished] task: {task}\nresult:\n{text}",
            provenance=Provenance(source="subagent", ref=sub.session.id)))
    if state is None and to_state:
        state = next((getattr(x, "state", None) for x in parent.layers
                      if layer_name(x) == "state"), None)
    if to_state and state is not None and hasattr(state, "apply"):
        state.apply([
            {"op": "add", "path": "/completed/-", "value": f"subtask: {task[:200]}"},
            {"op": "add", "path": "/facts/-", "value": {
                "text": text[:500], "source": "subagent", "ref": sub.session.id}}],
            by="subagent", why=f"subagent {index}: {task[:80]}", tags=["subtask_done"])
    parent.records.extend(sub.records)
    return response.model_copy(update={"text": text})
