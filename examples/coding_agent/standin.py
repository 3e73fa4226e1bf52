"""The scripted stand-in for a model, for the sample repositories: the whole agent loop
offline, with real tools, so CI exercises everything but the model's judgement.

Owns ``StandIn``, a ``FunctionBackend`` function. It knows one thing a model would not —
the sample's recorded fix (``TASK.json``) — and nothing else: it plans through
``update_state``, reproduces the failure with the real test run, locates the code with
grep, finds an extra tool through ``search_tools`` and calls it, reads the file, delegates
a caller search to a subagent, tries the sample's plausible wrong fix first when there is
one (and sees it fail), applies the fix through ``edit_file``, and runs the suite. Each
move is built from the previous moves' real results; when a result is not what a working
agent would see (the test already passes, the code is not where grep said, the edit was
refused), it raises BackendError instead of pretending. Resumed from a checkpoint, it
reads the plan in the State block and goes on from the first step not done. In a
subagent's session (``draft.notes["parent"]``) it plays the helper.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator
from typing import Any

from ctxkit import BackendError, Block, Draft
from ctxkit.canonical import REFERENCE_PREFIX
from ctxkit.tools import plain_lines, tests_passed

from .samples import SampleTask

Reply = dict[str, Any]
PLAN = ("reproduce the failure", "locate the cause", "fix it with the smallest correct change",
        "run the whole suite")
_REF = re.compile(re.escape(REFERENCE_PREFIX) + r"(\S+)")
_STEP = re.compile(r"^\[(.)\] (\d+)\. ", re.M)


class StandIn:
    """Plays the model for one sample task: ``FunctionBackend(StandIn(task))``."""

    def __init__(self, task: SampleTask) -> None:
        self.task = task
        self._ids = itertools.count(1)
        self._script: Generator[Reply, list[str], None] | None = None
        self._pending: list[str] = []
        self._subs: dict[Any, Generator[Reply, list[str], None]] = {}
        self._sub_pending: dict[Any, list[str]] = {}
        self._fix_ops: list[dict[str, Any]] = []
        self.line: int | None = None
        self.error = "(see the earlier failure)"
        self.cause = f"`{task.fix.old.strip()}` is now `{task.fix.new.strip()}`."

    def __call__(self, draft: Draft) -> Reply:
        parent = draft.notes.get("parent")
        if parent is not None:
            return self._helper(draft, parent)
        if self._script is None:
            self._script = self._play(_first_open_step(draft))
            return next(self._script)
        results = _results(draft, self._pending)
        try:
            return self._script.send(results)
        except StopIteration:
            raise BackendError("the scripted stand-in has no more moves: it already answered "
                               "this task") from None

    def _calls(self, text: str, *calls: tuple[str, dict[str, Any]],
               pending: list[str] | None = None) -> Reply:
        out, ids = [], []
        for name, args in calls:
            cid = f"toolu_{next(self._ids):03d}"
            out.append({"id": cid, "name": name, "arguments": args})
            ids.append(cid)
        if pending is None:
            self._pending = ids
        else:
            pending[:] = ids
        return {"text": text, "tool_calls": out}

    # -- the agent -----------------------------------------------------------------------

    def _play(self, start: int) -> Generator[Reply, list[str], None]:
        t = self.task
        if start <= 1:
            yield from self._reproduce(fresh=start == 0)
        if start <= 2:
            yield from self._locate()
        if start <= 3:
            yield from self._fix(try_wrong=start < 3)
        r = yield self._calls("Running the whole suite.", ("run_tests", {"target": ""}))
        _expect(tests_passed(r[0]), "the whole suite to pass after the fix", r[0])
        yield {"text": f"Fixed `{t.symbol}` in `{t.fix.path}`: {self.cause}\n\nVerified: "
                       f"{', '.join(t.failing_tests)} now pass, and the whole suite passes "
                       f"({r[0].splitlines()[-1]})."}

    def _reproduce(self, fresh: bool) -> Generator[Reply, list[str], None]:
        t = self.task
        plan = [{"id": str(i), "text": s, "status": "doing" if i == 1 else "todo"}
                for i, s in enumerate(PLAN, 1)]
        ops = [{"op": "replace", "path": "/plan", "value": plan}] if fresh else \
            [{"op": "replace", "path": "/plan/@1/status", "value": "doing"}]
        r = yield self._calls("I'll set a plan, then reproduce the failure.",
                              ("update_state", {"ops": ops, "why": "plan the work"}),
                              ("run_tests", {"target": t.test_file}))
        out = r[1]
        failing = [n for n in t.failing_tests if n.startswith(t.test_file)
                   and f"FAILED {n}" in out]
        _expect(out.startswith("exit code 1") and bool(failing),
                f"{t.test_file} to fail ({', '.join(t.failing_tests)})", out)
        error = next((ln[1:].strip() for ln in out.splitlines() if ln.startswith("E ")),
                     "an assertion")
        self.error = error
        names = ", ".join(n.split("::")[-1] for n in failing)
        yield from self._find(f"Reproduced: {names} fail; the first error is `{error}`.", [
            {"op": "replace", "path": "/plan/@1/status", "value": "done"},
            {"op": "replace", "path": "/plan/@2/status", "value": "doing"},
            {"op": "add", "path": "/facts/-", "value": {
                "text": f"failing: {names}; first error: {error}", "source": "tool",
                "ref": "run_tests"}}])

    def _find(self, text: str, ops: list[dict[str, Any]]) -> Generator[Reply, list[str], None]:
        t = self.task
        calls: list[tuple[str, dict[str, Any]]] = [
            ("grep", {"pattern": rf"(def|class) {t.symbol}\b", "glob": "*.py"})]
        if ops:
            calls.insert(0, ("update_state", {"ops": ops, "why": "reproduced"}))
        r = yield self._calls(f"{text} Looking for where `{t.symbol}` is defined.", *calls)
        _expect(f"{t.fix.path}:" in r[-1], f"grep to find {t.symbol} in {t.fix.path}", r[-1])
        self.line = int(r[-1].split(f"{t.fix.path}:", 1)[1].split(":", 1)[0])

    def _locate(self) -> Generator[Reply, list[str], None]:
        t = self.task
        if self.line is None:  # resumed here: the grep's answer is gone
            yield from self._find("Resuming at the search for the cause.", [])
        r = yield self._calls("I'd like an outline of that module; that tool is not in my "
                              "list, so I'll search for it.",
                              ("search_tools", {"query": "outline functions and classes of a "
                                                         "python file"}))
        _expect('"name":"outline"' in r[0], "search_tools to offer the outline tool", r[0])
        r = yield self._calls(f"Outlining {t.fix.path} and reading the code.",
                              ("call_tool", {"name": "outline",
                                             "arguments": {"path": t.fix.path}}),
                              ("read_file", {"path": t.fix.path}))
        _expect(t.symbol in r[0], f"the outline of {t.fix.path} to list {t.symbol}", r[0])
        source = "\n".join(plain_lines(r[1]))
        _expect(t.fix.old.rstrip("\n") in source, f"the faulty code in {t.fix.path}", r[1])
        r = yield self._calls("Before I change it, a helper collects its callers.",
                              ("delegate", {"task": f"Find every caller of `{t.symbol}` in "
                                            "this repository and report each call site "
                                            "(path:line) and the signature of the function "
                                            "it calls. Read only; change nothing."}))
        _expect(t.fix.path in r[0], f"the helper's report to mention {t.fix.path}", r[0])
        self.cause = (f"`{t.symbol}` ({t.fix.path}:{self.line}) was the cause of the "
                      f"failures (first error: `{self.error}`); `{t.fix.old.strip()}` is now "
                      f"`{t.fix.new.strip()}`.")
        self._fix_ops = [{"op": "replace", "path": "/plan/@2/status", "value": "done"},
                         {"op": "replace", "path": "/plan/@3/status", "value": "doing"},
                         {"op": "add", "path": "/facts/-", "value": {
                             "text": f"cause: {t.fix.path}:{self.line} (`{t.fix.old.strip()}`)",
                             "source": "agent"}}]

    def _fix(self, try_wrong: bool) -> Generator[Reply, list[str], None]:
        t = self.task
        ops = self._fix_ops
        left = t.wrong_fix if not try_wrong else None
        if left is not None:  # resumed here: did an earlier attempt stay in the file?
            r = yield self._calls("Resuming at the fix; first checking what an earlier attempt "
                                  "left in the file.", ("read_file", {"path": left.path}))
            if left.new.rstrip("\n") in "\n".join(plain_lines(r[0])):
                r = yield self._calls("An earlier attempt is still there; undoing it first.",
                                      ("edit_file", {"path": left.path, "old": left.new,
                                                     "new": left.old}))
                _expect(r[0].startswith("edited"), "the earlier attempt to be undone", r[0])
        wrong = t.wrong_fix if try_wrong else None
        if wrong is not None:
            r = yield self._calls(
                f"A first idea: change `{wrong.old.strip()}` in {wrong.path}.",
                ("update_state", {"ops": ops, "why": "cause located"}),
                ("edit_file", {"path": wrong.path, "old": wrong.old, "new": wrong.new}),
                ("run_tests", {"target": ""}))
            _expect(r[1].startswith("edited"), "the first attempt's edit to apply", r[1])
            _expect(not tests_passed(r[2]), "the first attempt to leave a failure", r[2])
            still = next((ln[1:].strip() for ln in r[2].splitlines() if ln.startswith("E ")),
                         r[2].splitlines()[-1])
            ops = [{"op": "add", "path": "/facts/-", "value": {
                "text": f"failed attempt: {wrong.path}: `{wrong.new.strip()}` -> {still}",
                "source": "tool", "ref": "run_tests"}}]
            r = yield self._calls("That was not it: the tests still fail. Undoing it and "
                                  "fixing the cause instead.",
                                  ("edit_file", {"path": wrong.path, "old": wrong.new,
                                                 "new": wrong.old}))
            _expect(r[0].startswith("edited"), "the first attempt to be undone", r[0])
        calls: list[tuple[str, dict[str, Any]]] = [
            ("edit_file", {"path": t.fix.path, "old": t.fix.old, "new": t.fix.new}),
            ("update_state", {"ops": [*ops, {"op": "replace", "path": "/plan/@3/status",
                                            "value": "done"}], "why": "fixed"})]
        r = yield self._calls(f"Fixing `{t.symbol}` in {t.fix.path}.", *calls)
        if not r[0].startswith("edited"):  # resumed after the edit landed?
            r2 = yield self._calls("The edit was refused; checking whether it is already in.",
                                   ("read_file", {"path": t.fix.path}))
            _expect(t.fix.new.rstrip("\n") in "\n".join(plain_lines(r2[0])),
                    "the fix to be applied", r[0])

    # -- the helper (a subagent's session) ------------------------------------------------

    def _helper(self, draft: Draft, parent: dict[str, Any]) -> Reply:
        key = (parent.get("session"), parent.get("subagent"))
        pending = self._sub_pending.setdefault(key, [])
        if key not in self._subs:
            self._subs[key] = self._help(pending)
            return next(self._subs[key])
        return self._subs[key].send(_results(draft, pending))

    def _help(self, pending: list[str]) -> Generator[Reply, list[str], None]:
        s = self.task.symbol
        r = yield self._calls(f"Searching for the definition and the calls of `{s}`.",
                              ("grep", {"pattern": rf"\b{s}\(|class {s}\b", "glob": "*.py"}),
                              pending=pending)
        hits = [ln for ln in r[0].splitlines() if re.match(r"^\S+:\d+: ", ln)]
        _expect(bool(hits), f"grep to find uses of {s}", r[0])
        defs = [h for h in hits if re.search(rf"\b(def|class) {s}\b", h)]
        calls = [h for h in hits if h not in defs and not h.split(":", 1)[0].startswith("tests/")
                 and not re.search(r"\bimport\b", h)]
        tests = sum(1 for h in hits if h.startswith("tests/"))
        yield {"text": "Definition:\n" + "\n".join(f"- {d}" for d in defs) +
                       "\nCalls outside the tests:\n" +
                       ("\n".join(f"- {c}" for c in calls) or "- none") +
                       f"\n({tests} calls in tests/)"}


def _first_open_step(draft: Draft) -> int:
    """0 without a plan; else the number of the first plan step not done (5: all done)."""
    state = next((b.content for b in draft.blocks if b.layer == "state"), "")
    steps = [(int(n), mark) for mark, n in _STEP.findall(state)]
    if not steps:
        return 0
    return next((n for n, mark in steps if mark != "x"), len(steps) + 1)


def _results(draft: Draft, ids: list[str]) -> list[str]:
    """The results of calls ``ids``, in order, with canonical references resolved."""
    by_id: dict[str | None, Block] = {b.call_id: b for b in draft.blocks
                                      if b.kind == "tool_result"}
    out = []
    for cid in ids:
        b = by_id.get(cid)
        text = b.content if b is not None else ""
        m = _REF.match(text)
        if m is not None and m.group(1) in by_id:
            text = by_id[m.group(1)].content
        out.append(text)
    return out


def _expect(ok: bool, what: str, got: str) -> None:
    if not ok:
        raise BackendError(f"the scripted stand-in expected {what} but the tools returned:\n"
                           f"{got[-1500:]}\nthe repository no longer matches its TASK.json; "
                           "restore it, or run with a live model")
