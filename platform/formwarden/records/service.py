"""Records: every read and write of customer data, through the gate, one transaction per change.

Each write and its audit event commit together (`write_transaction` + `record_event`).
Callers pass the acting `Actor`; nothing here reads Flask state.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

import peewee as pw

from formwarden import db
from formwarden.access import gate
from formwarden.access.actor import Actor
from formwarden.access.permissions import Perm, has_perm
from formwarden.access.policy import NO_RIGHTS, Rights
from formwarden.audit import record_event
from formwarden.db import write_transaction
from formwarden.errors import Conflict, Forbidden, Invalid, NotFound
from formwarden.forms import versions
from formwarden.forms.definition import FormDef
from formwarden.forms.validation import check as validate_data
from formwarden.forms.validation import hidden_by_rules, normalise_values, refuse_nul, retired_values, visible_fields
from formwarden.models import Form, Record, User, utcnow
from formwarden.records import attachments, numbers, search
from formwarden.records.indexes import field_expr, form_is
from formwarden.records.query import ListQuery, apply_filters, apply_ranges, apply_sort, range_bound
from formwarden.records.sealing import seal_data, seal_diff, unseal_data

MAX_PER_PAGE = 200
COUNT_CAP = 1000


@dataclass(frozen=True)
class RecordView:
    """A record as one actor may see it (already projected by the gate)."""

    id: int
    form: str
    version: int
    form_version: int
    data: dict
    owner: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    deleted_by: str = ""
    created_by: str = ""  # the account that created it (exports name it)
    rights: Rights = field(default=NO_RIGHTS, compare=False, repr=False)  # on this record, for pages
    own_rights: Rights = field(default=NO_RIGHTS, compare=False, repr=False)  # over its own version's fields

    def as_api(self) -> dict:
        body = {"id": self.id, "version": self.version, "form_version": self.form_version, "data": self.data}
        if self.deleted_at:
            body["deleted_at"] = self.deleted_at.isoformat() + "Z"
            body["deleted_by"] = self.deleted_by
        return body


def version_formdef(form: Form, formdef: FormDef, form_version: int | None) -> FormDef:
    """The definition that reads a record last saved with `form_version`: today's, plus (for an
    older record) the fields removed since, so their values stay readable (never writable)."""
    if not form_version or form_version == form.current_version:
        return formdef
    return versions.with_removed(form, formdef)


def _view(actor: Actor, formdef: FormDef, form: Form, rec: Record, owner_name: str | None = None,
          reveal=frozenset(), deleted_by: str = "", action: str = "read", created_by: str = "") -> RecordView:
    owner_id = rec.owner_id  # type: ignore[attr-defined]
    own = version_formdef(form, formdef, rec.form_version)
    visible = gate.visible_fields(actor, own, owner_id, action)
    return RecordView(
        id=rec.id, form=form.key, version=rec.version, form_version=rec.form_version,
        data=gate.project(actor, own, unseal_data(own, rec.data, only=visible), owner_id, reveal, action),
        owner=owner_name or "",
        created_at=rec.created_at, updated_at=rec.updated_at, deleted_at=rec.deleted_at, deleted_by=deleted_by,
        created_by=created_by, rights=(rights := gate.record_rights(actor, formdef, owner_id)),
        own_rights=rights if (union := versions.with_removed(form, formdef)) is formdef
        else gate.record_rights(actor, union, owner_id),
    )


def _clean(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def _diff(old: dict, new: dict) -> dict:
    keys = sorted(set(old) | set(new))
    return {k: [old.get(k), new.get(k)] for k in keys if old.get(k) != new.get(k)}


def _resolve_owner(formdef: FormDef, data: dict, actor: Actor, default: int | None) -> tuple[int, str | None]:
    """The owner's user id (and username when known) from the owner field, else `default`, else the actor."""
    name = formdef.owner_field
    if name and data.get(name) is not None and not isinstance(data[name], str):
        raise Invalid("the owner must be a username", field=name, code="type",
                      details=[{"field": name, "code": "type", "message": "Expected a value of type string."}])
    if name and data.get(name):
        row = db.fetchone(_ACTIVE_USER, (data[name],))  # imports ask once per row: no query building
        if row is None or not row[1]:
            raise Invalid("no active user you may give records to by that name", field=name, code="unknown_user",
                          details=[{"field": name, "code": "unknown_user", "message": "No such active user."}])
        return row[0], data[name]
    if default is not None:
        return default, None
    if actor.user_id is None:
        raise Invalid("an owner is required", field=name or "owner", code="required")
    return actor.user_id, actor.username or None


