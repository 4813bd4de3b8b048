"""Search the audit trail (admins and auditors), with each record change's field values shown
only as far as the viewer's own field rights on that form allow."""
from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field

import peewee as pw

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.arguments import FIELD_NAME, SafeCsvWriter, int_arg, page_arg, spreadsheet_safe, text_arg
from formwarden.audit import actions, field_index
from formwarden.audit.events import record_event
from formwarden.crypto.fields import is_envelope, unseal
from formwarden.errors import Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.models import AuditEvent, AuditEventField, Record, User

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class EventQuery:
    actor: str = ""
    action: str = ""
    form: str = ""
    record: int | None = None
    field: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    ip: str = ""
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class EventView:
    seq: int
    at: dt.datetime
    actor_kind: str
    actor: str
    action: str
    form: str | None
    record: int | None
    changes: dict
    hidden_changes: list = field(default_factory=list)  # fields changed that the viewer may not see
    reason: str = ""
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""
    revealed: list = field(default_factory=list)  # for a reveal: which restricted fields were shown

    def as_api(self) -> dict:
        return {"seq": self.seq, "at": self.at.isoformat() + "Z", "actor_kind": self.actor_kind, "actor": self.actor,
                "action": self.action, "form": self.form, "record": self.record, "changes": self.changes,
                "changed_without_access": self.hidden_changes, "reason": self.reason,
                "request_id": self.request_id, "ip": self.ip, "user_agent": self.user_agent,
                "revealed": self.revealed}


def _when(raw: str, name: str, end: bool) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", ""))
    except ValueError:
        raise Invalid(f"{name}: use a date like 2026-11-30 or 2026-11-30T14:00", field=name,
                      code="invalid_date") from None
    if end and len(raw) == 10:
        try:
            value += dt.timedelta(days=1)  # a whole day: until the end of it
        except OverflowError:
            raise Invalid(f"{name}: the date is out of range", field=name, code="invalid_date") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def query_from_args(args) -> EventQuery:
    fld = (args.get("field") or "").strip()
    if fld and not FIELD_NAME.match(fld):
        raise Invalid("not a field name", field="field", code="unknown_field")
    return EventQuery(
        actor=text_arg(args, "actor", 120), action=text_arg(args, "action", 40), form=text_arg(args, "form", 64), record=int_arg(args, "record", None), field=fld,
        since=_when((args.get("since") or "").strip(), "since", False),
        until=_when((args.get("until") or "").strip(), "until", True),
        ip=text_arg(args, "ip", 64), page=page_arg(args),
        per_page=int_arg(args, "per_page", 50) or 50,
    )


COUNT_CAP = 1000  # totals are exact up to here; beyond, "more than": counting a million rows is not free


def _newest_first(query, q: EventQuery, indexed_field: bool = False):
    """Newest first, in the order of the index that narrows most: a record's own events by
    sequence (its history index), a field's from the field index, anything else by time."""
    if q.record is not None and not indexed_field:
        return query.order_by(AuditEvent.seq.desc())
    at = AuditEventField.at if indexed_field else AuditEvent.at
    seq = AuditEventField.seq if indexed_field else AuditEvent.seq
    return query.order_by(at.desc(), seq.desc())


def _json_has_field(query, name: str):
    if db.is_postgres():
        return query.where(pw.fn.jsonb_exists(pw.Cast(AuditEvent.diff, "jsonb"), name))
    return query.where(pw.fn.json_type(AuditEvent.diff, f'$."{name}"').is_null(False))


def _filtered(q: EventQuery, part: str = "all", upto: int = 0):
    """The events matching `q`. A field is found in each event's diff (`part` "all", as the CSV
    export reads, oldest first), or only among the events the field index covers ("indexed":
    seq up to `upto`) or only among the newer ones, checked in their diffs ("tail")."""
    query = AuditEvent.select()
    if q.actor:
        user = User.get_or_none(User.username == q.actor)
        query = query.where(AuditEvent.actor_id == user.id) if user else query.where(AuditEvent.actor_name == q.actor)
    if q.action:
        query = query.where(AuditEvent.action == q.action)
    if q.form:
        query = query.where(AuditEvent.form_key == q.form)
    if q.record is not None:
        query = query.where(AuditEvent.record_id == q.record)
    at: pw.DateTimeField = AuditEvent.at
    if q.field and part == "indexed":
        query = query.join(AuditEventField, on=(AuditEventField.seq == AuditEvent.seq)).where(
            AuditEventField.field == q.field, AuditEventField.seq <= upto)
        at = AuditEventField.at
    elif q.field:
        query = _json_has_field(query, q.field)
        if part == "tail":
            query = query.where(AuditEvent.seq > upto)
    if q.since:
        query = query.where(at >= q.since)
    if q.until:
        query = query.where(at < q.until)
    if q.ip:
        query = query.where(AuditEvent.ip == q.ip)
    return query


def _formdef(key: str, defs: dict):
    if key not in defs:
        try:
            defs[key] = versions.current(key)[1]
        except NotFound:
            defs[key] = None
    return defs[key]


def _owners(events) -> dict[int, int]:
    """Current owner of each record the events name (purged records have none: anyone's)."""
    ids = sorted({e.record_id for e in events if e.record_id is not None})
    out: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        out.update(Record.select(Record.id, Record.owner).where(Record.id.in_(ids[i:i + 500])).tuples())  # type: ignore[arg-type]
    return out


