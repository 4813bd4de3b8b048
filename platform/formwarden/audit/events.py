"""Audit events: appended in the caller's transaction, never from signals or the queue."""
from __future__ import annotations

import json
import logging

import peewee as pw

from formwarden.access.actor import Actor
from formwarden.db import database, is_postgres
from formwarden.models import AuditEvent, utcnow

log = logging.getLogger(__name__)
_PG_LOCK_KEY = 0x46570001  # advisory lock serialising appends on PostgreSQL


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
    last = AuditEvent.select(pw.fn.MAX(AuditEvent.seq)).scalar() or 0
    return AuditEvent.create(
        seq=last + 1,
        at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=action,
        form_key=form_key,
        record_id=record_id,
        diff=json.dumps(diff or {}, ensure_ascii=False, sort_keys=True, default=str),
        reason=reason or "",
        request_id=actor.request_id,
        ip=actor.ip,
        user_agent=actor.user_agent[:255],
    )
