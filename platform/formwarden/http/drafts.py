"""Keeping a record form's typing when the session ended before the save (see records/drafts.py)."""
from __future__ import annotations

import logging

from flask import current_app, request, session, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer

from formwarden.auth.sessions import owner_of_ended_session, session_id_of
from formwarden.crypto.keys import MissingKey
from formwarden.records import drafts

log = logging.getLogger(__name__)
FORM_ENDPOINTS = ("records.create", "records.edit", "records.check_field")
_SALT = "formwarden-form-session"


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt=_SALT)


def form_session() -> str:
    """A record form's signed note of the session that drew it: when the save arrives without the
    session cookie (deleted, expired, its CSRF token gone with it), it names whose typing to keep,
    under the same rules as a session ended on the server."""
    sid = session_id_of(getattr(current_user, "session_token", None)) if current_user.is_authenticated else None
    return _signer().dumps(sid) if sid else ""


def _form_session_id() -> int | None:
    raw = request.form.get("_session", "")
    if not raw:
        return None
    try:
        sid = _signer().loads(raw)
    except BadSignature:
        return None
    return sid if isinstance(sid, int) else None


def _form_path() -> str:
    """The address of the form being typed into (a field's own check posts the whole form)."""
    if request.endpoint != "records.check_field":
        return request.path
    form_key = (request.view_args or {}).get("form_key", "")
    record = request.form.get("_record", "")
    if record.isdigit():
        return url_for("records.edit", form_key=form_key, record_id=int(record))
    return url_for("records.create", form_key=form_key)


def keep_typing(csrf_failed: bool = False) -> str | None:
    """On a refused save (or field check) of a record form: keep what was typed for the person
    whose session this browser held, or, without the cookie, whose session drew the form (never
    after they signed out or changed their password, nor for a deactivated account). A save that
    failed its CSRF check is kept only when the form was drawn in the very session it came with.
    Returns the form's address when kept."""
    if request.endpoint not in FORM_ENDPOINTS:
        return None
    cookie = session.get("_user_id")
    if csrf_failed and cookie and session_id_of(cookie) != _form_session_id():
        return None
    user_id = owner_of_ended_session(cookie) if cookie else owner_of_ended_session(session_id=_form_session_id())
    if user_id is None:
        return None
    path = _form_path()
    try:
        return path if drafts.keep(user_id, path, list(request.form.items(multi=True))) else None
    except MissingKey:
        log.warning("no drafts key: typing after a session ended is not kept (run `formwarden db upgrade`)")
        return None


def take_typing(user_id: int) -> list[tuple[str, str]] | None:
    """The typing kept for this person at this form, once."""
    try:
        return drafts.take(user_id, request.path)
    except MissingKey:
        return None