_ACTIVE_USER = 'SELECT id, is_active FROM "user" WHERE username = ?'
_SELECT = (
    "SELECT id, form_version, version, owner_id, data, created_at, updated_at, deleted_at, deleted_by_id"
    " FROM record WHERE id = ? AND form_id = ?"
)
_INSERT = (
    "INSERT INTO record (form_id, form_version, version, owner_id, data, created_at, created_by_id, updated_at,"
    " updated_by_id) VALUES (?, ?, 1, ?, json(?), ?, ?, ?, ?) RETURNING id"
)
_UPDATE = (
    "UPDATE record SET data = json(?), version = version + 1, form_version = ?, owner_id = ?, updated_at = ?,"
    " updated_by_id = ? WHERE id = ? AND version = ? AND deleted_at IS NULL"
)


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def _load(form: Form, record_id, *, deleted: bool = False) -> Record:
    try:
        rid = int(record_id)
    except (TypeError, ValueError):
        raise NotFound("no such record", code="unknown_record") from None
    row = db.fetchone(_SELECT, (rid, form.id))
    if row is None or (row[7] is not None) != deleted:
        raise NotFound("no such record", code="unknown_record")
    data = row[4] if isinstance(row[4], dict) else json.loads(row[4])
    return Record(id=row[0], form=form.id, form_version=row[1], version=row[2], owner=row[3], data=data,
                  created_at=db.py_datetime(row[5]), updated_at=db.py_datetime(row[6]),
                  deleted_at=db.py_datetime(row[7]), deleted_by=row[8])


def load_in_scope(actor: Actor, formdef: FormDef, form: Form, record_id, action: str, *, deleted=False) -> Record:
    """Load a record (still sealed) the actor may `action`, through the gate. Out of read scope
    looks like "not found"; in read scope without `action` is Forbidden."""
    gate.require(actor, formdef, "read" if action != "create" else action)
    rec = _load(form, record_id, deleted=deleted)
    if not gate.in_scope(actor, formdef, rec, "read"):
        raise NotFound("no such record", code="unknown_record")
    if action != "read":
        gate.require(actor, formdef, action)
        if not gate.in_scope(actor, formdef, rec, action):
            raise Forbidden(f"you may not {action} this record", code=f"no_{action}")
    return rec


def _check_refs(actor: Actor, formdef: FormDef, data: dict, names) -> None:
    """Each `x-ref` value among `names` must be a record of the referenced form that the actor may read."""
    for name in names:
        fd = formdef.fields.get(name)
        if fd is None or not fd.ref or data.get(name) is None:
            continue
        try:
            ref_form, ref_def = versions.current(fd.ref)
            load_in_scope(actor, ref_def, ref_form, data[name], "read")
        except (NotFound, Forbidden):
            raise Invalid(f"no {fd.ref} record {data[name]!r} that you may see", field=name, code="unknown_reference",
                          details=[{"field": name, "code": "unknown_reference",
                                    "message": "No such record, or you may not see it."}]) from None


def ref_titles(actor: Actor, form_key: str, ids, shown_by: str | None = None) -> dict[int, str]:
    """The titles of the records among `ids` of `form_key` that the actor may read, as the
    actor sees them (masked if the title field is masked for them; "" if it has none or it is
    hidden). Records the actor may not read, deleted ones and unknown ids are left out: a
    reference to them shows no title. `shown_by` names another field of `form_key` to show
    instead of its title field (a link field's display field), through the same gate."""
    wanted = sorted({i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63})
    if not wanted:
        return {}
    try:
        form, formdef = versions.current(form_key)
        if not gate.can(actor, formdef, "read"):
            return {}
    except NotFound:
        return {}
    title = shown_by if shown_by in formdef.fields else formdef.title_field
    query = Record.select(Record.id, Record.owner, Record.data).where(
        form_is(form.id), Record.deleted_at.is_null(), Record.id.in_(wanted))
    out = {}
    for rec in gate.scoped(query, actor, formdef, "read"):
        shown = gate.project(actor, formdef, {title: unseal_data(formdef, rec.data, only={title}).get(title)},
                             rec.owner_id)
        out[rec.id] = "" if shown.get(title) in (None, "") else str(shown[title])  # "": untitled, yet readable
    return out


