"""The demo session: a multi-turn coding-agent session on a copy of the sample repository.

Owns the session ``ctxkit demo`` drives (its options live in ``ctxkit.cli.demo``): copy the
sample repository shipped as package data (``ctxkit/demo/sample_repo``) to a
work directory, build a ``ContextPipeline`` (``Prefix`` with real tools + ``History``), run
three user turns, print what each turn assembled, break the prefix on purpose at turn 3 (a
date in the system prompt), and end with the report (terminal, HTML) and a JSONL trace.
Offline it uses a scripted stand-in model (``ctxkit.demo._agent``); with an API key, a
real one. The tools are ``ctxkit.tools.RepoTools`` and the printing ``ctxkit.report``'s live views.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from .._backend import Backend
from .._draft import Draft
from .._errors import CtxkitError, UserError
from .._pipeline import ContextPipeline
from ..layers import History, Prefix
from ..tools import RepoTools
from ._agent import SYSTEM, TURNS, StandInAgent

LIVE_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o"}
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")


def sample_repo() -> Path:
    """The sample repository shipped inside the package (``ctxkit/demo/sample_repo``)."""
    path = Path(__file__).resolve().parent / "sample_repo"
    if not (path / "AGENTS.md").is_file():
        raise UserError(f"the demo's sample repository is missing at {path}; reinstall ctxkit "
                        "(pip install --force-reinstall ctxkit)")
    return path


def choose_backend(args: argparse.Namespace) -> str:
    if args.offline:
        if args.backend not in (None, "scripted"):
            raise UserError(f"--offline and --backend {args.backend} contradict each other; "
                            "pass one of them")
        return "scripted"
    if args.backend:
        return str(args.backend)
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai"
    return "scripted"


def make_backend(kind: str, model: str | None, narrate: Callable[[str], None] | None = None
                 ) -> tuple[Backend, StandInAgent | None]:
    """The backend for ``kind``; live backends are imported only when asked for.

    ``narrate`` is called with the stand-in's text before its tool calls run.
    """
    if kind == "scripted":
        from ..testing import FunctionBackend

        agent = StandInAgent()

        def play(draft: Draft) -> dict[str, Any]:
            reply = agent(draft)
            if narrate is not None and reply.get("tool_calls") and reply.get("text"):
                narrate(reply["text"])
            return reply

        return FunctionBackend(play), agent
    key = f"{kind.upper()}_API_KEY"
    if not os.environ.get(key):
        raise UserError(f"--backend {kind} needs {key} in the environment; set it, or run "
                        "`ctxkit demo --offline`")
    name = model or LIVE_MODELS[kind]
    try:
        from .. import backends
        cls = getattr(backends, "Anthropic" if kind == "anthropic" else "OpenAI")
    except (ImportError, AttributeError) as exc:
        raise UserError(f"the {kind} backend is not available ({exc}); install it with "
                        f"pip install 'ctxkit[{kind}]', or run `ctxkit demo --offline`") from exc
    backend: Backend = cls(name)
    return backend, None


def prepare_workdir(arg: str | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """Copy the sample repository into ``arg`` (empty or new) or a temporary directory."""
    src = sample_repo()
    tmp = None
    if arg is None:
        tmp = tempfile.TemporaryDirectory(prefix="ctxkit-demo-")
        dest = Path(tmp.name) / "sample_repo"
    else:
        dest = Path(arg)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise UserError(f"--workdir {dest} is not an empty directory; the demo edits files "
                            "there, so pass a new or empty one")
    shutil.copytree(src, dest, ignore=_IGNORE, dirs_exist_ok=True)
    return dest.resolve(), tmp


def dated_prefix(prefix: Prefix, tools: RepoTools, root: Path) -> Prefix:
    """The same prefix with today's date on top of the system prompt (the classic mistake)."""
    today = dt.date.today().isoformat()
    return Prefix(system=f"Today's date is {today}.\n\n{prefix.system}", tools=tools.tools(),
                  project=["AGENTS.md"], root=root)


