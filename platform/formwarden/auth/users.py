"""Users, their roles and teams, and turning a user into an acting `Actor`."""
from __future__ import annotations

import re

import peewee as pw

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import BUILTIN_ROLE_PERMISSIONS, DEFAULT_PERMISSIONS, Perm
from formwarden.access.permissions import parse as parse_permissions
from formwarden.audit import record_event
from formwarden.auth.passwords import hash_password, password_problem, verify_password
from formwarden.auth.sessions import account_usable, revoke_all_sessions
from formwarden.db import write_transaction
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.models import ApiToken, Role, Team, User, UserRole, UserTeam, utcnow

# Retired roles grant nothing: they are left out here, so neither their platform permissions
# nor their grants in any form's policy reach the actor.
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]{0,63}")
ROLE_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_USERNAMES = frozenset({"new", "dormant"})  # console paths under /admin/people/
_MEMBERSHIP = (
    "SELECT 'role', r.name, r.permissions FROM user_role ur JOIN role r ON r.id = ur.role_id"
    " WHERE ur.user_id = ? AND r.retired_at IS NULL"
    " UNION ALL SELECT 'team', CAST(ut.team_id AS TEXT), '' FROM user_team ut WHERE ut.user_id = ?"
)


def actor_for(user: User, *, token=None, ip: str = "", user_agent: str = "", request_id: str = "") -> Actor:
    """The acting identity of `user` (optionally through an API token) with its roles, their
    platform permissions and its teams, read afresh (a change applies from the next request)."""
    scopes = frozenset(token.scopes.split()) if token is not None else None
    token_fields = frozenset(token.fields.split()) if token is not None and token.fields else None
    roles: set[str] = set()
    teams: set[int] = set()
    perms: set[Perm] = {Perm.ACCOUNT}
    for kind, value, granted in db.fetchall(_MEMBERSHIP, (user.id, user.id)):
        if kind == "role":
            roles.add(value)
            perms |= parse_permissions(granted)
        else:
            teams.add(int(value))
    return Actor(
        kind="token" if token is not None else "user",
        user_id=user.id,
        name=user.username if token is None else f"{user.username} (token {token.prefix})",
        roles=frozenset(roles),
        team_ids=frozenset(teams),
        token_id=token.id if token is not None else None,
        username=user.username,
        token_scopes=scopes,
        perms=frozenset(perms),
        token_fields=token_fields,
        locale=user.locale,
        time_zone=user.time_zone or "",
        ip=ip,
        user_agent=user_agent,
        request_id=request_id,
    )


_HELD = (
    'SELECT DISTINCT r.permissions FROM "user" u JOIN user_role ur ON ur.user_id = u.id JOIN role r ON r.id = ur.role_id'
    " WHERE u.is_active = ? AND u.kind = 'person' AND r.retired_at IS NULL AND u.expires_at IS NULL"
)


def held_permissions() -> frozenset[Perm]:
    """The platform permissions some active person without an expiry holds through a live role."""
    held: set[Perm] = set()
    for (text,) in db.fetchall(_HELD, (True,)):
        held |= parse_permissions(text or "")
    return frozenset(held)


_HOLDERS = (
    'SELECT u.username, u.display_name, r.permissions FROM "user" u JOIN user_role ur ON ur.user_id = u.id'
    " JOIN role r ON r.id = ur.role_id WHERE u.is_active = ? AND u.kind = 'person' AND r.retired_at IS NULL"
    " AND (u.expires_at IS NULL OR u.expires_at > ?) ORDER BY u.username"
)


def holders_of(perm: Perm) -> list[tuple[str, str]]:
    """(username, display name) of every active person holding `perm` through a live role."""
    out: dict[str, str] = {}
    for username, display, text in db.fetchall(_HOLDERS, (True, db.db_datetime(utcnow()))):
        if perm in parse_permissions(text or ""):
            out[username] = display or username
    return list(out.items())


def active_people() -> int:
    """How many active person accounts the instance has (the first run asks for more than one)."""
    return User.select().where(User.is_active == True, User.kind == "person").count()  # noqa: E712 - SQL


