"""Entity and event links between records of one scope: written with the records, read by
recall's expansion.

Owns the ``memory_links`` rows. At write time every new record is linked to the entities
the rule extractor finds in it (``_entities``: people, named things, known nouns, dates
resolved against the write time) and, for episodic records written together in one
session (a compacted exchange), to its neighbours in the batch through a shared ``event``
entity. Each link names its extractor and when it was made. At read time links are
followed only inside the session's scope: the table is scoped like every other, so the
store's guard adds the tenant and user to every query here, and an entity two users both
mention links nothing across them. A link is live at ``t`` while its record is visible at
``t`` and the link itself was not revoked by then; revoking a record revokes its links in
the same transaction. Knows nothing of ranking or fusion (``_recall``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ._entities import EXTRACTOR, extract
from ._models import LinkRow, RecordRow
from ._scope import Scope

# an entity more than this share of the scope mentions (a speaker's own name, say) says
# nothing about what a record is about: expansion skips it
MAX_SHARE = 0.05
MIN_FANOUT = 8


def link_rows(scope: Scope, rows: Sequence[Any], now: float,
              terms: Sequence[Iterable[str]] | None = None) -> list[dict[str, Any]]:
    """Link rows for freshly written ``rows`` (record namespaces, in write order), with
    their index ``terms`` when the caller has them."""
    who = {"tenant": scope.tenant, "user_id": scope.user}
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for e in extract(row.content, row.created_at, terms[i] if terms else None):
            out.append({"record_id": row.id, "entity": f"{e.kind}:{e.name}"[:200],
                        "kind": e.kind, "extractor": EXTRACTOR, "created_at": now,
                        "event_start": e.start, "event_end": e.end, "revoked_at": None,
                        **who})
    # neighbours of one exchange share an event: consecutive episodic records written
    # together by one session
    episodic = [r for r in rows if r.tier == "episodic"]
    for a, b in zip(episodic, episodic[1:], strict=False):
        if a.session != b.session:
            continue
        entity = f"event:{a.id}"
        for rid in (a.id, b.id):
            out.append({"record_id": rid, "entity": entity, "kind": "event",
                        "extractor": "batch-neighbours", "created_at": now,
                        "event_start": None, "event_end": None, "revoked_at": None, **who})
    return out


def revoke_links(db: Session, record_id: str, now: float) -> None:
    """Revoke every live link of a record (revocation's cascade through links)."""
    db.execute(update(LinkRow).where(LinkRow.record_id == record_id,
                                     LinkRow.revoked_at.is_(None)).values(revoked_at=now))


def _live(t: float) -> list[Any]:
    return [LinkRow.created_at <= t,
            or_(LinkRow.revoked_at.is_(None), LinkRow.revoked_at > t)]


def _visible(db: Session, ids: Iterable[str], t: float) -> set[str]:
    from ._search import _visible_ids  # the cached statement search uses

    ids = list(ids)
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        out |= set(db.scalars(_visible_ids(False), {"t": t, "ids": ids[i:i + 500]}).all())
    return out


def entities_of(db: Session, ids: Sequence[str], t: float) -> dict[str, list[str]]:
    """Live entities of each record: ``{record id: [entity, ...]}``."""
    out: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(ids), 500):
        for rid, ent in db.execute(select(LinkRow.record_id, LinkRow.entity).where(
                LinkRow.record_id.in_(list(ids[i:i + 500])), *_live(t))):
            out[rid].append(ent)
    return out


def linked(db: Session, entities: Sequence[str], t: float) -> set[str]:
    """Visible records of the scope linked to any of ``entities`` at ``t``."""
    if not entities:
        return set()
    ids = set(db.scalars(select(LinkRow.record_id).where(
        LinkRow.entity.in_(list(entities)), *_live(t))).all())
    return _visible(db, ids, t)


