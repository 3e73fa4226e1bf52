"""ContextPipeline: layers in list order assemble every model call; the tool loop; records.

Owns the session, the cache model, the previous call (for drift) and the records. The
decision logic is one generator (``_loop``) that yields the layers to run, drafts to render
into token ids (``Backend.render_ids``: a server's ``/tokenize`` is awaited too), drafts to
send and tools to run; ``run`` drives it synchronously and ``arun`` asynchronously — awaiting
async layers, the backend and async tools, so the event loop stays free — and both share
one code path. The tools the loop may run are the ones the layers offered on the draft
(``draft.add_tool``).
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
import warnings
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._assembly import (
    Prepared,
    arun_layers,
    finish_draft,
    make_record,
    prepare,
    run_layers,
    transcript_blocks,
)
from ._backend import Backend
from ._block import Block, Provenance, canonical_json
from ._cache import CacheModel
from ._capture import publish
from ._draft import Budget, Draft
from ._errors import CtxkitError, UserError
from ._layer import Layer, check_layer, layer_name
from ._record import CallRecord, Trace
from ._types import Response, Session, ToolCall, ToolResult, Turn
from .canonical import DEFAULT as DEFAULT_CANONICAL
from .packing import KnapsackPacker, Packer
from .packing._step import as_packer

LayerLike = Layer | Callable[[Draft, Turn], Any]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(slots=True)
class _ToolRun:
    fn: Callable[..., Any]
    call: ToolCall


@dataclass(slots=True)
class _Ids:
    """Ask the backend for this draft's exact token ids (``render_ids`` / ``arender_ids``)."""

    draft: Draft


@dataclass(slots=True)
class _Layers:
    """Run these layers on this draft (sync or async, by the driver)."""

    layers: list[Any]
    draft: Draft
    turn: Turn


