"""``ctxkit proxy``: the command line of the HTTP proxy.

Owns the subcommand's arguments; ``ctxkit.proxy.serve`` does the work. Errors are raised
as ctxkit exceptions, which ``ctxkit.cli`` prints (exit 1).
"""

from __future__ import annotations

import argparse

from ._args import positive, whole

DESCRIPTION = """\
an HTTP proxy for agents not written on ctxkit: point their base URL at it and every model
call leaves a CallRecord (predicted and reported cache split, drift against the session's
previous call, cost). Speaks the Anthropic Messages API (incl. count_tokens) and the OpenAI
Chat Completions and Responses APIs. Requests and replies pass unchanged (streams too);
API keys pass through and are never written anywhere. Each cache killer prints one line.

live pages: http://HOST:PORT/ctxkit/ (HTML report), /ctxkit/records (JSON), /metrics
sessions:   send `x-ctxkit-session: NAME`, or let the proxy infer them by shared prefix
"""

EPILOG = """\
examples:
  ctxkit proxy --upstream anthropic
      ANTHROPIC_BASE_URL=http://127.0.0.1:8788 claude
  ctxkit proxy --upstream openai --trace codex.jsonl
      OPENAI_BASE_URL=http://127.0.0.1:8788/v1 codex
  ctxkit proxy --upstream http://127.0.0.1:8000 --port 8789     (vLLM, ctxkit serve)
  ctxkit report codex.jsonl                                      (the trace, afterwards)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("--upstream", default="anthropic",
                        help="anthropic, openai, or a base URL such as http://127.0.0.1:8000 "
                        "(default: anthropic)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; anything wider warns)")
    parser.add_argument("--port", type=whole(0, 65535), default=8788)
    parser.add_argument("--trace", default=None, metavar="PATH",
                        help="append every CallRecord to this JSONL file (redacted, no keys)")
    parser.add_argument("--place-breakpoints", action="store_true",
                        help="Anthropic: add cache_control breakpoints to requests that carry "
                        "none, where ctxkit's cache model says they pay (recorded per call)")
    parser.add_argument("--profile", default=None, metavar="MODEL",
                        help="price and cache rules of this model family for every call "
                        "(default: by each request's model)")
    parser.add_argument("--max-body-mb", type=positive(), default=32.0,
                        help="refuse larger requests with 413 (default 32, Anthropic's limit)")
    parser.add_argument("--connect-timeout", type=positive(no_limit=True), default=10.0,
                        metavar="S")
    parser.add_argument("--read-timeout", type=positive(no_limit=True), default=600.0,
                        metavar="S",
                        help="longest silence from upstream within a reply (504 past it)")
    parser.add_argument("--body-timeout", type=positive(no_limit=True), default=60.0,
                        metavar="S",
                        help="longest time a client may take to send its request (408)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..proxy._config import MiB, ProxyConfig
    from ..proxy._server import serve

    config = ProxyConfig(upstream=args.upstream, host=args.host, port=args.port,
                         trace=args.trace, place_breakpoints=args.place_breakpoints,
                         profile=args.profile, max_body_bytes=int(args.max_body_mb * MiB),
                         connect_timeout_s=args.connect_timeout,
                         read_timeout_s=args.read_timeout, body_timeout_s=args.body_timeout)
    return serve(config)
