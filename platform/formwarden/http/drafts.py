"""Keeping a record form's typing when the session ended before the save (see records/drafts.py)."""
from __future__ import annotations

import logging

from flask import request, session, url_for

from formwarden.auth.sessions import owner_of_ended_session
from formwarden.crypto.keys import MissingKey
from formwarden.records import drafts

log = logging.getLogger(__name__)
FORM_ENDPOINTS = ("records.create", "records.edit", "records.check_field")


def _form_path() -> str:
    """The address of the form being typed into (a field's own check posts the whole form)."""
    if request.endpoint != "records.check_field":
        return request.path
    form_key = (request.view_args or {}).get("form_key", "")
    record = request.form.get("_record", "")
    if record.isdigit():
        return url_for("records.edit", form_key=form_key, record_id=int(record))
    return url_for("records.create", form_key=form_key)


def keep_typing() -> str | None:
    """On a refused save (or field check) of a record form: keep what was typed for the person
    whose session this browser held (never after they signed out, nor for a deactivated
    account). Returns the form's address when kept."""
    if request.endpoint not in FORM_ENDPOINTS:
        return None
    user_id = owner_of_ended_session(session.get("_user_id"))
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
