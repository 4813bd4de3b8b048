"""The access gate: the only code that decides who may see or change which record and field.

Services call it; views never filter by owner or drop fields themselves. Every decision about
one record uses the grants whose scope covers that record (see `access.policy`):
- `rights(actor, formdef)`: the most any record can give (the actor's own records); use it to
  decide what to offer, never what to show of a given record
- `record_rights(actor, formdef, owner_id)`: the rights on one record, by its owner
- `require(actor, formdef, action)`: Forbidden unless the action is granted at all
- `scoped(query, actor, formdef, action, fields)`: restricts a Record query to the records the
  actor may `action` and on which every field in `fields` can be read
- `readable_by_relation(...)` / `relation_condition(...)`: where a search may look in which field
- `in_scope(actor, formdef, record, action)`: the same test for one loaded record
- `project(actor, formdef, data, owner_id)`: what the actor may see of a record
- `project_diff(...)`: the same for a change (history, audit search)
- `check_write(actor, formdef, fields, action, owner_id)`: Forbidden naming the first field
  not writable on that record; `check_owner` keeps records inside the writer's scope
- `check_query_fields(actor, formdef, fields)`: filtering/sorting needs at least read
"""
from __future__ import annotations

import hashlib
import json

from formwarden.access.actor import Actor
from formwarden.access.masking import mask_value
from formwarden.access.policy import NO_RIGHTS, Rights, rights_for
from formwarden.errors import Forbidden, Invalid
from formwarden.forms.definition import FormDef
from formwarden.models import Record, UserTeam


def rights(actor: Actor, formdef: FormDef) -> Rights:
    if actor.is_system:
        return rights_for(formdef, frozenset(formdef.access))
    if not actor.roles:
        return NO_RIGHTS
    return rights_for(formdef, actor.roles, actor.token_scopes, actor.token_fields)


def teammates(actor: Actor) -> frozenset[int]:
    """Ids of the users who share a team with `actor` (themselves included), once per actor."""
    mates = actor.extra.get("mates")
    if mates is None:
        mates = frozenset()
        if actor.team_ids:
            q = UserTeam.select(UserTeam.user).where(UserTeam.team.in_(sorted(actor.team_ids)))
            mates = frozenset(row.user_id for row in q)  # type: ignore[attr-defined]
        actor.extra["mates"] = mates
    return mates


def relation(actor: Actor, owner_id: int | None) -> str:
    """How a record owned by `owner_id` relates to `actor`: "own", "team" or "all" (anyone's)."""
    if actor.is_system or (owner_id is not None and owner_id == actor.user_id):
        return "own"
    if owner_id is not None and owner_id in teammates(actor):
        return "team"
    return "all"


def record_rights(actor: Actor, formdef: FormDef, owner_id: int | None) -> Rights:
    """The rights on one record: only the grants whose scope covers it."""
    return rights(actor, formdef).at(relation(actor, owner_id))


def can(actor: Actor, formdef: FormDef, action: str) -> bool:
    return rights(actor, formdef).can(action)


def require(actor: Actor, formdef: FormDef, action: str) -> Rights:
    r = rights(actor, formdef)
    if not r.can(action):
        raise Forbidden(f"you may not {action} {formdef.key} records", code=f"no_{action}")
    return r


def _scope_condition(actor: Actor, scope: str):
    if scope == "all":
        return None
    own = Record.owner == actor.user_id
    if scope == "team" and actor.team_ids:
        mates = UserTeam.select(UserTeam.user).where(UserTeam.team.in_(sorted(actor.team_ids)))
        return own | Record.owner.in_(mates)
    return own


def scoped(query, actor: Actor, formdef: FormDef, action: str = "read", fields=()):
    """Restrict a Record query to what `actor` may `action` and, for every name in `fields`
    (filtered, sorted or searched on), to records whose grants let the actor read that field.
    Raises Forbidden without the action, or when no record would let all `fields` be read."""
    r = require(actor, formdef, action)
    if actor.is_system:
        return query
    widest = r.widest(action, fields)
    if widest is None:
        name = next(iter(fields), "")
        raise Forbidden(f"you may not filter or sort by {name!r}", field=name, code="field_not_readable")
    cond = _scope_condition(actor, widest)
    return query if cond is None else query.where(cond)


