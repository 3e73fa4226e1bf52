"""Tool schemas: from Python callables or dicts to one canonical, provider-neutral form.

Owns ``tool_schema``: the neutral form is ``{"name", "description", "input_schema"}``
(JSON Schema for the arguments), serialized as canonical JSON so equal tools give equal
bytes. Renderers translate it to each provider's shape. Knows nothing of execution.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._errors import UserError


def _from_callable(fn: Callable[..., Any]) -> dict[str, Any]:
    from pydantic import create_model

    sig = inspect.signature(fn)
    fields: dict[str, Any] = {}
    hints = inspect.get_annotations(fn, eval_str=True)
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UserError(f"tool {fn.__name__}: *args/**kwargs cannot be described to a model")
        ann = hints.get(name, str)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (ann, default)
    model = create_model(f"{fn.__name__}_args", **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    doc = inspect.getdoc(fn) or ""
    description = doc.split("\n\n")[0].strip() or fn.__name__.replace("_", " ")
    return {"name": fn.__name__, "description": description, "input_schema": schema}


def tool_schema(tool: Any) -> dict[str, Any]:
    """The neutral schema of ``tool``: a callable, a neutral dict, an OpenAI
    ``{"type": "function", "function": {...}}`` dict, or an Anthropic tool dict."""
    if callable(tool) and not isinstance(tool, dict):
        return _from_callable(tool)
    if not isinstance(tool, dict):
        raise UserError(f"a tool is a callable or a dict, got {type(tool).__name__}")
    if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        f = tool["function"]
        out = {"name": f.get("name"), "description": f.get("description", ""),
               "input_schema": f.get("parameters", {"type": "object", "properties": {}})}
    else:
        out = {"name": tool.get("name"), "description": tool.get("description", ""),
               "input_schema": tool.get("input_schema", tool.get("parameters",
                                        {"type": "object", "properties": {}}))}
    if not isinstance(out["name"], str) or not out["name"]:
        raise UserError(f"tool {tool!r} has no name; give it a 'name' key")
    return out