class ContextPipeline:
    """Assembles every model call from ``layers`` and records what it cost.

    Args:
        backend: where calls go (``ctxkit.backends.*`` or a ``ctxkit.testing`` double).
        layers: the layers (``ctxkit.Layer``: a ``name`` and ``__call__(draft, turn)``; a
            plain function is named by its ``__name__``), stable first; list order is
            prompt order. ``pipe.layers`` is this plain list: replace an item between
            calls and drift diagnosis reports it.
        budget: the token budget (defaults to the profile's window minus an output reserve).
        packer: chooses once per call among every layer's candidates (default:
            ``ctxkit.packing.KnapsackPacker()``).
        trace: a JSONL path; every call appends its CallRecord there.
        session_id: names the session in records (a random id by default).
        max_steps: model calls per ``run`` in the tool loop before handing back.
        clock: seconds since the epoch, for cache TTLs (injectable for tests).
        canonical: what tool results go through before they enter the history: a
            ``ctxkit.canonical.Canonicalizer`` (its defaults unless given), or None to
            keep them as returned (ANSI escapes are stripped either way).
    """

    def __init__(self, backend: Backend, layers: Iterable[LayerLike], *,
                 budget: Budget | None = None,
                 packer: Packer | None = None, trace: str | Path | None = None,
                 session_id: str | None = None, max_steps: int = 8,
                 clock: Callable[[], float] = time.time,
                 canonical: Callable[..., str] | None = DEFAULT_CANONICAL) -> None:
        if not isinstance(backend, Backend):
            raise UserError(f"backend must be a ctxkit Backend, got {type(backend).__name__}; "
                            "see ctxkit.backends or ctxkit.testing.ScriptedBackend")
        _check_steps(max_steps)
        self.backend = backend
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
            raise UserError(f"layers must be a list of layers, got {type(layers).__name__}")
        self.layers: list[Any] = list(layers)
        for i, layer in enumerate(self.layers):
            check_layer(layer, f"layers[{i}]")
        self.budget = budget or Budget()
        self.packer: Packer = as_packer(packer) if packer is not None else KnapsackPacker()
        self.trace = Trace(trace) if trace is not None else None
        self.session = Session(id=session_id or uuid.uuid4().hex[:12])
        self.records: list[CallRecord] = []
        self.max_steps = max_steps
        self.clock = clock
        if canonical is not None and not callable(canonical):
            raise UserError("canonical= takes a ctxkit.canonical.Canonicalizer or None")
        self.canonical = canonical
        self.subagents: list[ContextPipeline] = []
        self._cache = CacheModel(backend.profile.cache)
        self._prev: Prepared | None = None
        self._tools: dict[str, Callable[..., Any] | None] = {}

    # -- public entry points -------------------------------------------------------------

    def run(self, message: str | None = None, *, tool_results: Sequence[ToolResult] = (),
            max_steps: int | None = None) -> Response:
        """Make the call(s) for one user turn and return the final reply."""
        steps = self.max_steps if max_steps is None else _check_steps(max_steps)
        gen = self._loop(message, _tool_results(tool_results), steps)
        return _drive_sync(gen, self.backend)

    async def arun(self, message: str | None = None, *,
                   tool_results: Sequence[ToolResult] = (),
                   max_steps: int | None = None) -> Response:
        """Async ``run``: same decisions, awaited backend and tools."""
        steps = self.max_steps if max_steps is None else _check_steps(max_steps)
        gen = self._loop(message, _tool_results(tool_results), steps)
        return await _drive_async(gen, self.backend)

    def assemble(self, message: str | None = None, *,
                 tool_results: Sequence[ToolResult] = ()) -> Draft:
        """Dry run: the exact Draft the next ``run`` would send first; nothing is called,
        recorded or stored."""
        session = Session(id=self.session.id, transcript=list(self.session.transcript),
                          num_turns=self.session.num_turns,
                          pending_calls=dict(self.session.pending_calls),
                          rewrites=list(self.session.rewrites))
        self._accept_results(session, message, _tool_results(tool_results))
        turn = Turn(index=session.num_turns, step=0, message=message, session=session,
                    dry_run=True)
        draft = self._finish(run_layers(self.layers, self._new_draft(), turn), turn, message)
        return self._prepare(draft, turn, self.backend.render_ids(draft)).draft

    def report(self) -> Any:
        """The session report: tokens by layer x cache, hit rate, cost, drift, latency."""
        from .report import Report

        return Report.from_records(self.records)

    @property
    def functions(self) -> dict[str, Callable[..., Any]]:
        """The Python callables the last assembled call offered the model
        (``draft.add_tool``), by tool name: what the tool loop runs."""
        return {k: v for k, v in self._tools.items() if v is not None}

    # -- subagents (the logic lives in _subagent) ----------------------------------------

    def subagent(self, task: str, *, layers: Sequence[Any] | None = None,
                 backend: Backend | None = None, max_steps: int | None = None,
                 to_history: bool = True, to_state: bool = True, state: Any = None
                 ) -> Response:
        """Run ``task`` in a scoped child pipeline and return its final reply.

        The child has its own session (``<parent id>/sub<n>``) and, unless ``layers`` are
        given, the parent's prefix layers plus a fresh History. Only its final answer comes
        back: appended to this session's history as one user block (``to_history``), and
        to the State (``to_state``: ``state``, else the ``state`` layer's) as a completed
        subtask — a compaction milestone. The child's records carry
        ``extras["parent"]`` and join ``self.records``. Inside a tool function, pass
        ``to_history=False`` and return the text: it enters the history as the tool result.
        """
        from ._subagent import child, finish

        sub = child(self, task, layers=layers, backend=backend, max_steps=max_steps)
        return finish(self, sub, task, sub.run(task), to_history=to_history,
                      to_state=to_state, state=state)

    async def asubagent(self, task: str, *, layers: Sequence[Any] | None = None,
                        backend: Backend | None = None, max_steps: int | None = None,
                        to_history: bool = True, to_state: bool = True, state: Any = None
                        ) -> Response:
        """Async ``subagent``."""
        from ._subagent import child, finish

        sub = child(self, task, layers=layers, backend=backend, max_steps=max_steps)
        return finish(self, sub, task, await sub.arun(task), to_history=to_history,
                      to_state=to_state, state=state)

    def close(self) -> None:
        self.backend.close()

    async def aclose(self) -> None:
        await self.backend.aclose()

    # -- the one code path ---------------------------------------------------------------

    def _loop(self, message: str | None, tool_results: list[ToolResult], max_steps: int
              ) -> Generator[_Layers | _Ids | Draft | _ToolRun, Any, Response]:
        session = self.session
        self._accept_results(session, message, tool_results)
        turn_index = session.num_turns
        pending_message = message
        step = 0
        while True:
            turn = Turn(index=turn_index, step=step, message=message, session=session)
            draft = yield _Layers(self.layers, self._new_draft(), turn)
            draft = self._finish(draft, turn, pending_message)
            prompt_ids = yield _Ids(draft)
            prep = self._prepare(draft, turn, prompt_ids)
            started = self.clock()
            t0 = time.perf_counter()
            try:
                response = yield prep.draft
            except Exception as exc:
                self._record(prep, started, time.perf_counter() - t0, None, exc)
                raise
            if not isinstance(response, Response):
                raise CtxkitError(f"backend {self.backend.name!r} returned "
                                  f"{type(response).__name__}, not a Response")
            record = self._record(prep, started, time.perf_counter() - t0, response, None)
            response = response.model_copy(update={"record_id": record.call_id})
            if pending_message is not None:
                session.transcript.append(_user_block(turn_index, pending_message))
                pending_message = None
                session.num_turns += 1
            session.transcript.extend(transcript_blocks(turn, response))
            if not response.tool_calls:
                return response
            fns = prep.draft.tools
            if step + 1 >= max_steps or any(fns.get(c.name) is None
                                            for c in response.tool_calls):
                session.pending_calls = {c.id: c for c in response.tool_calls}
                return response
            for call in response.tool_calls:
                fn = fns[call.name]
                assert fn is not None
                result = yield _ToolRun(fn, call)
                session.transcript.append(_result_block(self._canonical(result, session)))
            step += 1

    def _accept_results(self, session: Session, message: str | None,
                        results: list[ToolResult]) -> None:
        if message is None and not results:
            raise UserError("run() needs a message or tool_results")
        if message is not None and not isinstance(message, str):
            raise UserError(f"message must be str, got {type(message).__name__}")
        pending = dict(session.pending_calls)
        accepted: list[ToolResult] = []
        for r in results:  # all checked before any enters the history: a refused batch
            if r.call_id not in pending:  # leaves the session as it was
                again = any(a.call_id == r.call_id for a in accepted)
                raise UserError(f"tool result for {'the same' if again else 'unknown'} call "
                                f"{r.call_id!r}{' twice' if again else ''}; pending calls: "
                                f"{sorted(session.pending_calls) or 'none'}")
            call = pending.pop(r.call_id)
            accepted.append(r if r.name is not None else
                            r.model_copy(update={"name": call.name}))
        if pending:
            raise UserError(f"calls {sorted(pending)} still need results; pass them as "
                            "run(tool_results=[ToolResult(call_id=..., content=...)])")
        for r in accepted:
            session.transcript.append(_result_block(self._canonical(r, session)))
        session.pending_calls = {}

    def _canonical(self, r: ToolResult, session: Session) -> ToolResult:
        if self.canonical is None:
            return r
        text = self.canonical(r.content, tool=r.name, earlier=session.transcript)
        return r if text == r.content else r.model_copy(update={"content": text})

    def _new_draft(self) -> Draft:
        return Draft(profile=self.backend.profile, counter=self.backend.counter(),
                     budget=self.budget)

    def _finish(self, draft: Draft, turn: Turn, message: str | None) -> Draft:
        user = _user_block(turn.index, message, layer="turn") if message is not None else None
        draft = finish_draft(draft, packer=self.packer, user_block=user)
        if not turn.dry_run:
            self._tools = dict(draft.tools)
        return draft

    def _prepare(self, draft: Draft, turn: Turn, prompt_ids: list[int] | None) -> Prepared:
        ids = {layer_name(layer): id(layer) for layer in self.layers}
        return prepare(draft, turn, self._cache, self._prev, ids, self.clock(),
                       prompt_ids=prompt_ids)

    def _record(self, prep: Prepared, started: float, latency: float,
                response: Response | None, exc: BaseException | None) -> CallRecord:
        out_tokens = 0
        if response is not None:
            out_tokens = response.usage.output_tokens if response.usage else (
                self.backend.count_tokens(response.text) + sum(
                    self.backend.count_tokens(canonical_json(c.arguments))
                    for c in response.tool_calls))
        record = make_record(
            prep, session_id=self.session.id, index=len(self.records),
            backend=self.backend.name, started_at=started, latency_s=latency,
            response=response, error=None if exc is None else f"{type(exc).__name__}: {exc}",
            output_tokens=out_tokens)
        if record.ok:
            u = record.usage
            self._cache.commit(prep.chain, prep.cumulative, prep.draft.breakpoints,
                               u.cache_read_tokens, self.clock())
            if prep.prompt_ids is not None:
                # K/V exist for the prompt and every reply token but the last
                reply = (response.output_ids or []) if response is not None else []
                self._cache.commit_ids(prep.prompt_ids + reply[:-1])
            self._prev = prep
        self.records.append(record)
        if self.trace is not None:
            self.trace.append(record)
        publish(prep.draft, record)
        return record


