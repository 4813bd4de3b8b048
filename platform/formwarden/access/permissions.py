"""Platform permissions (beyond per-form record rights), granted to roles.

Record reads and writes are decided per form by the gate; these cover platform functions.
Which role holds which permission is data (`role.permissions`, edited in the console); the
built-in roles start with BUILTIN_ROLE_PERMISSIONS.
"""
from __future__ import annotations

from enum import StrEnum

from formwarden.models import Role


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
    ACCESS_MANAGE = "access.manage"  # edit each form's access policy (the permission matrix)


BUILTIN_ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "admin": frozenset(Perm),
    "manager": frozenset({Perm.ACCOUNT, Perm.RECORDS, Perm.TOKENS_OWN}),
    "auditor": frozenset({Perm.ACCOUNT, Perm.AUDIT_READ, Perm.ALERTS_VIEW}),
    "form_designer": frozenset({Perm.ACCOUNT, Perm.RECORDS, Perm.FORMS_MANAGE}),
}
DEFAULT_PERMISSIONS = frozenset({Perm.ACCOUNT, Perm.RECORDS})  # a new role, unless told otherwise

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
    "access": frozenset({Perm.ACCESS_MANAGE}),
}


def parse(text: str) -> frozenset[Perm]:
    """Stored permissions (space-separated values); names this version does not know are ignored."""
    known = {p.value for p in Perm}
    return frozenset(Perm(v) for v in text.split() if v in known)


def role_permissions(roles) -> frozenset[Perm]:
    """The union of the permissions the (not retired) roles named hold, read from the database."""
    if not roles:
        return frozenset({Perm.ACCOUNT})
    out: set[Perm] = {Perm.ACCOUNT}
    for role in Role.select(Role.permissions).where(Role.name.in_(sorted(roles)), Role.retired_at.is_null()):
        out |= parse(role.permissions)
    return frozenset(out)


def narrow(perms: frozenset[Perm], token_scopes) -> frozenset[Perm]:
    """What a token with `token_scopes` may use of its user's permissions (None: not a token)."""
    if token_scopes is None:
        return perms
    allowed = set(TOKEN_BASE)
    for scope in token_scopes:
        allowed |= TOKEN_SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(perms & allowed)


def permissions_of(actor) -> frozenset[Perm]:
    if actor.is_system:
        return frozenset(Perm)
    perms = actor.perms if actor.perms is not None else role_permissions(actor.roles)
    return narrow(perms, actor.token_scopes)


def has_perm(actor, perm: Perm) -> bool:
    return perm in permissions_of(actor)