@dataclass(frozen=True)
class Backlinks:
    """The records of one form whose link field `field` names a record, as the reader sees them."""

    form_key: str
    formdef: FormDef
    field: str
    total: int
    items: list
    may_create: bool  # the reader may create such a record with the link filled in


def backlinks(actor: Actor, form_key: str, record_id: int, limit: int = 5) -> list[Backlinks]:
    """For a record's page: the records of every form that link to it ("after-sales tickets
    (2)"), newest first, each list through the gate: only forms and link fields the reader may
    read, only records in their scope."""
    out = []
    for form, formdef in versions.all_forms():
        for name, fd in formdef.fields.items():
            if fd.ref != form_key or not gate.can(actor, formdef, "read"):
                continue
            rights = gate.rights(actor, formdef)
            if rights.level(name) in ("hidden", "masked"):
                continue
            page = list_records(actor, form.key, ListQuery(filters=[(name, [str(record_id)])], per_page=limit,
                                                           sort_column="created_at", descending=True))
            may_create = gate.can(actor, formdef, "create") and rights.may_write(name, "create")
            if page.total or may_create:
                out.append(Backlinks(form.key, formdef, name, page.total, page.items, may_create))
    return out


def assignable_owners(actor: Actor, formdef: FormDef, action: str, rights: Rights | None = None) -> list[str]:
    """Usernames `actor` may give a record to by `action` (create or update): active users inside
    the action's scope, none when the owner field is not theirs to write. Pages offer only these,
    so the list never shows accounts outside the writer's reach."""
    r = rights or gate.rights(actor, formdef)
    scope = r.scope(action)
    if not formdef.owner_field or scope is None or not r.may_write(formdef.owner_field, action):
        return []
    q = User.select(User.username).where(User.is_active)
    if scope == "team":
        q = q.where(User.id.in_(sorted(gate.teammates(actor) | {actor.user_id})))
    elif scope == "own":
        q = q.where(User.id == actor.user_id)
    return [u.username for u in q.order_by(User.username)]


def _owner_name(user_id: int) -> str:
    user = User.get_or_none(User.id == user_id)
    return user.username if user else ""


def create_record(actor: Actor, form_key: str, data: dict, reason: str = "") -> RecordView:
    """Create a record. Raises Forbidden (action or field), Invalid (validation), NotFound (form)."""
    form, formdef = versions.current(form_key)
    return insert_record(actor, form, formdef, prepare_create(actor, formdef, data), reason=reason)


@dataclass(frozen=True)
class NewRecord:
    """A submission checked for creation (rights, owner, validation, references), not yet written."""

    data: dict
    owner_id: int


def prepare_create(actor: Actor, formdef: FormDef, data: dict) -> NewRecord:
    """Every check a create makes, without writing (imports check all rows before writing any)."""
    refuse_nul(data)
    data = _clean(normalise_values(formdef, data))
    numbers.refuse_assigned(formdef, data)
    gate.check_write(actor, formdef, list(data), "create")
    owner_id, owner_name = _resolve_owner(formdef, data, actor, None)
    gate.check_owner(actor, formdef, owner_id, "create")
    shown = visible_fields(formdef, data)
    extra = hidden_by_rules(formdef, data, shown, {}, gate.readable_fields(actor, formdef, owner_id))
    extra += retired_values(formdef, data, {})
    data = {k: v for k, v in data.items() if k in shown}  # a field its rules hide is not stored (a value is refused)
    gate.check_write(actor, formdef, list(data), "create", owner_id)
    if formdef.owner_field:
        data[formdef.owner_field] = owner_name or _owner_name(owner_id)
    validate_data(formdef, data, writable=gate.writable_fields(actor, formdef, "create", owner_id),
                  visible=gate.readable_fields(actor, formdef, owner_id), extra=extra)
    _check_refs(actor, formdef, data, data)
    attachments.check_tokens(actor, versions.get_form(formdef.key), formdef, data)
    return NewRecord(data, owner_id)


