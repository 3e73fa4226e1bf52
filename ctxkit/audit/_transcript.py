"""Prompts rebuilt from a final transcript: one prompt per assistant turn.

Owns the one rule used wherever a log keeps only the conversation as it ended (mini-swe-agent
``.traj.json``, tau-bench result lists, OpenHands event histories, Claude Code sessions,
SWE-agent ``history``): the prompt of the call that produced assistant message k is
everything before it. Such sessions are marked ``reconstructed``: a history processor or
context trimming the agent applied is not visible, and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._formats import Item
from ._prompt import CallBuilder, RecordedCall
from ._usage import MeasuredUsage


def rebuild_calls(head: Sequence[Item], messages: Sequence[Sequence[Item]],
                  roles: Sequence[str], *, usages: Sequence[MeasuredUsage | None] | None = None,
                  model: str | None = None, final: bool = False) -> list[RecordedCall]:
    """One RecordedCall per assistant message: ``head`` then the messages before it.

    Args:
        head: leading blocks every prompt starts with (system, tools), when known.
        messages: the blocks of each message, in order.
        roles: each message's role (``assistant`` marks a model reply).
        usages: per message, the usage recorded with that assistant reply.
        model: the model the log names.
        final: also add the whole transcript as a last prompt when it does not end with an
            assistant message (a request that was sent, whose reply is not in the log).
    """
    ends = [i for i, r in enumerate(roles) if r == "assistant"]
    if final and (not roles or roles[-1] != "assistant"):
        ends.append(len(roles))
    calls: list[RecordedCall] = []
    for end in ends:
        usage = usages[end] if usages is not None and end < len(usages) else None
        b = CallBuilder(len(calls), usage=usage, model=model)
        for blk, at in head:
            b.add(blk, at)
        for items in messages[:end]:
            for blk, at in items:
                b.add(blk, at)
        calls.append(b.build())
    return calls
