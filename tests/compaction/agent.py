"""A small scripted agent for compaction tests: each turn reads a file, then answers."""

from __future__ import annotations

from typing import Any

import ctxkit
from ctxkit import ContextPipeline, Draft
from ctxkit.layers import History, Prefix
from ctxkit.layers import State as StateLayer
from ctxkit.testing import FunctionBackend

SYSTEM = "You are a careful coding agent. Read before you edit. " * 120


def read_file(path: str) -> str:
    """Read a file."""
    if path.endswith(".missing"):
        raise FileNotFoundError(f"No such file or directory: '{path}'")
    return "\n".join(f"{path}: line {i} defines helper_{i}()" for i in range(30))


def run_tests(target: str = "") -> str:
    """Run the tests."""
    return f"FAILED tests/test_{target}.py::test_empty - IndexError: list index out of range"


def agent(draft: Draft) -> Any:
    """Turn message -> two tool calls; after results -> a short answer with a decision."""
    last = draft.blocks[-1]
    if last.layer == "turn":
        n = last.content.split()[-1]
        path = "gone.missing" if n == "3" else f"src/mod_{n}.py"
        return {"tool_calls": [{"name": "read_file", "arguments": {"path": path}},
                               {"name": "run_tests", "arguments": {"target": n}}]}
    return "I read it. I'll fix the empty-input case next."


def make(compactor: Any, *, state: ctxkit.WorkingState | None = None,
         **kw: Any) -> tuple[ContextPipeline, ctxkit.WorkingState]:
    state = state if state is not None else ctxkit.WorkingState(goal="fix the parser")
    layer = StateLayer(state)
    pipe = ContextPipeline(FunctionBackend(agent),
                           [Prefix(system=SYSTEM, tools=[read_file, run_tests, layer.tool]),
                            History(compactor=compactor), layer], **kw)
    return pipe, state