def insert_record(actor: Actor, form: Form, formdef: FormDef, new: NewRecord, reason: str = "") -> RecordView:
    """Write a prepared record and its `create` event in one transaction (or the caller's)."""
    data, owner_id = new.data, new.owner_id
    now = utcnow()
    stamp = db.db_datetime(now)
    with write_transaction():
        data = numbers.assign(form.id, formdef, data)  # in the record's own transaction: never twice
        stored = seal_data(formdef, data)
        rid = db.fetchone(_INSERT, (form.id, form.current_version, owner_id, _json(stored), stamp, actor.user_id,
                                    stamp, actor.user_id))[0]
        search.index_record(formdef, rid, stored)
        attachments.bind(form, formdef, rid, data)
        record_event(actor, "create", form_key=form.key, record_id=rid, diff=seal_diff(formdef, _diff({}, data)),
                     reason=reason)
    rec = Record(id=rid, form=form.id, form_version=form.current_version, version=1, owner=owner_id, data=stored,
                 created_at=now, updated_at=now)
    return _view(actor, formdef, form, rec, data.get(formdef.owner_field or "", None))


def update_record(
    actor: Actor, form_key: str, record_id, changes: dict, *, expected_version: int | None, reason: str = ""
) -> RecordView:
    """Change some fields. `None` clears a field. Raises Conflict on a stale expected_version,
    Invalid when a changed field requires a reason and none is given."""
    form, formdef = versions.current(form_key)
    rec = load_in_scope(actor, formdef, form, record_id, "update")
    return apply_changes(actor, form, formdef, rec, changes, expected_version=expected_version, reason=reason,
                         action="update")


def apply_changes(actor: Actor, form: Form, formdef: FormDef, rec: Record, changes: dict, *,
                  expected_version: int | None, reason: str, action: str) -> RecordView:
    """Write `changes` to a loaded, in-scope record as one audited change (update or revert)."""
    gate.check_write(actor, formdef, list(changes), "update", rec.owner_id)
    if expected_version is not None and rec.version != expected_version:
        raise Conflict(f"record is at version {rec.version}, not {expected_version}", code="stale_version")
    refuse_nul(changes)
    changes = normalise_values(formdef, changes)
    own = version_formdef(form, formdef, rec.form_version)
    old = unseal_data(own, rec.data)
    numbers.refuse_assigned(formdef, {k: v for k, v in changes.items() if v != old.get(k)})  # the same number: no change
    new = _clean({**old, **changes})
    writable = gate.writable_fields(actor, formdef, "update", rec.owner_id)
    readable = gate.readable_fields(actor, formdef, rec.owner_id)
    # Saving moves an older record to the current version: a field removed since leaves the record
    # (its value stays in the history, through this change's diff).
    removed = {k: v for k, v in new.items() if k not in formdef.fields}
    new = {k: v for k, v in new.items() if k in formdef.fields}
    # Rules are evaluated on what this person sees of the record, as their page does (a rule must
    # never answer questions about a field they cannot read). A field the rules hide is not
    # stored: a value they send for it is dropped; a stored one is cleared only when they may
    # write it and can see everything the rules read (else it stays as it was).
    seen = gate.project(actor, formdef, new, rec.owner_id)  # masked values masked, as on their page
    shown = visible_fields(formdef, seen)
    sees_triggers = all(seen.get(t) == new.get(t) for t in formdef.rule_triggers)
    extra = hidden_by_rules(formdef, {k: v for k, v in changes.items() if k in writable}, shown, old, readable)
    extra += retired_values(formdef, changes, old)
    for k in list(new):
        if k in shown or k not in writable:
            continue
        if k in changes:
            if k in old:
                new[k] = old[k]
            else:
                del new[k]
        elif sees_triggers:
            del new[k]
    owner_id = rec.owner_id
    if formdef.owner_field and formdef.owner_field in changes:
        if changes[formdef.owner_field] in (None, ""):
            raise Invalid("a record always has an owner", field=formdef.owner_field, code="required",
                          details=[{"field": formdef.owner_field, "code": "required", "message": "Required."}])
        owner_id, _ = _resolve_owner(formdef, new, actor, rec.owner_id)
        if owner_id != rec.owner_id:
            gate.check_owner(actor, formdef, owner_id, "update")
            gate.check_write(actor, formdef, list(changes), "update", owner_id)
    validate_data(formdef, new, writable=writable, visible=readable, rule_data=seen, extra=extra)
    _check_refs(actor, formdef, new, changes)
    attachments.check_tokens(actor, form, formdef, {k: v for k, v in changes.items() if k in new}, rec.id)
    diff = _diff({k: v for k, v in old.items() if k not in removed}, new)
    if not diff:
        return _view(actor, formdef, form, rec, _owner_name(rec.owner_id))
    _require_reason(formdef, diff, reason)
    sealed_diff = {**seal_diff(formdef, diff), **seal_diff(own, {k: [v, None] for k, v in removed.items()})}
    now = utcnow()
    # Unchanged sealed values keep their ciphertext; changed ones are sealed afresh.
    stored = seal_data(formdef, {k: (rec.data[k] if k not in diff and k in rec.data else v) for k, v in new.items()})
    with write_transaction():
        n = db.execute(_UPDATE, (_json(stored), form.current_version, owner_id, db.db_datetime(now), actor.user_id,
                                 rec.id, rec.version)).rowcount
        if n != 1:
            raise Conflict("record was changed by someone else; reload and retry", code="stale_version")
        search.index_record(formdef, rec.id, stored)
        attachments.bind(form, formdef, rec.id, new)
        record_event(actor, action, form_key=form.key, record_id=rec.id, diff=sealed_diff, reason=reason)
    rec = Record(id=rec.id, form=form.id, form_version=form.current_version, version=rec.version + 1,
                 owner=owner_id, data=stored, created_at=rec.created_at, updated_at=now)
    owner_name = new.get(formdef.owner_field) if formdef.owner_field else None
    return _view(actor, formdef, form, rec, owner_name or _owner_name(owner_id))


