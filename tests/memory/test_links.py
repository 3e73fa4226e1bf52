"""Entity and event links: written with their provenance, followed by recall within one
scope only, revoked with their record, and read as the store stood under ``as_of``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ctxkit import UserError
from ctxkit.memory import RecallParams, Scope

# 13:56 UTC on Monday 8 May 2023 (a LoCoMo session date)
SESSION = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc).timestamp()


def _day(ts: float | None) -> str:
    assert ts is not None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")


def test_a_write_links_its_entities_with_provenance(store, scope, clock):
    clock.now = SESSION
    rec = store.write(scope, "Caroline: my necklace is a gift from my grandma in Sweden, "
                      "we read \"Charlotte's Web\" together")
    links = {link.entity: link for link in store.links(scope, rec.id)}
    assert {"person:caroline", "name:sweden", "thing:charlotte's web",
            "object:necklace"} <= set(links)
    for link in links.values():
        assert (link.record_id, link.extractor, link.created_at) == \
            (rec.id, "rules-v1", SESSION)
        assert link.revoked_at is None


def test_episodes_written_together_share_event_links(store, scope):
    ids = store.write_episodes(scope, ["Melanie: what are you up to?",
                                       "Caroline: researching adoption agencies",
                                       "Melanie: that is wonderful"])
    events = {i: {x.entity for x in store.links(scope, i) if x.kind == "event"} for i in ids}
    assert events[ids[0]] & events[ids[1]] and events[ids[1]] & events[ids[2]]
    assert not events[ids[0]] & events[ids[2]]  # neighbours only
    assert all(x.extractor == "batch-neighbours" for i in ids
               for x in store.links(scope, i) if x.kind == "event")


# following shared entities is opt-in (RecallParams.expand_share; off by default: it cost
# recall on the LoCoMo dev split)
HOPS = RecallParams(expand_share=0.25)


def _fill(store, scope, n: int = 40) -> None:
    # filler so that entity weights are meaningful, then the two hops
    store.write_episodes(scope, [f"note {i}: the weather report number {i} was uneventful"
                                 for i in range(n)])


def test_recall_reaches_the_second_hop_through_a_shared_entity(store, scope):
    _fill(store, scope)
    first = store.write(scope, "Jolene adopted a snake called Seraphina last spring")
    second = store.write(scope, "Seraphina escaped into the garden shed overnight")
    q = "What pet did Jolene adopt?"
    plain = {h.record.id for h in store.search(scope, q, k=3)}
    assert first.id in plain and second.id not in plain  # the second hop shares no word
    hits = store.recall(scope, q, k=4, recall_params=HOPS)
    got = {h.record.id: h.score for h in hits}
    assert first.id in got and second.id in got
    assert got[second.id] < got[first.id]  # a candidate, scored below its seed
    reads = store.audit(scope, record_id=second.id, action="read")
    assert reads[-1].detail["via"] == "recall" and \
        reads[-1].detail["via_link"] == "name:seraphina"
    assert second.id not in {h.record.id for h in store.recall(
        scope, q, k=4, expand=False, recall_params=HOPS)}


def test_links_never_cross_users_or_tenants(store, clock):
    mine = Scope(tenant="acme", user="u1", session="s1")
    other_user = Scope(tenant="acme", user="u2", session="s1")
    other_tenant = Scope(tenant="globex", user="u1", session="s1")
    for s in (mine, other_user, other_tenant):
        _fill(store, s)
    first = store.write(mine, "Jolene adopted a snake called Seraphina")
    leaks = [store.write(s, f"Seraphina is the password hint of {s.tenant}/{s.user}")
             for s in (other_user, other_tenant)]
    own_link = store.write(mine, "Seraphina sheds her skin every month")
    got = {h.record.id for h in store.recall(mine, "What pet did Jolene adopt?", k=10,
                                             recall_params=HOPS)}
    assert first.id in got and own_link.id in got
    assert not got & {r.id for r in leaks}
    # the other scopes hold their own links, and see none of mine
    assert {x.record_id for x in store.links(other_user)} & {first.id, own_link.id} == set()
    assert all(h.record.scope.user == "u1" and h.record.scope.tenant == "acme"
               for h in store.recall(mine, "Seraphina", k=50, recall_params=HOPS))


def test_revocation_cascades_through_links(store, scope, clock):
    _fill(store, scope)
    first = store.write(scope, "Jolene adopted a snake called Seraphina")
    second = store.write(scope, "Seraphina escaped into the garden shed overnight")
    q = "What pet did Jolene adopt?"
    assert second.id in {h.record.id for h in store.recall(scope, q, k=4, recall_params=HOPS)}
    t_before = clock.tick()
    clock.tick()
    store.revoke(scope, [second.id], reason="wrong animal")
    assert all(x.revoked_at == clock.now
               for x in store.links(scope, second.id, include_revoked=True))
    assert store.links(scope, second.id) == []
    assert second.id not in {h.record.id for h in store.recall(scope, q, k=40,
                                                               recall_params=HOPS)}
    # revoking the seed: the record it linked to is not reached through it any more
    third = store.write(scope, "Seraphina likes the warm lamp in the living room")
    assert third.id in {h.record.id for h in store.recall(scope, q, k=4, recall_params=HOPS)}
    clock.tick()
    store.revoke(scope, [first.id], reason="wrong person")
    hits = store.recall(scope, q, k=4, recall_params=HOPS)
    assert first.id not in {h.record.id for h in hits}
    reached = {h.record.id for h in hits} - {h.record.id for h in store.recall(
        scope, q, k=4, expand=False, recall_params=HOPS)}
    assert third.id not in reached  # nothing is reached through a revoked seed
    # as_of before the revocation recalls (and links) as the store did then
    then = store.as_of(t_before)
    assert second.id in {h.record.id for h in then.recall(scope, q, k=4,
                                                          recall_params=HOPS)}
    assert {x.entity for x in then.links(scope, second.id)} >= {"name:seraphina"}


def test_relative_dates_resolve_against_the_write_time(store, scope, clock):
    clock.now = SESSION  # Monday 8 May 2023
    cases = {
        "I went to a support group yesterday": ("2023-05-07", "2023-05-08"),
        "we went camping two weeks ago": ("2023-04-24", "2023-05-01"),
        "last Tuesday I ran a charity race": ("2023-05-02", "2023-05-03"),
        "last year I started painting": ("2023-01-01", "2024-01-01"),
        "next month we visit the museum": ("2023-06-01", "2023-07-01"),
        "the concert on 20 August, 2022 was loud": ("2022-08-20", "2022-08-21"),
    }
    cases["last year I started painting"] = ("2022-01-01", "2023-01-01")
    for text, (start, end) in cases.items():
        rec = store.write(scope, text)
        (link,) = [x for x in store.links(scope, rec.id) if x.kind == "time"]
        assert (_day(link.event_start), _day(link.event_end)) == (start, end), text
        assert link.created_at == SESSION  # the write time stays beside the event time


def test_temporal_questions_prefer_records_dated_in_range(store, scope, clock):
    clock.now = SESSION
    _fill(store, scope)
    may = store.write(scope, "Melanie: I painted a sunrise over the lake yesterday")
    clock.now = SESSION + 90 * 86_400  # August
    aug = store.write(scope, "Melanie: I painted a sunrise over the lake")
    hits = store.recall(scope, "What did Melanie paint in May 2023?", k=2)
    assert [h.record.id for h in hits][0] == may.id
    hits = store.recall(scope, "What did Melanie paint in August 2023?", k=2)
    assert [h.record.id for h in hits][0] == aug.id
    # as_of before the August write: only May's record exists
    then = [h.record.id for h in store.as_of(SESSION + 60).recall(
        scope, "What did Melanie paint in August 2023?", k=2)]
    assert then[0] == may.id and aug.id not in then


NEAR = RecallParams(neighbour_weights=(0.6, 0.35))
EXCHANGE = ["user: which city did the conference take place in this year?",
            "assistant: Lisbon, right by the river",
            "user: and the talks were recorded for everyone",
            "assistant: the slides are online too"]
QUESTION = "which city did the conference take place in?"


def test_entity_hops_are_off_by_default(store, scope):
    _fill(store, scope)
    store.write(scope, "Jolene adopted a snake called Seraphina last spring")
    second = store.write(scope, "Seraphina escaped into the garden shed overnight")
    assert RecallParams().expand_share == 0.0
    assert second.id not in {h.record.id for h in store.recall(
        scope, "What pet did Jolene adopt?", k=4)}


def test_a_hit_lifts_the_turns_next_to_it_in_its_exchange(store, scope):
    _fill(store, scope)
    ids = store.write_episodes(scope, EXCHANGE)
    flat = [h.record.id for h in store.recall(
        scope, QUESTION, k=3, recall_params=RecallParams(neighbour_weights=()))]
    assert flat[0] == ids[0] and ids[1] not in flat  # the answer shares no word
    assert RecallParams().neighbour_weights == NEAR.neighbour_weights  # on by default
    hits = store.recall(scope, QUESTION, k=3)
    got = [h.record.id for h in hits]
    assert got[:3] == [ids[0], ids[1], ids[2]]  # one turn away, then two
    assert hits[0].score > hits[1].score > hits[2].score  # scored below their anchor
    assert abs(hits[1].score - 0.6 * hits[0].score) < 1e-6
    read = store.audit(scope, record_id=ids[1], action="read")[-1]
    assert read.detail["via_link"] == f"neighbour:{ids[0]}"
    assert ids[1] not in {h.record.id for h in store.recall(
        scope, QUESTION, k=3, expand=False, recall_params=NEAR)}


def test_neighbours_stay_in_the_scope_and_skip_revoked_records(store, scope, clock):
    other = Scope(tenant=scope.tenant, user="someone-else", session=scope.session)
    for s in (scope, other):
        _fill(store, s)
    theirs = store.write_episodes(other, EXCHANGE)
    ids = store.write_episodes(scope, EXCHANGE)
    got = {h.record.id for h in store.recall(scope, QUESTION, k=6, recall_params=NEAR)}
    assert {ids[0], ids[1], ids[2]} <= got and not got & set(theirs)
    t_before = clock.tick()
    clock.tick()
    store.revoke(scope, [ids[1]], reason="wrong city")
    got = [h.record.id for h in store.recall(scope, QUESTION, k=3, recall_params=NEAR)]
    # the revoked turn is never returned, and the chain does not run through it
    assert got[0] == ids[0] and ids[1] not in got and ids[2] not in got[:2]
    clock.tick()
    store.revoke(scope, [ids[0]], reason="asked twice")
    reached = {h.record.id for h in store.recall(scope, QUESTION, k=3, recall_params=NEAR)}
    assert ids[0] not in reached and ids[1] not in reached
    # as_of before the revocations recalls as the store stood
    then = [h.record.id for h in store.as_of(t_before).recall(
        scope, QUESTION, k=3, recall_params=NEAR)]
    assert then[:2] == [ids[0], ids[1]]


def test_neighbour_weights_are_checked():
    assert RecallParams(neighbour_weights=[0.5]).neighbour_weights == (0.5,)
    with pytest.raises(UserError, match="neighbour_weights"):
        RecallParams(neighbour_weights=(0.6, 1.5))
