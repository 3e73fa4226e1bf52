"""Reading the tools' own output back: line-numbered file views and test-run summaries.

Owns the small parsers an agent (or a scripted stand-in for one) uses on what ``RepoTools``
returned. Knows only the output formats of ``RepoTools.read_file`` and ``run_tests``.
"""

from __future__ import annotations

import re


def plain_lines(numbered: str) -> list[str]:
    """read_file output without its ``N<tab>`` line-number prefixes."""
    return [ln.split("\t", 1)[1] if "\t" in ln else ln for ln in numbered.splitlines()
            if re.match(r"^\d+\t", ln)]


def tests_passed(out: str) -> bool:
    """Whether a ``run_tests`` result reports a clean pytest run (exit 0, passes, no failures)."""
    return out.startswith("exit code 0") and " passed" in out and " failed" not in out
