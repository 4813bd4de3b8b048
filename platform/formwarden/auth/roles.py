"""Roles as data: create, rename (titles; the key policies use never changes), decide their
platform permissions, retire, reinstate and delete. Every change is an audit event with old →
new, and nothing may leave the instance without an active person who administers users."""
from __future__ import annotations

import json
import re

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.explain import beyond
from formwarden.access.permissions import DEFAULT_PERMISSIONS, Perm, has_perm, permissions_of, role_permissions
from formwarden.access.permissions import parse as parse_permissions
from formwarden.audit import record_event
from formwarden.auth.users import actor_for, check_permissions_kept, ensure_role, held_permissions
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import Role, User, utcnow

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Seeded by `init` and `demo` (the example forms' policies name them); editable like any other.
BUILTIN_ROLES = {
    "admin": ("管理员", "Administrator"),
    "manager": ("经理", "Manager"),
    "sales": ("销售", "Sales"),
    "finance": ("财务", "Finance"),
    "support": ("客服", "Support"),
    "intern": ("实习生", "Intern"),
    "auditor": ("审计员", "Auditor"),
    "form_designer": ("表单设计", "Form designer"),
}


def seed_builtin_roles() -> None:
    for name, (zh, en) in BUILTIN_ROLES.items():
        ensure_role(name, zh, en)


def require_admin(actor: Actor) -> None:
    if not has_perm(actor, Perm.USERS_MANAGE):
        raise Forbidden("you may not manage people, roles or teams", code="missing_permission")


# Record work itself is decided per form by the policies, not by this permission.
FREELY_GRANTED = frozenset({Perm.ACCOUNT, Perm.RECORDS})


def check_within(actor: Actor, perms, what: str = "permissions") -> None:
    """No one hands out more than they hold: every platform permission in `perms` must be one
    `actor` has (so user administration cannot be turned into any other power)."""
    held = permissions_of(actor) | FREELY_GRANTED
    beyond = sorted(p for p in perms if p not in held)
    if beyond:
        raise Forbidden(f"you cannot grant {what} you do not hold yourself: {', '.join(beyond)}", field=what,
                        code="beyond_own_rights")


def check_may_manage(actor: Actor, user_id: int, *, self_ok: bool = False) -> None:
    """Only someone who holds every platform permission of an account may change, deactivate or
    reset it (an account with more power than its administrator is out of their reach); and no
    one changes their own account's access (another administrator does)."""
    if actor.user_id is not None and actor.user_id == user_id and not self_ok:
        raise Forbidden("you cannot change your own roles, teams, expiry or activation: ask another administrator",
                        field="username", code="own_account")
    names = [r[0] for r in db.fetchall("SELECT r.name FROM user_role ur JOIN role r ON r.id = ur.role_id"
                                       " WHERE ur.user_id = ?", (user_id,))]
    check_within(actor, role_permissions(names), "roles")


def _refuse_beyond(actor: Actor, other: Actor, field: str, who: str) -> None:
    """Forbidden (naming what) when `other` may read or do more with any form's records than
    `actor`: scopes of actions and field levels, form by form."""
    extra = [what for _form, formdef in versions.all_forms() for what in beyond(actor, other, formdef)]
    if extra:
        shown = ", ".join(extra[:8]) + (" …" if len(extra) > 8 else "")
        raise Forbidden(f"{who} may read or do more with records than you: {shown}", field=field,
                        code="beyond_own_data", details=[{"field": field, "code": "beyond_own_data",
                                                          "message": what} for what in extra])


def check_data_within(actor: Actor, roles, username: str = "") -> None:
    """No one hands out record rights beyond their own: roles given to an account (a new one, or
    added to one) may not read or do more with any form's records than `actor` may, or user
    management alone would make an account that reads customer data (and know its password)."""
    if actor.is_system or not roles:
        return
    other = Actor(kind="user", user_id=None, name=username or "(new account)", roles=frozenset(roles))
    _refuse_beyond(actor, other, "roles", "these roles")


def check_may_become(actor: Actor, user: User) -> None:
    """Resetting a password or viewing as someone is becoming them: refused (Forbidden naming what)
    unless `actor` may manage the account and already holds every right it has over records, form
    by form: scopes of actions and field levels (user management alone reaches no customer data)."""
    check_may_manage(actor, user.id)
    if actor.is_system:
        return  # the command line: whoever runs it holds the instance
    _refuse_beyond(actor, actor_for(user), "username", user.username)


def role_titles(names, locale: str) -> list[str]:
    """The roles' titles in `locale` (their keys where a title is missing), in title order."""
    if not names:
        return []
    rows = Role.select(Role.name, Role.title_zh, Role.title_en).where(Role.name.in_(sorted(names)))
    return sorted(((r.title_zh if locale == "zh-CN" else r.title_en) or r.name) for r in rows)


def get_role(name: str) -> Role:
    role = Role.get_or_none(Role.name == name)
    if role is None:
        raise NotFound(f"no role {name!r}", field="role", code="unknown_role")
    return role


def list_roles() -> list[Role]:
    return list(Role.select().order_by(Role.retired_at.is_null(False), Role.name))


def holders(role: Role) -> list[str]:
    """Usernames of the accounts (active or not) that hold `role`."""
    return [row[0] for row in db.fetchall('SELECT u.username FROM "user" u JOIN user_role ur ON ur.user_id = u.id'
                                          " WHERE ur.role_id = ? ORDER BY u.username", (role.id,))]


def holder_counts() -> dict[int, int]:
    return dict(db.fetchall("SELECT role_id, COUNT(*) FROM user_role GROUP BY role_id"))


def _permissions(values) -> list[str]:
    known = {p.value for p in Perm}
    out = set()
    for v in values or ():
        if v not in known:
            raise Invalid(f"unknown permission {v!r}", field="permissions", code="invalid_permission")
        out.add(v)
    out.add(Perm.ACCOUNT.value)
    return sorted(out)


def _title(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) > 80:
        raise Invalid("at most 80 characters", field=field, code="too_long")
    return value


def create_role(actor: Actor, name: str, *, title_zh: str = "", title_en: str = "", permissions=None) -> Role:
    require_admin(actor)
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise Invalid("a role key is lowercase letters, digits and _ (up to 40), starting with a letter",
                      field="name", code="invalid_name")
    if Role.select().where(Role.name == name).exists():
        raise Invalid(f"a role {name!r} exists", field="name", code="duplicate")
    perms = _permissions(permissions if permissions is not None else DEFAULT_PERMISSIONS)
    check_within(actor, perms)
    zh, en = _title(title_zh, "title_zh") or name, _title(title_en, "title_en") or name
    with write_transaction():
        role = Role.create(name=name, title_zh=zh, title_en=en, permissions=" ".join(perms))
        record_event(actor, "role_create", diff={"role": [None, name], "title_zh": [None, zh], "title_en": [None, en],
                                                 "permissions": [None, perms]})
    return role


def update_role(actor: Actor, name: str, *, title_zh: str | None = None, title_en: str | None = None,
                permissions=None) -> Role:
    require_admin(actor)
    with write_transaction():
        role = get_role(name)
        check_within(actor, parse_permissions(role.permissions), "roles")  # a role above you is out of reach
        before = held_permissions()
        diff = {}
        for attr, value in (("title_zh", title_zh), ("title_en", title_en)):
            if value is not None:
                value = _title(value, attr) or name
                if value != getattr(role, attr):
                    diff[attr] = [getattr(role, attr), value]
                    setattr(role, attr, value)
        if permissions is not None:
            old = sorted(parse_permissions(role.permissions))
            new = _permissions(permissions)
            check_within(actor, new)
            if new != old:
                diff["permissions"] = [old, new]
                role.permissions = " ".join(new)
        if not diff:
            return role
        role.save()
        check_permissions_kept(before)
        record_event(actor, "role_update", diff={"role": [name, name], **diff})
    return role


def break_glass_grant(actor: Actor, name: str, permission: str, reason: str) -> Role:
    """Give `permission` back to role `name` from the command line (whoever runs it controls the
    instance already): the way out when a permission has no holder left. Audited with the reason;
    the access-change alerts see it like any role change."""
    if not actor.is_system:
        raise Forbidden("only the command line grants permissions this way", code="missing_permission")
    if permission not in {p.value for p in Perm}:
        raise Invalid(f"no permission {permission!r}; one of: {', '.join(sorted(p.value for p in Perm))}",
                      field="permission", code="unknown_permission")
    reason = (reason or "").strip()
    if not any(ch.isalnum() for ch in reason):
        raise Invalid("say why the permission is granted this way", field="reason", code="reason_required")
    with write_transaction():
        role = get_role(name)
        if role.retired_at is not None:
            raise Invalid(f"role {name!r} is retired; reinstate it first", field="role", code="retired_role")
        old = sorted(parse_permissions(role.permissions))
        if permission in old:
            return role
        role.permissions = " ".join(sorted({*old, permission}))
        role.save()
        record_event(actor, "role_update", reason=reason[:500],
                     diff={"role": [name, name], "permissions": [old, sorted({*old, permission})],
                           "break_glass": [None, True]})
    return role


def _refuse_if_held(role: Role, doing: str) -> None:
    names = holders(role)
    if names:
        shown = ", ".join(names[:10]) + (f" … (+{len(names) - 10})" if len(names) > 10 else "")
        raise Invalid(f"cannot {doing} role {role.name!r}: held by {shown}", field="role", code="role_in_use",
                      details=[{"field": "role", "code": "role_in_use", "message": shown, "holders": names}])


def retire_role(actor: Actor, name: str) -> Role:
    """A retired role grants nothing and cannot be given; refused while anyone holds it."""
    require_admin(actor)
    with write_transaction():
        role = get_role(name)
        check_within(actor, parse_permissions(role.permissions), "roles")
        if role.retired_at is not None:
            return role
        _refuse_if_held(role, "retire")
        role.retired_at = utcnow()
        role.save()
        record_event(actor, "role_retire", diff={"role": [name, name], "retired": [False, True]})
    return role


def reinstate_role(actor: Actor, name: str) -> Role:
    require_admin(actor)
    with write_transaction():
        role = get_role(name)
        check_within(actor, parse_permissions(role.permissions), "roles")
        if role.retired_at is None:
            return role
        role.retired_at = None
        role.save()
        record_event(actor, "role_reinstate", diff={"role": [name, name], "retired": [True, False]})
    return role


def policies_naming(name: str) -> list[str]:
    """Forms whose policy in force has a column for role `name`."""
    out = []
    rows = db.fetchall("SELECT f.key, p.access FROM form f JOIN form_policy p ON p.form_id = f.id"
                       " AND p.version = f.policy_version")
    for key, access in rows:
        if name in json.loads(access):
            out.append(key)
    return out


def ever_named(name: str) -> list[str]:
    """Forms any of whose policy versions, past ones included, has a column for role `name`."""
    out = []
    for key, access in db.fetchall("SELECT f.key, p.access FROM form f JOIN form_policy p ON p.form_id = f.id"
                                   " ORDER BY f.key"):
        if key not in out and name in json.loads(access):
            out.append(key)
    return out


def delete_role(actor: Actor, name: str) -> None:
    """Delete a role nobody holds and no form's policy, present or past, names (retire it
    otherwise: a rollback could bring the old column back for a new role of the same name)."""
    require_admin(actor)
    with write_transaction():
        role = get_role(name)
        check_within(actor, parse_permissions(role.permissions), "roles")
        _refuse_if_held(role, "delete")
        forms = ever_named(name)
        if forms:
            raise Invalid(f"cannot delete role {name!r}: the access policy of {', '.join(forms)} names it"
                          " (now or in an earlier version); retire the role instead", field="role",
                          code="role_in_policy")
        Role.delete().where(Role.id == role.id).execute()
        record_event(actor, "role_delete", diff={"role": [name, None]})
