"""Column statistics for CSV files."""

from .report import render, summarize
from .stats import mean, numbers

__all__ = ["mean", "numbers", "render", "summarize"]
