"""Crash safety: a child process writing (and searching, so LanceDB is mid-append too) is
killed with SIGKILL mid-stream; every write that returned is still there, the store
opens cleanly, search finds the records, and writing goes on."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

CHILD = textwrap.dedent("""
    import sys
    from ctxkit.memory import HashingEmbedder, MemoryStore, Scope
    store = MemoryStore(sys.argv[1], vectors=sys.argv[2], embedder=HashingEmbedder(32))
    scope = Scope(tenant="acme", user="u1", session="crash")
    i = 0
    while True:
        rec = store.write(scope, f"crash record number {i} about deploys", source="agent")
        print(rec.id, flush=True)   # printed only after write() returned
        if i % 7 == 0:
            store.search(scope, "deploys", k=3)   # embeds the backlog into LanceDB
        i += 1
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_stream_loses_no_returned_write(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    vectors = tmp_path / "crash.vectors"
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(vectors)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returned: list[str] = []
    deadline = time.monotonic() + 120
    assert child.stdout is not None
    while len(returned) < 150 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        returned.append(line.strip())
    os.kill(child.pid, signal.SIGKILL)
    rest, err = child.communicate(timeout=30)
    returned += [x for x in rest.split() if len(x) == 32]  # printed before the kill landed
    assert child.returncode == -signal.SIGKILL
    assert len(returned) >= 150, f"child wrote too little before the deadline: {err[-2000:]}"

    con = sqlite3.connect(tmp_path / "crash.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    store = MemoryStore(url, vectors=vectors, embedder=HashingEmbedder(32))
    scope = Scope(tenant="acme", user="u1")
    stored = {r.id for r in store.list(scope)}
    missing = [rid for rid in returned if rid not in stored]
    assert missing == [], f"{len(missing)} returned writes were lost"
    hits = store.search(scope, f"crash record number {len(returned) - 1}", k=3)
    assert hits and hits[0].record.id in stored
    assert store.vector_index().count() >= len(stored)  # the backlog was re-embedded
    after = store.write(scope, "life goes on after the crash", source="agent")
    assert store.get(scope, after.id).content == "life goes on after the crash"
    store.close()
