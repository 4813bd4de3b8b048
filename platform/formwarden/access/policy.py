"""Effective rights of a set of roles on one form: the union over the roles' x-access blocks."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from formwarden.forms.definition import FormDef

LEVEL_RANK = {"hidden": 0, "masked": 1, "read": 2, "write": 3}
SCOPE_RANK = {"own": 1, "team": 2, "all": 3}
TOKEN_SCOPE_ACTIONS = {
    "read": {"read"},
    "write": {"create", "update"},
    "delete": {"delete"},
    "export": {"export"},
}


@dataclass(frozen=True)
class Rights:
    scopes: dict  # action -> widest scope granting it
    levels: dict  # field -> level

    def can(self, action: str) -> bool:
        return action in self.scopes

    def scope(self, action: str) -> str | None:
        return self.scopes.get(action)

    def level(self, field: str) -> str:
        return self.levels.get(field, "hidden")

    def at_least(self, field: str, level: str) -> bool:
        return LEVEL_RANK[self.level(field)] >= LEVEL_RANK[level]


NO_RIGHTS = Rights({}, {})


def rights_for(formdef: FormDef, roles: frozenset[str], token_scopes: frozenset[str] | None = None) -> Rights:
    return _rights(formdef, roles, token_scopes)


@lru_cache(maxsize=4096)
def _rights(formdef: FormDef, roles: frozenset[str], token_scopes: frozenset[str] | None) -> Rights:
    scopes: dict[str, str] = {}
    levels: dict[str, str] = {}
    for role in sorted(roles):
        block = formdef.access.get(role)
        if not block:
            continue
        for action in block["actions"]:
            if SCOPE_RANK[block["scope"]] > SCOPE_RANK.get(scopes.get(action, ""), 0):
                scopes[action] = block["scope"]
        default = block["fields"].get("*", "hidden")
        for name in formdef.fields:
            level = block["fields"].get(name, default)
            if LEVEL_RANK[level] > LEVEL_RANK.get(levels.get(name, "hidden"), 0):
                levels[name] = level
    if token_scopes is not None:
        allowed = set()
        for s in token_scopes:
            form, _, what = s.rpartition(":")
            if form in ("", formdef.key):
                allowed |= TOKEN_SCOPE_ACTIONS.get(what, set())
        scopes = {a: s for a, s in scopes.items() if a in allowed}
        if not {"create", "update"} & allowed:
            levels = {f: ("read" if lv == "write" else lv) for f, lv in levels.items()}
    if "read" not in scopes:
        # Without read there is nothing to see; other actions keep their own scopes.
        levels = {f: lv for f, lv in levels.items() if lv == "write"} if scopes else {}
    return Rights(scopes, levels)
