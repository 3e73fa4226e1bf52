"""The in-process search snapshot ranks exactly as SQL + LanceDB do: same ids, same order,
same scores, through revocation, expiry, review, supersession, as_of, filters, and writes
made by another store object (another process) between searches."""

from __future__ import annotations

import random

import pytest

from ctxkit.memory import Scope

WORDS = ("deploy pytest parser invoice refund coffee holiday release branch merge review "
         "cache index query plan module staging outage billing vendor").split()


def _same(a, b):
    assert [h.record.id for h in a] == [h.record.id for h in b]
    assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)


def test_snapshot_and_sql_paths_rank_the_same(make_store, clock):
    fast = make_store("snap")
    slow = make_store("snap", search_cache_mb=0)  # the same files, searched in SQL
    assert fast.snapshots is not None and slow.snapshots is None
    other = Scope(tenant="acme", user="u2")
    r = random.Random(3)
    scopes = [Scope(tenant="acme", user="u1", session=f"s{i}") for i in range(3)]
    ids = []
    for step in range(12):
        for sc in scopes:
            items = [{"content": " ".join(r.choice(WORDS) for _ in range(r.randint(3, 9))),
                      "tier": r.choice(["episodic", "semantic"]),
                      "source": r.choice(["user", "agent", "tool"]),
                      "kind": r.choice(["note", "fact"]),
                      "key": r.choice([None, None, "editor", "city"]),
                      "ttl": r.choice([None, None, 30.0])} for _ in range(4)]
            writer = fast if step % 2 else slow  # changes made through either object
            ids += [rec.id for rec in writer.write_many(sc, items)]
            fast.write(other, "deploy staging billing " * 3, source="user")
        clock.tick(7)
        if step % 3 == 2:
            fast.revoke(scopes[0], r.sample(ids, 3), reason="test")
        pending = slow.review_queue(scopes[0])
        if pending:
            (fast if step % 2 else slow).approve(scopes[0], pending[0].id)
        times = [None, clock.now - 20, clock.now - 60]
        for _ in range(6):
            q = " ".join(r.choice(WORDS) for _ in range(3))
            kw = r.choice([{}, {"tier": "semantic"}, {"session": "s1"}, {"kinds": ["fact"]}])
            at = r.choice(times)
            va = fast if at is None else fast.as_of(at)
            vb = slow if at is None else slow.as_of(at)
            _same(va.search(scopes[0], q, k=8, **kw), vb.search(scopes[0], q, k=8, **kw))
