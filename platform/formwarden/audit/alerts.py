"""Anomaly rules over the audit trail. A worker job (`jobs/alerts.py`) reads new events after a
saved cursor, so nothing runs on the request path and a stopped worker catches up later.

Each rule looks at one new event and the recent events around it; a finding opens an alert for
(rule, subject), or adds to the open one. Thresholds are settings (environment, defaults below).
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import peewee as pw

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.audit import actions
from formwarden.audit.events import record_event
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms.messages import N_
from formwarden.models import Alert, AlertCursor, User, utcnow
from formwarden.plugins.loader import alert_sinks

log = logging.getLogger(__name__)

ACTIVITY = actions.ACTIVITY


@dataclass(frozen=True)
class AlertSettings:
    export_records: int = 1000  # mass export: more records than this …
    export_window_min: int = 60  # … by one actor within this many minutes
    delete_count: int = 20
    delete_window_min: int = 10
    edit_count: int = 200
    edit_window_min: int = 10
    failed_logins_account: int = 5
    failed_logins_ip: int = 10
    failed_window_min: int = 15
    reveal_count: int = 20
    reveal_window_min: int = 10
    work_start: int = 8  # working hours, local time, Monday–Friday
    work_end: int = 20
    time_zone: str = "Asia/Shanghai"
    dormant_days: int = 60
    access_changes: int = 10  # a burst of access changes: more than this …
    access_window_min: int = 10  # … by one actor within this many minutes


def settings() -> AlertSettings:
    """AlertSettings with FORMWARDEN_ALERT_<NAME> environment overrides."""
    values: dict = {}
    for name, default in AlertSettings.__dataclass_fields__.items():
        raw = os.environ.get(f"FORMWARDEN_ALERT_{name.upper()}")
        if raw is not None:
            values[name] = raw if isinstance(default.default, str) else int(raw)
    return AlertSettings(**values)


IP_RULES = frozenset({"failed_logins_ip"})  # rules whose subject is an IP address, not an account


@dataclass(frozen=True)
class Finding:
    """What a rule found. `words` is an English sentence with %(name)s marks filled from `params`:
    stored with the alert, so each reader sees it in their own language (`summary` is the English,
    for sinks, the API and logs)."""
    rule: str
    subject: str
    words: str
    severity: str = "warning"
    params: dict = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return self.words % self.params + (RESPONSIBLE % self.params if "responsible" in self.params else "")


RESPONSIBLE = N_(" (responsible: %(responsible)s)")  # added to an alert whose params name who answers for it


def _since(event_at: dt.datetime, minutes: int) -> str:
    return db.db_datetime(event_at - dt.timedelta(minutes=minutes))


def _count(sql: str, params) -> int:
    return db.fetchone(sql, params)[0] or 0


def _windowed(s: AlertSettings):
    """(rule, action, limit, window minutes) of the rules that count one actor's actions."""
    return (("mass_delete", "delete", s.delete_count, s.delete_window_min),
            ("bulk_edit", "update", s.edit_count, s.edit_window_min),
            ("reveal_burst", "reveal", s.reveal_count, s.reveal_window_min))


class _Windows:
    """Times of each actor's counted actions around a batch, loaded with one query per
    (actor, action) instead of one per event; counts are then bisections in memory."""

    def __init__(self, events: list[dict], s: AlertSettings):
        self.times: dict[tuple, list[dt.datetime]] = {}
        spans: dict[tuple, list] = {}
        for _, action, _, window in _windowed(s):
            for e in events:
                if e["action"] == action:
                    key = (_actor_filter(e), action)
                    lo, hi = e["at"] - dt.timedelta(minutes=window), e["at"]
                    span = spans.setdefault(key, [lo, hi])
                    span[0], span[1] = min(span[0], lo), max(span[1], hi)
        for ((column, value), action), (lo, hi) in spans.items():
            rows = db.fetchall(f"SELECT at FROM audit_event WHERE {column} AND action = ?"  # noqa: S608
                               " AND at >= ? AND at <= ?", (value, action, db.db_datetime(lo), db.db_datetime(hi)))
            self.times[((column, value), action)] = sorted(db.py_datetime(at) for (at,) in rows)

    def count(self, by_actor: tuple, action: str, at: dt.datetime, window: int) -> int:
        times = self.times.get((by_actor, action), [])
        return bisect.bisect_right(times, at) - bisect.bisect_left(times, at - dt.timedelta(minutes=window))


