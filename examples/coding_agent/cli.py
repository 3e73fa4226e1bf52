"""``python -m examples.coding_agent``: the command line of the example coding agent.

Owns the options, choosing and building the backend, copying a sample repository to a
working directory, and what is printed: the session header, each tool call (and with
``--trace`` each call's context view), the answer, and the report (terminal, and HTML
with ``--html``). Exit status: 0 answered, 3 paused at ``--max-calls`` (resume it), 1 an
error. Knows nothing of how the agent is wired (``agent``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ctxkit import Backend, CtxkitError, UserError, load_trace

from .agent import LAYOUTS, Agent, AgentConfig
from .samples import SampleTask, copy_repo, is_sample
from .sessions import SessionDir, new_id
from .view import Printer

BACKENDS = ("anthropic", "openai", "local", "replay", "scripted")
LIVE_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o"}
DEFAULT_HOME = Path("~/.ctxkit/agent")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m examples.coding_agent",
        description="A coding agent built on ctxkit: it plans, reads, searches, edits and "
                    "runs the tests of a repository, and reports where every token went.")
    p.add_argument("task", nargs="?", help="what to do (default for a sample repository: "
                                           "the task in its TASK.json)")
    p.add_argument("--repo", help="the repository to work in (edited in place unless "
                                  "--workdir is given)")
    p.add_argument("--backend", choices=BACKENDS, default="scripted",
                   help="the model: anthropic, openai (API keys from the environment), "
                        "local (the bundled engine, --model PATH), replay (--model TRACE), "
                        "or scripted (offline stand-in, sample repositories only; default)")
    p.add_argument("--model", help="model name (anthropic: claude-sonnet-4-5, openai: "
                                   "gpt-4o), a local model directory, or a trace to replay")
    p.add_argument("--trace", action="store_true",
                   help="print every model call's context view (layers, cache)")
    p.add_argument("--resume", metavar="SESSION", help="continue a session from its checkpoint")
    p.add_argument("--html", action="store_true",
                   help="write the HTML report into the session directory")
    p.add_argument("--workdir", help="copy --repo to this new or empty directory and work "
                                     "there (required for the sample repositories)")
    p.add_argument("--home", default=os.environ.get("CTXKIT_AGENT_HOME", str(DEFAULT_HOME)),
                   help="where sessions, memory and indexes are kept (default: %(default)s)")
    p.add_argument("--user", default=None, help="whose memory (default: your login name)")
    p.add_argument("--prefer", action="append", default=[], metavar="TEXT",
                   help="store a standing preference in memory (repeatable)")
    p.add_argument("--max-calls", type=int, default=40,
                   help="model calls before pausing; resume with --resume (default: 40)")
    p.add_argument("--layout", choices=LAYOUTS, default="ctxkit",
                   help="ctxkit (default), best_practice_breakpoints (hand-placed breakpoints, "
                        "full history, no compaction) or naive (no breakpoints, full history, no "
                        "compaction), to compare")
    p.add_argument("--no-retrieval", action="store_true",
                   help="no retrieval layer (skips loading the embedding model)")
    return p


def make_backend(kind: str, model: str | None, source: Path | None) -> Backend:
    """The backend for ``--backend kind``; ``source`` is the repository as given (a sample's
    TASK.json drives the scripted stand-in)."""
    if kind == "scripted":
        from ctxkit.testing import FunctionBackend

        from .standin import StandIn

        if source is None:
            raise UserError("--backend scripted needs the sample repository (--repo)")
        return FunctionBackend(StandIn(SampleTask.load(source)))
    if kind == "replay":
        if not model:
            raise UserError("--backend replay needs --model TRACE, a trace.jsonl an earlier "
                            "session wrote (see its session directory)")
        from ctxkit.backends import Replay

        return Replay(model)
    if kind == "local":
        if not model or not Path(model).is_dir():
            raise UserError("--backend local needs --model PATH, a local Hugging Face model "
                            "directory (the bundled engine loads it; nothing is downloaded)")
        from ctxkit.backends import Local

        return Local(model)
    key = f"{kind.upper()}_API_KEY"
    if not os.environ.get(key):
        raise UserError(f"--backend {kind} needs {key} in the environment; set it, or try "
                        "--backend scripted on a sample repository")
    from ctxkit import backends

    cls = backends.Anthropic if kind == "anthropic" else backends.OpenAI
    return cls(model or LIVE_MODELS[kind])


def main(argv: Sequence[str] | None = None, *, console: Console | None = None,
         config: dict[str, Any] | None = None) -> int:
    """Run the command line; ``config`` overrides AgentConfig fields (tests, evals)."""
    args = build_parser().parse_args(argv)
    console = console or Console()
    try:
        return _run(args, console, config or {})
    except CtxkitError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1


def _run(args: argparse.Namespace, console: Console, overrides: dict[str, Any]) -> int:
    home = Path(args.home).expanduser()
    printer = Printer(console, trace=args.trace)
    common = dict(home=home, user=args.user or getpass.getuser(), max_calls=args.max_calls,
                  layout=args.layout, retrieval=not args.no_retrieval) | overrides
    if args.resume:
        session = SessionDir(home, args.resume)
        meta = session.read()
        backend = make_backend(args.backend, args.model, Path(meta.get("source") or
                                                               meta["repo"]))
        agent = Agent.resume(backend, AgentConfig(repo=Path(meta["repo"]), **common),
                             args.resume, on_tool=printer.tool)
    else:
        if not args.repo:
            raise UserError("pass --repo PATH (or --resume SESSION)")
        source = Path(args.repo).resolve()
        sample = is_sample(source)
        if sample and not args.workdir:
            raise UserError(f"{source} is one of ctxkit's sample repositories; pass --workdir "
                            "DIR to work on a copy (the agent edits files)")
        task = args.task or (SampleTask.load(source).task if sample else None)
        if not task:
            raise UserError("say what to do: python -m examples.coding_agent \"TASK\" "
                            "--repo PATH")
        backend = make_backend(args.backend, args.model, source)
        repo = copy_repo(source, args.workdir) if args.workdir else source
        agent = Agent.start(backend, AgentConfig(repo=repo, **common), task,
                            session_id=new_id(source), on_tool=printer.tool)
        meta = agent.session.read()
        agent.session.write(meta | {"source": str(source), "backend": args.backend})
    printer.pipe = agent.pipe
    for text in args.prefer:
        agent.remember(text)
    _header(console, agent, args)
    try:
        outcome = agent.run()
    finally:
        printer.calls()
        agent.close()
    console.rule("answer" if outcome.status == "done" else "paused")
    if outcome.status == "done":
        console.print(escape(outcome.text or "(no text)"))
    else:
        console.print(f"Stopped after {outcome.num_calls} model calls with "
                      f"{', '.join(outcome.pending)} pending. Continue with:\n"
                      f"  python -m examples.coding_agent --resume {agent.session.id} "
                      f"--backend {args.backend} --home {escape(str(home))}")
    _report(console, agent, args)
    return 0 if outcome.status == "done" else 3


def _header(console: Console, agent: Agent, args: argparse.Namespace) -> None:
    names = [getattr(layer, "name", type(layer).__name__) for layer in agent.pipe.layers]
    deferred = len(agent.tool_search.tools) if agent.tool_search is not None else 0
    console.rule(f"session {agent.session.id}")
    console.print(f"repository: {escape(str(agent.repo))}\n"
                  f"backend: {args.backend} ({agent.pipe.backend.profile.name})\n"
                  f"layers: {' → '.join(names)}\n"
                  f"tools: {len(agent.prefix.tool_blocks)} in the cached prefix"
                  + (f", {deferred} more behind search_tools" if deferred else "") +
                  f"\ntask: {escape(agent.task)}")


def _report(console: Console, agent: Agent, args: argparse.Namespace) -> None:
    from ctxkit.report import Report

    console.rule("report (this run)")
    console.print(Report.from_records(agent.pipe.records))
    if args.html:
        records = load_trace(agent.session.trace_file)
        Report.from_records(records).to_html(str(agent.session.report_file),
                                             title=f"coding agent: {agent.session.id}")
        console.print(f"HTML report (every run of the session): "
                      f"[bold]{escape(str(agent.session.report_file))}[/bold]")
    console.print(f"session directory: {escape(str(agent.session.path))}")


if __name__ == "__main__":
    sys.exit(main())
