"""``ctxkit report TRACE [TRACE ...]``: render traces as a terminal table, JSON or HTML.

Owns the subcommand's arguments and I/O (reading traces, writing files). The figures come
from ``Report``; the renderers format them. ``ctxkit.cli`` dispatches here through
``args.func``; errors are raised as ctxkit exceptions, which it prints (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .._errors import StoreError, UserError
from .._record import CallRecord, TraceWarning, load_trace
from ..report import Report
from ..report._terminal import safe
from ._args import whole

EPILOG = """\
examples:
  ctxkit report run.jsonl                          tables in the terminal
  ctxkit report run.jsonl --html report.html       tables, and an HTML page with charts
  ctxkit report run.jsonl --format json -o r.json  every figure as JSON
  ctxkit report a.jsonl b.jsonl --session 3f2a9c   one session out of several traces

--format html without --output writes TRACE.html next to the first trace.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``report`` subcommand's arguments on ``parser``."""
    parser.description = ("Render traces written by ContextPipeline(trace=...): tokens by "
                          "layer x cache read/write/uncached, hit rate, cost, latency, and "
                          "the cause of every cache miss.")
    parser.epilog = EPILOG
    parser.add_argument("traces", nargs="+", metavar="TRACE", help="JSONL trace file(s)")
    parser.add_argument("--format", choices=("terminal", "json", "html"), default="terminal",
                        help="output format (default: terminal)")
    parser.add_argument("--html", metavar="PATH", help="also write the HTML report to PATH")
    parser.add_argument("--session", metavar="ID",
                        help="only the calls of this session (see the ids in the report)")
    parser.add_argument("-o", "--output", metavar="PATH",
                        help="write the json/html (or plain-text terminal) output to PATH")
    parser.add_argument("--title", default=None, help="title of the HTML page")
    parser.add_argument("--width", type=whole(1), default=None,
                        help="terminal width in columns (default: the terminal's)")
    parser.set_defaults(func=run)


def load(paths: list[str], session: str | None = None) -> Report:
    """A Report of the records in ``paths``, optionally of one session only."""
    records: list[CallRecord] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise StoreError(f"no trace at {p}; pass the JSONL path a pipeline wrote with "
                             "ContextPipeline(trace=...)")
        if not p.is_file():
            raise UserError(f"{p} is not a file; pass a JSONL trace written with "
                            "ContextPipeline(trace=...)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TraceWarning)
            records += load_trace(p, with_blocks=False)  # reports need no per-block lists
        for w in caught:  # a cut-off last line: say so, report the rest
            print(f"ctxkit report: warning: {safe(str(w.message))}", file=sys.stderr)
    seen: set[str] = set()
    unique = []
    for r in records:
        if r.call_id not in seen:
            seen.add(r.call_id)
            unique.append(r)
    if len(unique) < len(records):  # a trace named twice (a glob), or a copy of one
        print(f"ctxkit report: warning: {len(records) - len(unique)} records appear more than "
              "once (the same call_id: a trace given twice, or a copy of one); each call is "
              "counted once", file=sys.stderr)
        records = unique
    if session is not None:
        known = list(dict.fromkeys(r.session_id for r in records))
        records = [r for r in records if r.session_id == session]
        if not records:
            raise UserError(f"no calls of session {session!r} in {', '.join(paths)}; sessions "
                            f"there: {', '.join(known) or 'none (the traces are empty)'}")
    return Report.from_records(records)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}); choose another path") from exc


def run(args: argparse.Namespace) -> int:
    """Render the traces named in ``args`` as asked; returns the exit status."""
    report = load(args.traces, args.session)
    title = args.title or f"ctxkit report: {', '.join(Path(t).name for t in args.traces)}"
    if args.format == "json":
        text = report.to_json()
        if args.output:
            _write(args.output, text + "\n")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            print(text)
    elif args.format == "html":
        out = args.output or str(Path(args.traces[0]).with_suffix(".html"))
        _write(out, report.to_html(title=title))
        print(f"wrote {out}", file=sys.stderr)
    elif args.output:
        _write(args.output, report.render(width=args.width or 120))
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        from ..report._terminal import PipeConsole

        PipeConsole(width=args.width).print(report)
    if args.html:
        _write(args.html, report.to_html(title=title))
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
