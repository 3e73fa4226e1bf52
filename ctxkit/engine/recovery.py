"""Recovery: after an engine step raised, find the request that caused it.

A step runs every admitted request in one batch, so an error raised by one request's data
(a sampling parameter that overflows, a token the model cannot embed) surfaces for all of
them. ``isolate`` turns that into a per-request verdict: every request is preempted (its
KV freed, its tokens kept, exactly as when the pool runs short), then each is re-admitted
alone and stepped until it samples one more token. A request whose solo run raises is the
culprit and is aborted; the others go back to the waiting queue and carry on where they
were, recomputing their KV (the prefix cache keeps most of it). Knows nothing of threads,
asyncio or HTTP: ``AsyncEngine`` calls it from the engine thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .llm import LLM
    from .sequence import Sequence


def isolate(llm: LLM) -> tuple[list[tuple[Sequence, Exception]], list[Sequence]]:
    """Probe every unfinished request alone after a failed step.

    Returns:
        (culprits with the error each raised alone, requests that advanced while probed).
        Culprits are aborted; every other unfinished request is left waiting.
    """
    sched = llm.scheduler
    sched.preempt_all()
    held = list(sched.waiting)
    sched.waiting.clear()
    culprits: list[tuple[Sequence, Exception]] = []
    advanced: list[Sequence] = []
    cleared: list[Sequence] = []
    for seq in held:
        if seq.is_finished:
            continue
        sched.add(seq)
        start = seq.num_tokens
        # prefill in chunks of the token budget, then one sampled token
        limit = seq.num_tokens // max(1, llm.config.max_num_batched_tokens) + 2
        try:
            for _ in range(limit):
                llm.step()
                if seq.is_finished or seq.num_tokens != start:
                    break
        except Exception as exc:  # this request alone raises: it is the culprit
            llm.abort(seq)
            culprits.append((seq, exc))
            continue
        if seq.num_tokens != start or seq.is_finished:
            advanced.append(seq)
        if not seq.is_finished:
            sched.preempt_all()
            sched.waiting.remove(seq)
            cleared.append(seq)
    sched.waiting.extend(cleared)
    return culprits, advanced