def _actor_filter(e: dict) -> tuple[str, object]:
    return ("actor_id = ?", e["actor_id"]) if e["actor_id"] is not None else ("actor_name = ?", e["actor_name"])


def _findings(e: dict, s: AlertSettings, seen: dict, windows: _Windows) -> list[Finding]:
    """Findings for one event. Window counts come from `windows` (loaded per batch through the
    (actor_id, at) index); `seen` caches each actor's last activity per scan."""
    out = []
    at, actor_id, action = e["at"], e["actor_id"], e["action"]
    who = e["actor_name"]
    now = db.db_datetime(at)
    by_actor = _actor_filter(e)
    if action == "export":
        rows = db.fetchall(f"SELECT diff FROM audit_event WHERE {by_actor[0]} AND action = 'export'"  # noqa: S608
                           " AND at >= ? AND at <= ?", (by_actor[1], _since(at, s.export_window_min), now))
        total = sum(json.loads(d).get("count", [0, 0])[1] or 0 for (d,) in rows)
        if total > s.export_records:
            out.append(Finding("mass_export", who, N_("%(who)s exported %(n)s records within %(minutes)s minutes"),
                               "critical", {"who": who, "n": total, "minutes": s.export_window_min}))
    for rule, act, limit, window in _windowed(s):
        if action == act:
            n = windows.count(by_actor, act, at, window)
            if n > limit:
                out.append(Finding(rule, who, N_("%(who)s: %(n)s × %(action)s within %(minutes)s minutes"),
                                   "critical" if rule != "bulk_edit" else "warning",
                                   {"who": who, "n": n, "action": act, "minutes": window}))
    if action == "login" and "after_reset_by" in (diff := json.loads(e["diff"] or "{}")):
        by, how = diff["after_reset_by"][1], (diff.get("from") or [None, ""])[1]
        words = (N_("%(who)s signed in for the first time after %(by)s reset their password, from %(by)s's own session")
                 if how == "session" else
                 N_("%(who)s signed in for the first time after %(by)s reset their password, from %(by)s's own address"))
        out.append(Finding("reset_sign_in", who, words, "critical", {"who": who, "by": by}))
    if action == "login_locked":
        diff = json.loads(e["diff"])
        name = (diff.get("username") or [None, ""])[1] or who
        if (diff.get("scope") or [None, ""])[1] == "account":
            out.append(Finding("sign_in_locked", name, N_(
                "sign-in to %(name)s locked from %(ip)s after repeated wrong passwords; an administrator can unlock it")
                if e["ip"] else N_("sign-in to %(name)s locked after repeated wrong passwords; an administrator can "
                                   "unlock it"), params={"name": name, "ip": e["ip"] or ""}))
    if action == "login_failed":
        name = (json.loads(e["diff"]).get("username") or [None, ""])[1] or who
        n = _count("SELECT COUNT(*) FROM audit_event WHERE at >= ? AND at <= ? AND action = 'login_failed'"
                   " AND actor_name = ?", (_since(at, s.failed_window_min), now, name))
        if n >= s.failed_logins_account:
            out.append(Finding("failed_logins", name, N_("%(n)s failed sign-ins for account %(name)s within "
                                                         "%(minutes)s minutes"),
                               params={"n": n, "name": name, "minutes": s.failed_window_min}))
        if e["ip"]:
            n = _count("SELECT COUNT(*) FROM audit_event WHERE at >= ? AND at <= ? AND action = 'login_failed'"
                       " AND ip = ?", (_since(at, s.failed_window_min), now, e["ip"]))
            if n >= s.failed_logins_ip:
                out.append(Finding("failed_logins_ip", e["ip"], N_("%(n)s failed sign-ins from %(ip)s within "
                                                                   "%(minutes)s minutes"),
                                   "critical", {"n": n, "ip": e["ip"], "minutes": s.failed_window_min}))
    local = at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(s.time_zone))
    off_hours = local.weekday() >= 5 or not s.work_start <= local.hour < s.work_end
    if action in ACTIVITY and e["actor_kind"] != "system" and off_hours:
        out.append(Finding("off_hours", who, N_("%(who)s: %(action)s at %(when)s (%(zone)s), outside working hours"),
                           params={"who": who, "action": action, "when": f"{local:%Y-%m-%d %H:%M}",
                                   "zone": s.time_zone}))
    if action in actions.ACCESS_CHANGES and e["actor_kind"] != "system":
        out.extend(_access_findings(e, s, who, local, off_hours, by_actor, now))
    if action in ACTIVITY + ("login",) and actor_id is not None:
        last = seen.get(actor_id)
        if last is None:
            prev = db.fetchone("SELECT MAX(at) FROM audit_event WHERE actor_id = ? AND at < ?", (actor_id, now))[0]
            if prev:
                last = db.py_datetime(prev)
            else:
                user = User.get_or_none(User.id == actor_id)
                last = user.created_at if user else at
        if at - last > dt.timedelta(days=s.dormant_days):
            out.append(Finding("dormant_account", who, N_("%(who)s was unused for %(days)s days and is active again"),
                               "critical", {"who": who, "days": (at - last).days}))
        seen[actor_id] = at
    return out