def _require_reason(formdef: FormDef, diff: dict, reason: str) -> None:
    needing = [f for f in diff if formdef.fields.get(f) and formdef.fields[f].reason_required]
    if needing and not reason.strip():
        raise Invalid(f"changing {needing[0]!r} needs a reason", field="reason", code="reason_required",
                      details=[{"field": "reason", "code": "reason_required",
                                "message": "Changing this needs a reason.", "fields": needing}])


def delete_record(actor: Actor, form_key: str, record_id, *, expected_version: int | None = None, reason: str = "") -> None:
    """Soft delete into the recycle bin."""
    form, formdef = versions.current(form_key)
    rec = load_in_scope(actor, formdef, form, record_id, "delete")
    if expected_version is not None and rec.version != expected_version:
        raise Conflict(f"record is at version {rec.version}, not {expected_version}", code="stale_version")
    with write_transaction():
        n = (
            Record.update(deleted_at=utcnow(), deleted_by=actor.user_id)
            .where(Record.id == rec.id, Record.version == rec.version, Record.deleted_at.is_null())
            .execute()
        )
        if n != 1:
            raise Conflict("record was changed by someone else", code="stale_version")
        record_event(actor, "delete", form_key=form.key, record_id=rec.id, diff=_diff(rec.data, {}), reason=reason)  # still sealed


def restore_record(actor: Actor, form_key: str, record_id, reason: str = "") -> RecordView:
    """Bring a record back from the recycle bin (needs delete rights on it)."""
    form, formdef = versions.current(form_key)
    rec = load_in_scope(actor, formdef, form, record_id, "delete", deleted=True)
    with write_transaction():
        n = (Record.update(deleted_at=None, deleted_by=None)
             .where(Record.id == rec.id, Record.version == rec.version, Record.deleted_at.is_null(False)).execute())
        if n != 1:  # restored, purged or changed meanwhile
            raise Conflict("the record is no longer in the recycle bin as you saw it", code="stale_version")
        record_event(actor, "restore", form_key=form.key, record_id=rec.id, reason=reason)
    rec = Record.get_by_id(rec.id)
    return _view(actor, formdef, form, rec, _owner_name(rec.owner_id))