def readable_by_relation(actor: Actor, formdef: FormDef, names, action: str = "read") -> dict[str, list[str]]:
    """`names` grouped by the widest relation ("own", "team", "all") on which the actor may
    `action` a record and read the field in clear; fields readable nowhere are left out. A
    search looks in each field only within its group's records (`relation_condition`)."""
    r = rights(actor, formdef)
    groups: dict[str, list[str]] = {}
    for name in names:
        widest = "all" if actor.is_system else r.widest(action, [name])
        if widest is not None:
            groups.setdefault(widest, []).append(name)
    return groups


def relation_condition(actor: Actor, relation: str):
    """The Record condition for records at `relation` or closer (None: every record)."""
    return None if actor.is_system else _scope_condition(actor, relation)


def in_scope(actor: Actor, formdef: FormDef, record: Record, action: str) -> bool:
    owner_id = record.owner_id  # type: ignore[attr-defined]  # peewee's FK id accessor
    return record_rights(actor, formdef, owner_id).can(action)


def project(actor: Actor, formdef: FormDef, data: dict, owner_id: int | None, reveal=frozenset(),
            action: str = "read") -> dict:
    """The record as `actor` may see it: unreadable fields dropped, masked ones masked here.

    `restricted` fields stay masked even for readers unless named in `reveal` (the caller
    records a reveal event for those; see `check_reveal`). For `action="export"` only grants
    with the export action count.
    """
    levels = record_rights(actor, formdef, owner_id).levels_for(action)
    out = {}
    for name, value in data.items():
        fd = formdef.fields.get(name)
        if fd is None:
            continue
        shown = _shown(fd, levels.get(name, "hidden"), name in reveal)
        if shown is not None:
            out[name] = value if shown else mask_value(value, fd.mask)
    return out


def _shown(fd, level: str, clear_ok: bool) -> bool | None:
    """The one rule for a field's value, in a record, a history entry or an audit event: None
    (hidden: not shown at all), False (masked) or True (in clear). Restricted values are in clear
    only for readers and only when `clear_ok` (an explicit, audited reveal)."""
    if level == "hidden":
        return None
    return level in ("read", "write") and (fd.sensitivity != "restricted" or clear_ok)


def project_diff(actor: Actor, formdef: FormDef | None, diff: dict, owner_id: int | None,
                 revealed: set | None = None) -> tuple[dict, list[str]]:
    """A change (field -> [old, new], restricted values already unsealed by the caller) as
    `actor` may see it, in form order, and the names of the changed fields it may not see.

    Authorised readers see restricted values in clear only when `revealed` is a set (the names
    are collected there, for the caller's reveal event); otherwise masked. Fields no longer in
    the form count as not visible."""
    if formdef is None:
        return {}, sorted(diff)
    r = record_rights(actor, formdef, owner_id)
    out, hidden = {}, [n for n in diff if n not in formdef.fields]
    for name in formdef.layout_order:
        if name not in diff:
            continue
        fd = formdef.fields[name]
        shown = _shown(fd, r.level(name), revealed is not None)
        if shown is None:
            hidden.append(name)
        elif shown:
            out[name] = diff[name]
            if fd.sensitivity == "restricted" and revealed is not None:
                revealed.add(name)
        else:
            out[name] = [mask_value(v, fd.mask) for v in diff[name]]
    return out, hidden


def readable_fields(actor: Actor, formdef: FormDef, owner_id: int | None) -> frozenset[str]:
    """Fields of one record the actor may see at all (masked included)."""
    r = record_rights(actor, formdef, owner_id)
    return frozenset(n for n in formdef.fields if r.level(n) != "hidden")


