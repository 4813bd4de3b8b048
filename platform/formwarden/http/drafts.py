"""Keeping a record form's typing when the session ended before the save (see records/drafts.py)."""
from __future__ import annotations

import logging

from flask import request, session

from formwarden.auth.sessions import owner_of_ended_session
from formwarden.crypto.keys import MissingKey
from formwarden.records import drafts

log = logging.getLogger(__name__)
FORM_ENDPOINTS = ("records.create", "records.edit")


def keep_typing() -> bool:
    """On a refused save of a record form: keep what was typed for the person whose session this
    browser held (never after they signed out, nor for a deactivated account). True if kept."""
    if request.endpoint not in FORM_ENDPOINTS:
        return False
    user_id = owner_of_ended_session(session.get("_user_id"))
    if user_id is None:
        return False
    try:
        return drafts.keep(user_id, request.path, list(request.form.items(multi=True)))
    except MissingKey:
        log.warning("no drafts key: typing after a session ended is not kept (run `formwarden db upgrade`)")
        return False


def take_typing(user_id: int) -> list[tuple[str, str]] | None:
    """The typing kept for this person at this form, once."""
    try:
        return drafts.take(user_id, request.path)
    except MissingKey:
        return None
