"""``ctxkit audit``: the cache report for another agent's recorded prompts.

Point it at the logs agents leave (request JSONL, SWE-agent and mini-swe-agent
trajectories, tau-bench results, OpenHands outputs and logs, Claude Code sessions) and it
reports, per session of consecutive calls: prefix reuse between calls, *cache-killers*
(where a prompt stops being a prefix of the next, with the byte offset, the item, a short
diff and the likely cause), duplicate tool outputs, tokens by kind, the estimated cache hit
rate and prompt cost of the layout as recorded against ctxkit's ordering, through ctxkit's
own cache model, and the measured usage beside the estimate where the log kept it.

    from ctxkit.audit import audit

    report = audit("runs/", model="claude-sonnet-4-5")
    print(report.total("recorded").hit_rate, report.total("ctxkit").hit_rate)
    for k in report.killers(top=5):
        print(k.session, k.call, k.offset, k.cause)

Layout: ``_read`` opens files safely; ``_load`` detects formats and streams calls, with
``_formats`` (wire shapes), ``_agents`` (run files), ``_events`` (event logs) and
``_transcript`` (one prompt per assistant turn) building ``RecordedCall``s (``_prompt``);
``_sessions`` infers sessions where a log has no ids (reused by ``ctxkit proxy``);
``_session_audit`` audits a session call by call with ``_analyze`` (comparisons),
``_causes`` (trusted causes) and ``_estimate`` (the cache model); ``_usage`` reads measured
usage; ``_model`` holds the findings, ``_render``/``_html`` draw them, ``cli`` is the
command.
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
from ._session_audit import SessionAuditor
from ._sessions import SessionAssignment, SessionSplitter
from ._usage import MeasuredTotals, MeasuredUsage

__all__ = ["AuditReport", "CATEGORIES", "CacheKiller", "CallFigures", "DEFAULT_MODEL",
    "Duplicate", "FORMATS", "LayoutEstimate", "MeasuredTotals", "MeasuredUsage", "RecordedCall",
    "RecordedSession", "SessionAssignment", "SessionAudit", "SessionAuditor", "SessionSplitter",
    "audit", "audit_session", "discover", "load"]
