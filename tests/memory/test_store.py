"""MemoryStore basics through the public API: fields, provenance, dedupe, TTL, tiers,
validation, persistence across reopen, the append-only audit log."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from ctxkit import Provenance, StoreError, UserError
from ctxkit.memory import MemoryStore, Scope


def test_write_returns_a_record_with_every_field(store, scope, clock):
    rec = store.write(scope, "prefers pytest over unittest", tier="semantic", source="user",
                      source_ref="turn:3", kind="preference", key="test_framework",
                      meta={"lang": "python"})
    assert len(rec.id) == 32
    assert rec.scope == scope and rec.tier == "semantic" and rec.kind == "preference"
    assert rec.source == "user" and rec.source_ref == "turn:3" and rec.trust == "trusted"
    assert rec.created_at == clock.now and rec.valid_until is None
    assert rec.key == "test_framework" and rec.meta == {"lang": "python"}
    assert rec.revoked_at is None and rec.superseded_by is None and rec.review == "none"
    assert rec.provenance == Provenance(source="user", ref="turn:3", at=clock.now)
    again = store.get(scope, rec.id)
    assert again.content == rec.content and again.key == rec.key


def test_search_finds_the_matching_record_first(store, scope):
    store.write(scope, "prefers pytest over unittest for the test suite", tier="semantic",
                source="user")
    store.write(scope, "deploys go to the staging cluster on fridays", source="agent")
    store.write(scope, "the build uses poetry and python 3.11", source="agent")
    hits = store.search(scope, "which test framework: pytest or unittest?", k=5)
    assert hits, "a lexical match must be found"
    rec, score = hits[0]
    assert "pytest" in rec.content
    assert 0 < score <= 1.0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_tool_and_document_sources_are_untrusted_by_default(store, scope):
    assert store.write(scope, "README says run make", source="document").trust == "untrusted"
    assert store.write(scope, "grep found 3 files", source="tool").trust == "untrusted"
    assert store.write(scope, "I use vim", source="user").trust == "trusted"


def test_dedupe_by_canonical_content_returns_the_existing_record(store, scope):
    a = store.write(scope, "The user prefers  dark mode.", source="user")
    b = store.write(scope, "the user prefers dark mode", source="user")
    assert a.id == b.id
    assert len(store.list(scope)) == 1
    actions = [e.action for e in store.audit(scope, record_id=a.id)]
    assert actions[:2] == ["write", "dedupe"]


def test_episodic_dedupe_is_per_session_semantic_is_per_user(store, scope):
    other = scope.with_session("s2")
    e1 = store.write(scope, "ran the tests", source="agent")
    e2 = store.write(other, "ran the tests", source="agent")
    assert e1.id != e2.id  # the same event in two sessions is two events
    f1 = store.write(scope, "likes tea", tier="semantic", source="user")
    f2 = store.write(other, "likes tea", tier="semantic", source="user")
    assert f1.id == f2.id  # a fact is a fact for the user


def test_a_revoked_duplicate_does_not_swallow_a_new_write(store, scope):
    a = store.write(scope, "the deploy key is rotated monthly", source="agent")
    store.revoke(scope, [a.id], reason="stale")
    b = store.write(scope, "the deploy key is rotated monthly", source="agent")
    assert b.id != a.id and [r.id for r in store.list(scope)] == [b.id]


def test_ttl_expired_records_stop_being_returned(store, scope, clock):
    store.write(scope, "the staging cluster is down for maintenance", source="agent", ttl=60)
    store.write(scope, "the staging cluster runs kubernetes", source="agent",
                ttl=timedelta(days=1))
    assert len(store.search(scope, "staging cluster", k=5)) == 2
    clock.tick(61)
    hits = store.search(scope, "staging cluster", k=5)
    assert [h.record.content for h in hits] == ["the staging cluster runs kubernetes"]
    assert len(store.list(scope)) == 1
    assert len(store.list(scope, include_hidden=True)) == 2


def test_tier_session_and_kind_filters(store, scope):
    store.write(scope, "coffee preference: espresso", tier="semantic", source="user")
    store.write(scope, "coffee machine broke", source="agent", kind="event")
    store.write(scope.with_session("s2"), "coffee order placed", source="agent", kind="event")
    assert {h.record.tier for h in store.search(scope, "coffee", tier="semantic")} == \
        {"semantic"}
    got = store.search(scope, "coffee", session="s2")
    assert [h.record.content for h in got] == ["coffee order placed"]
    assert {h.record.kind for h in store.search(scope, "coffee", kinds=["event"])} == {"event"}


def test_min_score_drops_weak_hits(store, scope):
    store.write(scope, "alpha beta gamma", source="agent")
    store.write(scope, "delta epsilon", source="agent")
    assert len(store.search(scope, "alpha", k=5)) == 2
    assert len(store.search(scope, "alpha", k=5, min_score=0.3)) == 1


def test_records_survive_reopening_the_store(make_store, scope):
    s1 = make_store("persist")
    rec = s1.write(scope, "the api lives in services/api", source="agent")
    s1.close()
    s2 = make_store("persist")
    assert s2.get(scope, rec.id).content == rec.content
    assert s2.search(scope, "where is the api", k=1)[0].record.id == rec.id


@pytest.mark.parametrize("kwargs, words", [
    (dict(tier="working"), "tier"),
    (dict(source="internet"), "source"),
    (dict(trust="maybe"), "trust"),
    (dict(ttl=-5), "ttl"),
    (dict(meta={"x": object()}), "JSON"),
])
def test_bad_writes_say_what_is_wrong(store, scope, kwargs, words):
    with pytest.raises(UserError, match=words):
        store.write(scope, "x", **kwargs)


def test_scope_is_required_and_validated(store):
    with pytest.raises(UserError, match="Scope"):
        store.write(None, "x")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="tenant"):
        Scope(tenant="", user="u")
    with pytest.raises(UserError, match="user"):
        Scope(tenant="t", user=None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="empty"):
        store.write(Scope(tenant="t", user="u"), "   ")


def test_get_of_an_unknown_id_is_a_store_error(store, scope):
    with pytest.raises(StoreError, match="no memory record"):
        store.get(scope, "0" * 32)


def test_derived_from_must_name_records_of_the_same_scope(store, scope):
    other = Scope(tenant="acme", user="u2")
    theirs = store.write(other, "their secret plan", source="user")
    with pytest.raises(UserError, match="derived_from"):
        store.write(scope, "summary", derived_from=[theirs.id])


def test_audit_log_is_append_only_in_the_database(store, scope, tmp_path):
    rec = store.write(scope, "x marks the spot", source="user")
    store.close()
    con = sqlite3.connect(tmp_path / "mem.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE memory_audit SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM memory_audit")
    con.close()
    reopened = MemoryStore(f"sqlite:///{tmp_path / 'mem.db'}", vectors=tmp_path / "v2")
    assert [e.action for e in reopened.audit(scope, record_id=rec.id)] == ["write"]


def test_sqlite_store_runs_in_wal_mode(store, scope, tmp_path):
    store.write(scope, "wal please", source="user")
    con = sqlite3.connect(tmp_path / "mem.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_vectors_of_another_embedder_are_refused(make_store, scope):
    from ctxkit.memory import HashingEmbedder

    s1 = make_store("emb", embedder=HashingEmbedder(64))
    s1.write(scope, "hello there", source="user")
    s1.search(scope, "hello")
    s1.close()
    s2 = make_store("emb", embedder=HashingEmbedder(32))
    with pytest.raises(StoreError, match="embedder"):
        s2.search(scope, "hello")
