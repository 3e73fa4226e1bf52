"""The message-list baselines: ``naive``, ``best_practice_breakpoints``, ``sliding_window``.

Owns replaying a Script as a plain message list the way a user writes it by hand, and
each baseline's layout and cut rule:

* ``naive`` (a floor only): a timestamp opens the system prompt, tools in a per-call
  order, no cache breakpoints; the oldest messages go when the window overflows.
* ``best_practice_breakpoints``: a byte-stable prefix with breakpoints on the system
  prompt and the last tool (1h) and one moving breakpoint on the last message (5m), as
  Anthropic's prompt-caching guide recommends; when the window overflows, the oldest
  turns are truncated — in one cut down to ``free`` of the window free, so the calls
  after a cut extend a cached prefix again instead of missing on every call.
* ``sliding_window``: the last N tokens (N: the window less the prefix and the reply
  reserve), cut at message-pair boundaries every call; the same breakpoints.

A cut never separates a tool call from its result. Knows nothing of scoring beyond
handing each prompt to the Scorer.
"""

from __future__ import annotations

import random
import time

from .score import Prompt, Scorer, Segment
from .sessions import Script

BASELINES = ("naive", "best_practice_breakpoints", "sliding_window")


def prefix_segments(script: Script, *, naive_call: int | None = None) -> list[Segment]:
    from ctxkit import canonical_json

    system = script.system
    tools = [Segment("tool", canonical_json(t)) for t in script.tools]
    if naive_call is not None:  # the clock first (its own segment: counted once per call)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1_767_225_600 + 12 * naive_call))
        random.Random(naive_call).shuffle(tools)
        return [Segment("system", f"Current time: {stamp}"), Segment("system", system), *tools]
    return [Segment("system", system), *tools]


def units_of(script: Script) -> list[tuple[int, list[Segment]]]:
    """(call index the unit enters the prompt at, segments) for the whole session.

    A unit is what a cut drops at once: a user message, or the model's message with its
    tool call and the call's result."""
    out: list[tuple[int, list[Segment]]] = []
    for i, c in enumerate(script.calls):
        if c.user is not None:
            out.append((i, [Segment("user", c.user)]))
        segs = [Segment("assistant", c.reply)]
        if c.tool is not None:
            cid = f"call_{i}"
            segs += [Segment("tool_use", f"{c.tool} {c.args}", cid),
                     Segment("tool_result", c.output, cid)]
        out.append((i + 1, segs))
    return out


def run_baseline(name: str, script: Script, scorer: Scorer, free: float = 0.25) -> None:
    count = scorer.count
    units = units_of(script)
    prefix = prefix_segments(script)
    widest = prefix_segments(script, naive_call=0) if name == "naive" else prefix
    prefix_tokens = sum(count(s.text) + 4 for s in widest) + (2 if name == "naive" else 0)
    budget = scorer.limit - prefix_tokens
    start = 0          # first unit still in the prompt
    sizes = [sum(count(s.text) + 4 for s in segs) for _, segs in units]
    shown = 0          # units entered so far
    total = 0          # tokens of units[start:shown]
    for i, c in enumerate(script.calls):
        while shown < len(units) and units[shown][0] <= i:
            total += sizes[shown]
            shown += 1
        if total > budget:
            target = budget if name != "best_practice_breakpoints" else \
                budget - int(free * (scorer.limit + 4096))
            while total > target and start < shown - 1:
                total -= sizes[start]
                start += 1
            scorer.t.compactions += 1
        msgs = [s for _, segs in units[start:shown] for s in segs]
        if name == "naive":
            prompt = Prompt(prefix_segments(script, naive_call=i) + msgs)
        else:
            bps = {0: "1h", len(prefix) - 1: "1h"}
            if msgs:
                bps[len(prefix) + len(msgs) - 1] = "5m"
            prompt = Prompt(prefix + msgs, bps)
        scorer.call(prompt, reply=c.reply, new_turn=c.user is not None,
                    needs=[(script.facts[n].kind, script.facts[n].probe) for n in c.needs])
