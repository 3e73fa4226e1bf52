"""Summaries of every column of a CSV file, and their text report."""

from __future__ import annotations

import csv
import io
from typing import Any

from .stats import mean, numbers


def summarize(text: str) -> dict[str, dict[str, Any]]:
    """Per column: count of numeric cells, mean, min, max (None where there are none)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(header):
        values = numbers(row[i] for row in body if i < len(row))
        out[name] = {"count": len(values), "mean": mean(values),
                     "min": min(values, default=None), "max": max(values, default=None)}
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def render(summary: dict[str, dict[str, Any]]) -> str:
    """One line per column: ``name  count  mean  min  max``."""
    lines = [f"{'column':<12}{'count':>7}{'mean':>10}{'min':>10}{'max':>10}"]
    for name, s in summary.items():
        lines.append(f"{name:<12}{s['count']:>7}{_fmt(s['mean']):>10}{_fmt(s['min']):>10}"
                     f"{_fmt(s['max']):>10}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m csvstats FILE.csv")
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        print(render(summarize(fh.read())))
    return 0
