"""Consolidation episodic -> semantic: newest wins (old kept, superseded-by), untrusted
content waits for review, revocation of an episode takes its facts along."""

from __future__ import annotations

import pytest

from ctxkit import UserError
from ctxkit.memory import ExtractedFact


def test_a_newer_fact_of_the_same_key_supersedes_the_old_one(store, scope, clock):
    old = store.write(scope, "prefers pytest over unittest", tier="semantic", source="user",
                      key="test_framework")
    clock.tick()
    new = store.write(scope, "switched to unittest for this repo", tier="semantic",
                      source="user", key="test_framework")
    assert [r.id for r in store.list(scope, tier="semantic")] == [new.id]
    kept = store.get(scope, old.id)
    assert kept.superseded_by == new.id and kept.revoked_at is None
    assert [h.record.id for h in store.search(scope, "pytest unittest", tier="semantic")] == \
        [new.id]


def test_revoking_the_newest_fact_brings_the_previous_one_back(store, scope, clock):
    old = store.write(scope, "deploy target: staging", tier="semantic", source="user",
                      key="deploy")
    clock.tick()
    bad = store.write(scope, "deploy target: production", tier="semantic", source="user",
                      key="deploy")
    clock.tick()
    store.revoke(scope, [bad.id], reason="user never said that")
    assert [r.id for r in store.list(scope, tier="semantic")] == [old.id]
    assert store.get(scope, old.id).superseded_by is None


def test_consolidation_promotes_marked_and_first_person_facts(store, scope, clock):
    store.write(scope, "use ruff, not flake8", source="user", kind="preference",
                meta={"key": "linter"})
    store.write(scope, "My favorite editor is helix. Anyway, the build broke.", source="user")
    store.write(scope, "the build broke at 10:02", source="agent")  # no fact in it
    clock.tick()
    report = store.consolidate(scope)
    assert report.considered == 3 and report.pending == []
    facts = {r.content: r for r in store.list(scope, tier="semantic")}
    assert set(facts) == {"use ruff, not flake8", "my favorite editor is helix"}
    assert facts["use ruff, not flake8"].key == "linter"
    assert facts["my favorite editor is helix"].key == "favorite editor"
    assert all(len(f.derived_from) == 1 for f in facts.values())
    assert store.consolidate(scope).promoted == []  # already consolidated episodes are done


def test_consolidation_newest_wins_and_reports_what_it_superseded(store, scope, clock):
    store.write(scope, "My shell is bash", source="user")
    clock.tick()
    first = store.consolidate(scope)
    clock.tick()
    store.write(scope, "my shell is fish these days", source="user")
    clock.tick()
    second = store.consolidate(scope)
    assert second.superseded == first.promoted
    assert [r.content for r in store.list(scope, tier="semantic")] == \
        ["my shell is fish these days"]
    assert store.get(scope, first.promoted[0]).superseded_by == second.promoted[0]


def test_untrusted_content_is_never_promoted_without_review(store, scope, clock):
    ep = store.write(scope, "My password policy is none, says the fetched web page",
                     source="tool", source_ref="https://evil.example")
    clock.tick()
    report = store.consolidate(scope)
    assert report.promoted == [] and len(report.pending) == 1
    pending = report.pending[0]
    assert store.list(scope, tier="semantic") == []
    assert store.search(scope, "password policy", tier="semantic") == []
    queue = store.review_queue(scope)
    assert [r.id for r in queue] == [pending] and queue[0].derived_from == (ep.id,)
    clock.tick()
    approved = store.approve(scope, pending, by="alice", reason="checked with the user")
    assert approved.review == "approved" and approved.trust == "untrusted"
    assert [r.id for r in store.list(scope, tier="semantic")] == [pending]
    assert store.review_queue(scope) == []
    assert [e.action for e in store.audit(scope, record_id=pending, action="approve")] == \
        ["approve"]


def test_direct_untrusted_semantic_writes_wait_too_and_reject_revokes(store, scope, clock):
    rec = store.write(scope, "the user is an admin", tier="semantic", source="document")
    assert rec.review == "pending"
    assert store.search(scope, "admin") == []
    clock.tick()
    store.reject(scope, rec.id, by="alice", reason="not true")
    shown = store.get(scope, rec.id)
    assert shown.review == "rejected" and shown.revoked_at is not None
    with pytest.raises(UserError, match="not waiting for review"):
        store.approve(scope, rec.id)


def test_approval_is_replayed_by_as_of(store, scope, clock):
    rec = store.write(scope, "team uses trunk-based development", tier="semantic",
                      source="document")
    t_pending = clock.tick()
    clock.tick()
    store.approve(scope, rec.id)
    clock.tick()
    assert len(store.search(scope, "trunk-based development")) == 1
    assert store.as_of(t_pending).search(scope, "trunk-based development") == []
    assert store.as_of(t_pending).get(scope, rec.id).review == "pending"


def test_a_custom_extractor_and_revocation_of_its_source(store, scope, clock):
    ep = store.write(scope, "we agreed the release is on 3 March", source="user")
    clock.tick()
    report = store.consolidate(
        scope, extractor=lambda r: ExtractedFact("release date: 3 March", key="release",
                                                 kind="decision")
        if "release" in r.content else None)
    assert len(report.promoted) == 1
    clock.tick()
    assert store.revoke(scope, [ep.id], reason="misheard") == [ep.id, report.promoted[0]]
    assert store.list(scope, tier="semantic") == []


def test_a_bad_extractor_is_a_user_error(store, scope):
    store.write(scope, "anything", source="user")
    with pytest.raises(UserError, match="ExtractedFact"):
        store.consolidate(scope, extractor=lambda r: ["not a fact"])
