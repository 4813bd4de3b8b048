"""The audit side of signing in and out: each attempt is an event in its own transaction
(never with the password); locks from the attempt limiter are events too."""
from __future__ import annotations

from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.models import User, utcnow


def signed_in(actor: Actor) -> None:
    with write_transaction():
        User.update(last_login_at=utcnow()).where(User.id == actor.user_id).execute()
        record_event(actor, "login")


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
