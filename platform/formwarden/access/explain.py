"""Explaining access in words, from the same grants the gate uses (`access.policy`): a user's
effective rights on a form with the role grant behind each right, and "why?" for one field of
one record. Returns codes and parameters; the pages put them into the reader's language."""
from __future__ import annotations

from dataclasses import dataclass

from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.access.policy import LEVEL_RANK, RELATIONS, SCOPE_RANK, grants_for
from formwarden.forms.definition import ACTIONS, FormDef


@dataclass(frozen=True)
class Source:
    """The best level of a field (or widest scope of an action) and the roles giving it."""

    value: str
    roles: tuple[str, ...]


def _grants(actor: Actor, formdef: FormDef):
    return grants_for(formdef, actor.roles, actor.token_scopes, actor.token_fields)


def effective(actor: Actor, formdef: FormDef) -> dict:
    """{"actions": {action: Source(scope, roles)}, "fields": {field: {relation: Source(level, roles)}}}:
    what `actor` may do on `formdef`, per record relation (own, team, anyone's), naming the roles."""
    grants = _grants(actor, formdef)
    actions: dict[str, Source] = {}
    for action in ACTIONS:
        best = max((g.scope for g in grants if action in g.actions), key=lambda s: SCOPE_RANK[s], default=None)
        if best is not None:
            actions[action] = Source(best, tuple(g.role for g in grants if action in g.actions and g.scope == best))
    fields: dict[str, dict[str, Source]] = {}
    rights = gate.rights(actor, formdef)
    for name in formdef.layout_order:
        row = {}
        for relation in RELATIONS:
            level = rights.at(relation).level(name)
            givers = tuple(g.role for g in grants if g.covers(relation) and _shown_level(g, name) == level)
            row[relation] = Source(level, givers if level != "hidden" else ())
        fields[name] = row
    return {"actions": actions, "fields": fields}


def beyond(actor: Actor, other: Actor, formdef: FormDef) -> list[str]:
    """What `other` may do on `formdef` that `actor` may not: actions with a wider scope, fields at
    a higher level (anywhere). Whoever could sign in as `other` (a password reset, "view as")
    would gain these, so a non-empty answer puts `other` out of `actor`'s reach."""
    mine, theirs = effective(actor, formdef), effective(other, formdef)
    out = [f"{formdef.key}:{action}" for action, src in theirs["actions"].items()
           if SCOPE_RANK[src.value] > SCOPE_RANK.get(getattr(mine["actions"].get(action), "value", ""), 0)]
    for name, row in theirs["fields"].items():
        best = max(LEVEL_RANK[s.value] for s in row.values())
        if best > max(LEVEL_RANK[s.value] for s in mine["fields"].get(name, {}).values() or [Source("hidden", ())]):
            out.append(f"{formdef.key}.{name}")
    return out


def _shown_level(grant, name: str) -> str:
    level = dict(grant.levels).get(name, "hidden")
    if "read" not in grant.actions and level != "write":
        return "hidden"
    return level


def why(actor: Actor, formdef: FormDef, owner_id: int | None, name: str) -> dict:
    """Why `actor` sees field `name` of a record owned by `owner_id` as they do:
    {"level", "relation", "lines": [{"code", **params}]}, one line per role (or one reason)."""
    relation = gate.relation(actor, owner_id)
    level = gate.record_rights(actor, formdef, owner_id).level(name)
    lines: list[dict] = []
    fd = formdef.fields.get(name)
    if fd is None:
        return {"level": "hidden", "relation": relation, "lines": [{"code": "unknown_field", "field": name}]}
    if actor.token_fields is not None and f"{formdef.key}.{name}" not in actor.token_fields:
        lines.append({"code": "token_fields", "field": name})
    grants = _grants(actor, formdef)
    if not actor.roles:
        lines.append({"code": "no_roles"})
    for role in sorted(actor.roles):
        grant = next((g for g in grants if g.role == role), None)
        if grant is None:
            lines.append({"code": "role_not_in_policy", "role": role})
            continue
        given = _shown_level(grant, name)
        if not grant.covers(relation):
            lines.append({"code": "scope_does_not_cover", "role": role, "scope": grant.scope, "relation": relation,
                          "level": given})
        elif "read" not in grant.actions and given == "hidden":
            lines.append({"code": "no_read_action", "role": role})
        elif given == "hidden":
            lines.append({"code": "role_hides", "role": role, "scope": grant.scope})
        else:
            lines.append({"code": "role_gives", "role": role, "scope": grant.scope, "level": given,
                          "decides": given == level})
    if level in ("read", "write") and fd.sensitivity == "restricted":
        lines.append({"code": "restricted", "field": name})
    lines.sort(key=lambda ln: 0 if ln.get("decides") else 1)
    return {"level": level, "relation": relation, "lines": lines}

