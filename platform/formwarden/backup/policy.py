"""The backup policy: when backups and drills run, how many archives each target keeps, who is
responsible, and how old the newest backup may get (RPO). Stored as the `backup.policy`
setting; every change is an audit event with old → new."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, fields
from zoneinfo import ZoneInfo

from croniter import croniter

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm, role_permissions
from formwarden.audit import record_event
from formwarden.config import instance_zone
from formwarden.errors import Forbidden, Invalid
from formwarden.forms.messages import render
from formwarden.models import Role, Setting, User, UserRole, utcnow

KEY = "backup.policy"


@dataclass(frozen=True)
class Policy:
    schedule: str = "0 2 * * *"  # cron, server local time: daily at 02:00
    drill_schedule: str = "30 4 * * *"  # a restore drill of each target's newest archive
    keep_last: int = 3  # the newest archives, whatever their day
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6
    rpo_hours: int = 24
    responsible: str = ""  # username told about failures, stale backups and failed drills
    enabled: bool = True


_LIMITS = {"keep_last": (1, 100), "keep_daily": (1, 366), "keep_weekly": (0, 520), "keep_monthly": (0, 240), "rpo_hours": (1, 24 * 90)}


def load_policy() -> Policy:
    row = Setting.get_or_none(Setting.key == KEY)
    if row is None:
        return Policy()
    stored = json.loads(row.value)
    return Policy(**{f.name: stored[f.name] for f in fields(Policy) if f.name in stored})


def next_run(cron: str, after: dt.datetime) -> dt.datetime:
    """When a schedule next fires after `after` (UTC, naive or aware), as naive UTC. Its fields are
    read in the instance's time zone (FORMWARDEN_TIME_ZONE), not the server's: "0 2 * * *" is
    02:00 where the people are, whatever zone the server runs in."""
    zone = ZoneInfo(instance_zone())
    start = (after if after.tzinfo else after.replace(tzinfo=dt.UTC)).astimezone(zone)
    return croniter(cron, start).get_next(dt.datetime).astimezone(dt.UTC).replace(tzinfo=None)


def _fires(text: str) -> bool:
    """Five cron fields that name a time which comes round at least once a year (30 February
    is valid cron but never fires)."""
    if len(text) > 100 or len(text.split()) != 5 or not croniter.is_valid(text):
        return False
    try:
        nxt = next_run(text, utcnow())
    except (ValueError, KeyError, OverflowError):
        return False
    return nxt - utcnow() <= dt.timedelta(days=366)


def _problem(name: str, code: str, **params) -> dict:
    return {"field": name, "code": code, "params": params, "message": render(code, params)}


def _may_take_charge(username: str) -> bool:
    """An active account whose roles include the backups permission."""
    user = User.get_or_none(User.username == username, User.is_active == True)  # noqa: E712
    if user is None:
        return False
    roles = [r.name for r in Role.select(Role.name).join(UserRole).where(UserRole.user == user.id)]
    return Perm.BACKUPS in role_permissions(roles)


def _checked(values: dict) -> Policy:
    problems = []
    out = asdict(Policy())
    for f in fields(Policy):
        if f.name not in values:
            continue
        raw = values[f.name]
        if f.name in ("schedule", "drill_schedule"):
            text = str(raw).strip()
            if not _fires(text):
                problems.append(_problem(f.name, "invalid_schedule"))
            out[f.name] = text
        elif f.name in _LIMITS:
            low, high = _LIMITS[f.name]
            try:
                number = int(raw)
            except (TypeError, ValueError):
                number = None
            if number is None or not low <= number <= high:
                problems.append(_problem(f.name, "out_of_range", low=low, high=high))
            else:
                out[f.name] = number
        elif f.name == "responsible":
            name = str(raw or "").strip()
            if name and not _may_take_charge(name):
                problems.append(_problem("responsible", "unknown_user"))
            out[f.name] = name
        elif f.name == "enabled":
            out[f.name] = raw in (True, "1", "on", "true", "yes")
    if problems:
        raise Invalid(problems[0]["message"], field=problems[0]["field"], code=problems[0]["code"], details=problems)
    return Policy(**out)


def save_policy(actor: Actor, values: dict) -> Policy:
    """Check and store a new policy (fields missing from `values` keep their current value)."""
    if not has_perm(actor, Perm.BACKUPS):
        raise Forbidden("only backup administrators may change the backup policy", code="missing_permission")
    old = load_policy()
    new = _checked({**asdict(old), **values})
    diff = {k: [v, getattr(new, k)] for k, v in asdict(old).items() if v != getattr(new, k)}
    if not diff:
        return new
    with db.write_transaction():
        updated = Setting.update(value=json.dumps(asdict(new)), updated_at=utcnow()).where(Setting.key == KEY).execute()
        if not updated:
            Setting.create(key=KEY, value=json.dumps(asdict(new)))
        record_event(actor, "backup_policy", diff=diff)
    return new