def check_permissions_kept(before: frozenset[Perm]) -> None:
    """Refuse (inside the change's transaction) a change that leaves a platform permission held
    before it (`held_permissions()` then) with no active holder, or nobody to manage people: no
    one could grant it back from the console (`formwarden access grant` is the break-glass way)."""
    after = held_permissions()
    if Perm.USERS_MANAGE not in after:
        raise Invalid("this would leave no active person who can manage people", field="permissions",
                      code="last_administrator")
    lost = sorted(p.value for p in before - after if p is not Perm.ACCOUNT)
    if lost:
        raise Invalid(f"this would leave no active person holding {', '.join(lost)}: nobody could grant it again",
                      field="permissions", code="last_holder", details=[{"field": "permissions", "code": "last_holder",
                                                                         "message": p, "permission": p} for p in lost])


def ensure_role(name: str, title_zh: str = "", title_en: str = "") -> Role:
    """The role named `name`, created when missing (built-in roles with their built-in platform
    permissions, any other with the default ones: record work, decided per form by its policy)."""
    if not ROLE_KEY_RE.fullmatch(name or ""):
        raise Invalid(f"{name!r} is not a role key (lowercase letters, digits and _, starting with a letter)",
                      field="role", code="invalid_name")
    perms = BUILTIN_ROLE_PERMISSIONS.get(name, DEFAULT_PERMISSIONS)
    role, created = Role.get_or_create(name=name, defaults={"title_zh": title_zh, "title_en": title_en,
                                                            "permissions": " ".join(sorted(perms))})
    if not created and (title_zh or title_en) and (role.title_zh, role.title_en) != (title_zh, title_en):
        role.title_zh, role.title_en = title_zh or role.title_zh, title_en or role.title_en
        role.save()
    return role


def create_user(actor: Actor, username: str, password: str, *, roles=(), teams=(), display_name: str = "",
                locale: str = "zh-CN", check_strength: bool = True, expires_at=None, kind: str = "person",
                time_zone: str = "", must_change_password: bool = False) -> User:
    """Create a user with roles and teams (created if missing). Raises Invalid."""
    if not USERNAME_RE.fullmatch(username or ""):
        raise Invalid("username: ASCII letters, digits, _ and . only (up to 64), starting with a letter or digit",
                      field="username", code="invalid_username")
    if username.lower() in RESERVED_USERNAMES:
        raise Invalid(f"{username!r} is reserved", field="username", code="reserved_username")
    if check_strength and (problem := password_problem(password)):
        raise Invalid(f"password: {problem}", field="password", code="weak_password")
    if User.select().where(pw.fn.LOWER(User.username) == username.lower()).exists():  # no "Admin" beside "admin"
        raise Invalid(f"user {username!r} exists", field="username", code="duplicate_username")
    with write_transaction():
        user = User.create(username=username, password_hash=hash_password(password),
                           display_name=display_name or username, locale=locale, expires_at=expires_at, kind=kind,
                           time_zone=time_zone, must_change_password=must_change_password)
        for name in roles:
            UserRole.create(user=user, role=ensure_role(name))
        for name in teams:
            team, _ = Team.get_or_create(name=name)
            UserTeam.create(user=user, team=team)
        record_event(actor, "user_create", diff={"username": [None, username], "roles": [None, sorted(roles)],
                                                 "teams": [None, sorted(teams)], "kind": [None, kind],
                                                 "expires_at": [None, expires_at.isoformat() if expires_at else None]})
    return user


def authenticate(username: str, password: str) -> User | None:
    user = User.get_or_none(User.username == username)
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok else None


