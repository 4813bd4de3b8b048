"""Handing someone's records over (offboarding): every record they own, in every form and in
the recycle bin too, moves to another active user in one transaction, so no customer is left
without an owner. Each record gets its own `handover` event (a new record version, owner old →
new) and the batch one `bulk_handover` event with the counts per form.

It is a user-administration act, not a record edit: it needs the users.manage permission and
changes nothing but the owner (the owner field, when the form has one). Records go only to an
active person who may read that form's records: never to someone who could not see them."""
from __future__ import annotations

import json

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import record_event
from formwarden.auth.roles import check_may_manage
from formwarden.auth.users import actor_for
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import Form, Record, Team, User, UserTeam, utcnow
from formwarden.records.sealing import seal_data, seal_diff, unseal_data


def _require(actor: Actor) -> None:
    if not has_perm(actor, Perm.USERS_MANAGE):
        raise Forbidden("you may not hand records over", code="missing_permission")


def _user(username: str, field: str) -> User:
    user = User.get_or_none(User.username == (username or "").strip())
    if user is None:
        raise NotFound(f"no user {username!r}", field=field, code="unknown_user")
    return user


def owned_counts(username: str) -> dict[str, int]:
    """Records (live and in the recycle bin) the user owns, per form key."""
    user = _user(username, "username")
    return dict(db.fetchall("SELECT f.key, COUNT(*) FROM record r JOIN form f ON f.id = r.form_id"
                            " WHERE r.owner_id = ? GROUP BY f.key ORDER BY f.key", (user.id,)))


def team_manager(username: str) -> str | None:
    """The manager of the first of the user's teams that has one other than the user."""
    user = _user(username, "username")
    row = (Team.select(User.username).join(UserTeam, on=(UserTeam.team == Team.id))
           .switch(Team).join(User, on=(User.id == Team.manager))
           .where(UserTeam.user == user.id, Team.manager != user.id, User.is_active == True)  # noqa: E712
           .order_by(Team.name).tuples().first())
    return row[0] if row else None


def _usable_person(user: User) -> bool:
    now = utcnow()
    return bool(user.is_active) and user.kind == "person" and (user.expires_at is None or user.expires_at > now)


def _reads_all(form_keys):
    """A test of a set of (active) role names: may they read records of every form in `form_keys`?
    Reading a form depends on the roles alone, so each distinct set is worked out once."""
    defs = [versions.definition(f) for f in Form.select().where(Form.key.in_(sorted(form_keys)))]
    seen: dict[frozenset, bool] = {}

    def test(roles: frozenset) -> bool:
        if roles not in seen:
            who = Actor(kind="user", user_id=None, name="", roles=roles)
            seen[roles] = all(gate.can(who, formdef, "read") for formdef in defs)
        return seen[roles]
    return test


def can_receive(user: User, form_keys) -> bool:
    """Whether `user` is an active person who may read records of every form in `form_keys`."""
    return _usable_person(user) and _reads_all(form_keys)(actor_for(user).roles)


def candidates(username: str) -> list[User]:
    """Who may take `username`'s records over, by display name (one query for everyone's roles)."""
    test = _reads_all(owned_counts(username))
    roles: dict[int, set[str]] = {}
    for uid, name in db.fetchall("SELECT ur.user_id, r.name FROM user_role ur JOIN role r ON r.id = ur.role_id"
                                 " WHERE r.retired_at IS NULL"):
        roles.setdefault(uid, set()).add(name)
    people = User.select().where(User.is_active == True, User.kind == "person",  # noqa: E712
                                 User.username != username).order_by(User.display_name, User.username)
    return [u for u in people if _usable_person(u) and test(frozenset(roles.get(u.id, ())))]


def preview(actor: Actor, username: str) -> dict:
    _require(actor)
    manager = team_manager(username)
    counts = owned_counts(username)
    if manager and not can_receive(User.get(User.username == manager), counts):
        manager = None
    return {"counts": counts, "manager": manager}


def hand_over(actor: Actor, username: str, to: str, reason: str = "") -> dict[str, int]:
    """Move every record `username` owns to `to`; returns the counts per form."""
    _require(actor)
    source, target = _user(username, "username"), _user(to, "to")
    if source.id == target.id:
        raise Invalid("choose someone else to take the records over", field="to", code="same_user")
    now = utcnow()
    if not target.is_active or (target.expires_at is not None and target.expires_at <= now) or target.kind != "person":
        raise Invalid(f"{to} cannot take records over (inactive, expired or not a person)", field="to",
                      code="unusable_account")
    check_may_manage(actor, source.id)
    counts_before = owned_counts(source.username)
    if not can_receive(target, counts_before):
        raise Invalid(f"{to} may not read records of every form involved ({', '.join(counts_before)})", field="to",
                      code="cannot_read_records")
    reason = (reason or "").strip()[:500]
    if not any(ch.isalnum() for ch in reason):
        raise Invalid("say why the records are handed over", field="reason", code="reason_required")
    counts: dict[str, int] = {}
    with write_transaction():
        for form in Form.select().where(Form.current_version > 0):
            rows = list(Record.select().where(Record.form == form.id, Record.owner == source.id).order_by(Record.id))
            if not rows:
                continue
            formdef = versions.definition(form)
            field = formdef.owner_field
            for rec in rows:
                data = dict(rec.data)
                if field:
                    plain = unseal_data(formdef, {field: data[field]}) if field in data else {}
                    plain[field] = target.username
                    data.update(seal_data(formdef, plain))
                old_owner = (unseal_data(formdef, {field: rec.data[field]}).get(field) if field and field in rec.data
                             else source.username)
                db.execute("UPDATE record SET data = json(?), owner_id = ?, version = version + 1, updated_at = ?,"
                           " updated_by_id = ? WHERE id = ?",
                           (_json(data), target.id, db.db_datetime(now), actor.user_id, rec.id))
                change = {field or "owner": [old_owner, target.username]}
                record_event(actor, "handover", form_key=form.key, record_id=rec.id,
                             diff=seal_diff(formdef, change) if field else change, reason=reason)
            counts[form.key] = len(rows)
        record_event(actor, "bulk_handover", diff={"from": [source.username, None], "to": [None, target.username],
                                                   "counts": [None, counts]}, reason=reason)
    return counts


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
