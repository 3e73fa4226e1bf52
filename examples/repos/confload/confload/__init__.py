"""Layered configuration: defaults, a file, the environment."""

from .config import Config, parse_lines
from .env import from_environ

__all__ = ["Config", "from_environ", "parse_lines"]
