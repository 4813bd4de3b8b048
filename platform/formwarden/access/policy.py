"""Effective rights of a set of roles on one form, grant by grant.

Each role's `x-access` block is a *grant*: a record scope, the actions, and a level per field.
A grant applies only to the records its scope covers, so rights are worked out per record
*relation* — the viewer's own record, a teammate's, or anyone else's — from exactly the grants
covering that relation (never one role's scope with another role's fields). Scopes nest
(own ⊂ team ⊂ all), so a user's own records are covered by every grant, a teammate's by the
team and all grants, anyone else's by the all grants only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from formwarden.forms.definition import FormDef
from formwarden.forms.rules import when_fields

LEVEL_RANK = {"hidden": 0, "masked": 1, "read": 2, "write": 3}
SCOPE_RANK = {"own": 1, "team": 2, "all": 3}
RELATIONS = ("own", "team", "all")  # narrowest first: every grant covers "own"
WRITE_ACTIONS = ("create", "update")
TOKEN_SCOPE_ACTIONS = {
    "read": {"read"},
    "write": {"create", "update"},
    "delete": {"delete"},
    "export": {"export"},
}


@dataclass(frozen=True)
class Grant:
    """One role's block, already narrowed by a token's scopes."""

    role: str
    scope: str
    actions: frozenset[str]
    levels: tuple[tuple[str, str], ...]  # (field, level) for every field not hidden

    def covers(self, relation: str) -> bool:
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[relation]


@dataclass(frozen=True)
class Rights:
    """What the grants covering one record relation allow.

    `levels` decide what is shown (grants with the read action); `writable[action]` what may
    be written by that action (fields at `write` in a grant that has the action).
    """

    scopes: dict  # action -> widest scope among the grants giving it
    levels: dict  # field -> highest level shown
    writable: dict = field(default_factory=dict)  # action -> frozenset of fields
    exported: dict = field(default_factory=dict)  # field -> highest level a grant with export gives
    relations: dict = field(default_factory=dict, compare=False, repr=False)  # relation -> Rights

    def can(self, action: str) -> bool:
        return action in self.scopes

    def scope(self, action: str) -> str | None:
        return self.scopes.get(action)

    def level(self, name: str) -> str:
        return self.levels.get(name, "hidden")

    def at_least(self, name: str, level: str) -> bool:
        return LEVEL_RANK[self.level(name)] >= LEVEL_RANK[level]

    def may_write(self, name: str, action: str) -> bool:
        return name in self.writable.get(action, ())

    def levels_for(self, action: str) -> dict:
        """The levels shown when reading for `action`: an export carries only what a grant
        with the export action shows."""
        return self.exported if action == "export" else self.levels

    def at(self, relation: str) -> Rights:
        """The rights on a record of `relation` ("own", "team" or "all" for anyone's)."""
        return self.relations.get(relation, NO_RIGHTS)

    def widest(self, action: str, fields=()) -> str | None:
        """The widest relation at which `action` is granted and every field in `fields` can
        be read; None when there is none. Filters and sorts use it so a query never tests a
        field on a record whose grants do not show that field."""
        for relation in reversed(RELATIONS):
            r = self.at(relation)
            levels = r.levels_for(action)
            if r.can(action) and all(LEVEL_RANK[levels.get(f, "hidden")] >= LEVEL_RANK["read"] for f in fields):
                return relation
        return None


NO_RIGHTS = Rights({}, {}, {}, {}, {})


def rights_for(formdef: FormDef, roles: frozenset[str], token_scopes: frozenset[str] | None = None,
               token_fields: frozenset[str] | None = None) -> Rights:
    """The rights of `roles` (narrowed by a token's `token_scopes` and `token_fields` when not
    None) on `formdef`.

    The returned object describes a record of the user's own (covered by every grant), which
    is also the most any record can give; `.at(relation)` gives the others."""
    return _rights(formdef, roles, token_scopes, token_fields)


def grants_for(formdef: FormDef, roles: frozenset[str], token_scopes: frozenset[str] | None,
               token_fields: frozenset[str] | None = None) -> list[Grant]:
    allowed = _token_actions(formdef, token_scopes)
    only = None if token_fields is None else {
        name for form, _, name in (f.partition(".") for f in token_fields) if form == formdef.key}
    if only is not None and not only:
        return []  # a token narrowed to fields reaches no form it names no field of
    needed = set() if only is None else {n for n, fd in formdef.fields.items() if fd.required} | {
        n for rule in formdef.rules for n in rule.get("require", [])}
    # a trigger whose rule would require a field the token may not write is read-only for it
    stuck = set() if only is None else {t for rule in formdef.rules if any(n not in only for n in rule.get("require", []))
                                         for t in when_fields(rule["when"])}
    out = []
    for role in sorted(roles):
        block = formdef.access.get(role)
        if not block:
            continue
        actions = frozenset(block["actions"]) & allowed if allowed is not None else frozenset(block["actions"])
        if only is not None and needed - only:
            actions -= {"create"}  # a token that may not write every field a save can require creates nothing
        if not actions:
            continue
        default = block["fields"].get("*", "hidden")
        levels = []
        for name in formdef.fields:
            level = block["fields"].get(name, default)
            if level == "write" and not actions & set(WRITE_ACTIONS):
                level = "read"  # a grant that cannot write shows its writable fields read-only
            if only is not None and name not in only:
                level = "hidden"  # a token's field allowlist: deny by default, forms it does not name included
            elif name in stuck and level == "write":
                level = "read"
            if level != "hidden":
                levels.append((name, level))
        out.append(Grant(role, block["scope"], actions, tuple(levels)))
    return out


def _token_actions(formdef: FormDef, token_scopes: frozenset[str] | None) -> set[str] | None:
    if token_scopes is None:
        return None
    allowed: set[str] = set()
    for s in token_scopes:
        form, _, what = s.rpartition(":")
        if form in ("", formdef.key):
            allowed |= TOKEN_SCOPE_ACTIONS.get(what, set())
    return allowed


def _merge(grants: list[Grant]) -> Rights:
    scopes: dict[str, str] = {}
    levels: dict[str, str] = {}
    exported: dict[str, str] = {}
    writable: dict[str, set[str]] = {}
    for g in grants:
        for action in g.actions:
            if SCOPE_RANK[g.scope] > SCOPE_RANK.get(scopes.get(action, ""), 0):
                scopes[action] = g.scope
        shows = "read" in g.actions
        for name, level in g.levels:
            if level == "write":
                for action in g.actions & set(WRITE_ACTIONS):
                    writable.setdefault(action, set()).add(name)
            if not shows and level != "write":
                continue  # without read a grant shows only what it lets the user write
            if LEVEL_RANK[level] > LEVEL_RANK[levels.get(name, "hidden")]:
                levels[name] = level
            if shows and "export" in g.actions and LEVEL_RANK[level] > LEVEL_RANK[exported.get(name, "hidden")]:
                exported[name] = level
    return Rights(scopes, levels, {a: frozenset(f) for a, f in writable.items()}, exported)


@lru_cache(maxsize=4096)
def _rights(formdef: FormDef, roles: frozenset[str], token_scopes: frozenset[str] | None,
            token_fields: frozenset[str] | None) -> Rights:
    grants = grants_for(formdef, roles, token_scopes, token_fields)
    relations = {rel: _merge([g for g in grants if g.covers(rel)]) for rel in RELATIONS}
    for r in relations.values():
        r.relations.update(relations)
    return relations["own"]
