"""Audit events: appended in the caller's transaction, never from signals or the queue."""
from __future__ import annotations

import json
import logging

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.db import database, is_postgres
from formwarden.models import AuditEvent, utcnow

log = logging.getLogger(__name__)
_PG_LOCK_KEY = 0x46570001  # advisory lock serialising appends on PostgreSQL
_LAST_SEQ = "SELECT MAX(seq) FROM audit_event"
_INSERT = (
    "INSERT INTO audit_event (seq, at, actor_kind, actor_id, actor_name, action, form_key, record_id, diff,"
    " reason, request_id, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
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
    if is_postgres():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
    last = db.fetchone(_LAST_SEQ)[0] or 0
    event = AuditEvent(
        seq=last + 1,
        at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.user_id,
        actor_name=actor.name[:120],
        action=action,
        form_key=form_key,
        record_id=record_id,
        diff=json.dumps(diff or {}, ensure_ascii=False, sort_keys=True, default=str),
        reason=reason or "",
        request_id=actor.request_id,
        ip=actor.ip[:64],
        user_agent=actor.user_agent[:255],
    )
    row = db.fetchone(_INSERT, (
        event.seq, db.db_datetime(event.at), event.actor_kind, event.actor_id, event.actor_name, event.action,
        event.form_key, event.record_id, event.diff, event.reason, event.request_id, event.ip, event.user_agent))
    event.id = row[0]
    return event
