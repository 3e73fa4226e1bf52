"""Context editing: stale results and old thinking cleared in place; the prefix before them
stays cached; calls stay paired with their results."""

from __future__ import annotations

from typing import Any

from ctxkit import ContextPipeline, Draft
from ctxkit.compaction import PLACEHOLDER, ContextEditor
from ctxkit.layers import History, Prefix
from ctxkit.testing import FunctionBackend, capture_calls

from .agent import SYSTEM
from .wire import check_all


def read_file(path: str) -> str:
    """Read a file."""
    return "\n".join(f"{path}: {i} " + "x" * 40 for i in range(40))


def _agent(calls_for: dict[int, list[dict[str, Any]]], thinking: bool = False) -> Any:
    def model(draft: Draft) -> Any:
        last = draft.blocks[-1]
        if last.layer == "turn":
            n = int(last.content.split()[-1])
            calls = calls_for.get(n, [{"name": "read_file", "arguments": {"path": f"f{n}.py"}}])
            reply: dict[str, Any] = {"tool_calls": calls}
            if thinking:
                reply["thinking"] = f"I should read the file for step {n}. " * 20
            return reply
        return "noted"
    return model


def _pipe(editor: ContextEditor, calls_for: dict[int, list[dict[str, Any]]] | None = None,
          thinking: bool = False, **kw: Any) -> ContextPipeline:
    return ContextPipeline(FunctionBackend(_agent(calls_for or {}, thinking)),
                           [Prefix(system=SYSTEM, tools=[read_file]),
                            History(compactor=editor)], **kw)


def test_stale_results_are_replaced_in_place_and_the_prefix_before_them_stays_cached() -> None:
    editor = ContextEditor(stale_after_turns=3, min_clear_tokens=1500)
    pipe = _pipe(editor)
    with capture_calls() as cap:
        for i in range(8):
            pipe.run(f"step {i}")
    assert editor.edits and all(n >= 1 for _, n, _ in editor.edits)
    cleared = [b for b in pipe.session.transcript if b.content.startswith(PLACEHOLDER)]
    assert cleared and all(b.kind == "tool_result" for b in cleared)
    assert all("older than 3 turns" in b.content and "tokens" in b.content for b in cleared)
    uses = {b.call_id for b in pipe.session.transcript if b.kind == "tool_use"}
    assert {b.call_id for b in cleared} <= uses  # still paired with their calls
    edited = [(i, r) for i, r in enumerate(cap.records) if r.drift]
    assert len(edited) == len(editor.edits)
    for i, r in edited:
        (event,) = r.drift
        assert event.declared
        first = next(j for j, b in enumerate(cap.drafts[i].blocks)
                     if b.content.startswith(PLACEHOLDER) and
                     b.hash not in {x.hash for x in cap.drafts[i - 1].blocks})
        assert event.index == first  # everything before the first cleared block is kept
        assert r.usage.cache_read_tokens > 0
    for d in cap.drafts:
        check_all(d)


def test_nothing_is_cleared_below_the_minimum_worth_a_cache_miss() -> None:
    editor = ContextEditor(stale_after_turns=1, min_clear_tokens=10**6)
    pipe = _pipe(editor)
    for i in range(5):
        pipe.run(f"step {i}")
    assert editor.edits == [] and pipe.session.rewrites == []


def test_superseded_and_duplicated_results() -> None:
    same = [{"name": "read_file", "arguments": {"path": "a.py"}}]
    editor = ContextEditor(stale_after_turns=None, min_clear_tokens=1)
    pipe = _pipe(editor, {0: same, 2: same}, canonical=None)
    for i in range(4):
        pipe.run(f"step {i}")
    results = [b for b in pipe.session.transcript if b.kind == "tool_result"]
    assert "superseded by a later read_file call with the same arguments" in results[0].content
    assert not results[2].content.startswith(PLACEHOLDER)  # the latest copy stays


def test_identical_outputs_of_different_calls_keep_only_the_first() -> None:
    def twin(path: str) -> str:
        """Read a file."""
        return "same content\n" * 80

    editor = ContextEditor(stale_after_turns=None, superseded=False, min_clear_tokens=1)
    pipe = ContextPipeline(FunctionBackend(_agent({
        0: [{"id": "c0", "name": "twin", "arguments": {"path": "a"}}],
        1: [{"id": "c1", "name": "twin", "arguments": {"path": "b"}}], 2: [], 3: []})),
        [Prefix(system=SYSTEM, tools=[twin]), History(compactor=editor)], canonical=None)
    for i in range(4):
        pipe.run(f"step {i}")
    first, second = [b for b in pipe.session.transcript if b.kind == "tool_result"][:2]
    assert not first.content.startswith(PLACEHOLDER)
    assert second.content.endswith("same output as call c0]")


def test_old_thinking_is_cleared_and_placeholders_are_stable() -> None:
    editor = ContextEditor(stale_after_turns=None, thinking_after_turns=2, min_clear_tokens=1)
    pipe = _pipe(editor, thinking=True)
    for i in range(5):
        pipe.run(f"step {i}")
    thinking = [b for b in pipe.session.transcript if b.kind == "thinking"]
    cleared = [b for b in thinking if b.content.startswith(PLACEHOLDER)]
    assert len(cleared) == 3 and len(thinking) == 5  # the last two turns keep theirs
    assert all("thinking from" in b.content for b in cleared)
    before = [b.hash for b in pipe.session.transcript]
    assert [e for e in editor.plan(pipe.session.transcript, lambda b: 1)
            if pipe.session.transcript[e.index].content.startswith(PLACEHOLDER)] == []
    assert before == [b.hash for b in pipe.session.transcript]


def test_an_editor_and_a_compactor_chained() -> None:
    from ctxkit.compaction import ChainedCompactor, Compactor, Manual

    editor = ContextEditor(stale_after_turns=2, min_clear_tokens=1)
    manual = Manual()
    compactor = Compactor(manual, keep_turns=2)
    pipe = _pipe(ChainedCompactor(editor, compactor))
    for i in range(6):
        if i == 5:
            manual.request("done editing")
        pipe.run(f"step {i}")
    assert editor.edits and compactor.compactions
    assert pipe.session.transcript[0].content.startswith("[turns 0–")
