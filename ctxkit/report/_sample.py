"""What the HTML page plots and lists when a report has more calls than a page can hold.

Owns the reduction of a long report's per-call rows to at most ``MAX_POINTS`` chart points
(each the mean of consecutive calls, cost summed so cumulative lines stay exact) and the
choice of rows the page's tables list. Knows nothing of HTML: ``_html`` says on the page
what was reduced, and ``--format json`` keeps every call.
"""

from __future__ import annotations

from typing import Any

MAX_POINTS = 500  # chart points: past this, consecutive calls are averaged into one
MAX_TABLE_ROWS = 300  # rows of one HTML table
_MEAN = ("input", "read", "write", "write_1h", "uncached", "output")
_SUM = ("cost_usd", "cost_uncached_usd", "drift")


def chart_points(rows: list[dict[str, Any]], max_points: int = MAX_POINTS
                 ) -> tuple[list[dict[str, Any]], int]:
    """``(points, calls per point)``: ``rows`` itself when short enough, else buckets of
    consecutive calls. A bucket's token figures are the mean of its successful calls, its
    hit rate their read over input, cost and drift count summed, causes united, and it is
    failed only when every call in it failed."""
    if len(rows) <= max_points:
        return rows, 1
    size = -(-len(rows) // max_points)
    return [_bucket(rows[i:i + size]) for i in range(0, len(rows), size)], size


def _bucket(group: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [c for c in group if c["ok"]]
    first, last = group[0], group[-1]
    n = max(1, len(ok))
    out: dict[str, Any] = {
        "position": first["position"], "label": f"{first['label']}–{last['label']}",
        "call_id": first["call_id"], "index": first["index"], "turn": first["turn"],
        "step": first["step"], "ok": bool(ok), "session": first["session"],
        "model": first["model"], "latency_s": sum(c["latency_s"] for c in group) / len(group),
        "error": None if ok else first["error"],
        "cumulative_hit_rate": last["cumulative_hit_rate"],
        "drift_causes": sorted({x for c in group for x in c["drift_causes"]}),
        "calls": len(group),
    }
    for k in _MEAN:
        out[k] = round(sum(c[k] for c in ok) / n)
    for k in _SUM:
        out[k] = sum(c[k] for c in group)
    out["hit_rate"] = (sum(c["read"] for c in ok) / s) if (s := sum(c["input"] for c in ok)) \
        else 0.0
    layers: dict[str, dict[str, float]] = {}
    for c in ok:
        for name, lt in c["layers"].items():
            acc = layers.setdefault(name, {"read": 0, "write": 0, "uncached": 0})
            for k in acc:
                acc[k] += lt[k]
    out["layers"] = {name: {k: round(v / n) for k, v in lt.items()}
                     for name, lt in layers.items()}
    return out


def table_rows(rows: list[dict[str, Any]], limit: int = MAX_TABLE_ROWS) -> list[dict[str, Any]]:
    """The per-call rows a table lists: all when few; else the first and last 20 and,
    between them, the calls with a cache miss or an error first, in call order."""
    if len(rows) <= limit:
        return rows
    keep = set(range(20)) | set(range(len(rows) - 20, len(rows)))
    for i, c in enumerate(rows):
        if len(keep) >= limit:
            break
        if c["drift"] or not c["ok"]:
            keep.add(i)
    return [rows[i] for i in sorted(keep)]
