"""``ctxkit audit PATH [PATH ...]``: the cache report for another agent's recorded prompts.

Owns the subcommand's arguments and I/O (progress bar, writing files). The findings come
from ``ctxkit.audit.audit``; the renderers format them. ``ctxkit.cli`` dispatches here
through ``args.func``; errors are raised as ctxkit exceptions, which it prints (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .._errors import UserError
from ..audit._audit import DEFAULT_MODEL, audit
from ..audit._load import FORMATS
from ..audit._read import MAX_BYTES
from ._args import whole

OUTPUTS = ("terminal", "json", "html")

EPILOG = f"""\
inputs (detected per file and named in the report, or forced with --input-format):
  openai / anthropic      request JSONL, one request per line (sessions by session_id,
                          else inferred: a call that continues no earlier conversation
                          starts a new session)
  swe-agent               .traj: trajectory[k].query (1.1) / .messages (1.0) as sent,
                          else rebuilt from history
  mini-swe-agent          .traj.json: one prompt per assistant turn (rebuilt)
  tau-bench               a JSON list of runs, each with 'traj' (or 'messages')
  transcript              a JSON object with 'messages' (or a list of messages)
  openhands               a directory of prompt_NNN.log (one full text prompt per call)
  openhands-output        output.jsonl: one evaluated instance per line, event history
  openhands-completions   an llm_completions/<instance>/ directory, one call per file
  claude-code             ~/.claude/projects/**/*.jsonl session files
  claude-stream           claude -p --output-format stream-json output
Directories are searched recursively (regular files only, up to --max-bytes each); each
file that cannot be read is listed with the reason and skipped.

examples:
  ctxkit audit runs/                            terminal report
  ctxkit audit run.traj --model gpt-4.1         another model's tokenizer, prices, cache
  ctxkit audit runs/ --format json > audit.json every figure as JSON (docs/audit.md)
  ctxkit audit runs/ --html audit.html          also an HTML page
  ctxkit audit log.jsonl --input-format anthropic

--format takes an output (terminal, json, html) or an input format; give it twice for
both. Without --model, each log's own model is used (else {DEFAULT_MODEL}).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``audit`` subcommand's arguments on ``parser``."""
    parser.description = (
        "Audit another agent's recorded prompts: prefix reuse between calls, cache-killers "
        "(byte offset, item, diff, cause), duplicate tool outputs, tokens by kind, and the "
        "estimated cache hit rate and cost of the recorded layout against ctxkit's ordering.")
    parser.epilog = EPILOG
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="recorded-prompt files or directories")
    parser.add_argument("--format", action="append", choices=OUTPUTS + FORMATS, default=[],
                        metavar="FORMAT", help="output (terminal, json, html) and/or input "
                        f"format ({', '.join(FORMATS)}); inputs are detected when not given")
    parser.add_argument("--input-format", choices=FORMATS, default=None,
                        help="force the input format (same as --format NAME)")
    parser.add_argument("--model", default=None,
                        help="model profile for tokenizer, prices and cache rules (default: "
                             f"the model the log names, else {DEFAULT_MODEL})")
    parser.add_argument("--html", metavar="PATH", help="also write an HTML page to PATH")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write the json/html (or plain-text terminal) output to PATH")
    parser.add_argument("--top", type=whole(0), default=10,
                        help="cache-killers and duplicates to list (default: 10)")
    parser.add_argument("--width", type=whole(1), default=None,
                        help="terminal width in columns (default: the terminal's)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar on stderr even when it is not a terminal")
    parser.add_argument("--max-bytes", type=whole(1), default=MAX_BYTES, metavar="N",
                        help=f"refuse files larger than N bytes (default: {MAX_BYTES:,})")
    parser.set_defaults(func=run)


def _formats(args: argparse.Namespace) -> tuple[str, str | None]:
    outputs = [f for f in args.format if f in OUTPUTS]
    inputs = [f for f in args.format if f in FORMATS] + (
        [args.input_format] if args.input_format else [])
    if len(set(outputs)) > 1 or len(set(inputs)) > 1:
        raise UserError(f"--format given twice for the same thing ({', '.join(args.format)}); "
                        "give one output (terminal, json, html) and at most one input format")
    return (outputs[0] if outputs else "terminal"), (inputs[0] if inputs else None)


class _Progress:
    """A progress bar on stderr by bytes read (files) and items done: shown when stderr is
    a terminal, or when asked for (``--progress``), never on stdout."""

    def __init__(self, enabled: bool, stream: Any = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self.bar: Any = None
        self.task: Any = None
        self._last = 0.0

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        console = Console(file=self.stream or sys.stderr, force_terminal=True)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                            console=console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task("auditing", total=None)

    def on_bytes(self, item: Path, done: int, total: int) -> None:
        import time

        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return  # a few updates a second are plenty
        self._last = now
        if self.bar is None:
            self._start()
        self.bar.update(self.task, completed=done, total=total or None,
                        description=f"auditing {_clean(item.name)}")

    def __call__(self, done: int, total: int, item: Path) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self._start()
        self.bar.update(self.task, description=f"audited {done}/{total}: {_clean(item.name)}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _clean(text: str) -> str:
    from ..audit._render import clean

    return clean(text)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}); choose another path") from exc
    print(f"wrote {path}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Audit the paths in ``args`` and render as asked; returns the exit status."""
    from ..audit._html import render_html
    from ..audit._render import render_text, renderables

    output, fmt = _formats(args)
    progress = _Progress(not args.quiet and (args.progress or sys.stderr.isatty()))
    try:
        report = audit(args.paths, model=args.model, fmt=fmt, on_item=progress,
                       on_bytes=progress.on_bytes, max_bytes=args.max_bytes)
    finally:
        progress.stop()
    title = f"ctxkit audit: {', '.join(Path(p).name or str(p) for p in args.paths)}"
    if output == "json":
        text = report.to_json()
        if args.output:
            _write(args.output, text + "\n")
        else:
            print(text)
    elif output == "html":
        _write(args.output or "audit.html", render_html(report, title=title, top=args.top))
    elif args.output:
        _write(args.output, render_text(report, width=args.width or 120, top=args.top))
    else:
        from ..report._terminal import PipeConsole  # piped: figures whole, never "1,5…"

        PipeConsole(width=args.width).print(renderables(report, args.top))
    if args.html:
        _write(args.html, render_html(report, title=title, top=args.top))
    for path, err in report.errors:
        if output != "terminal" or args.output:
            print(_clean(f"ctxkit audit: skipped {path}: {err}"), file=sys.stderr)
    return 0