def change_password(actor: Actor, user: User, old: str, new: str, keep_session: str | None = None) -> None:
    """Change a password and end every other session of the user. Raises Forbidden/Invalid."""
    user = User.get_by_id(user.id)
    if not verify_password(user.password_hash, old):
        raise Forbidden("current password is wrong", field="old_password", code="wrong_password")
    if problem := password_problem(new):
        raise Invalid(f"new password: {problem}", field="new_password", code="weak_password")
    if verify_password(user.password_hash, new):
        raise Invalid("the new password must differ from the current one", field="new_password",
                      code="same_password")
    with write_transaction():
        User.update(password_hash=hash_password(new), password_changed_at=utcnow(),
                    must_change_password=False).where(User.id == user.id).execute()
        revoke_all_sessions(user.id, "password", except_raw=keep_session)
        record_event(actor, "password_change", diff={"user": [user.username, user.username]})


def set_locale(user: User, locale: str) -> None:
    if locale not in ("zh-CN", "en"):
        raise Invalid("unsupported language", field="locale", code="invalid_locale")
    User.update(locale=locale).where(User.id == user.id).execute()


def _user(username: str) -> User:
    user = User.get_or_none(User.username == username)
    if user is None:
        raise NotFound(f"no user {username!r}", field="username", code="unknown_user")
    return user


def set_active(actor: Actor, username: str, active: bool) -> User:
    """(De)activate an account. Deactivation ends all its sessions and revokes its tokens at once."""
    user = _user(username)
    with write_transaction():
        before = held_permissions()
        User.update(is_active=active).where(User.id == user.id).execute()
        ended = 0
        if not active:
            ended = revoke_all_sessions(user.id, "deactivated")
            ApiToken.update(revoked_at=utcnow()).where(ApiToken.user == user.id, ApiToken.revoked_at.is_null()).execute()
            check_permissions_kept(before)
        record_event(actor, "user_activate" if active else "user_deactivate",
                     diff={"user": [username, username], "active": [bool(user.is_active), active],
                           "sessions_ended": [None, ended]})
    return User.get_by_id(user.id)


def change_role(actor: Actor, username: str, role: str, grant: bool) -> None:
    """Grant or revoke a role (a permission change, audited)."""
    user = _user(username)
    with write_transaction():
        if grant:
            given = ensure_role(role)
            if given.retired_at is not None:
                raise Invalid(f"role {role!r} is retired", field="role", code="unknown_role")
            UserRole.get_or_create(user=user, role=given)
        else:
            before = held_permissions()
            r = Role.get_or_none(Role.name == role)
            if r is None or not UserRole.delete().where(UserRole.user == user.id, UserRole.role == r.id).execute():
                raise Invalid(f"{username} does not have role {role!r}", field="role", code="no_such_role")
            check_permissions_kept(before)
        record_event(actor, "role_grant" if grant else "role_revoke",
                     diff={"user": [username, username], "role": [None, role] if grant else [role, None]})


def actor_for_job(user_id: int | None, origin: dict, job_id: str) -> Actor:
    """The acting identity of a job started by `user_id` through `origin` (see `Actor.origin`).

    Raises Forbidden when the account, or the token the job was started with, is no longer
    usable: a job never outlives the rights of whoever started it."""
    user = User.get_or_none(User.id == user_id) if user_id is not None else None
    if user is None or not account_usable(user, utcnow()):
        raise Forbidden("the requesting account is gone or deactivated", code="account_unusable")
    token = None
    if origin.get("token") is not None:
        token = ApiToken.get_or_none(ApiToken.id == origin["token"], ApiToken.user == user.id)
        if token is None or token.revoked_at is not None or (
                token.expires_at is not None and token.expires_at <= utcnow()):
            raise Forbidden("the API token that started this job is revoked or expired", code="token_unusable")
    return actor_for(user, token=token, ip=str(origin.get("ip") or ""), user_agent=str(origin.get("user_agent") or ""),
                     request_id=f"job:{job_id}")


def display_names(usernames) -> dict[str, str]:
    """Display names of the accounts among `usernames` (those without one keep their username)."""
    wanted = sorted({u for u in usernames if isinstance(u, str) and u})
    if not wanted:
        return {}
    rows = User.select(User.username, User.display_name).where(User.username.in_(wanted))
    return {row.username: (row.display_name or row.username) for row in rows}
