"""No secret of the corpus reaches storage that cannot be cleaned: every stored string
field of a record, the audit log (details, reasons, the queries it now keeps as a
digest), and the trace of a pipeline whose Recall layer searched with the secret."""

from __future__ import annotations

import sqlite3

from ctxkit import ContextPipeline
from ctxkit.layers import History, Recall
from ctxkit.testing import ScriptedBackend

from .test_redact_corpus import SECRETS


def _dump(path) -> str:
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def test_no_secret_reaches_any_field_audit_row_or_trace(make_store, scope, tmp_path, clock):
    store = make_store("secrets")
    trace = tmp_path / "trace.jsonl"
    pipe = ContextPipeline(ScriptedBackend(["ok"] * len(SECRETS)),
                           layers=[History(), Recall(store, scope=scope, k=3)], trace=trace)
    for i, (text, _secret) in enumerate(SECRETS):
        rec = store.write(scope, f"note {i}: {text}", source="tool", source_ref=f"ref {text}",
                          key=f"slot {i} {text}", kind="fact", actor=f"agent {text}",
                          meta={"raw": text, f"k {text}": [text, {"deep": text}]})
        store.search(scope, f"what about {text}", k=2)
        store.revoke(scope, rec.id, reason=f"leaked {text}", by=f"op {text}")
        clock.tick()
    for text, _secret in SECRETS:
        pipe.run(f"recall {text}")
    dump = _dump(tmp_path / "secrets.db")
    trace_text = trace.read_text()
    recall_queries = [line for line in trace_text.splitlines() if '"query"' in line]
    assert recall_queries, "the Recall layer logged its reads in the trace"
    leaked = [s for _t, s in SECRETS if s in dump]
    assert leaked == []
    memory_part = "\n".join(line.split('"memory"', 1)[-1] for line in recall_queries)
    assert [s for _t, s in SECRETS if s in memory_part] == []
    # the audit log keeps a digest of each query, never its text
    reads = [e for e in store.audit(scope, action="read")]
    assert reads and all("query" not in e.detail for e in reads)
    assert all(len(e.detail["query_sha256"]) == 16 for e in reads)
    # the same query digests the same way (operators can still correlate reads)
    store.search(scope, SECRETS[0][0])
    store.search(scope, SECRETS[0][0])
    last = store.audit(scope, action="read")[-2:]
    assert last[0].detail["query_sha256"] == last[1].detail["query_sha256"]
    revokes = store.audit(scope, action="revoke")
    assert len(revokes) == len(SECRETS) and all("[REDACTED:" in e.reason for e in revokes)
