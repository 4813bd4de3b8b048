"""Application permissions (beyond per-form record rights), granted to roles.

Record reads and writes are decided per form by the gate; these cover platform functions.
"""
from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    ACCOUNT = "account"  # any signed-in account: own profile, sign out
    RECORDS = "records"  # may use record pages at all; the gate decides per form and field
    RECORDS_PURGE = "records.purge"
    FORMS_MANAGE = "forms.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    TOKENS_OWN = "tokens.own"
    ALERTS_MANAGE = "alerts.manage"
    ALERTS_VIEW = "alerts.view"
    BACKUPS = "backups"  # run, restore and configure backups


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "admin": frozenset(Perm),
    "manager": frozenset({Perm.RECORDS, Perm.TOKENS_OWN}),
    "auditor": frozenset({Perm.AUDIT_READ, Perm.ALERTS_VIEW}),
}
DEFAULT_PERMISSIONS = frozenset({Perm.RECORDS})

# What an API token may use of its user's platform permissions: record work (decided per form
# by the gate and the token's record scopes) always; anything else only with its own scope.
TOKEN_BASE = frozenset({Perm.ACCOUNT, Perm.RECORDS})
TOKEN_SCOPE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "purge": frozenset({Perm.RECORDS_PURGE}),
    "audit": frozenset({Perm.AUDIT_READ}),
    "alerts": frozenset({Perm.ALERTS_VIEW, Perm.ALERTS_MANAGE}),
    "users": frozenset({Perm.USERS_MANAGE}),
    "forms": frozenset({Perm.FORMS_MANAGE}),
    "tokens": frozenset({Perm.TOKENS_OWN}),
    "backups": frozenset({Perm.BACKUPS}),
}


def permissions_for(roles, token_scopes=None) -> frozenset[Perm]:
    """The union of the roles' permissions, narrowed by a token's scopes when it is a token."""
    out: set[Perm] = {Perm.ACCOUNT}
    for role in roles:
        out |= ROLE_PERMISSIONS.get(role, DEFAULT_PERMISSIONS)
    if token_scopes is not None:
        allowed = set(TOKEN_BASE)
        for scope in token_scopes:
            allowed |= TOKEN_SCOPE_PERMISSIONS.get(scope, frozenset())
        out &= allowed
    return frozenset(out)


def has_perm(actor, perm: Perm) -> bool:
    if actor.is_system:
        return True
    return perm in permissions_for(actor.roles, actor.token_scopes)