def _check_steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"max_steps must be a whole number >= 1 (model calls per run), got "
                        f"{value!r}")
    return value


def _tool_results(results: Any) -> list[ToolResult]:
    """``run``'s ``tool_results`` as ToolResults: dicts in its shape are validated into one;
    anything else is a UserError saying what to pass."""
    if results is None:
        return []
    if isinstance(results, (ToolResult, dict, str, bytes)):
        raise UserError(f"tool_results must be a list of ToolResult, got one "
                        f"{type(results).__name__}; pass tool_results=[...]")
    out = []
    for i, r in enumerate(results):
        if isinstance(r, dict):
            try:
                r = ToolResult.model_validate(r)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise UserError(f"tool_results[{i}] is not a ToolResult ({where}: "
                                f"{first['msg']}); pass ToolResult(call_id=..., content=str) "
                                "or a dict of those fields") from None
        if not isinstance(r, ToolResult):
            raise UserError(f"tool_results[{i}] is a {type(r).__name__}, not a ToolResult; "
                            "pass ToolResult(call_id=..., content=...)")
        out.append(r)
    return out


def _user_block(turn: int, text: str, layer: str = "history") -> Block:
    return Block(layer=layer, role="user", content=text, key=f"turn:{turn}:user",
                 provenance=Provenance(source="user"))


