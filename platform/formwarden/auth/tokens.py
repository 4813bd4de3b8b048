"""API tokens for partner systems: `fw_<prefix>_<secret>`, stored as a SHA-256 digest."""
from __future__ import annotations

import datetime as dt
import re

from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.auth.secrets import digest, new_secret
from formwarden.auth.sessions import account_usable
from formwarden.db import write_transaction
from formwarden.errors import Invalid
from formwarden.models import ApiToken, User, utcnow

SCOPE_RE = re.compile(r"^(?:[a-z][a-z0-9_]*:)?(read|write|delete|export)$")
DEFAULT_SCOPES = ("read",)


def parse_scopes(scopes) -> list[str]:
    out = []
    for s in scopes:
        for part in str(s).replace(",", " ").split():
            if not SCOPE_RE.match(part):
                raise Invalid(f"unknown scope {part!r} (use read, write, delete, export, optionally form:scope)",
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


def authenticate_token(raw: str) -> tuple[User, ApiToken] | None:
    if not raw.startswith("fw_"):
        return None
    token = ApiToken.select(ApiToken, User).join(User).where(ApiToken.token_hash == digest(raw)).first()
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not account_usable(token.user, now):
        return None
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.update(last_used_at=now).where(ApiToken.id == token.id).execute()
    return token.user, token


def revoke_token(actor: Actor, token: ApiToken) -> None:
    with write_transaction():
        ApiToken.update(revoked_at=utcnow()).where(ApiToken.id == token.id).execute()
        record_event(actor, "token_revoke", diff={"token": [token.prefix, None]})