def purge_record(actor: Actor, form_key: str, record_id, reason: str = "") -> None:
    """Remove a deleted record for good. Admin only (Perm.RECORDS_PURGE)."""
    form, formdef = versions.current(form_key)
    if not has_perm(actor, Perm.RECORDS_PURGE):
        raise Forbidden("only administrators may purge records", code="no_purge")
    rec = load_in_scope(actor, formdef, form, record_id, "delete", deleted=True)  # and a token's form scopes
    with write_transaction():
        # Only the deleted record as read: a restore that won the race leaves it alone.
        n = (Record.delete()
             .where(Record.id == rec.id, Record.version == rec.version, Record.deleted_at.is_null(False)).execute())
        if n != 1:
            raise Conflict("the record is no longer in the recycle bin as you saw it", code="stale_version")
        search.forget_record(rec.id)
        attachments.forget_record(rec.id)
        record_event(actor, "purge", form_key=form.key, record_id=rec.id, diff=_diff(rec.data, {}), reason=reason)  # still sealed


def owner_of(form_key: str, record_id: int) -> int | None:
    """The owner's id of a record already loaded through the gate (for explanations)."""
    form, _ = versions.current(form_key)
    row = Record.select(Record.owner).where(Record.id == record_id, Record.form == form.id).first()
    return row.owner_id if row is not None else None


def get_record(actor: Actor, form_key: str, record_id, *, deleted: bool = False, reveal=()) -> RecordView:
    """Read one record. Restricted fields come masked unless named in `reveal`, which needs
    read access to them and is recorded as a `reveal` event."""
    form, formdef = versions.current(form_key)
    rec = load_in_scope(actor, formdef, form, record_id, "delete" if deleted else "read", deleted=deleted)
    shown = gate.check_reveal(actor, formdef, reveal, rec.owner_id) if reveal else frozenset()
    if shown:
        with write_transaction():
            record_event(actor, "reveal", form_key=form.key, record_id=rec.id, diff={"fields": [None, sorted(shown)]})
    return _view(actor, formdef, form, rec, _owner_name(rec.owner_id), shown)


def upload_file(actor: Actor, form_key: str, field: str, filename: str, data: bytes) -> str:
    """Keep a file for `field` of a record this person may create or edit (it holds the token
    once saved); the gate decides on the field before anything is kept."""
    form, formdef = versions.current(form_key)
    r = gate.rights(actor, formdef)
    return attachments.store(actor, form, formdef, field, filename, data,
                             may_write=r.may_write(field, "create") or r.may_write(field, "update"))


def read_file(actor: Actor, token: str) -> tuple[attachments.FileInfo, bytes]:
    """A file of an attachment field, for someone who may read that field of the record holding
    it now (each download is an audit event); before any record holds it, for its uploader only."""
    info = attachments.find(token)
    if info.record_id is None:
        if actor.user_id is None or info.uploaded_by != actor.user_id:
            raise NotFound("no such file", code="unknown_file")
        with write_transaction():  # their own upload, not yet saved with a record: still a download
            record_event(actor, "attachment_download", form_key=info.form_key,
                         diff={"field": [None, info.field], "file": [None, info.name]})
        return info, attachments.content(info)
    view = get_record(actor, info.form_key, info.record_id)
    if view.data.get(info.field) != token:  # masked, hidden, or no longer the field's file
        raise NotFound("no such file", code="unknown_file")
    if view.own_rights.level(info.field) not in ("read", "write"):
        raise NotFound("no such file", code="unknown_file")
    with write_transaction():
        record_event(actor, "attachment_download", form_key=info.form_key, record_id=info.record_id,
                     diff={"field": [None, info.field], "file": [None, info.name]})
    return info, attachments.content(info)


def _audit_restricted_search(actor: Actor, formdef: FormDef, q: ListQuery, searched=()) -> None:
    """An exact-match search on a restricted field tells whether a value exists, so it counts as
    a reveal: one candidate per search (no list of guesses), and an audited `reveal` event that
    the reveal-burst alert counts like any other. `searched`: the restricted fields the search
    box tested the whole query against."""
    names = sorted({name for name, _ in q.filters if name in formdef.restricted_fields} | set(searched))
    for name, values in q.filters:
        if name in formdef.restricted_fields and len(values) > 1:
            raise Invalid(f"search {name!r} for one value at a time", field=name, code="one_value_only")
    if names:
        with write_transaction():
            record_event(actor, "reveal", form_key=formdef.key, diff={"fields": [None, names], "via": [None, "search"]})


@dataclass(frozen=True)
class Page:
    items: list[RecordView]
    total: int
    page: int
    per_page: int
    capped: bool = False  # more than `total` match (a broad search is counted up to COUNT_CAP)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


LINK_MATCHES = 200  # linked records a search follows (the newest matching ones)


