"""The Layer contract: what a pipeline accepts in ``layers=[...]``, and how it is named.

Owns ``Layer`` — a runtime-checkable ``typing.Protocol``: a ``name`` and
``__call__(draft, turn) -> Draft`` (or an awaitable of it) — and the check that turns a
wrong item in ``layers`` into an error that says what a layer is. Everything a layer
contributes goes through the Draft it is given:

* blocks: ``draft.add(...)`` (must-keep) or ``draft.propose(...)`` (candidates the one
  packing step chooses among, with scores, a group, a cap and an order);
* tools: ``draft.add_tool(fn_or_schema)`` — the schema block and the callable the tool
  loop runs;
* notes for the CallRecord: ``draft.note(key, value)``;
* an intended rewrite of the cached region: ``draft.declare_rewrite(reason)``.

A layer reads ``turn`` (the message, the session, ``turn.dry_run``). A layer may also
offer ``acall(draft, turn)``, an async form that ``arun`` awaits instead of ``__call__``
(the built-ins that ask a model — compaction summaries, query rewriting, LLM reranking —
do). A plain function ``fn(draft, turn)`` is accepted too, named by its ``__name__``.
Knows nothing of what any layer does.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._errors import UserError

if TYPE_CHECKING:
    from ._draft import Draft
    from ._types import Turn


@runtime_checkable
class Layer(Protocol):
    """One step of assembling a call: config in ``__init__``, work in ``__call__``.

    Attributes:
        name: the layer's name in blocks (``Block.layer``), cap groups, records and reports.

    ``__call__`` extends the draft and returns it (returning None means the same draft);
    it may return an awaitable of the draft, which ``arun`` awaits (``run`` drives it
    with ``asyncio.run``). In a dry run (``turn.dry_run``, from ``pipe.assemble()``) a
    layer builds exactly what it would send but writes nothing and calls no model.
    """

    name: str

    def __call__(self, draft: Draft, turn: Turn) -> Draft | Awaitable[Draft] | None: ...


def layer_name(layer: Any) -> str:
    """A layer's name: its ``name`` attribute, else its function or class name."""
    name = getattr(layer, "name", None)
    if isinstance(name, str):
        return name
    return str(getattr(layer, "__name__", type(layer).__name__)).lower()


def check_layer(layer: Any, where: str) -> None:
    """Raise UserError unless ``layer`` can be called as ``layer(draft, turn)``."""
    what = "a layer has a `name` and `__call__(draft, turn) -> Draft` (see ctxkit.Layer)"
    if isinstance(layer, type):
        raise UserError(f"{where} is the class {layer.__name__}, not a layer; pass an "
                        f"instance, e.g. {layer.__name__}(...); {what}")
    if not callable(layer):
        raise UserError(f"{where} is a {type(layer).__name__}, not a layer (not callable); "
                        f"{what}")
    name = getattr(layer, "name", None)
    if name is not None and (not isinstance(name, str) or not name):
        raise UserError(f"{where}.name must be a non-empty str, got {name!r}; {what}")
    try:
        sig = inspect.signature(layer)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    try:
        sig.bind(None, None)
    except TypeError:
        raise UserError(f"{where} ({layer_name(layer)}) cannot be called as "
                        f"layer(draft, turn): its signature is {sig}; {what}") from None
