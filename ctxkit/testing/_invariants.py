"""The prefix invariant as a reusable assertion.

Consecutive calls of one session extend the same serialized prefix: the previous call's
stable region (up to its last cache request) is a prefix of the next call's blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def assert_prefix_extends(drafts: Sequence[Any], *, allow: Sequence[int] = ()) -> None:
    """Assert each draft's stable region is a byte prefix of the next draft.

    Args:
        drafts: the drafts of one session, in call order.
        allow: indices ``i`` where draft ``i`` may move the prefix (declared rewrites).
    """
    for i in range(1, len(drafts)):
        if i in allow:
            continue
        prev, cur = drafts[i - 1], drafts[i]
        end = prev.stable_end
        before = prev.serialize(end)
        now = cur.serialize(end)
        if before != now or len(cur.blocks) < end:
            k = next((j for j in range(min(end, len(cur.blocks)))
                      if prev.blocks[j].hash != cur.blocks[j].hash), end)
            where = prev.blocks[k].key if k < end else "(end)"
            raise AssertionError(
                f"call {i} does not extend call {i - 1}'s cached prefix: first change at "
                f"block {k} ({where})")
