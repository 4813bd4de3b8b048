"""The people directory behind the console: find accounts, create one with a one-time password,
change a profile, roles, teams and expiry, deactivate (with a reason) and reactivate, and the
lifecycle lists (expiring soon, dormant). `formwarden user …` calls the same services."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import available_timezones

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import role_permissions
from formwarden.audit import record_event
from formwarden.auth import throttle
from formwarden.auth.passwords import hash_password
from formwarden.auth.roles import check_data_within, check_may_become, check_may_manage, check_within, require_admin
from formwarden.auth.secrets import new_password, new_secret
from formwarden.auth.sessions import revoke_all_sessions
from formwarden.auth.users import check_permissions_kept, create_user, held_permissions
from formwarden.db import write_transaction
from formwarden.errors import Invalid, NotFound
from formwarden.models import ApiToken, Role, Team, User, UserRole, UserTeam, utcnow

EXPIRING_DAYS = 7
DORMANT_DAYS = 60
PAGE = 50
KINDS = ("person", "integration")


def get_user(username: str) -> User:
    user = User.get_or_none(User.username == (username or ""))
    if user is None:
        raise NotFound(f"no user {username!r}", field="username", code="unknown_user")
    return user


@dataclass(frozen=True)
class Person:
    user: User
    roles: list[str]
    teams: list[str]

    @property
    def status(self) -> str:
        now = utcnow()
        u = self.user
        if not u.is_active:
            return "inactive"
        if u.expires_at is not None and u.expires_at <= now:
            return "expired"
        if u.expires_at is not None and u.expires_at <= now + dt.timedelta(days=EXPIRING_DAYS):
            return "expiring"
        if u.kind == "person" and (u.last_login_at or u.created_at) < now - dt.timedelta(days=DORMANT_DAYS):
            return "dormant"
        return "active"


def _memberships(user_ids) -> tuple[dict, dict]:
    roles: dict[int, list[str]] = {}
    teams: dict[int, list[str]] = {}
    if not user_ids:
        return roles, teams
    marks = ", ".join("?" * len(user_ids))
    for uid, name in db.fetchall(f"SELECT ur.user_id, r.name FROM user_role ur JOIN role r ON r.id = ur.role_id"  # noqa: S608
                                 f" WHERE ur.user_id IN ({marks}) ORDER BY r.name", tuple(user_ids)):
        roles.setdefault(uid, []).append(name)
    for uid, name in db.fetchall(f"SELECT ut.user_id, t.name FROM user_team ut JOIN team t ON t.id = ut.team_id"  # noqa: S608
                                 f" WHERE ut.user_id IN ({marks}) ORDER BY t.name", tuple(user_ids)):
        teams.setdefault(uid, []).append(name)
    return roles, teams


def find_people(actor: Actor, *, q: str = "", role: str = "", team: str = "", status: str = "",
                kind: str = "", page: int = 1, dormant_days: int = DORMANT_DAYS) -> tuple[list[Person], int]:
    """Accounts matching the filters (status: active, inactive, expiring, expired, dormant),
    newest sign-in first, a page at a time; and how many match."""
    require_admin(actor)
    now = utcnow()
    query = User.select()
    if q.strip():
        like = "%" + q.strip().replace("%", "") + "%"  # "_" stays a one-character wildcard: harmless here
        titled = UserRole.select(UserRole.user).join(Role).where(
            (Role.title_zh ** like) | (Role.title_en ** like) | (Role.name ** like))
        query = query.where((User.username ** like) | (User.display_name ** like) | User.id.in_(titled))
    if role:
        query = query.where(User.id.in_(UserRole.select(UserRole.user).join(Role).where(Role.name == role)))
    if team:
        query = query.where(User.id.in_(UserTeam.select(UserTeam.user).join(Team).where(Team.name == team)))
    if kind in KINDS:
        query = query.where(User.kind == kind)
    if status == "active":
        query = query.where(User.is_active == True, (User.expires_at.is_null()) | (User.expires_at > now))  # noqa: E712
    elif status == "inactive":
        query = query.where(User.is_active == False)  # noqa: E712
    elif status == "expiring":
        query = query.where(User.is_active == True, User.expires_at > now,  # noqa: E712
                            User.expires_at <= now + dt.timedelta(days=EXPIRING_DAYS))
    elif status == "expired":
        query = query.where(User.is_active == True, User.expires_at <= now)  # noqa: E712
    elif status == "dormant":
        query = query.where(User.id.in_(dormant_query(now, dormant_days).select(User.id)))
    total = query.count()
    rows = list(query.order_by(User.last_login_at.desc(nulls="LAST"), User.username)
                .paginate(max(1, page), PAGE))
    roles, teams = _memberships([u.id for u in rows])
    return [Person(u, roles.get(u.id, []), teams.get(u.id, [])) for u in rows], total


def active_people() -> list[User]:
    """Every active person (for choosing a manager or a member), by display name."""
    return list(User.select().where(User.is_active == True, User.kind == "person")  # noqa: E712
                .order_by(User.display_name, User.username))


def dormant_query(now: dt.datetime, days: int = DORMANT_DAYS):
    """Active people who have not signed in for `days` (never signed in: since their account was made)."""
    cutoff = now - dt.timedelta(days=days)
    return User.select().where(
        User.is_active == True, User.kind == "person",  # noqa: E712
        (User.last_login_at < cutoff) | (User.last_login_at.is_null() & (User.created_at < cutoff)))


def expiring(now: dt.datetime | None = None) -> list[User]:
    now = now or utcnow()
    return list(User.select().where(User.is_active == True, User.expires_at > now,  # noqa: E712
                                    User.expires_at <= now + dt.timedelta(days=EXPIRING_DAYS))
                .order_by(User.expires_at))


def person(username: str) -> Person:
    user = get_user(username)
    roles, teams = _memberships([user.id])
    return Person(user, roles.get(user.id, []), teams.get(user.id, []))


# --- changes ----------------------------------------------------------------------------------

def _time_zone(value: str) -> str:
    value = (value or "").strip()
    if value and value not in available_timezones():
        raise Invalid(f"unknown time zone {value!r} (e.g. Asia/Shanghai)", field="time_zone", code="invalid_time_zone")
    return value


def _roles(names) -> list[Role]:
    out = []
    for name in names:
        role = Role.get_or_none(Role.name == name)
        if role is None or role.retired_at is not None:
            raise Invalid(f"no active role {name!r}", field="roles", code="unknown_role")
        out.append(role)
    return out


def _teams(names) -> list[Team]:
    out = []
    for name in names:
        team = Team.get_or_none(Team.name == name)
        if team is None:
            raise Invalid(f"no team {name!r}", field="teams", code="unknown_team")
        out.append(team)
    return out


def _stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="minutes") if value else None


def create_person(actor: Actor, username: str, *, display_name: str = "", roles=(), teams=(),
                  locale: str = "zh-CN", time_zone: str = "", expires_at: dt.datetime | None = None,
                  kind: str = "person") -> tuple[User, str]:
    """Create an account with a one-time initial password, returned to be shown once (an
    integration account gets an unusable one: it works through API tokens only)."""
    require_admin(actor)
    if kind not in KINDS:
        raise Invalid("kind is person or integration", field="kind", code="invalid_kind")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("the expiry must be in the future", field="expires_at", code="invalid_expiry")
    if locale not in ("zh-CN", "en"):
        raise Invalid("unsupported language", field="locale", code="invalid_locale")
    tz = _time_zone(time_zone)
    _roles(roles), _teams(teams)
    if not roles:
        raise Invalid("choose at least one role", field="roles", code="no_role")
    check_within(actor, role_permissions(roles), "roles")
    check_data_within(actor, roles, username)
    # an integration gets a password no one ever sees: it works through API tokens only
    password = new_password() if kind == "person" else new_secret(32)
    user = create_user(actor, (username or "").strip(), password, roles=roles, teams=teams,
                       display_name=(display_name or "").strip()[:120], locale=locale, check_strength=False,
                       expires_at=expires_at, kind=kind, time_zone=tz, must_change_password=kind == "person")
    return user, ("" if kind == "integration" else password)


def reset_password(actor: Actor, username: str) -> str:
    """A new one-time password (shown once); every session of the account ends. Only for someone
    who holds every right of the account (whoever knows the password can act as them)."""
    require_admin(actor)
    user = get_user(username)
    check_may_become(actor, user)
    if user.kind != "person":
        raise Invalid("an integration signs in with API tokens only", field="username", code="integration")
    password = new_password()
    with write_transaction():
        User.update(password_hash=hash_password(password), password_changed_at=utcnow(),
                    must_change_password=True).where(User.id == user.id).execute()
        revoke_all_sessions(user.id, "password")
        record_event(actor, "password_change", diff={"user": [user.username, user.username], "reset": [None, True]})
    return password


def unlock_sign_in(actor: Actor, username: str, conn) -> int:
    """Lift every sign-in lock and wait of an account (from every address), audited. Returns how
    many locks were lifted. Raises throttle.Unavailable when Redis cannot be reached."""
    require_admin(actor)
    user = get_user(username)
    check_may_manage(actor, user.id)
    lifted = throttle.unlock_account(conn, user.username)
    with write_transaction():
        record_event(actor, "login_unlock", diff={"user": [username, username], "locks": [lifted, 0]})
    return lifted


_UNSET: object = object()


def update_person(actor: Actor, username: str, *, display_name: str | None = None, locale: str | None = None,
                  time_zone: str | None = None, expires_at=_UNSET, roles=None, teams=None) -> User:
    """Change a profile, roles, teams and expiry as one audited change (old → new)."""
    require_admin(actor)
    with write_transaction():
        user = get_user(username)
        check_may_manage(actor, user.id, self_ok=True)
        before = held_permissions()
        diff: dict = {}
        changes: dict = {}
        if display_name is not None:
            value = display_name.strip()[:120] or user.username
            if value != user.display_name:
                diff["display_name"], changes["display_name"] = [user.display_name, value], value
        if locale is not None and locale != user.locale:
            if locale not in ("zh-CN", "en"):
                raise Invalid("unsupported language", field="locale", code="invalid_locale")
            diff["locale"], changes["locale"] = [user.locale, locale], locale
        if time_zone is not None:
            tz = _time_zone(time_zone)
            if tz != user.time_zone:
                diff["time_zone"], changes["time_zone"] = [user.time_zone or None, tz or None], tz
        if expires_at is not _UNSET and expires_at != user.expires_at:
            if expires_at is not None and expires_at <= utcnow():
                raise Invalid("the expiry must be in the future", field="expires_at", code="invalid_expiry")
            diff["expires_at"], changes["expires_at"] = [_stamp(user.expires_at), _stamp(expires_at)], expires_at
        if changes:
            User.update(**changes).where(User.id == user.id).execute()
        current = person(username)
        if roles is not None:
            wanted = sorted(set(roles))
            if not wanted:
                raise Invalid("choose at least one role", field="roles", code="no_role")
            if wanted != sorted(current.roles):
                keep = set(current.roles)
                check_within(actor, role_permissions(set(wanted) ^ keep), "roles")
                check_data_within(actor, set(wanted) - keep, username)
                new_roles = _roles([r for r in wanted if r not in keep])
                UserRole.delete().where(UserRole.user == user.id, UserRole.role.in_(
                    Role.select(Role.id).where(Role.name.in_(sorted(keep - set(wanted)))))).execute()
                for role in new_roles:
                    UserRole.create(user=user, role=role)
                diff["roles"] = [sorted(current.roles), wanted]
        if teams is not None:
            wanted = sorted(set(teams))
            if wanted != sorted(current.teams):
                keep = set(current.teams)
                new_teams = _teams([t for t in wanted if t not in keep])
                gone = Team.select().where(Team.name.in_(sorted(keep - set(wanted))))
                for team in gone:
                    if team.manager_id == user.id:
                        raise Invalid(f"{username} manages {team.name}; choose another manager first",
                                      field="teams", code="is_manager")
                UserTeam.delete().where(UserTeam.user == user.id, UserTeam.team.in_([t.id for t in gone])).execute()
                for team in new_teams:
                    UserTeam.create(user=user, team=team)
                diff["teams"] = [sorted(current.teams), wanted]
        if not diff:
            return user
        if {"roles", "teams", "expires_at"} & set(diff):
            check_may_manage(actor, user.id)  # never one's own access
        check_permissions_kept(before)
        record_event(actor, "user_update", diff={"user": [username, username], **diff})
    return User.get_by_id(user.id)


def deactivate(actor: Actor, username: str, reason: str) -> int:
    """Deactivate an account at once: sessions end and tokens are revoked in the same
    transaction. Returns how many sessions ended."""
    require_admin(actor)
    reason = (reason or "").strip()
    if not any(ch.isalnum() for ch in reason):
        raise Invalid("say why the account is deactivated", field="reason", code="reason_required")
    with write_transaction():
        user = get_user(username)
        check_may_manage(actor, user.id)
        if not user.is_active:
            return 0
        before = held_permissions()
        User.update(is_active=False, deactivated_reason=reason[:500]).where(User.id == user.id).execute()
        ended = revoke_all_sessions(user.id, "deactivated")
        tokens = ApiToken.update(revoked_at=utcnow()).where(ApiToken.user == user.id,
                                                            ApiToken.revoked_at.is_null()).execute()
        check_permissions_kept(before)
        record_event(actor, "user_deactivate", reason=reason[:500],
                     diff={"user": [username, username], "active": [True, False], "sessions_ended": [None, ended],
                           "tokens_revoked": [None, tokens]})
    return ended


def reactivate(actor: Actor, username: str, reason: str = "") -> None:
    require_admin(actor)
    with write_transaction():
        user = get_user(username)
        check_may_manage(actor, user.id)
        if user.is_active:
            return
        User.update(is_active=True, deactivated_reason="").where(User.id == user.id).execute()
        record_event(actor, "user_activate", reason=(reason or "").strip()[:500],
                     diff={"user": [username, username], "active": [False, True]})


def deactivate_many(actor: Actor, usernames, reason: str) -> int:
    """Deactivate several accounts (the dormant list's bulk action); all or none."""
    with write_transaction():
        for username in usernames:
            deactivate(actor, username, reason)
    return len(list(usernames))
