"""Teams: create, rename, set a manager, add and remove members, delete. Team scope follows at
once (the gate reads memberships on each request). Every change is an audit event."""
from __future__ import annotations

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.auth.roles import check_may_manage, require_admin
from formwarden.db import write_transaction
from formwarden.errors import Invalid, NotFound
from formwarden.models import Team, User, UserTeam


def get_team(team_id) -> Team:
    try:
        team = Team.get_or_none(Team.id == int(team_id))
    except (TypeError, ValueError):
        team = None
    if team is None:
        raise NotFound("no such team", field="team", code="unknown_team")
    return team


def list_teams() -> list[tuple[Team, list[str]]]:
    """Every team with its members' usernames."""
    members: dict[int, list[str]] = {}
    for team_id, username in db.fetchall('SELECT ut.team_id, u.username FROM user_team ut'
                                         ' JOIN "user" u ON u.id = ut.user_id ORDER BY u.username'):
        members.setdefault(team_id, []).append(username)
    return [(t, members.get(t.id, [])) for t in Team.select().order_by(Team.name)]


def members(team_id: int) -> list[str]:
    return [row[0] for row in db.fetchall('SELECT u.username FROM user_team ut JOIN "user" u ON u.id = ut.user_id'
                                          " WHERE ut.team_id = ? ORDER BY u.username", (team_id,))]


def _name(value: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise Invalid("a team needs a name", field="name", code="required")
    if len(value) > 80:
        raise Invalid("at most 80 characters", field="name", code="too_long")
    return value


def _user(username: str, field: str) -> User:
    user = User.get_or_none(User.username == (username or "").strip())
    if user is None:
        raise Invalid(f"no user {username!r}", field=field, code="unknown_user")
    return user


def create_team(actor: Actor, name: str, manager: str = "") -> Team:
    require_admin(actor)
    name = _name(name)
    with write_transaction():
        if Team.select().where(Team.name == name).exists():
            raise Invalid(f"a team {name!r} exists", field="name", code="duplicate")
        boss = _user(manager, "manager") if manager else None
        if boss is not None:
            check_may_manage(actor, boss.id)
        team = Team.create(name=name, manager=boss)
        if boss is not None:
            UserTeam.get_or_create(user=boss, team=team)
        record_event(actor, "team_create", diff={"team": [None, name],
                                                 "manager": [None, boss.username if boss else None]})
    return team


def update_team(actor: Actor, team_id, *, name: str | None = None, manager: str | None = None) -> Team:
    """Rename and/or set the manager ("" for none); a manager is a member of the team."""
    require_admin(actor)
    with write_transaction():
        team = get_team(team_id)
        diff: dict[str, list] = {}
        if name is not None:
            name = _name(name)
            if name != team.name:
                if Team.select().where(Team.name == name, Team.id != team.id).exists():
                    raise Invalid(f"a team {name!r} exists", field="name", code="duplicate")
                diff["name"] = [team.name, name]
                team.name = name
        if manager is not None:
            old: str | None = User.get_by_id(team.manager_id).username if team.manager_id else None
            boss = _user(manager, "manager") if manager else None
            new: str | None = boss.username if boss else None
            if new != old:
                for uid in (team.manager_id, boss.id if boss else None):
                    if uid is not None:
                        check_may_manage(actor, uid)  # a team's scope is part of its members' access
                diff["manager"] = [old, new]
                team.manager = boss
                if boss is not None:
                    UserTeam.get_or_create(user=boss, team=team)
        if diff:
            team.save()
            record_event(actor, "team_update", diff={"team": [team.name, team.name], **diff})
    return team


def set_members(actor: Actor, team_id, add=(), remove=()) -> Team:
    require_admin(actor)
    with write_transaction():
        team = get_team(team_id)
        added, removed = [], []
        for username in add:
            user = _user(username, "add")
            check_may_manage(actor, user.id)
            _, created = UserTeam.get_or_create(user=user, team=team)
            if created:
                added.append(user.username)
        for username in remove:
            user = _user(username, "remove")
            check_may_manage(actor, user.id)
            if user.id == team.manager_id:
                raise Invalid(f"{username} manages this team; choose another manager first", field="remove",
                              code="is_manager")
            if UserTeam.delete().where(UserTeam.user == user.id, UserTeam.team == team.id).execute():
                removed.append(user.username)
        if added or removed:
            record_event(actor, "team_update", diff={"team": [team.name, team.name],
                                                     "members_added": [None, added or None],
                                                     "members_removed": [removed or None, None]})
    return team


def delete_team(actor: Actor, team_id) -> None:
    require_admin(actor)
    with write_transaction():
        team = get_team(team_id)
        names = members(team.id)
        for uid in [row[0] for row in db.fetchall("SELECT user_id FROM user_team WHERE team_id = ?", (team.id,))]:
            check_may_manage(actor, uid)
        Team.delete().where(Team.id == team.id).execute()
        record_event(actor, "team_delete", diff={"team": [team.name, None], "members": [names, None]})
