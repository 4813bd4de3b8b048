""""View as": an administrator sees records exactly as another account would, read-only. The
pages read through the gate with that account's own identity (never revealing restricted
values, so nothing is recorded in its name); each use is an audit event of the administrator."""
from __future__ import annotations

from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.auth.roles import check_may_become
from formwarden.auth.users import actor_for
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, NotFound
from formwarden.models import User


def actor_as(admin: Actor, username: str) -> Actor:
    """The acting identity of `username`, for an administrator who may both manage people and
    access policies (what someone sees follows from both)."""
    if not (has_perm(admin, Perm.USERS_MANAGE) and has_perm(admin, Perm.ACCESS_MANAGE)):
        raise Forbidden("you may not view as another user", code="missing_permission")
    user = User.get_or_none(User.username == username)
    if user is None:
        raise NotFound(f"no user {username!r}", field="username", code="unknown_user")
    check_may_become(admin, user)  # what they see must be what the viewer may see already
    return actor_for(user, ip=admin.ip, user_agent=admin.user_agent, request_id=admin.request_id)


def note_view(admin: Actor, username: str, what: str, form_key: str | None = None, record_id: int | None = None,
              field: str | None = None) -> None:
    """One event per page seen as `username`. The form and record go in the event's details, not
    its record columns: a look is not a change, and must not appear in the record's history."""
    diff: dict[str, list] = {"as": [None, username], "page": [None, what]}
    if form_key:
        diff["form"] = [None, form_key]
    if record_id is not None:
        diff["record"] = [None, record_id]
    if field:
        diff["field"] = [None, field]
    with write_transaction():
        record_event(admin, "view_as", diff=diff)
