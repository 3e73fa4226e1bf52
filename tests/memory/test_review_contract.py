"""The review API as the issue names it: ``store.review_queue()`` and ``store.approve(id)``
for an operator, beside the scoped forms."""

from __future__ import annotations

import pytest

from ctxkit import StoreError, UserError
from ctxkit.memory import MemoryStore, Scope


def test_operator_review_queue_and_approve_by_id(store: MemoryStore) -> None:
    a, b = Scope(tenant="acme", user="u1"), Scope(tenant="globex", user="u9")
    ra = store.write(a, "the deploy key lives in vault", tier="semantic", source="tool")
    rb = store.write(b, "staging is eu-west-1", tier="semantic", source="tool")
    queue = store.review_queue()
    assert {r.id for r in queue} == {ra.id, rb.id}
    assert {r.id for r in store.review_queue(a)} == {ra.id}  # the scoped form sees one tenant
    approved = store.approve(ra.id)
    assert approved.id == ra.id and approved.scope.tenant == "acme"
    assert [r.id for r in store.review_queue()] == [rb.id]
    store.reject(b, rb.id, reason="not a fact")
    assert store.review_queue() == []
    assert any(e.action == "approve" for e in store.audit(a, record_id=ra.id))
    with pytest.raises(StoreError, match="no memory record"):
        store.approve("nope")
    with pytest.raises(UserError):
        store.approve(a)  # a scope without the record id
