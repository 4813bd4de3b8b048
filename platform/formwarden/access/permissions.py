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


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "admin": frozenset(Perm),
    "manager": frozenset({Perm.RECORDS, Perm.TOKENS_OWN}),
    "auditor": frozenset({Perm.AUDIT_READ, Perm.ALERTS_VIEW}),
}
DEFAULT_PERMISSIONS = frozenset({Perm.RECORDS})


def permissions_for(roles) -> frozenset[Perm]:
    out: set[Perm] = {Perm.ACCOUNT}
    for role in roles:
        out |= ROLE_PERMISSIONS.get(role, DEFAULT_PERMISSIONS)
    return frozenset(out)


def has_perm(actor, perm: Perm) -> bool:
    if actor.is_system:
        return True
    return perm in permissions_for(actor.roles)
