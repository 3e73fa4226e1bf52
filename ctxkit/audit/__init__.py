"""``ctxkit audit``: the cache report for another agent's recorded prompts.

Point it at recorded prompts (OpenAI or Anthropic message-list JSONL, SWE-agent ``.traj``,
a directory of OpenHands ``prompt_NNN.log``) and it reports, per session of consecutive
calls: prefix reuse between calls, *cache-killers* (where a prompt stops being a prefix of
the next, with the byte offset, the item, a short diff and the likely cause), duplicate tool
outputs, tokens by kind, and the estimated cache hit rate and prompt cost of the layout as
recorded against ctxkit's ordering, through ctxkit's own cache model.

    from ctxkit.audit import audit

    report = audit("runs/", model="claude-sonnet-4-5")
    print(report.total("recorded").hit_rate, report.total("ctxkit").hit_rate)
    for k in report.killers(top=5):
        print(k.session, k.call, k.offset, k.cause)

Layout: ``_load``/``_formats`` read files into ``RecordedSession`` (``_prompt``),
``_analyze`` compares calls, ``_estimate`` replays both layouts through the cache model,
``_model`` holds the findings, ``_render`` draws them, ``cli`` is the command.
"""

from ._audit import DEFAULT_MODEL, audit, audit_session
from ._load import FORMATS, discover, load
from ._model import (
    AuditReport,
    CacheKiller,
    CallFigures,
    Duplicate,
    LayoutEstimate,
    SessionAudit,
)
from ._prompt import CATEGORIES, RecordedCall, RecordedSession

__all__ = ["AuditReport", "CATEGORIES", "CacheKiller", "CallFigures", "DEFAULT_MODEL",
    "Duplicate", "FORMATS", "LayoutEstimate", "RecordedCall", "RecordedSession", "SessionAudit",
    "audit", "audit_session", "discover", "load"]
