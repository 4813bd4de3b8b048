"""Server-side login sessions: logout or a password change revokes them in the database, so a
copied session cookie stops working at once."""
from __future__ import annotations

import datetime as dt

from formwarden import db
from formwarden.auth.secrets import digest, new_secret
from formwarden.models import User, UserSession, utcnow

TOUCH_EVERY = dt.timedelta(minutes=5)
IDLE_LIMIT = dt.timedelta(hours=12)
# Why a session ended. Typing sent after the end is kept only when the server ended it (or it
# timed out): a person who signed out or changed their password meant it, and a copied cookie of
# such a session must not plant anything in their forms.
ENDED_BY_PERSON = ("logout", "password", "deactivated")
ENDED_BY_SERVER = ("restore", "server")


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


_ENDED = ("SELECT s.id, u.id, u.is_active, u.expires_at, s.revoked_at, s.end_reason FROM user_session s"
          " JOIN \"user\" u ON u.id = s.user_id WHERE ")


def owner_of_ended_session(raw: str | None = None, session_id: int | None = None) -> int | None:
    """The account whose session (by its token, or by its row id from a signed form field) may
    still hand in typing: one still valid, timed out, or ended by the server, of an account that
    may still sign in. None for a session the person ended (sign-out, password change)."""
    if raw and isinstance(raw, str):
        row = db.fetchone(_ENDED + "s.token_hash = ?", (digest(raw),))
    elif isinstance(session_id, int):
        row = db.fetchone(_ENDED + "s.id = ?", (session_id,))
    else:
        return None
    if row is None:
        return None
    _sid, uid, active, expires, revoked, reason = row
    if revoked is not None and reason not in ENDED_BY_SERVER:
        return None
    return uid if account_usable(User(is_active=bool(active), expires_at=db.py_datetime(expires))) else None


def session_id_of(raw: str | None) -> int | None:
    """The row id of a live session token (what a record form carries, signed, to name it)."""
    row = db.fetchone("SELECT id FROM user_session WHERE token_hash = ? AND revoked_at IS NULL", (digest(raw),)) \
        if raw else None
    return row[0] if row else None


def account_usable(user: User, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(user.is_active) and (user.expires_at is None or user.expires_at > now)


def revoke_session(raw: str | None, reason: str = "logout") -> None:
    if raw:
        UserSession.update(revoked_at=utcnow(), end_reason=reason).where(
            UserSession.token_hash == digest(raw), UserSession.revoked_at.is_null()
        ).execute()


def revoke_all_sessions(user_id: int, reason: str, except_raw: str | None = None) -> int:
    """End every session of an account; `reason` one of ENDED_BY_PERSON or ENDED_BY_SERVER."""
    q = UserSession.update(revoked_at=utcnow(), end_reason=reason).where(UserSession.user == user_id,
                                                                          UserSession.revoked_at.is_null())
    if except_raw:
        q = q.where(UserSession.token_hash != digest(except_raw))
    return q.execute()
