"""``ctxkit memory``: the operator's view of a memory store — list, show, audit, revoke.

Owns argument parsing and printing for those four subcommands. Every command names the
store (``--url``, or ``CTXKIT_MEMORY_URL``) and the scope (``--tenant``, ``--user``): an
operator works inside one user's memory, as the API does. Nothing here loads the
embedding model. Knows nothing of how the store works inside.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from .._errors import UserError
from ..audit._render import clean  # stored text may hold escape sequences: none reach a tty
from ._args import whole

EPILOG = """\
examples:
  ctxkit memory list   --url sqlite:///agent.db --tenant acme --user u1 --all
  ctxkit memory show   --url sqlite:///agent.db --tenant acme --user u1 3f2a9c1e...
  ctxkit memory audit  --url sqlite:///agent.db --tenant acme --user u1 --action revoke
  ctxkit memory revoke --url sqlite:///agent.db --tenant acme --user u1 \\
      --source tool --since 2026-11-28T09:00 --reason "poisoned README in tool output"

times are unix seconds or ISO 8601 (UTC unless an offset is given).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list|show|audit|revoke`` subcommands to ``parser``."""
    parser.description = "Inspect and repair an agent memory store (ctxkit.memory)."
    parser.epilog = EPILOG
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("CTXKIT_MEMORY_URL"),
                        help="the store's SQLAlchemy URL (default: $CTXKIT_MEMORY_URL)")
    common.add_argument("--vectors", help="the store's LanceDB directory (not needed here)")
    common.add_argument("--tenant", required=True, help="the tenant to work in")
    common.add_argument("--user", required=True, help="the user whose memory to read")
    common.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    sub = parser.add_subparsers(dest="memory_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", parents=[common], help="records, oldest first")
    ls.add_argument("--all", action="store_true",
                    help="include revoked, expired, superseded and pending records")
    ls.add_argument("--tier", choices=["episodic", "semantic"])
    ls.add_argument("--source")
    ls.add_argument("--session")
    ls.add_argument("--limit", type=whole(1), default=200, help="newest N (default 200)")
    show = sub.add_parser("show", parents=[common], help="one record and its audit trail")
    show.add_argument("id", help="a record id (or a unique prefix of one)")
    audit = sub.add_parser("audit", parents=[common], help="the audit log")
    audit.add_argument("id", nargs="?", help="only this record (id or unique prefix)")
    audit.add_argument("--action", help="write, dedupe, read, revoke, approve, reject")
    audit.add_argument("--limit", type=whole(1), default=200, help="newest N (default 200)")
    rv = sub.add_parser("revoke", parents=[common],
                        help="revoke records and everything derived from them")
    rv.add_argument("ids", nargs="*", help="record ids (or unique prefixes)")
    rv.add_argument("--source", help="user, agent, tool, system, compaction, document")
    rv.add_argument("--source-ref", help="e.g. a document path or tool name")
    rv.add_argument("--session")
    rv.add_argument("--since", help="created at or after (unix seconds or ISO 8601)")
    rv.add_argument("--until", help="created at or before")
    rv.add_argument("--reason", required=True, help="why (kept in the audit log)")
    rv.add_argument("--by", default="operator", help="who revokes (default: operator)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one ``ctxkit memory`` subcommand; returns the exit status."""
    from ..memory._scope import Scope, check_text
    from ..memory._store import MemoryStore

    for name, value in vars(args).items():
        # bytes that are not UTF-8 reach argv as lone surrogates (surrogateescape)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                check_text(name if name in ("id", "ids") else f"--{name.replace('_', '-')}", v)
    cmd = getattr(args, "memory_command", None)
    if not cmd:
        raise UserError("say what to do: ctxkit memory list|show|audit|revoke --help")
    if not args.url:
        raise UserError("name the store with --url (e.g. sqlite:///agent.db) or set "
                        "CTXKIT_MEMORY_URL")
    if args.url.startswith("sqlite:///") and not os.path.exists(_sqlite_path(args.url)):
        raise UserError(f"no memory store at {_sqlite_path(args.url)}; check --url")
    from sqlalchemy.exc import DatabaseError

    scope = Scope(tenant=args.tenant, user=args.user)
    try:
        store = MemoryStore(args.url, vectors=args.vectors)
    except DatabaseError as exc:  # e.g. a file that is not SQLite: opened, never written
        raise UserError(f"{args.url} is not a memory store ({getattr(exc, 'orig', exc)}); "
                        "check --url") from None
    try:
        return _COMMANDS[cmd](store, scope, args)
    finally:
        store.close()