def check_reveal(actor: Actor, formdef: FormDef, fields, owner_id: int | None) -> frozenset[str]:
    """The restricted fields `actor` asks to see in clear on one record; Forbidden for any other."""
    r = record_rights(actor, formdef, owner_id)
    for name in fields:
        fd = formdef.fields.get(name)
        if fd is None or fd.sensitivity != "restricted":
            raise Invalid(f"{name!r} is not a restricted field", field=name, code="not_restricted")
        if r.level(name) not in ("read", "write"):
            raise Forbidden(f"you may not see {name!r} in clear", field=name, code="field_not_readable")
    return frozenset(fields)


def visible_fields(actor: Actor, formdef: FormDef, owner_id: int | None = None, action: str = "read") -> list[str]:
    """Fields shown on some record (owner_id None) or on a record of `owner_id`."""
    r = rights(actor, formdef) if owner_id is None else record_rights(actor, formdef, owner_id)
    levels = r.levels_for(action)
    return [n for n in formdef.fields if levels.get(n, "hidden") != "hidden"]


def writable_fields(actor: Actor, formdef: FormDef, action: str = "update", owner_id: int | None = None) -> list[str]:
    """Fields `action` may write on a record of `owner_id` (None: the actor's own, the most). An
    auto-number is nobody's to write: the system gives it."""
    r = rights(actor, formdef) if owner_id is None else record_rights(actor, formdef, owner_id)
    return [n for n, fd in formdef.fields.items() if r.may_write(n, action) and not fd.assigned]


def check_write(actor: Actor, formdef: FormDef, fields, action: str, owner_id: int | None = None) -> None:
    """Refuse the whole write if any field is unknown (422) or not writable by `action` on a
    record of `owner_id` (403 naming the field; None: checks the actor's own records)."""
    require(actor, formdef, action)
    unknown = [f for f in fields if f not in formdef.fields]
    if unknown:
        raise Invalid(
            f"unknown field {unknown[0]!r}", field=unknown[0], code="unknown_field",
            details=[{"field": f, "code": "unknown_field", "message": "Unknown field."} for f in unknown],
        )
    r = rights(actor, formdef) if owner_id is None else record_rights(actor, formdef, owner_id)
    if not r.can(action):
        raise Forbidden(f"you may not {action} this record", code=f"no_{action}")
    for name in fields:
        if not r.may_write(name, action):
            raise Forbidden(f"you may not write field {name!r}", field=name, code="field_not_writable")


def check_owner(actor: Actor, formdef: FormDef, owner_id: int, action: str) -> None:
    """A writer may give a record only to an owner inside its own `action` scope (a team
    manager cannot plant records in another team, nor hide one by giving it away)."""
    if not record_rights(actor, formdef, owner_id).can(action):
        name = formdef.owner_field or "owner"
        # The same answer as for a name that does not exist: no probing for usernames.
        raise Invalid("no active user you may give records to by that name", field=name, code="unknown_user",
                      details=[{"field": name, "code": "unknown_user", "message": "No such active user."}])


def access_fingerprint(actor: Actor, formdef: FormDef) -> str:
    """A digest of everything the actor's rights on `formdef` come from (their roles and teams,
    the form's access blocks for those roles): anything kept for later under these rights, such
    as an export file, is handed out only while the digest is still the same."""
    blocks = {role: formdef.access.get(role) for role in sorted(actor.roles)}
    material = json.dumps([formdef.key, sorted(actor.team_ids), blocks, sorted(actor.token_fields or ())],
                          sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def check_query_fields(actor: Actor, formdef: FormDef, fields) -> None:
    """Filtering or sorting on a field needs clear read access on some record, or values could
    be inferred; `scoped(..., fields=...)` then keeps to the records where it is readable."""
    r = rights(actor, formdef)
    for name in fields:
        if name not in formdef.fields:
            raise Invalid(f"unknown field {name!r}", field=name, code="unknown_field")
        if not r.at_least(name, "read"):
            raise Forbidden(f"you may not filter or sort by {name!r}", field=name, code="field_not_readable")

