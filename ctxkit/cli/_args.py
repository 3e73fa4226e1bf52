"""Argument types the commands share: whole numbers in a range, checked by the parser.

Owns only the conversion and its message (argparse prints it as ``argument --top: ...``
with the usage, exit status 2), so an out-of-range number is refused before any file is
read or model loaded. Knows no command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` up to ``high`` (no upper bound if None)."""
    span = f"{low} or more" if high is None else f"{low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; pass one, {span}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range; pass {span}")
        return value

    parse.__name__ = "whole number"  # what argparse names in its own messages
    return parse