def _list(store: Any, scope: Any, args: argparse.Namespace) -> int:
    recs = store.list(scope, tier=args.tier, session=args.session, source=args.source,
                      include_hidden=args.all, limit=args.limit, actor="operator")
    if args.json:
        for r in recs:
            print(json.dumps(_as_json(r, store), ensure_ascii=False))
        return 0
    print(f"{'id':12}  {'created (UTC)':19}  {'tier':8}  {'source':10}  {'state':10}  content")
    for r in recs:
        text = " ".join(clean(r.content).split())
        print(f"{r.id[:12]}  {_when(r.created_at)}  {r.tier:8}  {r.source:10}  "
              f"{_state(r, store.clock()):10}  {text[:70]}")
    print(f"{len(recs)} record(s)", file=sys.stderr)
    return 0


def _show(store: Any, scope: Any, args: argparse.Namespace) -> int:
    rec = store.get(scope, _resolve(store, scope, args.id), actor="operator")
    trail = store.audit(scope, record_id=rec.id)
    if args.json:
        print(json.dumps({"record": _as_json(rec, store), "audit": [_entry(e) for e in trail]},
                         ensure_ascii=False))
        return 0
    for k, v in _as_json(rec, store).items():
        if k != "content" and v not in (None, [], {}, ""):
            print(clean(f"{k:15} {v}"))
    print(f"content:\n{clean(rec.content)}\n\naudit:")
    for e in trail:
        print(_line(e))
    return 0


def _audit(store: Any, scope: Any, args: argparse.Namespace) -> int:
    rid = _resolve(store, scope, args.id) if args.id else None
    entries = store.audit(scope, record_id=rid, action=args.action, limit=args.limit)
    for e in entries:
        print(json.dumps(_entry(e), ensure_ascii=False) if args.json else _line(e))
    return 0


def _revoke(store: Any, scope: Any, args: argparse.Namespace) -> int:
    since, until = _time(args.since), _time(args.until)
    if since is not None and until is not None and since > until:
        raise UserError(f"--since is after --until ({args.since} > {args.until}), so no "
                        "record is in that window; swap them")
    ids = [_resolve(store, scope, i) for i in args.ids] or None
    done = store.revoke(scope, ids, source=args.source, source_ref=args.source_ref,
                        session=args.session, since=since, until=until, reason=args.reason,
                        by=args.by)
    if args.json:
        print(json.dumps({"revoked": done}))
    else:
        for rid in done:
            print(rid)
        print(f"revoked {len(done)} record(s)", file=sys.stderr)
    return 0


_COMMANDS = {"list": _list, "show": _show, "audit": _audit, "revoke": _revoke}


def _resolve(store: Any, scope: Any, prefix: str) -> str:
    return prefix if len(prefix) == 32 else str(store.complete_id(scope, prefix))


def _time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):  # NaN matches no record and says nothing
            raise UserError(f"{value!r} is not a finite time; use unix seconds or ISO 8601 "
                            "(2026-11-28T09:00)")
        return seconds
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"{value!r} is not a time; use unix seconds or ISO 8601 "
                        "(2026-11-28T09:00)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) if t is not None else ""


def _state(r: Any, now: float) -> str:
    if r.revoked_at is not None:
        return "revoked"
    if r.review == "pending":
        return "pending"
    if r.valid_until is not None and r.valid_until <= now:
        return "expired"
    return "superseded" if r.superseded_by else "live"


def _as_json(r: Any, store: Any) -> dict[str, Any]:
    return {"id": r.id, "tenant": r.scope.tenant, "user": r.scope.user,
            "session": r.scope.session, "tier": r.tier, "kind": r.kind, "source": r.source,
            "source_ref": r.source_ref, "trust": r.trust, "state": _state(r, store.clock()),
            "created": _when(r.created_at), "valid_until": _when(r.valid_until),
            "key": r.key, "superseded_by": r.superseded_by, "review": r.review,
            "revoked": _when(r.revoked_at), "revoked_by": r.revoked_by,
            "revoked_reason": r.revoked_reason, "derived_from": list(r.derived_from),
            "redactions": list(r.redactions), "content": r.content}


def _entry(e: Any) -> dict[str, Any]:
    return {"seq": e.seq, "at": _when(e.at), "action": e.action, "record_id": e.record_id,
            "actor": e.actor, "reason": e.reason, "session": e.session, "detail": e.detail}


def _line(e: Any) -> str:
    extra = {k: v for k, v in e.detail.items()
             if k in ("query_sha256", "score", "via", "source", "cascade_from", "tier")}
    why = f"  reason: {e.reason}" if e.reason else ""
    return clean(f"{e.seq:>6}  {_when(e.at)}  {e.action:8}  {(e.record_id or '-')[:12]:12}  "
                 f"{e.actor or '-':12}{why}  {json.dumps(extra) if extra else ''}").rstrip()


def _sqlite_path(url: str) -> str:
    return url[len("sqlite:///"):].split("?", 1)[0]


def main(argv: list[str] | None = None) -> int:
    """Run ``ctxkit memory`` on its own (``python -m ctxkit.cli.memory``)."""
    parser = argparse.ArgumentParser(prog="ctxkit memory",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    from .._errors import CtxkitError

    try:
        return run(args)
    except CtxkitError as exc:
        print(f"ctxkit memory: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