def _linked_search(actor: Actor, formdef: FormDef, text: str, action: str, only: str = ""):
    """Records whose link field names a record of the linked form that the search finds there,
    as the actor reads it (a ticket found by its customer's name or phone): each link field only
    where the actor may read it, each linked form searched through the gate. None if nothing."""
    cond = None
    for name, fd in formdef.fields.items():
        if not fd.ref or (only and only != name) or name in formdef.restricted_fields:
            continue
        try:
            found = list_records(actor, fd.ref, ListQuery(search=text, per_page=LINK_MATCHES), follow_links=False)
        except (NotFound, Forbidden, Invalid):
            continue
        ids = [item.id for item in found.items]
        if not ids:
            continue
        for relation, readable in gate.readable_by_relation(actor, formdef, [name], action).items():
            if name not in readable:
                continue
            part = field_expr(name, "integer").in_(ids)
            scope = gate.relation_condition(actor, relation)
            part = part if scope is None else (scope & part)
            cond = part if cond is None else (cond | part)
    return cond


def list_records(actor: Actor, form_key: str, q: ListQuery, *, deleted: bool = False, action: str = "read",
                 follow_links: bool = True) -> Page:
    """One page of records the actor may read (or `action`, e.g. export), filtered and sorted only
    on fields readable on each listed record. The search box also finds records by what their
    link fields name (`follow_links`: one step, never back)."""
    form, formdef = versions.current(form_key)
    if q.per_page < 1 or q.per_page > MAX_PER_PAGE:
        raise Invalid(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page", code="out_of_range")
    if q.page < 1:
        raise Invalid("page must be 1 or more", field="page", code="out_of_range")
    queried = sorted({f for f, _ in q.filters} | {f for f, _, _ in q.ranges} | ({q.sort_field} if q.sort_field else set()))
    gate.check_query_fields(actor, formdef, queried)
    ranges = [(name, None if low is None else range_bound(formdef, name, low),
               None if high is None else range_bound(formdef, name, high)) for name, low, high in q.ranges]
    scope_action = "delete" if deleted else action
    only_link = q.search_in if q.search_in and formdef.fields.get(q.search_in) and formdef.fields[q.search_in].ref else ""
    found = search.condition(actor, formdef, q.search, scope_action, q.search_in) \
        if q.search and not only_link else None
    linked = _linked_search(actor, formdef, q.search, scope_action, only_link) \
        if q.search and follow_links and (only_link or not q.search_in) else None
    if linked is not None:
        found = search.Found(linked if found is None else (found.condition | linked), found.tested if found else [],
                             False)
    elif only_link:
        found = search.Found(pw.SQL("1 = 0"), [], True)
    # A selective search leads: `form_id + 0` keeps SQLite from walking the form's index in list
    # order and testing each record against the matches (the plan it picks otherwise).
    base = Record.select().where((Record.form + 0) == form.id if found and found.selective else form_is(form.id))
    base = base.where(Record.deleted_at.is_null(False) if deleted else Record.deleted_at.is_null())
    base = apply_filters(gate.scoped(base, actor, formdef, scope_action, queried), formdef, q.filters)
    base = apply_ranges(base, formdef, ranges)
    if found:
        base = base.where(found.condition)
    _audit_restricted_search(actor, formdef, q, found.tested if found else ())
    if found and not found.selective:  # a broad search: counting every match would cost more than the page
        total = base.limit(COUNT_CAP + 1).count()
        total, capped = min(total, COUNT_CAP), total > COUNT_CAP
    else:
        total, capped = base.count(), False
    rows = apply_sort(base, formdef, q.sort_field, q.descending, q.sort_column).paginate(q.page, q.per_page)
    owners = {}
    rows = list(rows)
    if rows:
        ids = {r.owner_id for r in rows} | {r.deleted_by_id for r in rows if r.deleted_by_id} \
            | {r.created_by_id for r in rows if r.created_by_id}
        owners = {u.id: u.username for u in User.select(User.id, User.username).where(User.id.in_(list(ids)))}
    items = [_view(actor, formdef, form, r, owners.get(r.owner_id), deleted_by=owners.get(r.deleted_by_id, ""),
                   action=action, created_by=owners.get(r.created_by_id, "")) for r in rows]
    return Page(items, total, q.page, q.per_page, capped)
