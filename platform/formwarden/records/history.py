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
from formwarden.access.masking import mask_value
from formwarden.errors import NotFound
from formwarden.forms import versions
from formwarden.forms.definition import FormDef
from formwarden.records import service

CHANGING = ("create", "update", "revert")  # actions that make a new version
_EVENTS = (
    "SELECT seq, at, actor_kind, actor_name, action, diff, reason FROM audit_event"
    " WHERE form_key = ? AND record_id = ? ORDER BY seq"
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
    for seq, at, _kind, actor, action, diff, reason in db.fetchall(_EVENTS, (form_key, record_id)):
        yield seq, db.py_datetime(at), actor, action, json.loads(diff or "{}"), reason


def _visible_changes(actor: Actor, formdef: FormDef, diff: dict) -> dict:
    rights = gate.rights(actor, formdef)
    out = {}
    for name in formdef.fields:  # in form order; fields no longer in the form stay hidden
        if name not in diff:
            continue
        pair = diff[name]
        level = rights.level(name)
        if level in ("read", "write"):
            out[name] = pair
        elif level == "masked":
            spec = formdef.fields[name].mask
            out[name] = [mask_value(v, spec) for v in pair]
    return out


def _record_for(actor: Actor, form_key: str, record_id, deleted: bool):
    form, formdef = versions.current(form_key)
    rec = service._load_in_scope(actor, formdef, form, record_id, "delete" if deleted else "read", deleted=deleted)
    return form, formdef, rec


def history(actor: Actor, form_key: str, record_id, *, deleted: bool = False) -> list[Entry]:
    """The record's timeline as `actor` may see it (read access to the record required)."""
    form, formdef, rec = _record_for(actor, form_key, record_id, deleted)
    out, version = [], 0
    for seq, at, who, action, diff, reason in _events(form.key, rec.id):
        produced = None
        if action in CHANGING:
            version += 1
            produced = version
        changes = _visible_changes(actor, formdef, diff) if action in CHANGING else {}
        out.append(Entry(seq, at, who, action, produced, reason, changes))
    return out


def _state_at(form_key: str, record_id: int, target: int) -> dict:
    data: dict = {}
    version = 0
    for _seq, _at, _who, action, diff, _reason in _events(form_key, record_id):
        if action not in CHANGING:
            continue
        version += 1
        for name, (_old, new) in diff.items():
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
    return gate.project(actor, formdef, _state_at(form.key, rec.id, int(version)))


def revert_record(actor: Actor, form_key: str, record_id, version: int, *, expected_version: int | None,
                  reason: str = "") -> service.RecordView:
    """Make the record look as it did at `version` again, as a new audited change ("revert").

    Refused (403 naming the field) when any field that would change is not writable by `actor`.
    """
    form, formdef, rec = _record_for(actor, form_key, record_id, False)
    gate.require(actor, formdef, "update")
    target = _state_at(form.key, rec.id, int(version))
    changes = {name: target.get(name) for name in set(rec.data) | set(target)
               if name in formdef.fields and rec.data.get(name) != target.get(name)}
    return service.apply_changes(actor, form, formdef, rec, changes, expected_version=expected_version,
                                 reason=reason, action="revert")
