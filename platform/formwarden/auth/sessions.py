"""Server-side login sessions: logout or a password change revokes them in the database, so a
copied session cookie stops working at once."""
from __future__ import annotations

import datetime as dt

from formwarden import db
from formwarden.auth.secrets import digest, new_secret
from formwarden.models import User, UserSession, utcnow

TOUCH_EVERY = dt.timedelta(minutes=5)
IDLE_LIMIT = dt.timedelta(hours=12)


def start_session(user: User, ip: str = "", user_agent: str = "") -> str:
    raw = new_secret()
    UserSession.create(token_hash=digest(raw), user=user, ip=ip[:64], user_agent=user_agent[:255])
    return raw


_LOOKUP = (
    "SELECT s.id, s.last_seen_at, u.id, u.username, u.locale, u.is_active, u.expires_at, u.display_name, u.time_zone,"
    " u.must_change_password"
    " FROM user_session s JOIN \"user\" u ON u.id = s.user_id"
    " WHERE s.token_hash = ? AND s.revoked_at IS NULL"
)


def session_user(raw: str | None) -> User | None:
    """The active user behind a session token, or None if revoked, idle, expired or deactivated."""
    if not raw:
        return None
    row = db.fetchone(_LOOKUP, (digest(raw),))
    if row is None:
        return None
    sid, last_seen, uid, username, locale, active, expires, display, zone, must_change = row
    user = User(id=uid, username=username, locale=locale, is_active=bool(active),
                expires_at=db.py_datetime(expires), display_name=display, time_zone=zone or "",
                must_change_password=bool(must_change))
    last_seen = db.py_datetime(last_seen)
    now = utcnow()
    if now - last_seen > IDLE_LIMIT or not account_usable(user, now):
        return None
    if now - last_seen > TOUCH_EVERY:
        UserSession.update(last_seen_at=now).where(UserSession.id == sid).execute()
    return user


def owner_of_ended_session(raw: str | None) -> int | None:
    """The account a session token belonged to, even if the session has since ended (idle,
    revoked by a password change), while the account itself may still sign in; else None."""
    if not raw or not isinstance(raw, str):
        return None
    row = db.fetchone("SELECT u.id, u.is_active, u.expires_at FROM user_session s JOIN \"user\" u ON u.id = s.user_id"
                      " WHERE s.token_hash = ?", (digest(raw),))
    if row is None:
        return None
    uid, active, expires = row
    return uid if account_usable(User(is_active=bool(active), expires_at=db.py_datetime(expires))) else None


def account_usable(user: User, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(user.is_active) and (user.expires_at is None or user.expires_at > now)


def revoke_session(raw: str | None) -> None:
    if raw:
        UserSession.update(revoked_at=utcnow()).where(
            UserSession.token_hash == digest(raw), UserSession.revoked_at.is_null()
        ).execute()


def revoke_all_sessions(user_id: int, except_raw: str | None = None) -> int:
    q = UserSession.update(revoked_at=utcnow()).where(UserSession.user == user_id, UserSession.revoked_at.is_null())
    if except_raw:
        q = q.where(UserSession.token_hash != digest(except_raw))
    return q.execute()
