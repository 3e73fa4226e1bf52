"""Semantic versions: parse, compare, bump, match ranges."""

from .ranges import newest, satisfies
from .version import Version, parse

__all__ = ["Version", "newest", "parse", "satisfies"]