def expand(db: Session, seeds: Sequence[tuple[str, float]], t: float, *, limit: int,
           num_docs: int) -> list[tuple[str, float, str]]:
    """Records reached from ``seeds`` (``(id, score)``, best first) through a shared
    entity or event: ``(id, score, via entity)``, best first, seeds themselves excluded.

    A neighbour scores its seed's score times the link's weight: an event link (the same
    exchange) 0.9, an entity link less the more records share it (idf over the scope);
    entities shared by more than ``MAX_SHARE`` of the scope are not followed.
    """
    if not seeds:
        return []
    ents = entities_of(db, [s for s, _ in seeds], t)
    wanted = sorted({e for es in ents.values() for e in es if not e.startswith("time:")})
    if not wanted:
        return []
    df = dict(db.execute(select(LinkRow.entity, func.count()).where(
        LinkRow.entity.in_(wanted), *_live(t)).group_by(LinkRow.entity)).all())
    cap = max(MIN_FANOUT, int(MAX_SHARE * num_docs))
    follow = [e for e in wanted if 1 < df.get(e, 0) <= cap]
    if not follow:
        return []
    members: dict[str, list[str]] = defaultdict(list)
    for rid, ent in db.execute(select(LinkRow.record_id, LinkRow.entity).where(
            LinkRow.entity.in_(follow), *_live(t))):
        members[ent].append(rid)
    top = math.log(1 + num_docs / 2)
    seed_ids = {s for s, _ in seeds}
    best: dict[str, tuple[float, str]] = {}
    for sid, score in seeds:
        for ent in ents.get(sid, ()):
            if ent not in members:
                continue
            w = 0.9 if ent.startswith("event:") else \
                0.8 * math.log(1 + num_docs / df[ent]) / top
            for rid in members[ent]:
                if rid in seed_ids:
                    continue
                s = score * w
                if rid not in best or s > best[rid][0]:
                    best[rid] = (s, ent)
    order = sorted(best, key=lambda r: (-best[r][0], r))[:limit * 2]
    ok = _visible(db, order, t)
    return [(rid, best[rid][0], best[rid][1]) for rid in order if rid in ok][:limit]


def neighbours(db: Session, seeds: Sequence[tuple[str, float]], t: float,
               weights: Sequence[float]) -> dict[str, tuple[float, str]]:
    """Records of the same exchange as ``seeds`` (``(id, score)``), hop by hop along event
    links (consecutive records one session wrote together): ``{id: (score, via)}``, where
    a record ``h`` hops away scores its seed's score times ``weights[h - 1]`` and the best
    seed wins (a weak seed next to a strong one is lifted too). Revoked or hidden records
    are never reached, and a revoked record's links lead nowhere (they are revoked with
    it)."""
    best: dict[str, tuple[float, str]] = {}
    frontier = {s: (sc, s) for s, sc in seeds}  # id -> (its seed's score, the seed)
    for w in weights:
        if not frontier:
            break
        via: dict[str, list[str]] = defaultdict(list)  # event entity -> frontier ids
        for rid, es in entities_of(db, list(frontier), t).items():
            for e in es:
                if e.startswith("event:"):
                    via[e].append(rid)
        if not via:
            break
        nxt: dict[str, tuple[float, str]] = {}
        for rid, ent in db.execute(select(LinkRow.record_id, LinkRow.entity).where(
                LinkRow.entity.in_(sorted(via)), *_live(t))):
            for src in via[ent]:
                sc, seed = frontier[src]
                if rid != seed and sc * w > max(best.get(rid, (0.0, ""))[0],
                                                nxt.get(rid, (0.0, ""))[0] * w):
                    nxt[rid] = (sc, seed)
        ok = _visible(db, nxt, t)
        frontier = {rid: v for rid, v in nxt.items() if rid in ok}
        for rid, (sc, seed) in frontier.items():
            best[rid] = (sc * w, f"neighbour:{seed}")
    return best


def in_ranges(db: Session, ids: Sequence[str], ranges: Sequence[tuple[float, float]],
              t: float) -> set[str]:
    """Which of ``ids`` are dated inside one of ``ranges``: a live time link overlapping it,
    or (a record whose text names no date) written inside it."""
    if not ids or not ranges:
        return set()
    ids = list(ids)
    out: set[str] = set()
    dated: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for rid, s, e in db.execute(select(LinkRow.record_id, LinkRow.event_start,
                                           LinkRow.event_end).where(
                LinkRow.record_id.in_(chunk), LinkRow.kind == "time", *_live(t))):
            dated.add(rid)
            if s is not None and e is not None and any(s < b and e > a for a, b in ranges):
                out.add(rid)
        for rid, c in db.execute(select(RecordRow.id, RecordRow.created_at).where(
                RecordRow.id.in_(chunk))):
            if rid not in dated and any(a <= c < b for a, b in ranges):
                out.add(rid)
    return out


def dated(db: Session, ids: Sequence[str], t: float) -> set[str]:
    """Which of ``ids`` carry a live time link (their text names a date)."""
    out: set[str] = set()
    ids = list(ids)
    for i in range(0, len(ids), 500):
        out |= set(db.scalars(select(LinkRow.record_id).where(
            LinkRow.record_id.in_(ids[i:i + 500]), LinkRow.kind == "time",
            *_live(t))).all())
    return out
