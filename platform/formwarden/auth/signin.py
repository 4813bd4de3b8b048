"""The audit side of signing in and out: each attempt is an event in its own transaction
(never with the password); locks from the attempt limiter are events too."""
from __future__ import annotations

import json

from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.models import AuditEvent, User, utcnow


def _reset_by_whoever_signs_in(actor: Actor, previous_user_id: int | None) -> dict:
    """The first sign-in after an administrator set a one-time password: when it comes from that
    administrator's own session or address, they may be using the password they saw. The login
    event then says so, and the alert scan raises `reset_sign_in`."""
    for event in (AuditEvent.select().where(AuditEvent.action == "password_change")
                  .order_by(AuditEvent.seq.desc()).limit(200)):
        diff = json.loads(event.diff or "{}")
        if (diff.get("user") or [None, None])[1] != actor.name:
            continue
        if not (diff.get("reset") or [None, None])[1] or event.actor_id is None:
            return {}
        how = ("session" if previous_user_id is not None and previous_user_id == event.actor_id
               else "address" if actor.ip and actor.ip == event.ip else None)
        return {"after_reset_by": [None, event.actor_name], "from": [None, how]} if how else {}
    return {}


def signed_in(actor: Actor, previous_user_id: int | None = None, after_reset: bool = False) -> None:
    """`previous_user_id`: who this browser was signed in as before; `after_reset`: the account
    signs in with a one-time password (it must change it now)."""
    diff = _reset_by_whoever_signs_in(actor, previous_user_id) if after_reset else {}
    with write_transaction():
        User.update(last_login_at=utcnow()).where(User.id == actor.user_id).execute()
        record_event(actor, "login", diff=diff or None)


def signed_out(actor: Actor) -> None:
    with write_transaction():
        record_event(actor, "logout")


def sign_in_failed(attempt: Actor, username: str, locked=(), lock_minutes: int = 0) -> None:
    """A failed attempt by `attempt` (an account-less actor named as typed), and one event per
    lock the attempt caused (`locked`: the scopes, e.g. "account", "ip")."""
    with write_transaction():
        record_event(attempt, "login_failed", diff={"username": [None, username[:64]]})
        for scope in locked:
            record_event(attempt, "login_locked", diff={
                "username": [None, username[:64]], "scope": [None, scope], "minutes": [None, lock_minutes]})