def _result_block(r: ToolResult) -> Block:
    return Block(layer="history", role="tool", kind="tool_result", content=r.content,
                 name=r.name, call_id=r.call_id, is_error=r.is_error, trust="untrusted",
                 key=f"result:{r.call_id}", provenance=Provenance(source="tool", ref=r.name))


def _tool_output(call: ToolCall, value: Any = None, exc: BaseException | None = None
                 ) -> ToolResult:
    if exc is not None:
        return ToolResult(call_id=call.id, name=call.name, is_error=True,
                          content=f"{type(exc).__name__}: {exc}")
    if isinstance(value, str):
        text = value
    else:
        try:
            text = canonical_json(value)
        except (TypeError, ValueError):  # a set, bytes, an object: the tool's bug
            kind = type(value).__name__
            warnings.warn(f"tool {call.name!r} returned {kind}, which is neither text nor "
                          "JSON data; return a str (or dicts, lists, numbers); the model was "
                          "told the tool failed", RuntimeWarning, stacklevel=2)
            return ToolResult(call_id=call.id, name=call.name, is_error=True,
                              content=f"tool {call.name} failed: it returned {kind}, which "
                                      "cannot be sent as text (a bug in the tool, not in your "
                                      "arguments)")
    return ToolResult(call_id=call.id, name=call.name, content=_ANSI.sub("", text))


def _bad_arguments(fn: Callable[..., Any], call: ToolCall) -> ToolResult | None:
    try:
        inspect.signature(fn).bind(**call.arguments)
    except TypeError as exc:
        return ToolResult(call_id=call.id, name=call.name, is_error=True,
                          content=f"bad arguments for {call.name}: {exc}")
    return None


def _drive_sync(gen: Generator[Any, Any, Response], backend: Backend) -> Response:
    import asyncio

    send: Any = None
    throw: BaseException | None = None
    while True:
        try:
            req = gen.throw(throw) if throw is not None else gen.send(send)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        send, throw = None, None
        if isinstance(req, _Layers):
            try:
                send = run_layers(req.layers, req.draft, req.turn)
            except Exception as exc:  # raised inside the loop, where it is not recorded
                throw = exc
        elif isinstance(req, _Ids):
            try:
                send = backend.render_ids(req.draft)
            except Exception as exc:
                throw = exc
        elif isinstance(req, Draft):
            try:
                send = backend.complete(req)
            except Exception as exc:  # recorded by the loop, then re-raised
                throw = exc
        else:
            send = _bad_arguments(req.fn, req.call)
            if send is None:
                try:
                    value = req.fn(**req.call.arguments)
                    if inspect.isawaitable(value):
                        value = asyncio.run(_await(value))
                    send = _tool_output(req.call, value)
                except Exception as exc:
                    send = _tool_output(req.call, exc=exc)


async def _await(x: Any) -> Any:
    return await x


async def _drive_async(gen: Generator[Any, Any, Response], backend: Backend) -> Response:
    send: Any = None
    throw: BaseException | None = None
    while True:
        try:
            req = gen.throw(throw) if throw is not None else gen.send(send)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        send, throw = None, None
        if isinstance(req, _Layers):
            try:
                send = await arun_layers(req.layers, req.draft, req.turn)
            except Exception as exc:
                throw = exc
        elif isinstance(req, _Ids):
            try:
                send = await backend.arender_ids(req.draft)
            except Exception as exc:
                throw = exc
        elif isinstance(req, Draft):
            try:
                send = await backend.acomplete(req)
            except Exception as exc:
                throw = exc
        else:
            send = _bad_arguments(req.fn, req.call)
            if send is None:
                try:
                    value = req.fn(**req.call.arguments)
                    if inspect.isawaitable(value):
                        value = await value
                    send = _tool_output(req.call, value)
                except Exception as exc:
                    send = _tool_output(req.call, exc=exc)
