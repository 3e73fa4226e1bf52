"""``ctxkit demo``'s options; the session itself lives in ``ctxkit.demo``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ctxkit demo`` options; sets ``func`` so ``ctxkit.cli`` dispatches here."""
    parser.description = (
        "Run a three-turn coding-agent session on a copy of ctxkit's sample repository\n"
        "(a small Python package with one failing test) and show, turn by turn, what\n"
        "ctxkit assembled, what the cache read and wrote, and where a prefix broke.\n\n"
        "Offline by default: the model is a scripted stand-in that really uses the tools.\n"
        "With ANTHROPIC_API_KEY or OPENAI_API_KEY set, a real model plays the agent.")
    parser.add_argument("--offline", action="store_true",
                        help="use the scripted stand-in even if an API key is set")
    parser.add_argument("--backend", choices=("scripted", "anthropic", "openai"),
                        help="which model plays the agent (default: anthropic if "
                             "ANTHROPIC_API_KEY is set, else openai if OPENAI_API_KEY is "
                             "set, else scripted)")
    parser.add_argument("--model", help="live model name (default: claude-sonnet-4-5 for "
                                        "anthropic, gpt-4o for openai)")
    parser.add_argument("--workdir", help="empty or new directory to copy the sample repository "
                                          "into and keep (default: a temporary directory, "
                                          "removed afterwards)")
    parser.add_argument("--html", default="ctxkit-report.html",
                        help="where to write the HTML report (default: %(default)s)")
    parser.add_argument("--trace", default="ctxkit-demo.trace.jsonl",
                        help="where to write the JSONL trace; overwritten (default: "
                             "%(default)s)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..demo import run

    return run(args)
