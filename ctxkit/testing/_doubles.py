"""Test doubles shipped with ctxkit: ScriptedBackend and FunctionBackend.

Owns backends that answer without a model, so agents built on ctxkit can be tested
offline with the real pipeline. They render nothing provider-specific; they see the Draft.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from .._backend import Backend
from .._draft import Draft
from .._errors import BackendError, UserError
from .._profile import Profile, profile_for
from .._types import Response, ToolCall

_ids = itertools.count(1)


def as_response(item: Any) -> Response:
    """Coerce a scripted item into a Response.

    Accepts a Response, a str (plain text), a ToolCall, a list of ToolCalls, or a dict
    ``{"text": ..., "tool_calls": [{"name": ..., "arguments": {...}, "id": ...}]}``.
    """
    if isinstance(item, Response):
        return item
    if isinstance(item, str):
        return Response(text=item, stop_reason="end_turn")
    if isinstance(item, ToolCall):
        item = [item]
    if isinstance(item, list) and all(isinstance(c, ToolCall) for c in item):
        return Response(tool_calls=item, stop_reason="tool_use")
    if isinstance(item, dict):
        calls = []
        for c in item.get("tool_calls", []):
            if isinstance(c, ToolCall):
                calls.append(c)
            else:
                calls.append(ToolCall(id=c.get("id") or f"call_{next(_ids)}", name=c["name"],
                                      arguments=c.get("arguments", {})))
        return Response(text=item.get("text", ""), tool_calls=calls,
                        thinking=item.get("thinking"),
                        stop_reason="tool_use" if calls else "end_turn")
    raise UserError(f"cannot script {type(item).__name__}; use str, dict, ToolCall or Response")


def _profile(model: str | Profile) -> Profile:
    return model if isinstance(model, Profile) else profile_for(model)


class ScriptedBackend(Backend):
    """Answers with ``responses`` in order (plain text, or replies with tool calls).

    Args:
        responses: what to answer, one item per model call (see ``as_response``).
        model: the profile to assume for counting, caching and prices ("scripted" by
            default: Anthropic-like explicit caching, o200k counts).
    """

    name = "scripted"

    def __init__(self, responses: Iterable[Any], *, model: str | Profile = "scripted") -> None:
        self.responses = [as_response(r) for r in responses]
        self.profile = _profile(model)
        self.drafts: list[Draft] = []

    def complete(self, draft: Draft) -> Response:
        self.drafts.append(draft)
        i = len(self.drafts) - 1
        if i >= len(self.responses):
            raise BackendError(f"ScriptedBackend ran out of responses after {len(self.responses)}"
                               " calls; add more to the script", status=None)
        return self.responses[i].model_copy(update={"model": self.profile.name})


class FunctionBackend(Backend):
    """Answers with ``fn(draft)`` (sync or async), coerced like ScriptedBackend's items."""

    name = "function"

    def __init__(self, fn: Callable[[Draft], Any], *, model: str | Profile = "scripted") -> None:
        if not callable(fn):
            raise UserError("FunctionBackend(fn): fn must be callable(draft) -> reply")
        self.fn = fn
        self.profile = _profile(model)

    def complete(self, draft: Draft) -> Response:
        out = self.fn(draft)
        if inspect.isawaitable(out):
            raise UserError("this FunctionBackend's fn is async; use `await pipe.arun(...)`")
        return as_response(out).model_copy(update={"model": self.profile.name})

    async def acomplete(self, draft: Draft) -> Response:
        out = self.fn(draft)
        if inspect.isawaitable(out):
            out = await out
        return as_response(out).model_copy(update={"model": self.profile.name})
