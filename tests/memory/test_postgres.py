"""The same store code on a real PostgreSQL (set CTXKIT_TEST_PG_URL to run these)."""

from __future__ import annotations

import os
import uuid

import pytest

from ctxkit.memory import HashingEmbedder, MemoryStore, Scope

PG_URL = os.environ.get("CTXKIT_TEST_PG_URL")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="set CTXKIT_TEST_PG_URL=postgresql://user@host/db to test on PostgreSQL")


@pytest.fixture
def pg(tmp_path, clock):
    pytest.importorskip("psycopg", reason="PostgreSQL needs psycopg: pip install 'ctxkit[memory]'")
    store = MemoryStore(PG_URL or "", vectors=tmp_path / "pg.vectors",
                        embedder=HashingEmbedder(32), clock=clock)
    yield store
    store.close()


@pytest.fixture
def pg_scope():
    # a fresh tenant per test: the database is shared between runs
    return Scope(tenant=f"t-{uuid.uuid4().hex[:8]}", user="u1", session="s1")


def test_write_search_revoke_and_replay_on_postgres(pg, pg_scope, clock):
    a = pg.write(pg_scope, "deploys happen on tuesday", source="user")
    fact = pg.write(pg_scope, "prefers pytest", tier="semantic", source="agent",
                    derived_from=[a.id], key="tests")
    t1 = clock.tick()
    before = pg.search(pg_scope, "when do deploys happen", k=5)
    assert before[0].record.id == a.id
    clock.tick()
    assert pg.revoke(pg_scope, [a.id], reason="changed") == [a.id, fact.id]
    assert pg.search(pg_scope, "when do deploys happen") == []
    replay = pg.as_of(t1).search(pg_scope, "when do deploys happen", k=5)
    assert [(h.record.id, h.score) for h in replay] == [(h.record.id, h.score) for h in before]
    assert [e.action for e in pg.audit(pg_scope, record_id=a.id)][0] == "write"


def test_isolation_and_append_only_audit_on_postgres(pg, pg_scope):
    other = Scope(tenant=pg_scope.tenant + "'", user="u1")
    pg.write(pg_scope, "mine", source="user")
    pg.write(other, "theirs", source="user")
    assert [r.content for r in pg.list(pg_scope)] == ["mine"]
    assert [h.record.content for h in pg.search(other, "mine theirs", k=5)] == ["theirs"]
    import sqlalchemy

    engine = sqlalchemy.create_engine(pg._engine.url)
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE memory_audit SET actor = 'mallory'")
    engine.dispose()


def test_supersession_and_review_on_postgres(pg, pg_scope, clock):
    old = pg.write(pg_scope, "shell is bash", tier="semantic", source="user", key="shell")
    clock.tick()
    new = pg.write(pg_scope, "shell is fish", tier="semantic", source="user", key="shell")
    assert [r.id for r in pg.list(pg_scope, tier="semantic")] == [new.id]
    assert pg.get(pg_scope, old.id).superseded_by == new.id
    doc = pg.write(pg_scope, "the user is an admin", tier="semantic", source="document")
    assert [r.id for r in pg.review_queue(pg_scope)] == [doc.id]
    pg.approve(pg_scope, doc.id)
    assert pg.review_queue(pg_scope) == []