POWERFUL = ("records.purge", "users.manage", "access.manage", "backups", "audit.read")


def _access_findings(e: dict, s: AlertSettings, who: str, local: dt.datetime, off_hours: bool, by_actor: tuple,
                     now: str) -> list[Finding]:
    """Changes to who may do what: a burst of them, and any made outside working hours
    (critical when a powerful permission such as purge is granted)."""
    out = []
    marks = ", ".join("?" * len(actions.ACCESS_CHANGES))
    n = _count(f"SELECT COUNT(*) FROM audit_event WHERE {by_actor[0]} AND action IN ({marks})"  # noqa: S608
               " AND at >= ? AND at <= ?", (by_actor[1], *actions.ACCESS_CHANGES,
                                           _since(e["at"], s.access_window_min), now))
    if n > s.access_changes:
        out.append(Finding("access_burst", who, N_("%(who)s: %(n)s changes to roles, policies or accounts within "
                                                   "%(minutes)s minutes"),
                           params={"who": who, "n": n, "minutes": s.access_window_min}))
    if off_hours:
        diff = json.loads(e["diff"] or "{}")
        granted = [p for p in POWERFUL
                   if any(isinstance(v, list) and len(v) == 2 and isinstance(v[1], list) and p in v[1]
                          and not (isinstance(v[0], list) and p in v[0]) for v in diff.values())]
        params = {"who": who, "action": e["action"], "when": f"{local:%Y-%m-%d %H:%M}", "zone": s.time_zone}
        if granted:
            out.append(Finding("access_off_hours", who, N_("%(who)s: %(action)s at %(when)s (%(zone)s), outside "
                                                           "working hours; granted %(permissions)s"),
                               "critical", {**params, "permissions": granted}))
        else:
            out.append(Finding("access_off_hours", who, N_("%(who)s: %(action)s at %(when)s (%(zone)s), outside "
                                                           "working hours"), params=params))
    return out


_NEW = ("SELECT seq, at, actor_kind, actor_id, actor_name, action, diff, ip FROM audit_event"
        " WHERE seq > ? ORDER BY seq LIMIT ?")


def scan(limit: int = 5000) -> list[Alert]:
    """Evaluate the rules on up to `limit` events after the cursor; returns alerts opened or added to."""
    return _scan_batch(limit)[0]