def run(args: argparse.Namespace) -> int:
    """Run the demo session; returns the process exit code."""
    import importlib.util

    from rich.markdown import Markdown
    from rich.panel import Panel

    from .._errors import MissingExtraError
    from ..report import drift_view, tool_line, turn_view
    from ..report._terminal import PipeConsole

    if importlib.util.find_spec("pytest") is None:  # the agent's run_tests tool needs it
        raise MissingExtraError("demo", "pytest")
    for flag, out in (("--html", args.html), ("--trace", args.trace)):
        _check_writable(flag, Path(out))  # before the session, not after it
    console = PipeConsole()  # piped: tables as wide as their figures need, never cut
    kind = choose_backend(args)
    backend, agent = make_backend(
        kind, args.model, narrate=lambda text: console.print(f"  [italic]{escape(text)}[/italic]"))
    workdir, tmp = prepare_workdir(args.workdir)
    trace = Path(args.trace)
    try:  # one demo, one trace (Trace appends); opened now, so a path that cannot be
        trace.parent.mkdir(parents=True, exist_ok=True)  # written fails before any call
        trace.write_bytes(b"")
    except OSError as exc:
        raise UserError(f"cannot write --trace {trace} ({exc.strerror}); pass another "
                        "path") from None
    if agent is not None:
        who = ("[bold yellow]The model is a scripted stand-in[/bold yellow] "
               "(ctxkit.testing.FunctionBackend playing ctxkit/demo/_agent.py): its moves are "
               "written in advance, but it reads the real tool results to make them. Every "
               "tool really runs on the copied repository, and every prompt is really "
               "assembled, counted (o200k tokens) and cache-modelled under the 'scripted' "
               "profile (Anthropic-like cache rules and prices). Set ANTHROPIC_API_KEY or "
               "OPENAI_API_KEY to let a real model play the agent.")
    else:
        who = f"[bold green]Live model[/bold green]: {backend.name} {backend.profile.name}."
    console.print(Panel(f"{who}\n\nRepository: a copy of the sample repository at "
                        f"{escape(str(workdir))}\n"
                        "Layers: Prefix(system, tools, AGENTS.md) → History",
                        title="ctxkit demo", title_align="left"))

    tools = RepoTools(workdir, test_status=lambda label: console.status(f"running {label}"),
                      on_call=lambda *a: console.print(tool_line(*a)))
    prefix = Prefix(system=SYSTEM, tools=tools.tools(), project=["AGENTS.md"], root=workdir)
    pipe = ContextPipeline(backend, [prefix, History()], trace=trace,
                           max_steps=8 if agent is not None else 30)
    rc = 0
    try:
        for i, message in enumerate(TURNS):
            console.rule(f"turn {i + 1} of {len(TURNS)}")
            if i == 2:
                pipe.layers[0] = dated_prefix(prefix, tools, workdir)
                console.print("[yellow]Before this turn the demo replaces pipe.layers[0] with "
                              "a Prefix whose system prompt starts with today's date, as many "
                              "agents do. Watch the cache.[/yellow]")
            console.print(f"[bold]user:[/bold] {escape(message)}")
            start = len(pipe.records)
            reply = pipe.run(message)
            turn = pipe.records[start:]
            console.print(turn_view(turn))
            drift = drift_view(turn, pipe.records)
            if drift is not None:
                console.print(Panel(drift, title="cache miss explained", title_align="left",
                                    border_style="red"))
            console.print(Panel(Markdown(reply.text or "(no text)"), title="assistant",
                                title_align="left"))
            if reply.tool_calls:
                console.print("[red]The model still wanted tools after the step limit; "
                              "stopping the session here.[/red]")
                rc = 1
                break
    except CtxkitError as exc:
        console.print(f"[red]the session stopped: {escape(str(exc))}[/red]")
        rc = 1
    finally:
        pipe.close()
    _finish(console, pipe, args, workdir, trace, tmp)
    return rc


def _check_writable(flag: str, path: Path) -> None:
    """Refuse an output path the demo could not write, before the session and creating
    nothing (the trace is appended from the first call on, the HTML page written last)."""
    if path.is_dir():
        raise UserError(f"cannot write {flag} {path}: it is a directory; pass a file path")
    parent = path.parent
    while not parent.exists():  # the directory the demo would create the rest under
        parent = parent.parent
    if not parent.is_dir() or not os.access(path if path.exists() else parent, os.W_OK):
        raise UserError(f"cannot write {flag} {path}: {parent} is not a writable directory; "
                        "pass another path")


def _finish(console: Any, pipe: ContextPipeline, args: argparse.Namespace, workdir: Path,
            trace: Path, tmp: tempfile.TemporaryDirectory[str] | None) -> None:
    console.rule("report")
    report = pipe.report()
    console.print(report)
    Path(args.html).parent.mkdir(parents=True, exist_ok=True)
    report.to_html(str(args.html), title="ctxkit demo: a coding agent on the sample repository")
    console.print(f"\nHTML report: [bold]{escape(str(Path(args.html).resolve()))}[/bold]")
    console.print(f"JSONL trace: [bold]{escape(str(trace.resolve()))}[/bold]  (ctxkit report "
                  f"{escape(str(trace))} renders it again)")
    if tmp is not None:
        tmp.cleanup()
        console.print("The edited copy was temporary; pass --workdir DIR to keep it.")
    else:
        console.print(f"The edited repository: [bold]{escape(str(workdir))}[/bold]")
