"""The access gate: the only code that decides who may see or change which record and field.

Services call it; views never filter by owner or drop fields themselves.
- `rights(actor, formdef)`: effective rights (union over roles, narrowed by token scopes)
- `require(actor, formdef, action)`: Forbidden unless the action is granted at all
- `scoped(query, actor, formdef, action)`: restricts a Record query to the actor's scope
- `in_scope(actor, formdef, record, action)`: the same test for one loaded record
- `project(actor, formdef, data)`: what the actor may see of a record (hidden dropped, masked masked)
- `check_write(actor, formdef, fields, action)`: Forbidden naming the first field not writable
- `check_query_fields(actor, formdef, fields)`: filtering/sorting needs at least read
"""
from __future__ import annotations

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
    return rights_for(formdef, actor.roles, actor.token_scopes)


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


def scoped(query, actor: Actor, formdef: FormDef, action: str = "read"):
    """Restrict a Record query to what `actor` may `action`; raises Forbidden without the action."""
    r = require(actor, formdef, action)
    if actor.is_system:
        return query
    cond = _scope_condition(actor, r.scope(action) or "own")  # require() guarantees a scope
    return query if cond is None else query.where(cond)


def in_scope(actor: Actor, formdef: FormDef, record: Record, action: str) -> bool:
    r = rights(actor, formdef)
    scope = r.scope(action)
    if scope is None:
        return False
    owner_id = record.owner_id  # type: ignore[attr-defined]  # peewee's FK id accessor
    if actor.is_system or scope == "all" or owner_id == actor.user_id:
        return True
    if scope == "team" and actor.team_ids:
        return (
            UserTeam.select()
            .where(UserTeam.user == owner_id, UserTeam.team.in_(sorted(actor.team_ids)))
            .exists()
        )
    return False


def project(actor: Actor, formdef: FormDef, data: dict, reveal=frozenset()) -> dict:
    """The record as `actor` may see it: unreadable fields dropped, masked ones masked here.

    `restricted` fields stay masked even for readers unless named in `reveal` (the caller
    records a reveal event for those; see `check_reveal`).
    """
    r = rights(actor, formdef)
    out = {}
    for name, value in data.items():
        level = r.level(name)
        fd = formdef.fields.get(name)
        if fd is None:
            continue
        if level in ("read", "write") and (fd.sensitivity != "restricted" or name in reveal):
            out[name] = value
        elif level != "hidden":
            out[name] = mask_value(value, fd.mask)
    return out


def check_reveal(actor: Actor, formdef: FormDef, fields) -> frozenset[str]:
    """The restricted fields `actor` asks to see in clear; Forbidden (naming it) for any other."""
    r = rights(actor, formdef)
    for name in fields:
        fd = formdef.fields.get(name)
        if fd is None or fd.sensitivity != "restricted":
            raise Invalid(f"{name!r} is not a restricted field", field=name, code="not_restricted")
        if r.level(name) not in ("read", "write"):
            raise Forbidden(f"you may not see {name!r} in clear", field=name, code="field_not_readable")
    return frozenset(fields)


def visible_fields(actor: Actor, formdef: FormDef) -> list[str]:
    r = rights(actor, formdef)
    return [n for n in formdef.fields if r.level(n) != "hidden"]


def writable_fields(actor: Actor, formdef: FormDef) -> list[str]:
    r = rights(actor, formdef)
    return [n for n in formdef.fields if r.level(n) == "write"]


def check_write(actor: Actor, formdef: FormDef, fields, action: str) -> None:
    """Refuse the whole write if any field is unknown (422) or not writable (403)."""
    require(actor, formdef, action)
    unknown = [f for f in fields if f not in formdef.fields]
    if unknown:
        raise Invalid(
            f"unknown field {unknown[0]!r}", field=unknown[0], code="unknown_field",
            details=[{"field": f, "code": "unknown_field", "message": "Unknown field."} for f in unknown],
        )
    r = rights(actor, formdef)
    for name in fields:
        if r.level(name) != "write":
            raise Forbidden(f"you may not write field {name!r}", field=name, code="field_not_writable")


def check_query_fields(actor: Actor, formdef: FormDef, fields) -> None:
    """Filtering or sorting on a field needs clear read access, or values could be inferred."""
    r = rights(actor, formdef)
    for name in fields:
        if name not in formdef.fields:
            raise Invalid(f"unknown field {name!r}", field=name, code="unknown_field")
        if not r.at_least(name, "read"):
            raise Forbidden(f"you may not filter or sort by {name!r}", field=name, code="field_not_readable")
