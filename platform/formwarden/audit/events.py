"""Audit events: appended in the caller's transaction, never from signals or the queue."""
from __future__ import annotations

import functools
import json
import logging
import os

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import actions, chain, highwater
from formwarden.crypto.keys import load_key
from formwarden.db import database, is_postgres
from formwarden.models import AuditEvent, utcnow

log = logging.getLogger(__name__)
db.after_event_commit(highwater.note_committed_head)


@functools.cache
def chaining() -> bool:
    """Only the benchmark sets FORMWARDEN_BENCH_UNCHAINED=1, to measure what chaining costs;
    events written that way fail `audit verify`."""
    return os.environ.get("FORMWARDEN_BENCH_UNCHAINED") != "1"


_HEAD = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO audit_event (seq, at, actor_kind, actor_id, actor_name, action, form_key, record_id, diff,"
    " reason, request_id, ip, user_agent, prev_hash, hash, mac)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


def record_event(
    actor: Actor,
    action: str,
    *,
    form_key: str | None = None,
    record_id: int | None = None,
    diff: dict | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one event. Call inside the transaction that makes the change it describes."""
    if not database.in_transaction():
        raise RuntimeError("audit events must be written inside the change's transaction")
    actions.check(action)
    db.events_appended()
    if is_postgres():  # already held when the transaction came from write_transaction(); re-entrant
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (db.PG_CHAIN_LOCK,))
    head = db.fetchone(_HEAD)
    last_seq, prev = (head[0], head[1]) if head else (0, chain.GENESIS)
    fields = {
        "seq": last_seq + 1,
        "at": utcnow(),
        "actor_kind": actor.kind,
        "actor_id": actor.user_id,
        "actor_name": actor.name[:120],
        "action": action,
        "form_key": form_key,
        "record_id": record_id,
        "diff": json.dumps(diff or {}, ensure_ascii=False, sort_keys=True, default=str),
        "reason": reason or "",
        "request_id": actor.request_id[:64],
        "ip": actor.ip[:64],
        "user_agent": actor.user_agent[:255],
    }
    digest = mac = ""
    if chaining():
        digest = chain.event_hash(prev, fields)
        mac = chain.event_mac(load_key("audit"), digest)
    values = [fields[name] for name in chain.FIELDS]
    values[1] = db.db_datetime(fields["at"])
    row = db.fetchone(_INSERT, (*values, prev, digest, mac))
    return AuditEvent(id=row[0], prev_hash=prev, hash=digest, mac=mac, **fields)


_PRODUCED = ("SELECT COUNT(*) FROM audit_event WHERE record_id = ? AND form_key = ? AND action IN ("  # noqa: S608 - constant list
             + ", ".join(f"'{a}'" for a in actions.CHANGING) + ")")


def versions_produced(form_key: str, record_id: int) -> int:
    """How many versions the record's history has produced (each changing event makes one), so
    a record written back from a backup continues after them and no version number repeats."""
    return db.fetchone(_PRODUCED, (record_id, form_key))[0]
