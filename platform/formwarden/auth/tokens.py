"""API tokens for partner systems: `fw_<prefix>_<secret>`, stored as a SHA-256 digest."""
from __future__ import annotations

import datetime as dt
import re

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.auth.secrets import digest, new_secret
from formwarden.auth.sessions import account_usable
from formwarden.db import write_transaction
from formwarden.errors import Invalid
from formwarden.models import ApiToken, User, utcnow

SCOPE_RE = re.compile(r"^(?:(?:[a-z][a-z0-9_]*:)?(?:read|write|delete|export)|purge|audit|alerts|users|forms|tokens)$")
DEFAULT_SCOPES = ("read",)


def parse_scopes(scopes) -> list[str]:
    out = []
    for s in scopes:
        for part in str(s).replace(",", " ").split():
            if not SCOPE_RE.match(part):
                raise Invalid(f"unknown scope {part!r} (use read, write, delete, export, optionally form:scope;"
                              " purge, audit, alerts, users, forms, tokens for platform functions)",
                              field="scopes", code="invalid_scope")
            out.append(part)
    return sorted(set(out)) or list(DEFAULT_SCOPES)


def create_token(actor: Actor, user: User, *, name: str = "", scopes=DEFAULT_SCOPES,
                 expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the secret, which is shown only once."""
    scopes = parse_scopes(scopes)
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("expiry must be in the future", field="expires", code="invalid_expiry")
    prefix = new_secret(6)[:8].replace("_", "x").replace("-", "x")
    raw = f"fw_{prefix}_{new_secret()}"
    with write_transaction():
        token = ApiToken.create(user=user, name=name[:80], prefix=prefix, token_hash=digest(raw),
                                scopes=" ".join(scopes), expires_at=expires_at)
        record_event(actor, "token_create", diff={"token": [None, prefix], "user": [None, user.username],
                                                  "scopes": [None, " ".join(scopes)]})
    return token, raw


_LOOKUP = (
    "SELECT t.id, t.prefix, t.scopes, t.expires_at, t.last_used_at, u.id, u.username, u.locale, u.is_active,"
    " u.expires_at FROM api_token t JOIN \"user\" u ON u.id = t.user_id"
    " WHERE t.token_hash = ? AND t.revoked_at IS NULL"
)


def authenticate_token(raw: str) -> tuple[User, ApiToken] | None:
    """The active user and token behind `raw`, or None (unknown, revoked, expired, deactivated)."""
    if not raw.startswith("fw_"):
        return None
    row = db.fetchone(_LOOKUP, (digest(raw),))
    if row is None:
        return None
    tid, prefix, scopes, expires, last_used, uid, username, locale, active, user_expires = row
    user = User(id=uid, username=username, locale=locale, is_active=bool(active),
                expires_at=db.py_datetime(user_expires))
    token = ApiToken(id=tid, user=uid, prefix=prefix, scopes=scopes, expires_at=db.py_datetime(expires))
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not account_usable(user, now):
        return None
    last_used = db.py_datetime(last_used)
    if last_used is None or now - last_used > dt.timedelta(minutes=5):
        ApiToken.update(last_used_at=now).where(ApiToken.id == tid).execute()
    return user, token


def revoke_token(actor: Actor, token: ApiToken) -> None:
    with write_transaction():
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == token.id).execute()
        record_event(actor, "token_revoke", diff={"token": [token.prefix, None]})
