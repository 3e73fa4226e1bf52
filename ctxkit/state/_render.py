"""Rendering a WorkingState as compact prompt text.

Owns the text the model sees: one short section per non-empty field, a mark per plan
step's status, provenance after each fact, subclass fields as ``Name: value`` (left out
while they hold their default). The text
depends only on the state's content (no clock, no version-dependent noise beyond the
version number), so an unchanged state renders to identical bytes. Knows nothing of
layers or patching.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._block import canonical_json
from ._items import STATUS_MARK

if TYPE_CHECKING:
    from ._model import WorkingState

_BASE_FIELDS = ("goal", "plan", "completed", "open_questions", "facts", "recent_results",
                "blockers", "files")


def _list(title: str, items: list[str]) -> list[str]:
    return [f"{title}:", *(f"- {x}" for x in items)] if items else []


def render_state(state: WorkingState) -> str:
    """``state`` as a few compact lines (empty sections left out)."""
    lines = [f"## Working state (v{state.version})"]
    if state.goal:
        lines.append(f"Goal: {state.goal}")
    if state.plan:
        lines.append("Plan:")
        lines += [f"{STATUS_MARK[s.status]} {s.id}. {s.text}" for s in state.plan]
    in_plan = {s.text for s in state.plan}
    lines += _list("Also done", [c for c in state.completed if c not in in_plan])
    lines += _list("Known facts", [
        f"{f.text} ({f.source}{': ' + f.ref if f.ref else ''})" for f in state.facts])
    lines += _list("Open questions", state.open_questions)
    lines += _list("Blockers", state.blockers)
    lines += _list("Recent tool results", [
        f"{n.tool}{' (error)' if n.is_error else ''}: {n.summary}"
        for n in state.recent_results])
    lines += _list("Files", [f"{f.path}{' - ' + f.note if f.note else ''}"
                             for f in state.files])
    for name, info in type(state).model_fields.items():
        if name in _BASE_FIELDS:
            continue
        value: Any = getattr(state, name)
        default = info.get_default(call_default_factory=True)
        if value in (None, "", [], {}) or value == default:  # compact: defaults left out
            continue
        shown = value if isinstance(value, (str, int, float, bool)) else canonical_json(
            state.model_dump(mode="json", include={name})[name])
        lines.append(f"{name.replace('_', ' ').capitalize()}: {shown}")
    return "\n".join(lines)
