"""JSON-patch-like operations on a JSON document: parse, check, apply — all or nothing.

Owns the patch language the ``update_state`` tool and ``WorkingState.apply`` speak: RFC 6902's
``add``, ``remove``, ``replace`` and ``test`` on RFC 6901 paths (``/plan/2/status``,
``/facts/-`` to append), plus one extension for models that should not count: a list
item may be selected by its ``id`` or ``key`` field as ``@value`` (``/plan/@fix/status``).
Knows nothing of pydantic or of what the document means; ``WorkingState`` validates the result.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import UserError

OPS = ("add", "remove", "replace", "test")


class StatePatchError(UserError):
    """A patch was refused; the state did not change. The message says which op and why."""


class PatchOp(BaseModel):
    """One operation: ``{"op": "replace", "path": "/plan/@2/status", "value": "done"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["add", "remove", "replace", "test"]
    path: str
    value: Any = None


def parse_ops(ops: Any) -> list[PatchOp]:
    """Validate raw operations (dicts or PatchOps) into PatchOps, naming the bad one."""
    if isinstance(ops, (dict, PatchOp)):
        ops = [ops]
    if not isinstance(ops, list) or not ops:
        raise StatePatchError("a patch is a non-empty list of operations like "
                              '[{"op": "replace", "path": "/goal", "value": "..."}]')
    out = []
    for i, raw in enumerate(ops):
        if isinstance(raw, PatchOp):
            out.append(raw)
            continue
        try:
            out.append(PatchOp.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "op"
            raise StatePatchError(f"ops[{i}] is not an operation ({where}: {first['msg']}); "
                                  f"use op one of {list(OPS)}, a path like /plan/0/status, "
                                  "and a value for add/replace/test") from exc
    return out


def _tokens(path: str) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise StatePatchError(f"path {path!r} must start with '/', e.g. /goal or /plan/0/status")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if token.startswith("@"):
        want = token[1:]
        for i, item in enumerate(container):
            if isinstance(item, dict) and want in (str(item.get("id")), str(item.get("key"))):
                return i
        ids = [str(x.get("id", x.get("key"))) for x in container if isinstance(x, dict)]
        raise StatePatchError(f"{path}: no item with id or key {want!r}; existing: {ids}")
    if not token.isdigit():
        raise StatePatchError(f"{path}: {token!r} is not a list index (a number, '-' to "
                              "append, or @id)")
    i = int(token)
    if i > len(container) or (i == len(container) and not for_add):
        raise StatePatchError(f"{path}: index {i} is out of range (the list has "
                              f"{len(container)} items)")
    return i


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for t in tokens[:-1]:
        if isinstance(node, dict):
            if t not in node:
                raise StatePatchError(f"{path}: {t!r} does not exist")
            node = node[t]
        elif isinstance(node, list):
            node = node[_index(node, t, path, for_add=False)]
        else:
            raise StatePatchError(f"{path}: cannot go into {type(node).__name__} at {t!r}")
    return node


def get(doc: Any, path: str) -> Any:
    """The value at ``path`` (StatePatchError when there is none)."""
    tokens = _tokens(path)
    if tokens == [""]:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise StatePatchError(f"{path}: {last!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, for_add=False)]
    raise StatePatchError(f"{path}: {type(parent).__name__} has no members")


def apply_ops(doc: dict[str, Any], ops: list[PatchOp]) -> dict[str, Any]:
    """A patched deep copy of ``doc``; ``doc`` itself is never modified."""
    out = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        try:
            _apply_one(out, op)
        except StatePatchError as exc:
            raise StatePatchError(f"ops[{i}] {op.op} {op.path}: {exc}") from None
    return out


def _apply_one(doc: dict[str, Any], op: PatchOp) -> None:
    tokens = _tokens(op.path)
    if tokens == [""]:
        raise StatePatchError("the whole document cannot be replaced; patch its fields")
    if op.op == "test":
        if get(doc, op.path) != op.value:
            raise StatePatchError(f"test failed: the value is {get(doc, op.path)!r}")
        return
    parent = _parent(doc, tokens, op.path)
    last = tokens[-1]
    value = copy.deepcopy(op.value)
    if isinstance(parent, dict):
        if op.op in ("remove", "replace") and last not in parent:
            raise StatePatchError(f"{last!r} does not exist")
        if op.op == "remove":
            del parent[last]
        else:
            parent[last] = value
    elif isinstance(parent, list):
        i = _index(parent, last, op.path, for_add=op.op == "add")
        if op.op == "add":
            parent.insert(i, value)
        elif op.op == "remove":
            del parent[i]
        else:
            parent[i] = value
    else:
        raise StatePatchError(f"cannot {op.op} inside {type(parent).__name__}")
