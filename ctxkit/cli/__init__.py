"""The ``ctxkit`` command line: demo, report, audit (and room for more).

Owns the top-level parser and dispatch only. One module per command holds its options
and entry (``ctxkit.cli.demo``, ``report``, ``audit``, ``memory``, ``proxy``, ``serve``); the work
itself lives in the role packages. Heavy imports (torch, the engine) load only when run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._errors import CtxkitError

DESCRIPTION = """\
ctxkit assembles every model call of an agent from layers (cached prefix, history,
retrieval, state, memory) and reports where every token went: by layer, cached or not,
what it cost, and why any cache miss happened.

commands:
  demo     run a multi-turn coding-agent session on a sample repository and show, turn by
           turn, what was assembled; ends with the report (terminal + HTML). Offline by
           default (a scripted stand-in model); live with ANTHROPIC_API_KEY or OPENAI_API_KEY.
  report   render a trace written by ContextPipeline(trace=...) as a terminal table, JSON,
           or a self-contained HTML page with charts.
  audit    point it at the logs another agent left (request JSONL, SWE-agent and
           mini-swe-agent trajectories, tau-bench results, OpenHands outputs and logs,
           Claude Code sessions) and see its prefix reuse, cache killers, duplicate tool
           outputs, measured usage, and what ctxkit's ordering would save.
  memory   operate a memory store by URL: list, show, audit (who wrote/read/revoked what,
           when, why) and revoke records by id, source or time window.
  proxy    an HTTP proxy for agents not written on ctxkit (Claude Code, Codex CLI, LangChain
           apps): point their base URL at it for per-call records, live cache-killer lines,
           a live report page and Prometheus metrics (needs: pip install 'ctxkit[proxy]').
  serve    serve a local Hugging Face model directory on ctxkit's own paged-KV engine with
           OpenAI- and Anthropic-compatible endpoints that report real cached tokens
           (needs: pip install 'ctxkit[engine]').

run `ctxkit COMMAND --help` for each command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctxkit", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"ctxkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .audit import add_arguments as audit_args
    from .demo import add_arguments as demo_args
    from .memory import add_arguments as memory_args
    from .proxy import add_arguments as proxy_args
    from .report import add_arguments as report_args
    from .serve import add_arguments as serve_args

    demo_args(sub.add_parser("demo", help="run the offline coding-agent demo",
                             formatter_class=argparse.RawDescriptionHelpFormatter))
    report_args(sub.add_parser("report", help="render a trace (terminal, JSON, HTML)",
                               formatter_class=argparse.RawDescriptionHelpFormatter))
    audit_args(sub.add_parser("audit", help="audit another agent's recorded prompts",
                              formatter_class=argparse.RawDescriptionHelpFormatter))
    memory_args(sub.add_parser("memory", help="inspect, audit and revoke records of a memory "
                               "store (operators)",
                               formatter_class=argparse.RawDescriptionHelpFormatter))
    proxy_args(sub.add_parser("proxy", help="HTTP proxy recording other agents' model calls "
                              "(Anthropic / OpenAI APIs)",
                              formatter_class=argparse.RawDescriptionHelpFormatter))
    serve_args(sub.add_parser("serve", help="serve a local model (OpenAI/Anthropic-compatible "
                              "HTTP) on the bundled paged-KV engine",
                              formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CtxkitError as exc:
        print(f"ctxkit {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