def scan_pending(budget_seconds: float = 10.0, limit: int = 5000) -> tuple[list[Alert], bool]:
    """Scan batches until the cursor reaches the newest event or the time budget is spent;
    returns the alerts and whether it caught up (a busy instance writes more than one batch
    between two scheduled scans, and alerts must not fall further and further behind)."""
    deadline = time.monotonic() + budget_seconds
    alerts: dict[int, Alert] = {}
    while True:
        found, scanned = _scan_batch(limit)
        alerts.update((a.id, a) for a in found)
        if scanned < limit:
            return list(alerts.values()), True
        if time.monotonic() >= deadline:
            return list(alerts.values()), False


def _scan_batch(limit: int) -> tuple[list[Alert], int]:
    cursor = AlertCursor.get_or_none() or AlertCursor.create(last_seq=0)
    s = settings()
    rows = db.fetchall(_NEW, (cursor.last_seq, limit))
    touched: dict[int, Alert] = {}
    system = Actor.system("alerts")
    found: list[tuple[Finding, int]] = []
    seen: dict = {}
    events = [dict(seq=seq, at=db.py_datetime(at), actor_kind=kind, actor_id=actor_id, actor_name=actor_name,
                   action=action, diff=diff, ip=ip)
              for seq, at, kind, actor_id, actor_name, action, diff, ip in rows]
    windows = _Windows(events, s)
    for event in events:  # reads only, outside the write lock
        found.extend((f, event["seq"]) for f in _findings(event, s, seen, windows))
    with db.write_transaction():
        if AlertCursor.get_by_id(cursor.id).last_seq != cursor.last_seq:
            return [], 0  # another scan got here first
        groups: dict[tuple[str, str], list[tuple[Finding, int]]] = {}
        for f, seq in found:  # one read and one write per (rule, subject), not per finding
            groups.setdefault((f.rule, f.subject), []).append((f, seq))
        for items in groups.values():
            alert, opened = _open_or_add(items)
            touched[alert.id] = alert
            if opened:
                record_event(system, "alert_open", diff={"alert": [None, alert.id], "rule": [None, alert.rule],
                                                         "subject": [None, alert.subject]})
        if rows:
            AlertCursor.update(last_seq=rows[-1][0]).where(AlertCursor.id == cursor.id).execute()
    return list(touched.values()), len(rows)


SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _details(finding: Finding) -> str:
    return json.dumps({"words": finding.words, "params": finding.params}, ensure_ascii=False)


def _open_or_add(items: list[tuple[Finding, int]]) -> tuple[Alert, bool]:
    """Add a batch's findings for one (rule, subject) to its open alert, or open one; returns
    the alert and whether it is new."""
    first, last = items[0], items[-1]
    # the alert shows its most severe finding (the newest among equals): a later warning does not
    # hide an earlier critical one
    worst = max(reversed(items), key=lambda item: SEVERITY_RANK.get(item[0].severity, 0))[0]
    alert = Alert.get_or_none(Alert.rule == first[0].rule, Alert.subject == first[0].subject, Alert.status == "open")
    if alert is None:
        alert = Alert.create(rule=first[0].rule, subject=first[0].subject, severity=worst.severity,
                             summary=worst.summary, details=_details(worst), first_seq=first[1], last_seq=last[1],
                             count=len(items))
        return alert, True
    new = [seq for _, seq in items if seq > alert.last_seq]
    if new:
        keep = SEVERITY_RANK.get(alert.severity, 0) > SEVERITY_RANK.get(worst.severity, 0)
        Alert.update(count=Alert.count + len(new), last_seq=new[-1],
                     summary=alert.summary if keep else worst.summary,
                     details=alert.details if keep else _details(worst),
                     severity=alert.severity if keep else worst.severity,
                     updated_at=utcnow()).where(Alert.id == alert.id).execute()
        alert = Alert.get_by_id(alert.id)
    return alert, False


TRANSITIONS = {"acknowledge": ("open", "acknowledged"), "resolve": (("open", "acknowledged"), "resolved")}


