"""The coding agent: every model call assembled by a ContextPipeline from seven layers.

Owns wiring the parts together for one repository and one session, in prompt order:

    Prefix     system prompt, tool schemas (core set; the rest behind tool search), the
               repo's AGENTS.md, README summary and file map           cached, 1h / 5m
    Memory     the user's preferences (semantic memory, read at session open)  cached
    History    the transcript; milestone compaction, dropped turns to episodic memory
    Retrieval  code relevant to this step, from an index refreshed after every edit
    Recall     earlier failed attempts in this repository, with their errors
    State      goal, plan, facts, blockers (the model's ``update_state`` tool)
    (a checkpoint of the State is written before every call)

``layout="best_practice_breakpoints"`` is the same agent with the breakpoints a careful
user places by hand (system prompt, last tool, a moving one on the last message), the full
history and no compaction — the strongest baseline ``evals/agent.py`` measures beside it;
``layout="naive"`` has no cache breakpoints at all (a floor). ``Agent.start`` opens a session, ``Agent.resume`` continues one from its
checkpoint (state and memory restored, files re-read, a "where we are" message added).
Knows nothing of command lines or printing.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ctxkit
from ctxkit import Backend, ContextPipeline, Turn, UserError
from ctxkit.compaction import Compactor, MemoryStoreSink, Milestone, Threshold
from ctxkit.layers import History, Memory, Prefix, Recall, Retrieval
from ctxkit.layers import State as StateLayer

from .context import project_context
from .layers import BestPracticeCache, Checkpoint, NoCache, WhenLarge
from .memory import FailureLog, open_store, repo_key, repo_scope, user_scope
from .prompts import SYSTEM
from .sessions import SessionDir, new_id
from .toolbox import DEFAULT_THRESHOLD, ToolSearch, split_toolset
from .tools import AgentTools

LAYOUTS = ("ctxkit", "best_practice_breakpoints", "naive")
_MUTATING = frozenset({"edit_file", "write_file", "run", "revert_file"})
_TRACKED = frozenset({"read_file", "edit_file", "write_file", "show_function"})


@dataclass(kw_only=True)
class AgentConfig:
    """How the agent is built.

    Attributes:
        repo: the repository to work in (edited in place).
        home: where sessions, the memory store and the indexes live.
        user: whose preferences and memories (the memory scope's user).
        layout: "ctxkit", "best_practice_breakpoints" (breakpoints on the system prompt,
            the last tool and the last message, full history, no compaction) or "naive"
            (no breakpoints, full history, no compaction).
        max_calls: model calls per run before the agent pauses (resumable).
        subagent_calls: model calls a delegated subtask may make.
        tool_search_threshold: above this many tools, the extra ones go behind search.
        retrieval: search the repository every call (False: no Retrieval layer).
        retrieval_k, retrieval_tokens: hits fetched, and the tokens they may take.
        recall_tokens: tokens recalled failures may take.
        compact_min_tokens: a milestone compacts only once the history is this large.
        embedder: "default" (the offline MiniLM), None (lexical only), or an Embedder.
        embedding_cache: a file of cached vectors shared between indexes (None: per index).
        test_timeout: seconds before run_tests gives up.
    """

    repo: Path
    home: Path
    user: str = "me"
    layout: str = "ctxkit"
    max_calls: int = 40
    subagent_calls: int = 8
    tool_search_threshold: int = DEFAULT_THRESHOLD
    retrieval: bool = True
    retrieval_k: int = 8
    retrieval_tokens: int = 500
    recall_tokens: int = 400
    compact_min_tokens: int = 3000
    embedder: Any = "default"
    embedding_cache: Path | None = None
    test_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise UserError(f"layout {self.layout!r} must be one of {list(LAYOUTS)}")
        if not Path(self.repo).is_dir():
            raise UserError(f"--repo {self.repo} is not a directory")
        if self.max_calls < 1 or self.subagent_calls < 1:
            raise UserError("max_calls and subagent_calls must be >= 1")
        self.repo = Path(self.repo).resolve()
        self.home = Path(self.home)


@dataclass(slots=True)
class Outcome:
    """How a run ended: ``done`` (the model answered) or ``paused`` (call limit reached,
    tool calls pending; resume the session to go on)."""

    status: str
    text: str
    session_id: str
    num_calls: int
    pending: list[str] = field(default_factory=list)


class Agent:
    """One session of the coding agent on one repository; build with ``start``/``resume``."""

    def __init__(self, backend: Backend, config: AgentConfig, *, session: SessionDir,
                 task: str, state: ctxkit.WorkingState, resumed: Any = None,
                 on_tool: Callable[[str, dict[str, Any], str, bool], None] | None = None
                 ) -> None:
        self.config = config
        self.repo = config.repo
        self.session = session
        self.task = task
        self.state = state
        self.on_tool = on_tool
        self.num_refreshes = 0
        runs = len(session.read()["runs"])
        pipe_id = session.id if runs == 0 else f"{session.id}.r{runs}"
        embedder = None if config.embedder == "default" else config.embedder
        self.store = open_store(config.home, embedder=embedder)
        self.user_scope = user_scope(config.user, pipe_id)
        self.repo_scope = repo_scope(config.user, self.repo, pipe_id)
        self.tools = AgentTools(self.repo, on_call=self._after_tool,
                                test_timeout=config.test_timeout)
        self.index = self._open_index() if config.retrieval else None
        self.tool_search: ToolSearch | None = None
        self.pipe = ContextPipeline(backend, self._layers(), trace=session.trace_file,
                                    session_id=pipe_id, max_steps=config.max_calls)
        if resumed is not None:
            resumed.add_to(self.pipe)

    # -- opening a session -----------------------------------------------------------------

    @classmethod
    def start(cls, backend: Backend, config: AgentConfig, task: str, *,
              session_id: str | None = None, **kw: Any) -> Agent:
        """A new session for ``task``."""
        if not task.strip():
            raise UserError("the task is empty; say what the agent should do")
        session = SessionDir(config.home, session_id or new_id(config.repo))
        session.create(config.repo, task, config.layout)
        state = ctxkit.WorkingState(goal=task)
        return cls(backend, config, session=session, task=task, state=state, **kw)

    @classmethod
    def resume(cls, backend: Backend, config: AgentConfig, session_id: str, **kw: Any
               ) -> Agent:
        """The session ``session_id`` again, from its checkpoint, in its repository."""
        session = SessionDir(config.home, session_id)
        meta = session.read()
        config = dataclasses.replace(config, repo=Path(meta["repo"]), layout=meta["layout"])
        resumed = ctxkit.WorkingState.resume(session.state_file, root=str(config.repo))
        return cls(backend, config, session=session, task=meta["task"], state=resumed.state,
                   resumed=resumed, **kw)

    # -- running ---------------------------------------------------------------------------

    def run(self, message: str | None = None, *, max_calls: int | None = None) -> Outcome:
        """One user turn: the task (or ``message``) and the tool loop until the model
        answers or ``max_calls`` model calls were made."""
        if message is None:
            message = self.task if self.session.id == self.pipe.session.id else \
                f"Continue with the task: {self.task}"
        before = len(self.pipe.records)
        status = "error"
        try:
            reply = self.pipe.run(message, max_steps=max_calls or self.config.max_calls)
            status = "paused" if reply.tool_calls else "done"
        finally:
            self.checkpoint()
            self.session.add_run(self.pipe.session.id, status, len(self.pipe.records) - before)
        return Outcome(status, reply.text, self.session.id, len(self.pipe.records) - before,
                       [c.name for c in reply.tool_calls])

    def remember(self, preference: str) -> str:
        """Store a standing preference of the user; returns the record id. The Memory layer
        reads preferences when a session opens: this one's, if it has made no call yet."""
        rec = self.store.write(self.user_scope, preference, tier="semantic",
                               kind="preference", source="user")
        return str(rec.id)

    def checkpoint(self) -> str:
        return str(self.state.checkpoint(self.session.state_file))

    def delegate(self, task: str) -> str:
        """Hand a wide, read-only subtask (e.g. "find every caller of parse() and report
        their signatures") to a helper agent with its own context window; you get back
        only its final report.

        Args:
            task: what the helper should find out, self-contained.
        """
        layers = [self.prefix, History(), *self._tail]
        reply = self.pipe.subagent(task, layers=layers, to_history=False,
                                   max_steps=self.config.subagent_calls)
        return reply.text

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        self.store.close()
        self.pipe.close()

    # -- wiring ----------------------------------------------------------------------------

    def _open_index(self) -> Any:
        from ctxkit.retrieval import Index

        c = self.config
        cache: bool | Path = c.embedding_cache if c.embedding_cache is not None else True
        index = Index(c.home / "indexes" / repo_key(self.repo), embedder=c.embedder,
                      base=str(self.repo), cache=cache)
        index.add_paths([str(self.repo)])
        return index

    def refresh_index(self) -> None:
        """Re-index what changed on disk (only changed files are re-chunked)."""
        if self.index is not None:
            self.index.add_paths([str(self.repo)])
            self.num_refreshes += 1

    def _after_tool(self, name: str, args: dict[str, Any], result: str, is_error: bool
                    ) -> None:
        if name in _MUTATING:
            self.refresh_index()  # before the next call assembles: no stale chunk, ever
        path = args.get("path")
        if name in _TRACKED and not is_error and isinstance(path, str):
            try:
                self.state.track_file(path, root=str(self.repo), by="tool")
            except OSError:
                pass
        if self.on_tool is not None:
            self.on_tool(name, args, result, is_error)

    def _recall_query(self, turn: Turn) -> str | None:
        """The task, when there may be failures the prompt no longer shows: from earlier
        sessions, or dropped by a compaction. Otherwise None: no search (and no query
        embedding) while every failure is still in the history."""
        dropped = self.compactor is not None and bool(self.compactor.compactions)
        if not (self._earlier_failures or (dropped and self.failures.written)):
            return None
        return f"{self.task}\n{turn.message or ''}".strip()

    def _observed(self, fn: Callable[..., str]) -> Callable[..., str]:
        """``fn`` reporting to the tool hook like the repository tools do (same schema:
        ``functools.wraps`` keeps its signature, annotations and docstring)."""
        @functools.wraps(fn)
        def tool(**kwargs: Any) -> str:
            try:
                out = fn(**kwargs)
            except Exception as exc:
                self._after_tool(fn.__name__, kwargs, f"{type(exc).__name__}: {exc}", True)
                raise
            self._after_tool(fn.__name__, kwargs, out, False)
            return out

        return tool

    def _layers(self) -> list[Any]:
        c = self.config
        # the agent offers update_state itself (observed, in the sorted cached tool list),
        # so the State layer does not add its own copy
        state_layer = StateLayer(self.state, tool=False)
        update_state = self._observed(state_layer.tool)
        core = [*self.tools.core(), update_state, self._observed(self.delegate)]
        tools, self.tool_search = split_toolset(core, self.tools.extra(),
                                                c.tool_search_threshold)
        if self.tool_search is not None:  # its tools run through call_tool: seen there
            tools = [*tools[:-2], self._observed(self.tool_search.search_tools),
                     tools[-1]]
        self.prefix = Prefix(system=SYSTEM, tools=tools, project=project_context(self.repo),
                             root=self.repo)
        naive = c.layout != "ctxkit"
        compactor = None if naive else Compactor(
            [WhenLarge(Milestone(self.state), c.compact_min_tokens), Threshold(0.6)],
            sink=MemoryStoreSink(self.store, self.user_scope), keep_turns=1, keep_steps=3)
        layers: list[Any] = [self.prefix, Memory(self.store, scope=self.user_scope,
                                                 max_tokens=600),
                             History(compactor=compactor)]
        if self.index is not None:
            layers.append(Retrieval(self.index, k=c.retrieval_k, max_tokens=c.retrieval_tokens,
                                    state=self.state))
        self.failures = FailureLog(self.store, self.repo_scope)
        self._earlier_failures = len(self.store.list(self.repo_scope, kinds=["failed_attempt"],
                                                     limit=1))
        self.compactor = compactor
        layers += [Recall(self.store, scope=self.repo_scope, k=4, max_tokens=c.recall_tokens,
                          writer=self.failures, query=self._recall_query),
                   state_layer, Checkpoint(self.checkpoint)]
        self._tail = {"naive": [NoCache()], "best_practice_breakpoints": [BestPracticeCache()]
                      }.get(c.layout, [])
        return layers + self._tail