def _project(viewer: Actor, event: AuditEvent, defs: dict, owners: dict) -> EventView:
    """The event as `viewer` may see it: field values through `gate.project_diff` on the record
    (restricted values stay masked here; the record's history reveals them), the reason only
    when the viewer may see at least one field the change touched."""
    diff = json.loads(event.diff or "{}")
    hidden: list[str] = []
    revealed: list[str] = []
    changes, reason = diff, event.reason
    if event.action == "reveal":
        revealed = list((diff.get("fields") or [None, []])[1] or [])
        changes = {k: v for k, v in diff.items() if k != "fields"}
    elif event.form_key and event.record_id is None and event.reason and event.action not in actions.ACCESS_CHANGES:
        # a batch's reason may speak of the records; an access change's reason speaks of access
        formdef = _formdef(event.form_key, defs)
        touched = (diff.get("fields") or [None, None])[1]
        rights = gate.rights(viewer, formdef) if formdef is not None else None
        if rights is None or not (any(rights.level(f) != "hidden" for f in touched) if isinstance(touched, list)
                                  else rights.can("read")):
            reason = ""
    elif event.form_key and event.record_id is not None:
        formdef = _formdef(event.form_key, defs)
        owner = owners.get(event.record_id)
        if formdef is not None:
            readable = gate.readable_fields(viewer, formdef, owner)
            diff = {n: [unseal(formdef.key, n, v) if is_envelope(v) and n in readable else v for v in pair]
                    for n, pair in diff.items()}
        changes, hidden = gate.project_diff(viewer, formdef, diff, owner)
        if diff and not changes:
            reason = ""
    return EventView(event.seq, db.py_datetime(event.at), event.actor_kind, event.actor_name, event.action,
                     event.form_key, event.record_id, changes, hidden, reason, event.request_id,
                     event.ip, event.user_agent, revealed)


def search_events(viewer: Actor, q: EventQuery) -> tuple[list[EventView], int]:
    """Events matching `q`, newest first, and their total, exact up to COUNT_CAP (a total above
    it means "more than COUNT_CAP"). Needs Perm.AUDIT_READ."""
    if not has_perm(viewer, Perm.AUDIT_READ):
        raise Forbidden("only administrators and auditors may read the audit trail", code="missing_permission")
    if not 1 <= q.per_page <= MAX_PER_PAGE or q.page < 1:
        raise Invalid(f"per_page must be 1..{MAX_PER_PAGE} and page 1 or more", field="per_page",
                      code="out_of_range")
    if q.field:
        rows, total = _by_field(q)
    else:
        base = _filtered(q)
        total = base.select(AuditEvent.seq).limit(COUNT_CAP + 1).count()
        rows = list(_newest_first(base, q).paginate(q.page, q.per_page))
    defs: dict = {}
    owners = _owners(rows)
    return [_project(viewer, e, defs, owners) for e in rows], total


def _by_field(q: EventQuery) -> tuple[list, int]:
    """A field search: the newest events, written since the field index last caught up, are
    checked in their diffs (few: the worker indexes every few seconds); all older ones come from
    the index. Together exact, newest first."""
    upto = field_index.indexed_upto()
    tail = _filtered(q, "tail", upto)
    indexed = _filtered(q, "indexed", upto)
    n_tail = tail.select(AuditEvent.seq).limit(COUNT_CAP + 1).count()
    total = n_tail + (indexed.select(AuditEvent.seq).limit(COUNT_CAP + 1 - n_tail).count()
                      if n_tail <= COUNT_CAP else 0)
    offset = (q.page - 1) * q.per_page
    rows = list(tail.order_by(AuditEvent.seq.desc()).offset(offset).limit(q.per_page)) if offset < n_tail else []
    if len(rows) < q.per_page:
        rows += list(_newest_first(indexed, q, indexed_field=True)
                     .offset(max(0, offset - n_tail)).limit(q.per_page - len(rows)))
    return rows, total


def iter_events(viewer: Actor, q: EventQuery, batch: int = 500):
    """All matching events, oldest first, for the CSV export (same rights as search_events)."""
    if not has_perm(viewer, Perm.AUDIT_READ):
        raise Forbidden("only administrators and auditors may read the audit trail", code="missing_permission")
    defs: dict = {}
    last = 0
    while True:
        rows = list(_filtered(q).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch))
        if not rows:
            return
        owners = _owners(rows)
        for e in rows:
            yield _project(viewer, e, defs, owners)
        last = rows[-1].seq


EXPORT_LIMIT = 200_000


class TooMany(Exception):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit} events match")
        self.limit = limit


def export_csv(viewer: Actor, q: EventQuery, filters: dict) -> str:
    """The events matching `q` as CSV text (UTF-8 with BOM), projected like the search; the
    export is itself an audited event. Raises TooMany past EXPORT_LIMIT events."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = SafeCsvWriter(out)
    writer.writerow(["seq", "at_utc", "actor", "action", "form", "record", "changes", "changed_without_access",
                     "reason", "ip", "user_agent", "request_id"])
    count = 0
    for e in iter_events(viewer, q):
        count += 1
        if count > EXPORT_LIMIT:
            raise TooMany(EXPORT_LIMIT)
        # Every text cell is defused: an actor name can be whatever someone typed at the sign-in form.
        writer.writerow([e.seq, e.at.isoformat(), _cell(e.actor), e.action, _cell(e.form or ""), e.record or "",
                         _cell(e.changes), _cell(" ".join(e.hidden_changes)), _cell(e.reason), _cell(e.ip),
                         _cell(e.user_agent), _cell(e.request_id)])
    with db.write_transaction():
        record_event(viewer, "audit_export", diff={"count": [None, count], "filters": [None, filters]})
    return out.getvalue()


def _cell(value) -> str:
    return spreadsheet_safe(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