def change_status(actor: Actor, alert_id: int, action: str, note: str = "") -> Alert:
    """Acknowledge or resolve an alert (administrators); each transition is an audit event."""
    if not has_perm(actor, Perm.ALERTS_MANAGE):
        raise Forbidden("only administrators may handle alerts", code="missing_permission")
    if action not in TRANSITIONS:
        raise Invalid("unknown action", field="action", code="invalid_action")
    alert = Alert.get_or_none(Alert.id == alert_id)
    if alert is None:
        raise NotFound("no such alert", code="unknown_alert")
    allowed, target = TRANSITIONS[action]
    if alert.status not in ((allowed,) if isinstance(allowed, str) else allowed):
        raise Invalid(f"the alert is {alert.status}", field="action", code="invalid_transition")
    with db.write_transaction():
        Alert.update(status=target, handled_by=actor.name, updated_at=utcnow()).where(Alert.id == alert.id).execute()
        record_event(actor, f"alert_{action}", diff={"alert": [None, alert.id], "status": [alert.status, target]},
                     reason=note)
    return Alert.get_by_id(alert.id)


def as_dict(alert) -> dict:
    return {"id": alert.id, "rule": alert.rule, "subject": alert.subject, "severity": alert.severity,
            "summary": alert.summary, "status": alert.status, "count": alert.count,
            "first_seq": alert.first_seq, "last_seq": alert.last_seq, "details": json.loads(alert.details)}


def deliver(alerts) -> int:
    """Hand each alert to every sink plugin; a failing sink is logged and does not stop the others."""
    delivered = 0
    for alert in alerts:
        for sink in alert_sinks():
            try:
                sink(as_dict(alert))
                delivered += 1
            except Exception:
                log.exception("alert sink %s failed for alert %s", getattr(sink, "__name__", sink), alert.id)
    return delivered


def raise_alert(rule: str, subject: str, words: str, params: dict | None = None, *, severity: str = "warning",
                seq: int | None = None, origin: str = "checkpoint") -> Alert:
    """Open (or add to) the alert for (rule, subject) outside the event scan: the audit chain,
    backups and drills report their own problems through the same alerts and sinks. `words` is
    an English sentence marked N_ with %(name)s marks filled from `params` (see Finding)."""
    with db.write_transaction():
        if seq is None:
            seq = (db.fetchone("SELECT MAX(seq) FROM audit_event")[0] or 0) + 1
        alert, opened = _open_or_add([(Finding(rule, subject, words, severity, params or {}), seq)])
        if opened:
            record_event(Actor.system(origin), "alert_open",
                         diff={"alert": [None, alert.id], "rule": [None, alert.rule], "subject": [None, alert.subject]})
    deliver([alert])
    return alert


def chain_broken(problem: str, seq: int | None) -> Alert:
    """Open (or add to) the critical alert that the audit chain no longer verifies."""
    return raise_alert("audit_chain", "audit trail", N_("audit chain broken at event %(seq)s: %(problem)s"),
                       {"seq": seq, "problem": problem}, severity="critical", seq=seq or 0)


STATUSES = ("open", "acknowledged", "resolved")


def open_count() -> int:
    """Alerts still open (the header shows the number to those who see alerts)."""
    return Alert.select().where(Alert.status == "open").count()


def list_alerts(viewer: Actor, status: str, limit: int = 200) -> tuple[list[Alert], dict[str, int]]:
    """The newest alerts in `status` and the number in each status. Needs Perm.ALERTS_VIEW."""
    if not has_perm(viewer, Perm.ALERTS_VIEW):
        raise Forbidden("only administrators and auditors may see alerts", code="missing_permission")
    alerts = list(Alert.select().where(Alert.status == status).order_by(Alert.updated_at.desc()).limit(limit))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(Alert.select(Alert.status, pw.fn.COUNT(Alert.id)).group_by(Alert.status).tuples())  # type: ignore[arg-type]
    return alerts, counts

