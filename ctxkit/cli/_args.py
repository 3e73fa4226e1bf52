"""Argument types the commands share: whole numbers in a range and positive numbers,
checked by the parser.

Owns only the conversion and its message (argparse prints it as ``argument --top: ...``
with the usage, exit status 2), so an out-of-range number is refused before any file is
read or model loaded. Knows no command.
"""

from __future__ import annotations

import argparse
import math
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


def positive(*, no_limit: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a number > 0, finite unless ``no_limit`` (then ``inf`` means
    no limit). NaN is never one: it compares false with everything, so it passes checks."""
    span = "a number > 0 (inf for no limit)" if no_limit else "a finite number > 0"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; pass {span}") from None
        if not value > 0 or (math.isinf(value) and not no_limit):
            raise argparse.ArgumentTypeError(f"{text} is out of range; pass {span}")
        return value

    parse.__name__ = "number"
    return parse
