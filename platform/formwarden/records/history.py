"""A record's history from its audit events: the timeline, the record at any version, revert.

Everything is filtered by the viewer's field rights: a field the viewer cannot see leaves no
trace (no value, no count, no length); a masked field shows masked old and new values.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.audit.actions import CHANGING
from formwarden.db import write_transaction
from formwarden.errors import Conflict, Forbidden, NotFound
from formwarden.forms import versions
from formwarden.forms.definition import FormDef
from formwarden.records import service
from formwarden.records.sealing import unseal_data, unseal_diff

# From the record's own creation on: events an id carried before (a database from before ids
# were never reused) can never belong to the record that holds the id now.
_EVENTS = (
    "SELECT seq, at, actor_kind, actor_name, action, diff, reason FROM audit_event"
    " WHERE form_key = ? AND record_id = ? AND seq >= COALESCE((SELECT MAX(seq) FROM audit_event"
    " WHERE form_key = ? AND record_id = ? AND action = 'create'), 0) ORDER BY seq"
)


@dataclass(frozen=True)
class Entry:
    seq: int
    at: datetime
    actor: str
    action: str
    version: int | None  # the version this change produced, for create/update/revert
    reason: str
    changes: dict  # field -> [old, new] as the viewer may see them

    def as_api(self) -> dict:
        return {"seq": self.seq, "at": self.at.isoformat() + "Z", "actor": self.actor, "action": self.action,
                "version": self.version, "reason": self.reason, "changes": self.changes}


def _events(form_key: str, record_id: int):
    for seq, at, _kind, actor, action, diff, reason in db.fetchall(_EVENTS, (form_key, record_id, form_key, record_id)):
        yield seq, db.py_datetime(at), actor, action, json.loads(diff or "{}"), reason


def _visible_changes(actor: Actor, formdef: FormDef, diff: dict, owner_id: int, revealed: set | None) -> dict:
    """The diff as `actor` may see it on this record (see `gate.project_diff`)."""
    diff = unseal_diff(formdef, diff, only=gate.readable_fields(actor, formdef, owner_id))
    return gate.project_diff(actor, formdef, diff, owner_id, revealed)[0]


def _record_for(actor: Actor, form_key: str, record_id, deleted: bool):
    form, formdef = versions.current(form_key)
    rec = service.load_in_scope(actor, formdef, form, record_id, "delete" if deleted else "read", deleted=deleted)
    return form, formdef, rec


def history(actor: Actor, form_key: str, record_id, *, deleted: bool = False,
            reveal_restricted: bool = True) -> list[Entry]:
    """The record's timeline as `actor` may see it (read access to the record required).
    Restricted values the actor may read come in clear (and a reveal event is recorded) unless
    `reveal_restricted` is False, when they come masked."""
    form, formdef, rec = _record_for(actor, form_key, record_id, deleted)
    formdef = versions.with_removed(form, formdef)  # removed fields stay in the history, read-only
    out, version = [], 0
    revealed: set | None = set() if reveal_restricted else None
    for seq, at, who, action, diff, reason in _events(form.key, rec.id):
        produced = None
        changes: dict = {}
        if action in CHANGING:
            version += 1
            produced = version
            changes = _visible_changes(actor, formdef, diff, rec.owner_id, revealed)
            if diff and not changes:
                continue  # a change of fields the viewer cannot see leaves no entry, nor its reason
        out.append(Entry(seq, at, who, action, produced, reason, changes))
    if revealed:
        with write_transaction():
            record_event(actor, "reveal", form_key=form.key, record_id=rec.id,
                         diff={"fields": [None, sorted(revealed)], "via": [None, "history"]})
    return out


def _state_at(formdef: FormDef, record_id: int, target: int) -> dict:
    form_key = formdef.key
    data: dict = {}
    version = 0
    for _seq, _at, _who, action, diff, _reason in _events(form_key, record_id):
        if action not in CHANGING:
            continue
        version += 1
        for name, (_old, new) in unseal_diff(formdef, diff).items():
            if new is None:
                data.pop(name, None)
            else:
                data[name] = new
        if version == target:
            return data
    raise NotFound(f"the record has no version {target}", field="version", code="unknown_version")


def record_at(actor: Actor, form_key: str, record_id, version: int) -> dict:
    """The record's data as it was at `version`, projected for `actor` like any read."""
    form, formdef, rec = _record_for(actor, form_key, record_id, False)
    formdef = versions.with_removed(form, formdef)
    return gate.project(actor, formdef, _state_at(formdef, rec.id, int(version)), rec.owner_id)


def revert_record(actor: Actor, form_key: str, record_id, version: int, *, expected_version: int | None,
                  reason: str = "") -> service.RecordView:
    """Make the record look as it did at `version` again, as a new audited change ("revert").

    Refused when any field that would change is not writable by `actor`: a 403 naming the
    field when the actor can see it, without a name when it cannot.
    """
    form, formdef, rec = _record_for(actor, form_key, record_id, False)
    gate.require(actor, formdef, "update")
    if expected_version is not None and rec.version != expected_version:
        raise Conflict(f"record is at version {rec.version}, not {expected_version}", code="stale_version")
    target = _state_at(formdef, rec.id, int(version))
    current = unseal_data(formdef, rec.data)  # clear against clear: sealed values differ every time
    changes = {name: target.get(name) for name in sorted(set(current) | set(target))
               if name in formdef.fields and current.get(name) != target.get(name)}
    writable = set(gate.writable_fields(actor, formdef, "update", rec.owner_id))
    readable = gate.readable_fields(actor, formdef, rec.owner_id)
    if any(n not in writable and n not in readable for n in changes):
        raise Forbidden("that version differs in fields you may not change", code="field_not_writable")
    return service.apply_changes(actor, form, formdef, rec, changes, expected_version=expected_version,
                                 reason=reason, action="revert")
